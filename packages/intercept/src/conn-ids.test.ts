import { expect } from 'chai'
import { ConnIds, MAX_CONNECTION_IDS } from './conn-ids.js'

describe('connection ids', () => {
  it('hands out 0, 1, 2, ... and then the lowest freed id', () => {
    const ids = new ConnIds(8)
    expect([ids.take(), ids.take(), ids.take(), ids.take()]).to.deep.equal([0, 1, 2, 3])
    ids.release(2)
    ids.release(0)
    expect(ids.take()).to.equal(0)
    expect(ids.take()).to.equal(2)
    expect(ids.take()).to.equal(4)
    expect(ids.used).to.equal(5)
  })

  it('returns undefined when every id is in use', () => {
    const ids = new ConnIds(2)
    ids.take()
    ids.take()
    expect(ids.take()).to.equal(undefined)
    ids.release(1)
    expect(ids.take()).to.equal(1)
  })

  it('allows at most the 65536 ids the core keeps a record format for', () => {
    expect(new ConnIds().limit).to.equal(MAX_CONNECTION_IDS)
    expect(() => new ConnIds(MAX_CONNECTION_IDS + 1)).to.throw(RangeError)
    expect(() => new ConnIds(0)).to.throw(RangeError)
  })

  it('always reuses the lowest free id after random takes and releases', () => {
    const ids = new ConnIds(64)
    const used = new Set<number>()
    let seed = 7
    const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
    for (let i = 0; i < 2000; i++) {
      if (used.size > 0 && rand() % 3 === 0) {
        const victim = [...used][rand() % used.size]!
        used.delete(victim)
        ids.release(victim)
      } else {
        const id = ids.take()
        if (used.size === 64) {
          expect(id).to.equal(undefined)
          continue
        }
        let lowest = 0
        while (used.has(lowest)) lowest++
        expect(id).to.equal(lowest)
        used.add(id!)
      }
    }
  })
})

import { expect } from 'chai'
import { PacketStore } from './packet-store.js'

describe('PacketStore', () => {
  it('gives slots of the smallest class that fits and reuses released ones', () => {
    const store = new PacketStore()
    const a = store.alloc(60)
    expect(a.view.length).to.equal(128)
    const b = store.alloc(1500)
    expect(b.view.length).to.equal(2048)
    expect(store.stats().packets).to.equal(2)
    expect(store.stats().bytes).to.equal(1560)
    store.release(a)
    const c = store.alloc(100)
    expect(c).to.equal(a)
    expect(c.skip).to.equal(0)
    expect(c.tsOff).to.equal(-1)
  })

  it('holds packets up to 65536 bytes and refuses larger ones', () => {
    const store = new PacketStore()
    expect(store.alloc(65535).view.length).to.equal(65536)
    expect(() => store.alloc(65537)).to.throw(RangeError)
  })

  it('keeps slots separate (writing one never changes another)', () => {
    const store = new PacketStore()
    const ps = Array.from({ length: 10 }, (_, i) => {
      const p = store.alloc(100)
      p.view.fill(i)
      return p
    })
    ps.forEach((p, i) => { expect(p.view.every((x) => x === i)).to.equal(true) })
    expect(store.stats().reserved).to.be.at.least(1280)
  })
})

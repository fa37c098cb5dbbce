import { expect } from 'chai'
import { TimerQueue, TimerSlot } from './timers.js'
import { FakeClock } from './test/helpers.js'

describe('TimerQueue', () => {
  function setup (): { clock: FakeClock, q: TimerQueue<string>, fired: string[], turns: number[] } {
    const clock = new FakeClock()
    const fired: string[] = []
    const turns: number[] = []
    const q = new TimerQueue<string>(clock.clock, clock, (slot) => { fired.push(`${slot.owner}@${clock.now}`) }, () => { turns.push(clock.now) })
    return { clock, q, fired, turns }
  }

  it('fires slots in due order with one host timer', () => {
    const { clock, q, fired } = setup()
    const a = new TimerSlot('a', 0)
    const b = new TimerSlot('b', 0)
    const c = new TimerSlot('c', 0)
    q.arm(a, 30)
    q.arm(b, 10)
    q.arm(c, 20)
    expect(clock.pending).to.equal(1)
    clock.advance(100)
    expect(fired).to.deep.equal(['b@10', 'c@20', 'a@30'])
  })

  it('moves a slot earlier or later when it is armed again', () => {
    const { clock, q, fired } = setup()
    const a = new TimerSlot('a', 0)
    const b = new TimerSlot('b', 0)
    q.arm(a, 50)
    q.arm(a, 5)
    q.arm(b, 10)
    q.arm(b, 40)
    clock.advance(100)
    expect(fired).to.deep.equal(['a@5', 'b@40'])
  })

  it('skips cancelled slots and arms conditionally with armBefore', () => {
    const { clock, q, fired } = setup()
    const a = new TimerSlot('a', 0)
    const b = new TimerSlot('b', 0)
    q.arm(a, 10)
    q.cancel(a)
    q.arm(b, 30)
    q.armBefore(b, 50)
    q.armBefore(b, 20)
    clock.advance(100)
    expect(fired).to.deep.equal(['b@20'])
    expect(a.armed).to.equal(false)
  })

  it('never fires a slot twice in one run when its handler re-arms it for now', () => {
    const clock = new FakeClock()
    let n = 0
    const s = new TimerSlot('s', 0)
    const q: TimerQueue<string> = new TimerQueue<string>(clock.clock, clock, () => { if (++n < 5) q.arm(s, clock.now) }, () => {})
    q.arm(s, 10)
    clock.advance(10)
    expect(n).to.equal(5)
  })

  it('stops everything on close', () => {
    const { clock, q, fired } = setup()
    q.arm(new TimerSlot('a', 0), 10)
    q.close()
    q.arm(new TimerSlot('b', 0), 20)
    clock.advance(100)
    expect(fired).to.deep.equal([])
  })
})

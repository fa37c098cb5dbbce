import { expect } from 'chai'
import { TimerQueue, TimerSlot, type CopyTimers } from './timers.js'
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

  it('sets the host timer once a run ends, not for slots the run itself fires (no wake-up for nothing)', () => {
    const clock = new FakeClock()
    const turns: number[] = []
    const a = new TimerSlot('a', 0)
    const b = new TimerSlot('b', 0)
    const c = new TimerSlot('c', 0)
    const q: TimerQueue<string> = new TimerQueue<string>(clock.clock, clock, (slot) => {
      if (slot === a) q.arm(c, 20)
    }, () => { turns.push(clock.now) })
    q.arm(a, 10)
    q.arm(b, 10)
    clock.advance(10)
    expect(turns).to.deep.equal([10])
    expect(clock.pending).to.equal(1)
    clock.advance(10)
    expect(turns).to.deep.equal([10, 20])
  })

  it('runDue fires what is due without the host timer, which then aims at the next slot', () => {
    const { clock, q, fired, turns } = setup()
    const a = new TimerSlot('a', 0)
    const b = new TimerSlot('b', 0)
    q.arm(a, 10)
    q.arm(b, 30)
    q.runDue()
    expect(fired).to.deep.equal([])
    clock.now = 12 // the process was awake for something else, past a's time
    q.runDue()
    expect(fired).to.deep.equal(['a@12'])
    expect(turns).to.deep.equal([]) // the caller sends; no afterRun
    expect(clock.pending).to.equal(1)
    clock.advance(8) // t = 20: the host timer no longer aims at a
    expect(fired).to.deep.equal(['a@12'])
    clock.advance(10)
    expect(fired).to.deep.equal(['a@12', 'b@30'])
    expect(turns).to.deep.equal([30])
  })

  /** Host timers on `clock` that record the delays asked for (and, with `refresh`, the refreshes). */
  function recording (clock: FakeClock, lagMs?: number, refresh = false): { timers: CopyTimers, asked: number[], refreshed: number[], cleared: number[] } {
    const asked: number[] = []
    const refreshed: number[] = []
    const cleared: number[] = []
    const timers: CopyTimers = {
      setTimeout: (fn, ms) => { asked.push(ms); return clock.setTimeout(fn, ms) },
      clearTimeout: (h) => { cleared.push(clock.now); clock.clearTimeout(h) },
      ...(refresh ? { refresh: (h: unknown) => { refreshed.push(clock.now); clock.refresh(h) } } : {}),
      ...(lagMs === undefined ? {} : { lagMs })
    }
    return { timers, asked, refreshed, cleared }
  }

  it('re-aims its host timer with refresh() when the next slot is as far ahead, and with a new timer when it is not', () => {
    const clock = new FakeClock()
    const { timers, asked, refreshed, cleared } = recording(clock, 1, true)
    const fired: string[] = []
    const q = new TimerQueue<string>(clock.clock, timers, (slot) => { fired.push(`${slot.owner}@${clock.now}`) }, () => {})
    const a = new TimerSlot('a', 0)
    const b = new TimerSlot('b', 0)
    const c = new TimerSlot('c', 0)
    q.arm(a, 1) // asks ceil(1) + 1 = 2 ms
    q.arm(b, 2)
    clock.now = 1
    q.runDue() // a fires with an I/O turn; b is 1 ms ahead: the same 2 ms timer again
    expect(fired).to.deep.equal(['a@1'])
    expect(asked).to.deep.equal([2])
    expect(refreshed).to.deep.equal([1])
    expect(cleared).to.deep.equal([])
    q.arm(c, 50)
    clock.now = 2
    q.runDue() // b fires; c is 48 ms ahead: another delay, so a new timer
    expect(fired).to.deep.equal(['a@1', 'b@2'])
    expect(asked).to.deep.equal([2, 49])
    expect(cleared).to.deep.equal([2])
    expect(clock.pending).to.equal(1)
    clock.advance(100)
    expect(fired).to.deep.equal(['a@1', 'b@2', 'c@51'])
    expect(refreshed).to.deep.equal([1])
  })

  it('fires a slot on time through a refreshed host timer', () => {
    const clock = new FakeClock()
    const { timers, refreshed } = recording(clock, undefined, true)
    const fired: string[] = []
    const turns: number[] = []
    const q = new TimerQueue<string>(clock.clock, timers, (slot) => { fired.push(`${slot.owner}@${clock.now}`) }, () => { turns.push(clock.now) })
    q.arm(new TimerSlot('a', 0), 10)
    q.arm(new TimerSlot('b', 0), 20)
    clock.now = 10
    q.runDue()
    expect(refreshed).to.deep.equal([10])
    clock.advance(9)
    expect(fired).to.deep.equal(['a@10'])
    clock.advance(1)
    expect(fired).to.deep.equal(['a@10', 'b@20'])
    expect(turns).to.deep.equal([20])
    expect(clock.pending).to.equal(0)
  })

  it('asks a host timer that may run early for whole milliseconds plus its lag, so it never runs before the slot is due', () => {
    const clock = new FakeClock()
    const { timers, asked } = recording(clock, 1)
    const fired: number[] = []
    const q = new TimerQueue<string>(clock.clock, timers, () => { fired.push(clock.now) }, () => {})
    clock.now = 0.25
    q.arm(new TimerSlot('a', 0), 1.25)
    expect(asked).to.deep.equal([2])
    clock.advance(5)
    expect(fired).to.deep.equal([2.25])
    q.arm(new TimerSlot('b', 0), clock.now + 100)
    expect(asked).to.deep.equal([2, 101])
  })

  it('asks exact host timers for the time left', () => {
    const clock = new FakeClock()
    const { timers, asked } = recording(clock)
    const q = new TimerQueue<string>(clock.clock, timers, () => {}, () => {})
    clock.now = 0.25
    q.arm(new TimerSlot('a', 0), 1.25)
    expect(asked).to.deep.equal([1])
  })

  it('fires every slot of a kind given lateness that much later, armBefore included, and the other kinds on time', () => {
    const clock = new FakeClock()
    const fired: string[] = []
    const q = new TimerQueue<string>(clock.clock, clock, (slot) => { fired.push(`${slot.owner}@${clock.now}`) }, () => {}, [0, 2])
    const exact = new TimerSlot('exact', 0)
    const late = new TimerSlot('late', 1)
    q.arm(exact, 10)
    q.arm(late, 10)
    q.armBefore(late, 11) // 13 is not before 12: stays
    expect(late.due).to.equal(12)
    q.armBefore(late, 5) // 7 is: moves
    expect(late.due).to.equal(7)
    clock.advance(100)
    expect(fired).to.deep.equal(['late@7', 'exact@10'])
  })

  it('with a wake timer: re-arms that one timer for each new earliest slot, disarms it when none is left, closes it on close, and never calls setTimeout', () => {
    const clock = new FakeClock()
    const log: string[] = []
    let pending: unknown
    let made = 0
    const timers: CopyTimers = {
      setTimeout: () => { throw new Error('setTimeout called') },
      clearTimeout: () => { throw new Error('clearTimeout called') },
      lagMs: 1,
      wakeTimer: (fn) => {
        made++
        return {
          arm: (ms) => {
            log.push(`arm ${ms}@${clock.now}`)
            if (pending !== undefined) clock.clearTimeout(pending)
            pending = clock.setTimeout(() => { pending = undefined; fn() }, ms)
          },
          disarm: () => {
            log.push(`disarm@${clock.now}`)
            if (pending !== undefined) clock.clearTimeout(pending)
            pending = undefined
          },
          close: () => { log.push('close') }
        }
      }
    }
    const fired: string[] = []
    const q = new TimerQueue<string>(clock.clock, timers, (slot) => { fired.push(`${slot.owner}@${clock.now}`) }, () => {})
    expect(made).to.equal(1)
    const a = new TimerSlot('a', 0)
    const b = new TimerSlot('b', 0)
    q.arm(a, 30) // ceil(30) + lag 1
    q.arm(b, 10) // earlier: armed again
    q.arm(a, 40) // later than the top: nothing to do
    expect(log).to.deep.equal(['arm 31@0', 'arm 11@0'])
    clock.advance(11)
    expect(fired).to.deep.equal(['b@11'])
    expect(log.slice(2)).to.deep.equal(['arm 20@11']) // a's heap key is still 30 (re-queued when it comes up)
    // a turn that packets brought fires a before its timer: the timer is disarmed, not left to wake for nothing
    clock.now = 41
    q.runDue()
    expect(fired).to.deep.equal(['b@11', 'a@41'])
    expect(log.slice(3)).to.deep.equal(['disarm@41'])
    expect(clock.pending).to.equal(0)
    q.arm(a, 50)
    q.close()
    expect(log.slice(4)).to.deep.equal(['arm 10@41', 'disarm@41', 'close'])
    clock.advance(100)
    expect(fired).to.have.length(2)
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

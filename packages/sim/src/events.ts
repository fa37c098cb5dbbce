// The virtual clock: a queue of events ordered by (time, insertion order),
// run synchronously. The engine's timers, the network links, the in-memory
// control sockets and the client scripts all schedule here.
import { IndexedHeap, type CopyTimers } from '@tcpcopy/copy'

interface SimEvent {
  t: number
  n: number
  fn: () => void
  cancelled: boolean
  index: number
}

export class EventQueue {
  #now = 0
  #seq = 0
  readonly #heap = new IndexedHeap<SimEvent>((a, b) => a.t < b.t || (a.t === b.t && a.n < b.n))
  /** Events run so far. */
  processed = 0

  get now (): number { return this.#now }
  get pending (): number { return this.#heap.size }
  /** Time of the next event, or Infinity. */
  get nextTime (): number { return this.#heap.peek()?.t ?? Infinity }

  /** Runs `fn` at time `t` (not before now). Returns a handle for cancel(). */
  at (t: number, fn: () => void): SimEvent {
    const e: SimEvent = { t: Math.max(t, this.#now), n: this.#seq++, fn, cancelled: false, index: -1 }
    this.#heap.push(e)
    return e
  }

  after (ms: number, fn: () => void): SimEvent {
    return this.at(this.#now + Math.max(0, ms), fn)
  }

  cancel (e: unknown): void {
    if (e !== undefined && e !== null) (e as SimEvent).cancelled = true
  }

  /** Runs every event due up to `until` (inclusive), then sets the clock to `until`. Returns events run. */
  run (until: number, maxEvents = Infinity): number {
    let n = 0
    for (;;) {
      const e = this.#heap.peek()
      if (e === undefined || e.t > until || n >= maxEvents) break
      this.#heap.pop()
      if (e.cancelled) continue
      this.#now = e.t
      n++
      this.processed++
      e.fn()
    }
    if (until !== Infinity && until > this.#now && n < maxEvents) this.#now = until
    return n
  }

  /** CopyTimers on this clock. */
  timers (): CopyTimers {
    return {
      setTimeout: (fn, ms) => this.after(ms, fn),
      clearTimeout: (h) => { this.cancel(h) },
      setImmediate: (fn) => this.after(0, fn)
    }
  }
}

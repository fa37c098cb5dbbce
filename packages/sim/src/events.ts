// The virtual clock: a queue of events ordered by (time, insertion order),
// run synchronously. The engine's timers, the network links, the in-memory
// control sockets and the client scripts all schedule here.
import type { CopyTimers } from '@tcpcopy/copy'

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
  readonly #heap: SimEvent[] = []
  /** Events run so far. */
  processed = 0

  get now (): number { return this.#now }
  get pending (): number { return this.#heap.length }
  /** Time of the next event, or Infinity. */
  get nextTime (): number { return this.#heap[0]?.t ?? Infinity }

  /** Runs `fn` at time `t` (not before now). Returns a handle for cancel(). */
  at (t: number, fn: () => void): SimEvent {
    const e: SimEvent = { t: Math.max(t, this.#now), n: this.#seq++, fn, cancelled: false, index: this.#heap.length }
    this.#heap.push(e)
    this.#up(e.index)
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
      const e = this.#heap[0]
      if (e === undefined || e.t > until || n >= maxEvents) break
      this.#pop()
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

  #pop (): void {
    const heap = this.#heap
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      last.index = 0
      this.#down(0)
    }
  }

  #less (a: SimEvent, b: SimEvent): boolean {
    return a.t < b.t || (a.t === b.t && a.n < b.n)
  }

  #up (i: number): void {
    const heap = this.#heap
    const e = heap[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = heap[p]!
      if (!this.#less(e, parent)) break
      heap[i] = parent
      parent.index = i
      i = p
    }
    heap[i] = e
    e.index = i
  }

  #down (i: number): void {
    const heap = this.#heap
    const n = heap.length
    const e = heap[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      if (r < n && this.#less(heap[r]!, heap[l]!)) c = r
      const child = heap[c]!
      if (!this.#less(child, e)) break
      heap[i] = child
      child.index = i
      i = c
    }
    heap[i] = e
    e.index = i
  }
}

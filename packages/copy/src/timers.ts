// Per-session timers without a host timer per session: an indexed binary
// heap of slots ordered by due time, and one host timer for the earliest (a
// setTimeout, or the wake timer CopyTimers may give).
// Arming a slot allocates nothing; cancelling is lazy (the slot is skipped
// when it comes up). The engine also fires the due slots at the end of its
// capture and control turns (runDue), so the host timer wakes the process
// only when nothing else does. The simulator injects virtual timers, so the
// whole engine runs on its clock.
import { IndexedHeap } from './heap.js'

/** The host timer functions the engine uses; the simulator passes virtual ones. */
export interface CopyTimers {
  setTimeout (fn: () => void, ms: number): unknown
  clearTimeout (handle: unknown): void
  /**
   * Restarts a pending host timer for the delay it was set with, counted
   * from now (Node's Timeout.refresh()). Optional: when present, the queue
   * re-aims its timer this way whenever the new delay equals the old one,
   * which allocates nothing and keeps Node's timer list for that delay alive,
   * instead of a clearTimeout and a setTimeout.
   */
  refresh? (handle: unknown): void
  /** Continues work on the next event-loop turn (default: setTimeout(fn, 0)). */
  setImmediate? (fn: () => void): unknown
  /**
   * How much earlier than asked, by the engine clock, a host timer may run
   * (ms); the queue asks for whole milliseconds and this much more. Absent:
   * the timers are exact (virtual clocks).
   */
  readonly lagMs?: number
  /**
   * Optional: one re-armable timer that calls `fn` (the native shim's
   * WakeTimer). When present, the queue's host timer is this one timer,
   * armed again for each new earliest slot, instead of a setTimeout and a
   * clearTimeout per change (Node's timer lists and a Timeout object each).
   */
  wakeTimer? (fn: () => void): WakeTimer
}

/** A re-armable host timer: arm(ms) starts it or starts it again from now. */
export interface WakeTimer {
  arm (ms: number): void
  disarm (): void
  close (): void
}

/**
 * Node's timers. They count whole milliseconds of the event loop's clock,
 * which is truncated to the millisecond: a timer of d ms can run up to a
 * millisecond before d ms of performance.now() have passed. A slot that is
 * not due yet then costs one wake-up that does nothing and another to come
 * back, so the queue asks for one millisecond more (`lagMs`): the slot then
 * fires when the second wake-up would have fired it.
 */
export const defaultTimers: CopyTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => { clearTimeout(h as NodeJS.Timeout) },
  refresh: (h) => { (h as NodeJS.Timeout).refresh() },
  setImmediate: (fn) => setImmediate(fn),
  lagMs: 1
}

/** One timer of one owner; `kind` tells the handler which. */
export class TimerSlot<T> {
  /** When it should fire (ms on the engine clock); -1 = not armed. */
  due = -1
  /** Its key in the heap (≤ due: a slot armed later than its heap key fires early and is re-queued). */
  heapDue = 0
  /** Position in the heap, -1 when not in it. */
  index = -1
  /** The run of the queue in which it last fired (a slot fires at most once per run). */
  run = 0

  constructor (readonly owner: T, readonly kind: number) {}

  get armed (): boolean { return this.due >= 0 }
}

export class TimerQueue<T> {
  readonly #heap = new IndexedHeap<TimerSlot<T>>((a, b) => a.heapDue < b.heapDue)
  readonly #clock: () => number
  readonly #timers: CopyTimers
  readonly #fire: (slot: TimerSlot<T>) => void
  readonly #afterRun: () => void
  readonly #lag: number
  readonly #late: readonly number[]
  /** The pending host timer: a setTimeout handle, or true while the wake timer is armed. */
  #handle: unknown = undefined
  readonly #wake: WakeTimer | undefined
  #hostDue = Infinity
  /** The delay the pending host timer was set with. */
  #hostMs = -1
  #closed = false
  #runs = 0
  /** Inside #run: arms do not touch the host timer; the run sets it once when it ends. */
  #running = false

  /**
   * `lateMs[kind]`: how much later than asked every slot of that kind fires
   * (absent: on time). Slots that may be late then usually come due within a
   * turn that other work brings, instead of waking the process themselves.
   */
  constructor (clock: () => number, timers: CopyTimers, fire: (slot: TimerSlot<T>) => void, afterRun: () => void, lateMs: readonly number[] = []) {
    this.#clock = clock
    this.#timers = timers
    this.#fire = fire
    this.#afterRun = afterRun
    this.#lag = timers.lagMs ?? 0
    this.#late = lateMs
    this.#wake = timers.wakeTimer?.(this.#onHost)
  }

  /** Slots in the heap (armed or lazily cancelled). */
  get size (): number { return this.#heap.size }

  /** Arms `slot` to fire at `due`, plus its kind's lateness (replacing any earlier arming). */
  arm (slot: TimerSlot<T>, due: number): void {
    this.#armAt(slot, due + (this.#late[slot.kind] ?? 0))
  }

  /** Arms `slot` only when it is not armed or would fire later than `due` (both with its kind's lateness). */
  armBefore (slot: TimerSlot<T>, due: number): void {
    const at = due + (this.#late[slot.kind] ?? 0)
    if (slot.due < 0 || slot.due > at) this.#armAt(slot, at)
  }

  #armAt (slot: TimerSlot<T>, due: number): void {
    if (this.#closed) return
    slot.due = due
    if (slot.index < 0) {
      slot.heapDue = due
      this.#heap.push(slot)
    } else if (due < slot.heapDue) {
      slot.heapDue = due
      this.#heap.decreased(slot)
    }
    // During a run the top may be a slot the run is about to fire: a host
    // timer set for it now would wake the process for nothing afterwards.
    if (!this.#running) this.#schedule()
  }

  cancel (slot: TimerSlot<T>): void {
    slot.due = -1
  }

  /**
   * Fires the slots due by now, as the host timer would. The engine calls it
   * at the end of each capture and control turn: a slot that came due while
   * the process was awake anyway goes out with that turn's packets, instead
   * of waking the process once more (the host timer then aims at the next one).
   */
  runDue (): void {
    if (this.#running || this.#closed) return
    const top = this.#heap.peek()
    if (top === undefined || top.heapDue > this.#clock()) return
    this.#run(false)
  }

  /** Stops everything; later arm() calls are ignored. */
  close (): void {
    this.#closed = true
    this.#cancelHost()
    this.#wake?.close()
    for (const s of this.#heap.items) s.due = -1
    this.#heap.clear()
  }

  #schedule (): void {
    const top = this.#heap.peek()
    if (top === undefined) {
      this.#cancelHost()
      this.#hostDue = Infinity
      return
    }
    // Kept while it aims at the top; re-aimed when an earlier slot came, or
    // when runDue() fired what it aimed at.
    if (this.#handle !== undefined && this.#hostDue === top.heapDue) return
    this.#hostDue = top.heapDue
    const wait = top.heapDue - this.#clock()
    const ms = wait <= 0 ? 0 : this.#lag > 0 ? Math.ceil(wait) + this.#lag : wait
    if (this.#wake !== undefined) {
      this.#wake.arm(ms)
      this.#handle = true
      return
    }
    if (this.#handle !== undefined) {
      // The usual case: runDue() fired what the timer aimed at and the next
      // slot is as far ahead (a pacing slot a millisecond or two away).
      if (ms === this.#hostMs && this.#timers.refresh !== undefined) {
        this.#timers.refresh(this.#handle)
        return
      }
      this.#timers.clearTimeout(this.#handle)
    }
    this.#hostMs = ms
    this.#handle = this.#timers.setTimeout(this.#onHost, ms)
  }

  #cancelHost (): void {
    if (this.#handle === undefined) return
    if (this.#wake !== undefined) this.#wake.disarm()
    else this.#timers.clearTimeout(this.#handle)
    this.#handle = undefined
  }

  readonly #onHost = (): void => {
    this.#handle = undefined
    this.#hostDue = Infinity
    this.#run(true)
  }

  /** Fires the due slots; `host`: called by the host timer (then afterRun follows). */
  #run (host: boolean): void {
    if (this.#closed) return
    const now = this.#clock()
    const run = ++this.#runs
    this.#running = true
    try {
      for (;;) {
        const top = this.#heap.peek()
        if (top === undefined || top.heapDue > now) break
        // Re-armed for now by its own handler: leave it for the next run, so time moves on.
        if (top.run === run && top.due >= 0) break
        this.#heap.pop()
        if (top.due < 0) continue
        if (top.due > now) {
          top.heapDue = top.due
          this.#heap.push(top)
          continue
        }
        top.due = -1
        top.run = run
        this.#fire(top)
        if (this.#closed) return
      }
    } finally {
      this.#running = false
      if (!this.#closed) {
        if (host) this.#afterRun()
        this.#schedule()
      }
    }
  }
}

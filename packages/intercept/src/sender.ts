// Sending response records to tcpcopy (INTERCEPT.md §8, PROTOCOL.md §4):
// plain (one write per record) or combined ([u16 count][records], count
// 1..COMB_MAX_NUM) with the adaptive batch size of the original's
// tc_combine.c.

/** What the sender needs of a control connection. */
export interface SenderTunnel {
  /** Connection id, for logs. */
  readonly id: number
  /**
   * Writes `bytes`, a view that is valid during the call only (a record in
   * the core's memory, or the sender's reused frame buffer): the tunnel
   * copies what it keeps, so what a socket holds is exactly the bytes unsent.
   */
  write (bytes: Uint8Array): void
  /**
   * Combine buffer: [u16 count][records], room for maxCount records. Reused
   * while the tunnel is busy (count-driven flushes); let go after a
   * time-driven flush, so an idle tunnel holds none.
   */
  combineBuf: Uint8Array | undefined
  combineCount: number
  combineRecordSize: number
  /** Millisecond (integer) of the previous send-routine call for this tunnel. */
  lastAccessMs: number
}

export interface SenderOptions {
  /** Combined framing (default of both originals); false: one bare record per write. */
  combined: boolean
  /** COMB_MAX_NUM: 16, or 6 with payload records. */
  maxCount: number
  /** -n: the starting batch size `cur` (clamped to 0..maxCount; 0 sends the first record at once, then cur is 1). */
  startCount: number
  /** Called when the first tunnel gets buffered records (arm the push timer). */
  onPending?: () => void
}

export interface SenderStats {
  /** Records handed to sockets. */
  records: number
  /** Socket writes (combined frames, or records in plain mode). */
  writes: number
  /** Combined flushes because the buffer reached the batch size. */
  countFlushes: number
  /** Combined flushes because the tunnel was idle since an earlier millisecond. */
  timeFlushes: number
}

/** The combined-frame header: a network-order u16 count. */
const HEADER = 2

export class RecordSender {
  readonly combined: boolean
  readonly maxCount: number
  #cur: number
  readonly #pending = new Set<SenderTunnel>()
  readonly #onPending: (() => void) | undefined
  readonly #stats: SenderStats = { records: 0, writes: 0, countFlushes: 0, timeFlushes: 0 }

  constructor (options: SenderOptions) {
    this.combined = options.combined
    this.maxCount = options.maxCount
    this.#cur = Math.min(Math.max(0, Math.trunc(options.startCount)), options.maxCount)
    this.#onPending = options.onPending
  }

  /** The current (global) batch size `cur`. */
  get batchSize (): number { return this.#cur }

  /** True while some tunnel holds buffered records. */
  get hasPending (): boolean { return this.#pending.size > 0 }

  stats (): SenderStats { return { ...this.#stats } }

  /**
   * Sends or buffers one record (a view, copied here) for `t`. `nowMs` is the
   * engine clock; only its integer millisecond matters.
   */
  add (t: SenderTunnel, record: Uint8Array, nowMs: number): void {
    if (!this.combined) {
      this.#stats.records++
      this.#stats.writes++
      t.write(record)
      return
    }
    const size = record.length
    if (t.combineBuf === undefined || t.combineRecordSize !== size) {
      if (t.combineCount > 0) this.#flush(t, false) // a format change: never mix record sizes in a frame
      t.combineBuf = new Uint8Array(HEADER + this.maxCount * size)
      t.combineRecordSize = size
    }
    t.combineBuf.set(record, HEADER + t.combineCount * size)
    if (t.combineCount++ === 0) {
      this.#pending.add(t)
      if (this.#pending.size === 1) this.#onPending?.()
    }
    this.#routine(t, Math.floor(nowMs))
  }

  /** The push timer (every 2 ms): runs the send routine for every tunnel holding records. */
  push (nowMs: number): void {
    const ms = Math.floor(nowMs)
    for (const t of this.#pending) this.#routine(t, ms)
  }

  /** Writes every buffered record now (shutdown); leaves `cur` alone. */
  flushAll (): void {
    for (const t of this.#pending) this.#flush(t, false)
  }

  /** Forgets a closed tunnel's buffered records; returns how many were dropped. */
  forget (t: SenderTunnel): number {
    const n = t.combineCount
    this.#pending.delete(t)
    t.combineBuf = undefined
    t.combineCount = 0
    return n
  }

  /**
   * buffer_and_snd: count-driven flush when the buffer holds `cur` records
   * (then cur++ up to maxCount); otherwise a time-driven flush when the
   * tunnel's previous call was in an earlier millisecond (then cur-- down to
   * 1, since fewer than cur records came in that time). The access time is
   * updated on every call. A start of cur = 0 (-n 0) makes the first record
   * a count-driven flush, after which cur is 1 (INTERCEPT.md §8).
   */
  #routine (t: SenderTunnel, ms: number): void {
    if (t.combineCount > 0) {
      if (t.combineCount >= this.#cur) {
        this.#stats.countFlushes++
        if (this.#cur < this.maxCount) this.#cur++
        this.#flush(t, true)
      } else if (ms !== t.lastAccessMs) {
        this.#stats.timeFlushes++
        if (this.#cur > 1) this.#cur--
        this.#flush(t, false)
      }
    }
    t.lastAccessMs = ms
  }

  /** Writes the buffered frame; `keep` keeps the frame buffer for the next records (a busy tunnel). */
  #flush (t: SenderTunnel, keep: boolean): void {
    const buf = t.combineBuf
    const n = t.combineCount
    this.#pending.delete(t)
    if (buf === undefined || n === 0) return
    buf[0] = n >>> 8
    buf[1] = n & 0xff
    t.combineCount = 0
    if (!keep) t.combineBuf = undefined
    this.#stats.records += n
    this.#stats.writes++
    // exactly the frame: the tunnel copies these bytes
    t.write(buf.subarray(0, HEADER + n * t.combineRecordSize))
  }
}

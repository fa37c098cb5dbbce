import { ConfigError } from '@tcpcopy/interface'

/** TCPCOPY.md §7: after the end of the file tcpcopy waits 120 s before it replays again or exits. */
export const REPLAY_EOF_WAIT_MS = 120_000

export interface ReplayClockOptions {
  /** -a: replay this many times faster than recorded; default 1. Any finite number > 0. */
  readonly accelerate?: number
  /** -I: a gap longer than this many ms between consecutive packets is skipped whole; default 0 = never. */
  readonly idleGapMs?: number
  /** -T: passes over the file; default 1. */
  readonly replays?: number
  /** Wait after the end of the file; default REPLAY_EOF_WAIT_MS. */
  readonly eofWaitMs?: number
}

/** What to do when a pass reached the end of the file. */
export interface ReplayPassEnd {
  /** The pass that ended, from 1. */
  readonly pass: number
  /** True when -T asks for another pass: at `resumeAtMs`, call `restart()` and read the file again. */
  readonly replayAgain: boolean
  /** Wall time (caller's clock) when the wait after EOF is over: replay again or exit then. */
  readonly resumeAtMs: number
}

/**
 * The offline replay schedule of TCPCOPY.md §7, without timers: the caller
 * passes its wall clock (ms, any origin: Date.now(), performance.now(), a
 * fake) and the packets' timestamps in file order, and the clock says when
 * each is due. A packet is due when
 *
 *     pcapElapsed ≤ wallElapsed × accelerate + skipped
 *
 * where pcapElapsed runs from the first packet of the pass, wallElapsed from
 * `start()` (or the first query), and skipped is the sum of every gap between
 * consecutive packets longer than idleGapMs (the gap before this packet
 * included). Offer only the packets you replay ("valid" packets in the
 * original); those you drop need no schedule.
 */
export interface ReplayClock {
  readonly accelerate: number
  readonly idleGapMs: number
  readonly replays: number
  /** The current pass, from 1. */
  readonly pass: number
  /** Wall time the current pass started, once started. */
  readonly startWallMs: number | undefined
  /** Packets committed with `advance()`/`takeDue()` in this pass. */
  readonly scheduled: number
  /** Timestamp of the first packet of this pass. */
  readonly firstTimestampNs: bigint | undefined
  /** Timestamp of the last committed packet. */
  readonly lastTimestampNs: bigint | undefined
  /** Total of the skipped idle gaps in this pass, in ns and in ms. */
  readonly skippedNs: bigint
  readonly skippedMs: number
  /** Starts the pass at this wall time (the first packet is due then). Later calls are ignored. */
  start (wallMs: number): void
  /** Ms after the start of the pass at which the next packet, with this timestamp, is due. Pure. */
  dueOffsetMs (timestampNs: bigint): number
  /** True when the next packet, with this timestamp, is due at `wallMs`. Starts the pass if needed; commits nothing. */
  isDue (timestampNs: bigint, wallMs: number): boolean
  /** Commits the next packet (its gap now counts) and returns the wall time it is due; the caller may wait until then. */
  advance (timestampNs: bigint, wallMs?: number): number
  /**
   * The timestamp of a committed packet (call after advance()/takeDue() for
   * it) in ms, with the idle gaps skipped so far taken out: the time line the
   * replay really plays. This is the capture time to give the session logic
   * (RTT measurement, -g), so a skipped hour does not become an hour of RTT
   * or a jump of the sampling ramp.
   */
  timelineMs (timestampNs: bigint): number
  /**
   * Of the next packets (timestamps in file order), how many are due at
   * `wallMs`; commits those. Stops at the first one not due, so packets are
   * released in file order even when timestamps go backwards.
   */
  takeDue (timestampsNs: readonly bigint[], wallMs: number): number
  /** The end of the file in this pass was reached at `wallMs`. */
  endOfPass (wallMs: number): ReplayPassEnd
  /** Begins the next pass (-T): forgets the first packet, the gaps and the start; starts at `wallMs` if given. */
  restart (wallMs?: number): void
}

function checkOption (name: string, flag: string, value: number, ok: boolean, what: string): void {
  if (!ok) throw new ConfigError(`replay clock "${name}" (${flag}) must be ${what}, got ${String(value)}`, 'TC_ERR_PCAP_CLOCK_OPTION')
}

export function createReplayClock (options: ReplayClockOptions = {}): ReplayClock {
  const { accelerate = 1, idleGapMs = 0, replays = 1, eofWaitMs = REPLAY_EOF_WAIT_MS } = options
  checkOption('accelerate', '-a', accelerate, Number.isFinite(accelerate) && accelerate > 0, 'a finite number > 0')
  checkOption('idleGapMs', '-I', idleGapMs, Number.isFinite(idleGapMs) && idleGapMs >= 0, 'a number of ms ≥ 0')
  checkOption('replays', '-T', replays, Number.isInteger(replays) && replays >= 1, 'an integer ≥ 1')
  checkOption('eofWaitMs', 'wait after EOF', eofWaitMs, Number.isFinite(eofWaitMs) && eofWaitMs >= 0, 'a number of ms ≥ 0')
  // The threshold in ns; gaps are compared exactly. 0 disables skipping.
  const idleGapNs = BigInt(Math.round(idleGapMs * 1e6))

  let pass = 1
  let startWallMs: number | undefined
  let first: bigint | undefined
  let last: bigint | undefined
  let skipped = 0n
  let scheduled = 0

  /** Skipped total if `ts` were the next packet. */
  function skippedWith (ts: bigint): bigint {
    if (idleGapNs === 0n || last === undefined) return skipped
    const gap = ts - last
    return gap > idleGapNs ? skipped + gap : skipped
  }

  /** pcapElapsed − skipped for `ts` as the next packet, in ns (≥ 0). */
  function effectiveNs (ts: bigint): bigint {
    if (first === undefined) return 0n
    const eff = ts - first - skippedWith(ts)
    return eff > 0n ? eff : 0n
  }

  function commit (ts: bigint): void {
    skipped = skippedWith(ts)
    if (first === undefined) first = ts
    last = ts
    scheduled++
  }

  function start (wallMs: number): void {
    if (startWallMs === undefined) startWallMs = wallMs
  }

  function isDue (ts: bigint, wallMs: number): boolean {
    start(wallMs)
    return Number(effectiveNs(ts)) / 1e6 <= (wallMs - startWallMs!) * accelerate
  }

  return {
    accelerate,
    idleGapMs,
    replays,
    get pass () { return pass },
    get startWallMs () { return startWallMs },
    get scheduled () { return scheduled },
    get firstTimestampNs () { return first },
    get lastTimestampNs () { return last },
    get skippedNs () { return skipped },
    get skippedMs () { return Number(skipped) / 1e6 },
    start,
    dueOffsetMs (ts) {
      return Number(effectiveNs(ts)) / 1e6 / accelerate
    },
    isDue,
    advance (ts, wallMs) {
      if (wallMs !== undefined) start(wallMs)
      if (startWallMs === undefined) {
        throw new ConfigError('replay clock: advance() needs the wall time of the first packet, or start() before it', 'TC_ERR_PCAP_CLOCK_NOT_STARTED')
      }
      const at = startWallMs + Number(effectiveNs(ts)) / 1e6 / accelerate
      commit(ts)
      return at
    },
    timelineMs (ts) {
      const t = ts - skipped
      return Number(t / 1_000_000n) + Number(t % 1_000_000n) / 1e6
    },
    takeDue (timestamps, wallMs) {
      let n = 0
      while (n < timestamps.length && isDue(timestamps[n]!, wallMs)) commit(timestamps[n++]!)
      return n
    },
    endOfPass (wallMs) {
      return { pass, replayAgain: pass < replays, resumeAtMs: wallMs + eofWaitMs }
    },
    restart (wallMs) {
      pass++
      startWallMs = undefined
      first = undefined
      last = undefined
      skipped = 0n
      scheduled = 0
      if (wallMs !== undefined) start(wallMs)
    }
  }
}

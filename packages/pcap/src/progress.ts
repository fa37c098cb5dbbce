export interface ReplayProgressInput {
  /** Wall ms since the replay (all passes) started. */
  readonly elapsedMs: number
  /** Bytes of the file consumed in this pass (`packet.offset + packet.recordLength`, or `reader.bytesConsumed`). */
  readonly bytesDone?: number
  /** The file size (fs.stat). Preferred basis when given. */
  readonly totalBytes?: number
  /** Packets read in this pass. */
  readonly packetsDone?: number
  /** Packets in the file, when known (e.g. from an earlier pass). */
  readonly totalPackets?: number
  /** The current pass, from 1 (-T); default 1. */
  readonly pass?: number
  /** Passes in all (-T); default 1. */
  readonly replays?: number
}

export interface ReplayProgress {
  /** Part of the whole replay done, 0..1; undefined when neither totals is known. */
  readonly fraction: number | undefined
  /** What the fraction was measured by. */
  readonly basis: 'bytes' | 'packets' | undefined
  /** Estimated ms left at the rate so far; undefined until something is done. */
  readonly etaMs: number | undefined
}

function clamp01 (x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x
}

/** How far an offline replay is, by bytes of the file (preferred) or by packets, over all -T passes. */
export function replayProgress (input: ReplayProgressInput): ReplayProgress {
  const { elapsedMs, bytesDone, totalBytes, packetsDone, totalPackets, pass = 1, replays = 1 } = input
  let inPass: number | undefined
  let basis: ReplayProgress['basis']
  if (bytesDone !== undefined && totalBytes !== undefined && totalBytes > 0) {
    inPass = clamp01(bytesDone / totalBytes); basis = 'bytes'
  } else if (packetsDone !== undefined && totalPackets !== undefined && totalPackets > 0) {
    inPass = clamp01(packetsDone / totalPackets); basis = 'packets'
  }
  if (inPass === undefined) return { fraction: undefined, basis: undefined, etaMs: undefined }
  const passes = Math.max(1, replays)
  const fraction = clamp01((Math.min(pass, passes) - 1 + inPass) / passes)
  const etaMs = fraction > 0 && elapsedMs >= 0 ? (elapsedMs * (1 - fraction)) / fraction : undefined
  return { fraction, basis, etaMs }
}

/** "42.5% of bytes, about 12 s left". */
export function formatReplayProgress (p: ReplayProgress): string {
  if (p.fraction === undefined) return 'progress unknown'
  const pct = `${(p.fraction * 100).toFixed(1)}% of ${p.basis!}`
  return p.etaMs === undefined ? pct : `${pct}, about ${formatDuration(p.etaMs)} left`
}

export interface ReplaySummary {
  /** Packets read from the file (all passes). */
  readonly packetsRead: number
  /** Packets handed to the session logic. */
  readonly packetsReplayed: number
  /** Packets dropped before that (truncated, link header shorter than 14 bytes, not IPv4, …). */
  readonly packetsSkipped: number
  /** Why they were dropped, e.g. { truncated: 3, 'l2 len': 1 }; printed in key order. */
  readonly skippedReasons?: Readonly<Record<string, number>>
  /** Bytes of the file read (all passes). */
  readonly bytesRead?: number
  /** Wall ms from the start of the replay to its end. */
  readonly durationMs: number
  /** Passes made (-T). */
  readonly passes?: number
  /** Idle time compressed away by -I, in ms. */
  readonly skippedGapMs?: number
}

/** Seconds with 3 decimals under a minute, then h/min/s: "12.345 s", "2 min 5 s", "1 h 0 min 3 s". */
export function formatDuration (ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  if (ms < 60_000) return `${(ms / 1000).toFixed(3)} s`
  const s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return h > 0 ? `${h} h ${m} min ${s % 60} s` : `${m} min ${s % 60} s`
}

function plural (n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`
}

/**
 * The one-line summary at the end of an offline replay, e.g.
 * "offline replay: 1000 packets read, 990 replayed, 10 skipped (l2 len 3, truncated 7) in 12.500 s (79.2 packets/s), 2 passes, 4.000 s of idle gaps skipped".
 */
export function formatReplaySummary (s: ReplaySummary): string {
  let line = `offline replay: ${plural(s.packetsRead, 'packet')} read, ${s.packetsReplayed} replayed, ${s.packetsSkipped} skipped`
  const reasons = Object.keys(s.skippedReasons ?? {}).sort()
  if (reasons.length > 0) line += ` (${reasons.map((r) => `${r} ${s.skippedReasons![r]!}`).join(', ')})`
  line += ` in ${formatDuration(s.durationMs)}`
  if (s.durationMs > 0) line += ` (${(s.packetsReplayed / (s.durationMs / 1000)).toFixed(1)} packets/s)`
  if (s.bytesRead !== undefined) line += `, ${plural(s.bytesRead, 'byte')} read`
  if (s.passes !== undefined) line += `, ${plural(s.passes, 'pass', 'passes')}`
  if (s.skippedGapMs !== undefined && s.skippedGapMs > 0) line += `, ${formatDuration(s.skippedGapMs)} of idle gaps skipped`
  return line
}

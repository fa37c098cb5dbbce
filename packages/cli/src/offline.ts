// Offline replay (TCPCOPY.md §7): the packets of a pcap or pcapng file go
// through the same session logic as live capture, at the pace of their
// timestamps (divided by -a, idle gaps longer than -I skipped), -T times.
// The target's responses still come live from intercept. After the end of
// the file tcpcopy waits for the replayed sessions to finish, at most
// --eof-wait seconds (the original always waited 120 s).
//
// A file that turns out corrupt or truncated stops the replay at that
// point: what was readable has been replayed, and the error names the byte
// offset (PcapFormatError.offset).
import { statSync } from 'node:fs'
import type { Logger } from '@tcpcopy/interface'
import type { TcpcopyConfig } from '@tcpcopy/config'
import {
  PcapReader, PcapFormatError, readPcapFile, createReplayClock, replayProgress, formatReplayProgress,
  formatReplaySummary, formatDuration, LinkType as PcapLinkType, type PcapPacket, type ReplaySummary, type PcapErrorCode
} from '@tcpcopy/pcap'
import { LinkType } from '@tcpcopy/wasm'

/** What the replay needs of the engine. */
export interface ReplayTarget {
  readonly state: string
  ingest (frame: Uint8Array, linkType: number, timestampMs?: number): void
  /** Live sessions; those still open (not in time-wait) keep the wait after EOF going. */
  sessions (): ReadonlyArray<{ timeWait: boolean }>
}

export interface OfflineDeps {
  copy: ReplayTarget
  log: Logger
  /** Wall clock in ms. Default Date.now. */
  clock?: () => number
  /** Waits this many ms. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>
  /** Reads the file. Default readPcapFile. */
  read?: (path: string, reader: PcapReader, signal: AbortSignal) => AsyncIterable<PcapPacket>
  /** Size of the file in bytes, for the progress bar. Default statSync. */
  fileSize?: (path: string) => number | undefined
  /** Receives the progress line (about every progressIntervalMs) and, with final = true, the last one. */
  progress?: (line: string, final: boolean) => void
  progressIntervalMs?: number
  /** Aborting stops the replay (SIGTERM/SIGINT). */
  signal?: AbortSignal
  /** Poll interval of the wait after EOF. Default 100 ms. */
  pollMs?: number
}

export interface OfflineResult {
  summary: ReplaySummary
  /** The summary line (formatReplaySummary). */
  line: string
  /** Why the replay ended early: a corrupt/unreadable file, or the engine stopped. */
  error?: Error
  /** True when the signal stopped it. */
  aborted: boolean
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function defaultFileSize (path: string): number | undefined {
  try { return statSync(path).size } catch { return undefined }
}

/**
 * The frame and link type the core can parse, or a reason to skip it.
 * DLT_RAW (12) and LINKTYPE_IPV4 (228) are raw IP; BSD loopback (0, 108)
 * has a 4-byte address family before the IP header.
 */
export function replayFrame (p: PcapPacket): { frame: Uint8Array, linkType: number } | string {
  if (p.truncated) return 'truncated'
  switch (p.linkType) {
    case PcapLinkType.Ethernet: return { frame: p.data, linkType: LinkType.Ethernet }
    case PcapLinkType.LinuxSll: return { frame: p.data, linkType: LinkType.LinuxSll }
    case PcapLinkType.LinuxSll2: return { frame: p.data, linkType: LinkType.LinuxSll2 }
    case PcapLinkType.Raw:
    case PcapLinkType.DltRaw:
    case PcapLinkType.Ipv4:
      return { frame: p.data, linkType: LinkType.Raw }
    case PcapLinkType.Null:
    case PcapLinkType.Loop: {
      if (p.data.length < 4) return 'l2 len'
      const family = p.linkType === PcapLinkType.Loop
        ? new DataView(p.data.buffer, p.data.byteOffset, 4).getUint32(0, false)
        : new DataView(p.data.buffer, p.data.byteOffset, 4).getUint32(0, true) // host order; files from little-endian hosts
      return family === 2 ? { frame: p.data.subarray(4), linkType: LinkType.Raw } : 'not IPv4'
    }
    default: return `link type ${p.linkType}`
  }
}

export async function runOfflineReplay (config: Pick<TcpcopyConfig, 'input' | 'accelerate' | 'idleGap' | 'replays' | 'eofWait'>, deps: OfflineDeps): Promise<OfflineResult> {
  if (config.input.kind !== 'offline') throw new TypeError('runOfflineReplay needs -i <file>')
  const file = config.input.file
  const clock = deps.clock ?? Date.now
  const sleep = deps.sleep ?? defaultSleep
  const read = deps.read ?? ((path, reader, signal) => readPcapFile(path, { reader, signal }))
  const totalBytes = (deps.fileSize ?? defaultFileSize)(file)
  const progressEvery = deps.progressIntervalMs ?? 1000
  const pollMs = deps.pollMs ?? 100
  const { log, copy } = deps
  const abort = new AbortController()
  const onAbort = (): void => abort.abort()
  deps.signal?.addEventListener('abort', onAbort, { once: true })
  if (deps.signal?.aborted === true) abort.abort()

  const rc = createReplayClock({ accelerate: config.accelerate, idleGapMs: config.idleGap, replays: config.replays, eofWaitMs: config.eofWait * 1000 })
  const skipped: Record<string, number> = {}
  let packetsRead = 0
  let packetsReplayed = 0
  let bytesBefore = 0
  let skippedGapMs = 0
  let error: Error | undefined
  let passes = 0
  const started = clock()
  let lastProgress = started
  let reader = new PcapReader()

  const stopped = (): boolean => abort.signal.aborted || (copy.state !== 'running' && copy.state !== 'starting')
  const progressLine = (): string => {
    const p = replayProgress({ elapsedMs: clock() - started, bytesDone: reader.bytesConsumed, totalBytes, pass: rc.pass, replays: config.replays })
    const passText = config.replays > 1 ? `pass ${rc.pass}/${config.replays}, ` : ''
    return `offline replay: ${bar(p.fraction)} ${passText}${packetsReplayed} packets replayed, ${formatReplayProgress(p)}`
  }
  const tick = (): void => {
    const now = clock()
    if (deps.progress !== undefined && now - lastProgress >= progressEvery) {
      lastProgress = now
      deps.progress(progressLine(), false)
    }
  }

  log.notice(`offline replay of ${file}${totalBytes !== undefined ? ` (${totalBytes} bytes)` : ''}: -a ${config.accelerate}, -I ${config.idleGap} ms, -T ${config.replays}`)
  try {
    for (;;) {
      passes++
      reader = new PcapReader()
      try {
        for await (const p of read(file, reader, abort.signal)) {
          if (stopped()) break
          packetsRead++
          const f = replayFrame(p)
          if (typeof f === 'string') {
            skipped[f] = (skipped[f] ?? 0) + 1
            continue
          }
          const due = rc.advance(p.timestampNs, clock())
          const wait = due - clock()
          if (wait >= 1) await sleepUnless(sleep, wait, abort.signal)
          if (stopped()) break
          // the capture time without the skipped -I gaps: the RTT and -g see the time line the replay plays
          copy.ingest(f.frame, f.linkType, rc.timelineMs(p.timestampNs))
          packetsReplayed++
          tick()
        }
      } catch (err) {
        if (!abort.signal.aborted) error = err as Error
      }
      bytesBefore += reader.bytesConsumed
      skippedGapMs += rc.skippedMs
      if (error !== undefined || stopped()) break
      // the end of this pass: let the sessions finish, at most --eof-wait
      const end = rc.endOfPass(clock())
      log.notice(`offline replay: end of ${file} (pass ${end.pass}); waiting up to ${formatDuration(end.resumeAtMs - clock())} for the replayed sessions to finish`)
      while (clock() < end.resumeAtMs && !stopped()) {
        if (copy.sessions().every((s) => s.timeWait)) break
        await sleepUnless(sleep, Math.min(pollMs, end.resumeAtMs - clock()), abort.signal)
      }
      if (!end.replayAgain || stopped()) break
      rc.restart()
    }
  } finally {
    deps.signal?.removeEventListener('abort', onAbort)
  }

  if (error instanceof PcapFormatError) {
    error = new PcapFormatError(`pcap file "${file}" is corrupt at byte offset ${error.offset}: ${error.message}; ` +
      `the ${packetsReplayed} packets before it were replayed`, error.code as PcapErrorCode, error.offset, { cause: error })
  }
  if (error === undefined && !abort.signal.aborted && copy.state !== 'running') {
    error = new Error(`the replay stopped because tcpcopy is ${copy.state}`)
  }
  const summary: ReplaySummary = {
    packetsRead,
    packetsReplayed,
    packetsSkipped: packetsRead - packetsReplayed,
    skippedReasons: skipped,
    bytesRead: bytesBefore,
    durationMs: clock() - started,
    passes,
    skippedGapMs
  }
  deps.progress?.(progressLine(), true)
  const line = formatReplaySummary(summary)
  return { summary, line, aborted: abort.signal.aborted, ...(error !== undefined ? { error } : {}) }
}

async function sleepUnless (sleep: (ms: number) => Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return
  await new Promise<void>((resolve) => {
    const done = (): void => { signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
    sleep(ms).then(done, done)
  })
}

/** "[#########...........]" for a fraction, "[?]" when unknown. */
export function bar (fraction: number | undefined, width = 20): string {
  if (fraction === undefined) return '[' + '?'.padEnd(width, ' ') + ']'
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width)
  return '[' + '#'.repeat(full) + '.'.repeat(width - full) + ']'
}

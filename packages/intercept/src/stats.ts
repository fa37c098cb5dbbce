// The statistics of a running intercept and the stats line (INTERCEPT.md §9).
import type { InterceptMode } from './options.js'

/** What the CLI reads from /proc/net/netfilter/nfnetlink_queue for the bound queue. */
export interface KernelQueueStats {
  /** "queue_dropped": packets the kernel dropped because the queue was full (raise -q). */
  queueDropped: number
  /** "user_dropped": packets the kernel could not put in the netlink socket buffer (raise net.core.rmem_max). */
  userDropped: number
}

export interface InterceptStats {
  mode: InterceptMode
  /** Advanced mode captures through the TPACKET_V3 ring (the default; false with --no-capture-ring). */
  captureRing?: boolean
  /** Control connections open now. */
  connections: number
  connectionsAccepted: number
  /** Connections closed at accept: outside --allow, or no free connection id. */
  connectionsRefused: number
  /** Connections closed by intercept for what the peer sent (garbage, an old client, a flood, a truncated message, no hello). */
  connectionsClosedOnError: number
  /** Of those: connections closed because no hello came within the hello timeout. */
  helloTimeouts: number
  /** CLIENT_ADD messages handled. */
  clientAdds: number
  /** Routes in the router now. */
  routes: number
  responses: {
    /** Every captured packet (every NFQUEUE packet with an id, or every captured frame). */
    captured: number
    /** Records written to control connections (delayed ones included once their route came). */
    forwarded: number
    /** Packets to a passlist destination: verdict ACCEPT, not routed (traditional mode). */
    passed: number
    /** DROP verdicts sent to the kernel (traditional mode; 0 in the passive advanced mode). */
    dropped: number
    /** SYN/RST packets that arrived before their route and were stored in the delay table. */
    delayed: number
    /** Packets without a route that were not SYN or RST: discarded. */
    unroutable: number
    /** Packets that failed to parse (truncated or bad headers). */
    malformed: number
    notTcp: number
    fragments: number
  }
  router: { hits: number, misses: number, evictions: number, expiries: number, deletes: number }
  delay: { records: number, keys: number, stored: number, flushed: number, expired: number, dropped: number }
  records: {
    /** Records the core built for a routed packet. */
    routed: number
    /** Socket writes: combined frames, or single records with --no-combined. */
    writes: number
    /** Records dropped because the connection's unsent output was above its cap (the peer does not read); the connection stays open. */
    droppedBackpressure: number
    /** Records dropped because all connections together held more unsent output than the global cap. */
    droppedMemoryCap: number
    /** Records for a connection that had just closed. */
    droppedNoConnection: number
    /** Records the core could not hold between two drains (should stay 0). */
    droppedOutOverflow: number
    /** Records buffered for a connection when it closed. */
    droppedOnClose: number
    /** Records of 1.x peers whose TCP header (options) was longer than the record holds (44 bytes) and was cut. */
    tcpHeaderCut: number
  }
  /** Unsent output to control connections. */
  output: {
    /** Bytes held now (socket buffers and staging), all connections. */
    bytes: number
    /** The most held at once. */
    peakBytes: number
    /** Connections whose output is above the per-connection cap now. */
    connectionsBackedUp: number
  }
  /** The current adaptive combined batch size (`cur`, §8). */
  batchSize: number
  capture: {
    /** Datagrams the capture PacketIo received. */
    received: number
    /** Datagrams cut at the snap length. */
    truncated: number
    /** Receive-buffer overruns the socket reported (ENOBUFS: "losing packets"). */
    overruns: number
  }
  /** Traditional mode only. */
  nfqueue?: {
    /** Verdicts sent. */
    verdicts: number
    /** Of those: verdicts that went out on a retry after a failed send. */
    verdictsRetried: number
    /** Verdicts whose send failed and that wait for the next retry now. */
    verdictsPending: number
    /** Verdicts given up (more waiting than the bound, or still waiting at stop): their packets stay queued until the queue is unbound. */
    verdictsLost: number
    /** Error answers from the kernel after start-up (refused verdicts, ...). */
    kernelErrors: number
    /** Netlink messages that broke the framing. */
    malformed: number
  }
  /** From InterceptDeps.kernelQueueStats, when it gives an answer. */
  kernelQueue?: KernelQueueStats
}

/** Kernel-side losses in one number: queue full, socket buffer full, ENOBUFS seen by the socket. */
export function kernelDrops (stats: InterceptStats): number {
  const k = stats.kernelQueue
  return (k === undefined ? 0 : k.queueDropped + k.userDropped) + stats.capture.overruns
}

/** The kernel queue was full: a longer queue (INTERCEPT.md §4.2, §11). */
export const QUEUE_HINT = 'raise -q/--queue-maxlen (e.g. -q 4096; the kernel queue holds 1024 packets by default)'
/**
 * A receive buffer overflowed (NFQUEUE "user dropped", ENOBUFS). intercept
 * asks for 16 MiB with SO_RCVBUFFORCE, which only CAP_NET_ADMIN may; without
 * it the kernel caps the request at net.core.rmem_max.
 */
export const RMEM_HINT = 'raise net.core.rmem_max and net.core.rmem_default ' +
  '(sysctl -w net.core.rmem_max=16777216 net.core.rmem_default=16777216; intercept asks for 16 MiB, which without CAP_NET_ADMIN is capped at rmem_max)'
/** Verdict sends failed: the netlink socket's send buffer (its size comes from net.core.wmem_default). */
export const WMEM_HINT = 'raise net.core.wmem_default and net.core.wmem_max ' +
  '(sysctl -w net.core.wmem_default=16777216 net.core.wmem_max=16777216), the send buffer of the NFQUEUE socket'
/** Output to tcpcopy backs up: the TCP send buffers here, the receive buffers and the load on the tcpcopy host. */
export const OUTPUT_HINT = 'tcpcopy reads its records too slowly: check the load of the tcpcopy host; raise net.core.wmem_max and ' +
  'the last value of net.ipv4.tcp_wmem here (e.g. sysctl -w net.core.wmem_max=16777216 net.ipv4.tcp_wmem="4096 65536 16777216"), ' +
  'and net.core.rmem_max / net.ipv4.tcp_rmem on the tcpcopy host'
/** The tuning advice of the original docs for a queue that loses packets: queue length and socket buffers. */
export const KERNEL_DROP_HINT = `${QUEUE_HINT}; ${RMEM_HINT}`
/** The same for a packet socket read with recvmmsg (advanced mode, --no-capture-ring), which has no queue length. */
export const CAPTURE_DROP_HINT = `${RMEM_HINT}, or narrow -F`
/**
 * The receive ring (advanced mode's default) was full. Its size is fixed
 * (16 MiB per capture socket), so the room is elsewhere: the socket buffer of
 * --no-capture-ring, a narrower filter, or less load.
 */
export const CAPTURE_RING_DROP_HINT = 'the capture ring (TPACKET_V3, 16 MiB per socket, a fixed size) filled while intercept was busy: ' +
  'run with --no-capture-ring to receive into a 32 MiB socket buffer instead (it rides out longer stalls at low packet rates, at more CPU per packet), ' +
  'narrow -F, or reduce the load on this host'

/** The tuning hint for kernel drops in a mode; advanced mode captures through the ring unless `captureRing` is false. */
export function dropHint (mode: InterceptMode, captureRing = true): string {
  if (mode === 'traditional') return KERNEL_DROP_HINT
  return captureRing ? CAPTURE_RING_DROP_HINT : CAPTURE_DROP_HINT
}

/** What grew since the previous stats line; each part picks its own hint. */
export interface StatsGrowth {
  /** NFQUEUE queue full (queue_dropped). */
  queueFull: number
  /** Socket receive buffer full (user_dropped, ENOBUFS overruns). */
  socketFull: number
  /** Verdicts whose first send failed. */
  verdictSendFailures: number
  /** Records dropped at the output caps. */
  outputDrops: number
}

/** The hints for what grew: the original's tuning notes (queue length, rmem, wmem), only those that apply. */
export function tuningHints (s: InterceptStats, g: StatsGrowth): string[] {
  const out: string[] = []
  if (s.mode !== 'traditional') {
    if (g.socketFull > 0) out.push(`the kernel dropped ${g.socketFull} packets since the last report: ${dropHint(s.mode, s.captureRing)}`)
  } else {
    const drops = g.queueFull + g.socketFull
    if (drops > 0) {
      const hints = [...(g.queueFull > 0 ? [QUEUE_HINT] : []), ...(g.socketFull > 0 ? [RMEM_HINT] : [])]
      out.push(`the kernel dropped ${drops} packets since the last report: ${hints.join('; ')}`)
    }
    if (g.verdictSendFailures > 0) out.push(`${g.verdictSendFailures} verdicts could not be sent at once since the last report: ${WMEM_HINT}`)
  }
  if (g.outputDrops > 0) out.push(`${g.outputDrops} records were dropped at the output caps since the last report: ${OUTPUT_HINT}`)
  return out
}

/** Records lost on the way to tcpcopy, all causes. */
export function recordsLost (s: InterceptStats): number {
  const r = s.records
  return r.droppedBackpressure + r.droppedMemoryCap + r.droppedNoConnection + r.droppedOutOverflow + r.droppedOnClose
}

/**
 * One line: connections, routes, responses, router, records and kernel drops,
 * then the tuning hints for what grew since the previous line (`growth`).
 */
export function formatStatsLine (s: InterceptStats, growth?: StatsGrowth): string {
  const r = s.responses
  const malformed = r.malformed + r.notTcp + r.fragments
  let line = `connections ${s.connections}, routes ${s.routes} (added ${s.clientAdds}), ` +
    `responses captured ${r.captured} forwarded ${r.forwarded} passed ${r.passed} dropped ${r.dropped} ` +
    `delayed ${r.delayed} unroutable ${r.unroutable} malformed ${malformed}, ` +
    `router hits ${s.router.hits} misses ${s.router.misses} evictions ${s.router.evictions} expiries ${s.router.expiries}, ` +
    `records lost ${recordsLost(s)}, batch ${s.batchSize}`
  if (s.mode === 'traditional') {
    const k = s.kernelQueue
    line += k === undefined
      ? `, kernel queue drops n/a (socket overruns ${s.capture.overruns})`
      : `, kernel queue drops ${k.queueDropped + k.userDropped} (queue full ${k.queueDropped}, socket full ${k.userDropped}, overruns ${s.capture.overruns})`
    const q = s.nfqueue
    if (q !== undefined && q.verdictsPending > 0) line += `, verdicts waiting ${q.verdictsPending}`
    if (q !== undefined && q.verdictsLost > 0) line += `, verdicts lost ${q.verdictsLost}`
  } else {
    line += `, capture overruns ${s.capture.overruns}`
  }
  if (s.records.droppedBackpressure + s.records.droppedMemoryCap > 0) {
    line += `, records over the output caps ${s.records.droppedBackpressure + s.records.droppedMemoryCap} ` +
      `(per connection ${s.records.droppedBackpressure}, all connections ${s.records.droppedMemoryCap})`
  }
  if (s.output.bytes > 0) line += `, output unsent ${s.output.bytes} bytes`
  if (s.records.tcpHeaderCut > 0) line += `, tcp headers cut ${s.records.tcpHeaderCut}`
  if (s.helloTimeouts > 0) line += `, hello timeouts ${s.helloTimeouts}`
  const hints = growth === undefined ? [] : tuningHints(s, growth)
  if (hints.length > 0) line += `; ${hints.join('; ')}`
  return line
}

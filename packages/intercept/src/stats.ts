// The statistics of a running intercept and the stats line (INTERCEPT.md §9).
import type { InterceptMode } from '@tcpcopy/config'

/** What the CLI reads from /proc/net/netfilter/nfnetlink_queue for the bound queue. */
export interface KernelQueueStats {
  /** "queue_dropped": packets the kernel dropped because the queue was full (raise -q). */
  queueDropped: number
  /** "user_dropped": packets the kernel could not put in the netlink socket buffer (raise net.core.rmem_max). */
  userDropped: number
}

export interface InterceptStats {
  mode: InterceptMode
  /** Advanced mode captures through the TPACKET_V3 ring (--capture-ring). */
  captureRing?: boolean
  /** Control connections open now. */
  connections: number
  connectionsAccepted: number
  /** Connections closed at accept: outside --allow, or no free connection id. */
  connectionsRefused: number
  /** Connections closed by intercept for what the peer sent (garbage, an old client, a flood, a truncated message). */
  connectionsClosedOnError: number
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
    /** Packets given a DROP verdict (traditional mode; 0 in the passive advanced mode). */
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
    /** Records dropped because the connection's unsent output was above the limit (the peer does not read). */
    droppedBackpressure: number
    /** Records for a connection that had just closed. */
    droppedNoConnection: number
    /** Records the core could not hold between two drains (should stay 0). */
    droppedOutOverflow: number
    /** Records buffered for a connection when it closed. */
    droppedOnClose: number
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
    /** Verdicts that could not be sent (their packets stay queued until the queue drops them). */
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

/** The tuning advice of the original docs for a queue that loses packets. */
export const KERNEL_DROP_HINT = 'raise -q/--queue-maxlen (e.g. -q 4096) and net.core.rmem_max (sysctl -w net.core.rmem_max=16777216)'
/** The same for a packet socket (advanced mode), which has no queue length. */
export const CAPTURE_DROP_HINT = 'raise net.core.rmem_max (sysctl -w net.core.rmem_max=16777216) or narrow -F'
export const CAPTURE_RING_DROP_HINT = 'the --capture-ring ring filled while intercept was busy: run without --capture-ring ' +
  '(its socket buffer rides out longer stalls) or narrow -F'

/** The tuning hint for kernel drops in a mode. */
export function dropHint (mode: InterceptMode, captureRing = false): string {
  if (mode === 'traditional') return KERNEL_DROP_HINT
  return captureRing ? CAPTURE_RING_DROP_HINT : CAPTURE_DROP_HINT
}

/**
 * One line: connections, routes, responses, router, records and kernel drops.
 * `dropsSinceLast` > 0 appends the tuning hint.
 */
export function formatStatsLine (s: InterceptStats, dropsSinceLast: number): string {
  const r = s.responses
  const malformed = r.malformed + r.notTcp + r.fragments
  const lost = s.records.droppedBackpressure + s.records.droppedNoConnection + s.records.droppedOutOverflow + s.records.droppedOnClose
  let line = `connections ${s.connections}, routes ${s.routes} (added ${s.clientAdds}), ` +
    `responses captured ${r.captured} forwarded ${r.forwarded} passed ${r.passed} dropped ${r.dropped} ` +
    `delayed ${r.delayed} unroutable ${r.unroutable} malformed ${malformed}, ` +
    `router hits ${s.router.hits} misses ${s.router.misses} evictions ${s.router.evictions} expiries ${s.router.expiries}, ` +
    `records lost ${lost}, batch ${s.batchSize}`
  if (s.mode === 'traditional') {
    const k = s.kernelQueue
    line += k === undefined
      ? `, kernel queue drops n/a (socket overruns ${s.capture.overruns})`
      : `, kernel queue drops ${k.queueDropped + k.userDropped} (queue full ${k.queueDropped}, socket full ${k.userDropped}, overruns ${s.capture.overruns})`
    if (s.nfqueue !== undefined && s.nfqueue.verdictsLost > 0) line += `, verdicts lost ${s.nfqueue.verdictsLost}`
  } else {
    line += `, capture overruns ${s.capture.overruns}`
  }
  if (dropsSinceLast > 0) {
    line += `; the kernel dropped ${dropsSinceLast} packets since the last report: ${dropHint(s.mode, s.captureRing)}`
  }
  return line
}

// The counters of TCPCOPY.md §8, grouped, and the statistics line.

/** Why captured packets (or whole sessions) were not replayed. */
export interface NotReplayed {
  /** Not IPv4/TCP or not parseable. */
  notTcp: number
  malformed: number
  /** IP fragments (only counted, §3.2). */
  fragments: number
  /** Captured length below tot_len (snaplen): the packet cannot be replayed whole. */
  truncated: number
  /** Destination not in any -x mapping. */
  notMapped: number
  /** Target is 127.0.0.1 and the source is not (§2). */
  localhost: number
  /** -r / -g sampling (§6). */
  sampledOut: number
  /** Pure ACKs of established sessions (§3.2 step 7); not requests. */
  pureAck: number
  /** Non-SYN without payload and without a session. */
  noSession: number
  /** -O: sessions whose SYN was not captured. */
  onlyComplete: number
  /** A SYN (or faked SYN) no intercept could be told about. */
  noIntercept: number
  /** Packets below the SYN's seq while the SYN is unanswered (§5.2). */
  staleBeforeSyn: number
  /** A new connection reused a live session's ip:port; its packets wait for nothing and are dropped (§5.1). */
  reusedWhileLive: number
  /** Late packets of a session in time-wait. */
  timeWait: number
  /** Packets dropped by the capture-loss jump detection (§5.2). */
  jumpDiscarded: number
  /** Content packets still unsent when their session ended (timeout, RST, …). */
  unsentAtEnd: number
  /** Captured packets refused because their session already held 2 × its packet limit. */
  sessionBufferFull: number
  /** Packets given to ingest() while the engine was not running. */
  notRunning: number
}

export interface CopyStats {
  state: string
  sessions: {
    active: number
    created: number
    /** Sessions ended (they then spend 6 s in time-wait). */
    closed: number
    /** Ended by the GC: -t, -k, 3 s without handshake, too many packets, capture loss. */
    obsolete: number
    /** Of those, ended by -t (no response) or -k (keep-alive). */
    timedOut: number
    timeWait: number
    /** Handshakes with the target completed. */
    established: number
    /** Sessions whose SYN was faked (mid-stream pick-up). */
    fakedSyns: number
    /** Reconstructs after a target RST/FIN with client data pending (§5.4). */
    reconstructs: number
  }
  packets: {
    /** Everything the capture (or ingest) delivered. */
    captured: number
    /** Accepted for a session (after -x, sampling, pure-ACK suppression), replicas counted once. */
    accepted: number
    clientSyns: number
    clientData: number
    /** Client retransmissions seen in the capture (duplicates of buffered or sent data). */
    clientRetransmissions: number
    /** Packets written to the target (captured, faked and retransmitted). */
    sent: number
    contentSent: number
    synSent: number
    finSent: number
    rstSent: number
    fakedAcks: number
    /** RTO and fast retransmissions of data, SYN or FIN. */
    retransmitted: number
    fastRetransmits: number
    /** Idle probes to sessions waiting for the target (CopyLimits.probeIdleMs). */
    probes: number
    /** Packets not sent: the kernel's buffer was full (EAGAIN), a send error, or the send socket broke. */
    sendDropped: number
    /** Of those, packets refused with a send error (EPERM, EHOSTUNREACH, …). */
    sendErrors: number
  }
  responses: {
    received: number
    withData: number
    fin: number
    rst: number
    /** Records for no known session. */
    noSession: number
    /** Records of an earlier incarnation of a session's ip:port (ignored). */
    stale: number
  }
  notReplayed: NotReplayed
  intercepts: {
    configured: number
    active: number
    connections: number
    connected: number
    reconnects: number
    clientAdds: number
    clientAddFailures: number
    /** CLIENT_ADDs an intercept did not get because its control connections were backed up. */
    clientAddsNotSent: number
    /** CLIENT_ADDs of live sessions sent again after their control connection closed. */
    clientAddsResent: number
    records: number
  }
  memory: {
    bufferedPackets: number
    bufferedBytes: number
    /** Bytes of packet slabs allocated (peak of the buffered bytes, rounded to slabs). */
    reservedBytes: number
  }
}

export function emptyNotReplayed (): NotReplayed {
  return {
    notTcp: 0,
    malformed: 0,
    fragments: 0,
    truncated: 0,
    notMapped: 0,
    localhost: 0,
    sampledOut: 0,
    pureAck: 0,
    noSession: 0,
    onlyComplete: 0,
    noIntercept: 0,
    staleBeforeSyn: 0,
    reusedWhileLive: 0,
    timeWait: 0,
    jumpDiscarded: 0,
    unsentAtEnd: 0,
    sessionBufferFull: 0,
    notRunning: 0
  }
}

/** One line with the counters of §8. */
export function formatStatsLine (s: CopyStats): string {
  const n = s.notReplayed
  const notReplayed = Object.entries(n).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ')
  return `sessions: active ${s.sessions.active}, created ${s.sessions.created}, closed ${s.sessions.closed}, ` +
    `obsolete ${s.sessions.obsolete} (timeouts ${s.sessions.timedOut}), time-wait ${s.sessions.timeWait}, established ${s.sessions.established}, ` +
    `faked syns ${s.sessions.fakedSyns}, reconstructs ${s.sessions.reconstructs}; ` +
    `packets: captured ${s.packets.captured}, accepted ${s.packets.accepted}, syn ${s.packets.clientSyns}, ` +
    `content ${s.packets.clientData}, client retrans ${s.packets.clientRetransmissions}; ` +
    `sent ${s.packets.sent}, content ${s.packets.contentSent}, syn ${s.packets.synSent}, fin ${s.packets.finSent}, ` +
    `rst ${s.packets.rstSent}, retrans ${s.packets.retransmitted} (fast ${s.packets.fastRetransmits}), probes ${s.packets.probes}, dropped ${s.packets.sendDropped} (errors ${s.packets.sendErrors}); ` +
    `responses: ${s.responses.received}, data ${s.responses.withData}, fin ${s.responses.fin}, rst ${s.responses.rst}, ` +
    `no session ${s.responses.noSession}, stale ${s.responses.stale}; intercepts: ${s.intercepts.active}/${s.intercepts.configured} active, ` +
    `${s.intercepts.connected}/${s.intercepts.connections} connections, reconnects ${s.intercepts.reconnects}; ` +
    `not replayed: ${notReplayed === '' ? 'none' : notReplayed}`
}

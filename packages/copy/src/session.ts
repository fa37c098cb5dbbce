// Per-session state (TCPCOPY.md §5.1): plain fields, one object per
// connection. The packets themselves are BufferedPackets (packet-store.ts).
import type { TargetEntry } from './filter.js'
import { PacketQueue } from './packet-queue.js'
import { TimerSlot } from './timers.js'

/** Handshake progress (the low bits of T1's state). */
export const HS_CLOSED = 0
export const HS_SYN_SENT = 1
export const HS_SYN_CONFIRM = 2

/** T1's state bits, for reports (§5.7). */
export const ST_SYN_SENT = 1
export const ST_SYN_CONFIRM = 2
export const ST_ESTABLISHED = 4
export const ST_SND_REQ = 8
export const ST_RCV_REP = 16
export const ST_SERVER_FIN = 32
export const ST_CLIENT_FIN = 64

/** Timer kinds. */
export const T_PACING = 0 // delayed ACK / response end / delayed send / replay after rtt
export const T_RTO = 1 //    retransmission (and SYN retransmission, zero-window probe)
export const T_GC = 2 //     obsolete checks, then time-wait

export class Session {
  /** clientIp * 65536 + clientPort, as sent. */
  readonly key: number
  readonly clientIp: number
  readonly clientPort: number
  readonly target: TargetEntry
  /** Captured client ip * 65536 + port this session copies. */
  readonly origin: number
  /** 0 for the session itself, 1..n-1 for -n replicas. */
  readonly replica: number
  readonly created: number

  // handshake and state
  hs = HS_CLOSED
  established = false
  /** A request was sent and its response has not ended (T1 candidate_response_waiting). */
  waiting = false
  /** Any client payload was sent in this incarnation. */
  contentSent = false
  clientFinSent = false
  serverFin = false
  /** The session ended (RST sent or received, or both FINs). */
  over = false
  timeWait = false
  /** Stray responses seen in time-wait. */
  twResponses = 0
  /** The current incarnation started with a faked SYN. */
  fakedSyn = false
  /** A SYN was captured for this session. */
  capturedSyn = false
  capturedSynSeq = 0
  /** A new connection reused this ip:port while the session lived: its packets are dropped until the end (§5.1). */
  blocked = false
  /** A replay after rtt is due (reconstruct or stale response). */
  replayPending = false
  /** Consecutive reconstructs/replays without progress. */
  reconstructs = 0

  // sequence space
  /** Seq of the SYN sent (captured or faked). */
  synSeq = 0
  /** Next seq to send (T1 target_nxt_seq / vir_next_seq). */
  nxt = 0
  /** The ack we send: the target's seq + payload (+1 for SYN/FIN) (T1 target_ack_seq). */
  ack = 0
  /** The target's last ack (T1 rep_ack_seq). */
  repAck = 0
  /** The ack of the latest response segment with data: the target had our data up to here when it answered. */
  respDataAck = 0
  /** Since when a client RST waits for the target to answer the data sent before it (-1: none waits). */
  rstHeldSince = -1
  repSeq = 0
  peerWindow = 65535
  wscale = 0
  /** Window scale of the captured SYN, -1 when it had none. */
  clientWs = -1
  tsOn = false
  /** Highest client TSval sent. */
  tsVal = 0
  tsValSeen = false
  /** The target's latest TSval (T1 ts_ec_r). */
  tsEcr = 0
  ipId = 0

  // pacing
  rtt = 1
  /** Capture time of the captured SYN while the RTT is being measured; -1 otherwise. */
  rttStart = -1
  /** The captured ack of the last client packet sent (T1 req_last_ack_sent_seq). */
  lastAckSent = 0
  lastAckValid = false
  /** The captured ack of the last content packet sent. */
  lastContentAck = 0
  /** Seq of the last content packet sent. */
  lastContentSeq = 0
  greetReceived = false
  greetAwaited = false
  /** Response data arrived since the pacing timer last fired. */
  respNew = false
  /** Response data arrived that no packet sent since has acknowledged (its ack field is behind `ack`). */
  ackOwed = false
  /** Response segments with data since the last packet that acknowledged everything. */
  owedSegments = 0
  lastRespFull = false
  delayedSend = false
  windowFull = false
  dupAcks = 0
  lastDupSeq = 0
  /** The window field of the target's last segment (unscaled), -1 before the first: a duplicate ACK must repeat it (RFC 5681). */
  lastWindow = -1
  fastRetransmitted = false
  /** Retransmitting after a loss: a partial ACK retransmits the next hole at once. */
  recovering = false
  rtoBackoff = 0
  /** Idle probes sent since the target last showed progress. */
  probes = 0
  /** Capture loss: since when the next expected packet is missing (-1: none). */
  lostSince = -1
  jumped = false

  // times (engine clock)
  /**
   * When the target last showed progress: a handshake answer, data, FIN or
   * RST, an ACK that moved, or a changed window. The answers to idle probes
   * (pure ACKs repeating what we knew) do not count, so -t and -k still end
   * a session whose target stopped answering (§5.6).
   */
  lastResponse: number
  gcStarted = false

  /** Packets in seq order; [0, q.sent) were sent and wait for the target's ACK. */
  readonly q = new PacketQueue()

  readonly pacing: TimerSlot<Session>
  readonly rto: TimerSlot<Session>
  readonly gc: TimerSlot<Session>

  constructor (clientIp: number, clientPort: number, target: TargetEntry, origin: number, replica: number, now: number) {
    this.clientIp = clientIp
    this.clientPort = clientPort
    this.key = clientIp * 65536 + clientPort
    this.target = target
    this.origin = origin
    this.replica = replica
    this.created = now
    this.lastResponse = now
    this.pacing = new TimerSlot(this, T_PACING)
    this.rto = new TimerSlot(this, T_RTO)
    this.gc = new TimerSlot(this, T_GC)
  }

  /** T1's state bits (§5.7). */
  get state (): number {
    let s = 0
    if (this.hs === HS_SYN_SENT) s |= ST_SYN_SENT
    if (this.hs === HS_SYN_CONFIRM) s |= ST_SYN_CONFIRM
    if (this.established) s |= ST_ESTABLISHED
    if (this.contentSent) s |= this.waiting ? ST_SND_REQ : ST_RCV_REP
    if (this.serverFin) s |= ST_SERVER_FIN
    if (this.clientFinSent) s |= ST_CLIENT_FIN
    return s
  }

  /** rtt ≤ 1: no response-end waiting (T1 internal_usage, §5.5). */
  get internalUsage (): boolean { return this.rtt <= 1 }
}

/** A session as reported by Copy.sessions(). */
export interface SessionInfo {
  clientIp: string
  clientPort: number
  targetIp: string
  targetPort: number
  /** The captured client port this session copies, and which copy it is. */
  originPort: number
  replica: number
  /** T1 state bits (§5.7). */
  state: number
  timeWait: boolean
  fakedSyn: boolean
  rtt: number
  buffered: number
}

// The simulated target server: a small TCP stack listening on one
// ip:port (handshake, in-order delivery with out-of-order reassembly,
// cumulative ACKs, receive window incl. zero window, timestamps, window
// scaling, retransmission with exponential backoff, FIN/RST handling,
// TIME_WAIT) and an application callback on top.
//
// Acceptance follows Linux: a segment is taken when its end is not before
// the last window edge advertised (rcv_wup) and it starts inside the window;
// otherwise it is answered with an ACK. A RST is taken when its seq lies in
// the window. Segments for an unknown connection get a RST.
import type { EventQueue } from './events.js'
import { ACK, FIN, PSH, RST, SYN, add, after, before, buildSegment, type ParsedSegment } from './packet.js'
import type { Rng } from './rng.js'

export interface TargetConnection {
  readonly id: number
  readonly remoteIp: number
  readonly remotePort: number
  /** Bytes delivered to the application so far. */
  readonly delivered: number
  readonly state: TcpState
  /** Queues bytes to send. */
  write (bytes: Uint8Array | string): void
  /** Sends FIN after the queued bytes. */
  end (): void
  /** Aborts with a RST. */
  reset (): void
  /** Stops reading: received bytes stay in the receive buffer and the window shrinks (zero window). */
  pauseReading (): void
  resumeReading (): void
  /** Application state. */
  readonly data: Record<string, unknown>
}

/** What runs on the target. Every callback runs on the simulation clock. */
export interface TargetApp {
  /** A connection was established (server-first protocols write their greeting here). */
  accept? (conn: TargetConnection): void
  /** In-order bytes. */
  data (conn: TargetConnection, bytes: Uint8Array): void
  /** The client closed its side. Default: close ours too. */
  end? (conn: TargetConnection): void
  /** The connection was reset (by the peer or by retransmission give-up). */
  reset? (conn: TargetConnection): void
}

export type TcpState = 'SYN_RCVD' | 'ESTABLISHED' | 'CLOSE_WAIT' | 'LAST_ACK' | 'FIN_WAIT_1' | 'FIN_WAIT_2' | 'CLOSING' | 'TIME_WAIT' | 'CLOSED'

export interface TargetOptions {
  ip: number
  port: number
  app: TargetApp
  /** MSS advertised and used. Default 1460. */
  mss?: number
  /** Receive buffer, bytes. Default 65535. */
  receiveBuffer?: number
  /** Window scale offered when the SYN carries one (a value above 14 is advertised as is; windows are scaled by 14, RFC 7323 §2.3). Default 7. */
  wscale?: number
  /** Answer timestamps when the SYN carries them. Default true. */
  timestamps?: boolean
  /** Initial retransmission timeout. Default 200. */
  rtoMs?: number
  /** Retransmissions before the connection is aborted. Default 10. */
  maxRetries?: number
  /** TIME_WAIT duration. Default 1000. */
  timeWaitMs?: number
  /** Bytes in flight at most (a fixed congestion window). Default 65535. */
  maxInFlight?: number
}

export interface TargetStats {
  segmentsIn: number
  segmentsOut: number
  connections: number
  established: number
  resetsIn: number
  resetsOut: number
  retransmissions: number
  duplicateSegments: number
  outOfOrder: number
  /** Segments for another address or port. */
  misrouted: number
  /** Segments rejected by the window check (answered with an ACK). */
  unacceptable: number
  /** Connections aborted after too many retransmissions. */
  aborted: number
  bytesIn: number
  bytesOut: number
}

class Tcb implements TargetConnection {
  state: TcpState = 'SYN_RCVD'
  readonly data: Record<string, unknown> = {}
  iss: number
  sndUna: number
  sndNxt: number
  sndWnd = 0
  sndWs = 0
  rcvWs = 0
  /** The shift advertised in the SYN-ACK (may exceed 14; the window is scaled by rcvWs ≤ 14). */
  rcvWsOption = 0
  peerMss = 536
  out: Uint8Array = new Uint8Array(0)
  /** Seq of out[0]. */
  outSeq: number
  finQueued = false
  finSent = false
  finSeq = 0
  peerIsn: number
  rcvNxt: number
  rcvWup: number
  unread: Uint8Array[] = []
  unreadBytes = 0
  readonly ooo = new Map<number, Uint8Array>()
  peerFin = -1
  tsOn = false
  tsRecent = 0
  paused = false
  rto: unknown = undefined
  backoff = 0
  retries = 0
  delivered = 0
  tw: unknown = undefined
  /** Segments sent since the current inbound segment started being processed. */
  sent = 0

  constructor (readonly stack: TargetStack, readonly id: number, readonly remoteIp: number, readonly remotePort: number, iss: number, peerIsn: number) {
    this.iss = iss
    this.sndUna = iss
    this.sndNxt = add(iss, 1)
    this.outSeq = add(iss, 1)
    this.peerIsn = peerIsn
    this.rcvNxt = add(peerIsn, 1)
    this.rcvWup = this.rcvNxt
  }

  write (bytes: Uint8Array | string): void {
    if (this.finQueued || this.state === 'CLOSED') return
    const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes
    const n = new Uint8Array(this.out.length + b.length)
    n.set(this.out)
    n.set(b, this.out.length)
    this.out = n
    this.stack.trySend(this)
  }

  end (): void {
    if (this.finQueued || this.state === 'CLOSED') return
    this.finQueued = true
    this.stack.trySend(this)
  }

  reset (): void { this.stack.abort(this, true) }

  pauseReading (): void { this.paused = true }

  resumeReading (): void {
    if (!this.paused) return
    this.paused = false
    this.stack.drainUnread(this)
  }
}

export class TargetStack {
  readonly options: Required<Omit<TargetOptions, 'app'>>
  readonly app: TargetApp
  readonly stats: TargetStats = {
    segmentsIn: 0, segmentsOut: 0, connections: 0, established: 0, resetsIn: 0, resetsOut: 0, retransmissions: 0,
    duplicateSegments: 0, outOfOrder: 0, misrouted: 0, unacceptable: 0, aborted: 0, bytesIn: 0, bytesOut: 0
  }
  readonly #conns = new Map<number, Tcb>()
  /** Every connection ever opened, in order. */
  readonly history: TargetConnection[] = []
  #ids = 0
  #ipId = 1

  constructor (options: TargetOptions, readonly queue: EventQueue, readonly rng: Rng, readonly emit: (packet: Uint8Array) => void) {
    this.app = options.app
    this.options = {
      ip: options.ip,
      port: options.port,
      mss: options.mss ?? 1460,
      receiveBuffer: options.receiveBuffer ?? 65535,
      wscale: options.wscale ?? 7,
      timestamps: options.timestamps ?? true,
      rtoMs: options.rtoMs ?? 200,
      maxRetries: options.maxRetries ?? 10,
      timeWaitMs: options.timeWaitMs ?? 1000,
      maxInFlight: options.maxInFlight ?? 65535
    }
  }

  /** Connections that exist now (TIME_WAIT included). */
  get connections (): TargetConnection[] { return [...this.#conns.values()] }

  /** A packet from the wire. */
  receive (seg: ParsedSegment): void {
    this.stats.segmentsIn++
    if (seg.dst !== this.options.ip || seg.dport !== this.options.port) {
      this.stats.misrouted++
      return
    }
    const key = seg.src * 65536 + seg.sport
    let tcb = this.#conns.get(key)
    const len = seg.payload.length
    if (tcb !== undefined && (tcb.state === 'TIME_WAIT' || tcb.state === 'CLOSED') && (seg.flags & SYN) !== 0 && (seg.flags & ACK) === 0) {
      this.#remove(tcb)
      tcb = undefined
    }
    if (tcb === undefined) {
      if ((seg.flags & RST) !== 0) return
      if ((seg.flags & SYN) !== 0 && (seg.flags & ACK) === 0) {
        this.#open(key, seg)
        return
      }
      // No connection: answer with a RST.
      if ((seg.flags & ACK) !== 0) this.#rawRst(seg.src, seg.sport, seg.ack, 0, false)
      else this.#rawRst(seg.src, seg.sport, 0, add(seg.seq, len + ((seg.flags & (SYN | FIN)) !== 0 ? 1 : 0)), true)
      return
    }
    if ((seg.flags & SYN) !== 0) {
      if (tcb.state === 'SYN_RCVD' && seg.seq === tcb.peerIsn) this.#sendSynAck(tcb)
      else this.#sendAck(tcb) // challenge ACK (RFC 5961)
      return
    }
    const wnd = Math.max(this.#window(tcb) << tcb.rcvWs, 0)
    if ((seg.flags & RST) !== 0) {
      if (!before(seg.seq, tcb.rcvNxt) && before(seg.seq, add(tcb.rcvNxt, Math.max(wnd, 1)))) {
        this.stats.resetsIn++
        this.abort(tcb, false)
      }
      return
    }
    // Acceptability (tcp_sequence): end not before rcv_wup, start inside the window.
    const segEnd = add(seg.seq, len + ((seg.flags & FIN) !== 0 ? 1 : 0))
    if (before(segEnd, tcb.rcvWup) || after(seg.seq, add(tcb.rcvNxt, wnd))) {
      this.stats.unacceptable++
      this.#sendAck(tcb)
      return
    }
    if (seg.ts !== undefined && tcb.tsOn && !after(seg.seq, tcb.rcvNxt)) tcb.tsRecent = seg.ts.val
    if ((seg.flags & ACK) === 0) return
    tcb.sent = 0
    if (!this.#onAck(tcb, seg)) return
    let needAck = false
    if (len > 0) {
      needAck = true
      this.#onData(tcb, seg.seq, seg.payload)
    }
    if ((seg.flags & FIN) !== 0) {
      needAck = true
      tcb.peerFin = add(seg.seq, len)
    }
    this.#checkPeerFin(tcb)
    if (this.#conns.get(key) !== tcb) return
    this.trySend(tcb)
    // One ACK per segment, unless something sent meanwhile carried it.
    if (needAck && tcb.sent === 0) this.#sendAck(tcb)
  }

  #open (key: number, seg: ParsedSegment): void {
    const o = this.options
    const tcb = new Tcb(this, ++this.#ids, seg.src, seg.sport, this.rng.int(0x100000000), seg.seq)
    tcb.peerMss = seg.mss ?? 536
    if (seg.wscale !== undefined) {
      tcb.sndWs = Math.min(seg.wscale, 14)
      // RFC 7323 §2.3: the peer takes a shift above 14 as 14, so that is the scale the windows use.
      tcb.rcvWsOption = o.wscale
      tcb.rcvWs = Math.min(o.wscale, 14)
    }
    tcb.tsOn = o.timestamps && seg.ts !== undefined
    if (seg.ts !== undefined) tcb.tsRecent = seg.ts.val
    tcb.sndWnd = seg.window
    this.#conns.set(key, tcb)
    this.history.push(tcb)
    this.stats.connections++
    this.#sendSynAck(tcb)
  }

  /** ACK field processing; false when the segment must be dropped. */
  #onAck (tcb: Tcb, seg: ParsedSegment): boolean {
    if (tcb.state === 'SYN_RCVD') {
      if (seg.ack !== add(tcb.iss, 1)) {
        this.#rawRst(tcb.remoteIp, tcb.remotePort, seg.ack, 0, false)
        return false
      }
      tcb.state = 'ESTABLISHED'
      tcb.sndUna = seg.ack
      tcb.sndWnd = seg.window << tcb.sndWs
      this.#clearRto(tcb)
      this.stats.established++
      this.app.accept?.(tcb)
      return this.#conns.get(tcb.remoteIp * 65536 + tcb.remotePort) === tcb
    }
    if (after(seg.ack, tcb.sndNxt)) {
      this.#sendAck(tcb)
      return false
    }
    if (after(seg.ack, tcb.sndUna)) {
      const acked = seg.ack - tcb.sndUna
      tcb.sndUna = seg.ack
      const dataAcked = Math.min(acked, tcb.out.length)
      const drop = Math.max(0, Math.min(tcb.out.length, (seg.ack - tcb.outSeq) | 0))
      if (drop > 0) {
        tcb.out = tcb.out.subarray(drop)
        tcb.outSeq = add(tcb.outSeq, drop)
      }
      void dataAcked
      tcb.retries = 0
      tcb.backoff = 0
      if (tcb.sndUna === tcb.sndNxt) this.#clearRto(tcb)
      else this.#armRto(tcb, true)
      if (tcb.finSent && !before(seg.ack, add(tcb.finSeq, 1))) {
        if (tcb.state === 'FIN_WAIT_1') tcb.state = 'FIN_WAIT_2'
        else if (tcb.state === 'CLOSING') this.#timeWait(tcb)
        else if (tcb.state === 'LAST_ACK') {
          tcb.state = 'CLOSED'
          this.#remove(tcb)
          return false
        }
      }
    }
    tcb.sndWnd = seg.window << tcb.sndWs
    return true
  }

  #onData (tcb: Tcb, seq: number, payload: Uint8Array): void {
    if (tcb.state !== 'ESTABLISHED' && tcb.state !== 'FIN_WAIT_1' && tcb.state !== 'FIN_WAIT_2') return
    let data = payload
    let s = seq
    if (before(s, tcb.rcvNxt)) {
      const skip = (tcb.rcvNxt - s) | 0
      if (skip >= data.length) {
        this.stats.duplicateSegments++
        return
      }
      data = data.subarray(skip)
      s = tcb.rcvNxt
    }
    if (s !== tcb.rcvNxt) {
      this.stats.outOfOrder++
      if (!tcb.ooo.has(s)) tcb.ooo.set(s, Uint8Array.from(data))
      return
    }
    this.#accept(tcb, data)
    // pull in what was waiting
    for (;;) {
      let progressed = false
      for (const [os, od] of tcb.ooo) {
        if (after(os, tcb.rcvNxt)) continue
        tcb.ooo.delete(os)
        const skip = (tcb.rcvNxt - os) | 0
        if (skip < od.length) this.#accept(tcb, od.subarray(skip))
        progressed = true
      }
      if (!progressed) break
    }
  }

  #accept (tcb: Tcb, data: Uint8Array): void {
    const space = this.options.receiveBuffer - tcb.unreadBytes
    const take = Math.min(space, data.length)
    if (take <= 0) return
    const part = data.subarray(0, take)
    tcb.rcvNxt = add(tcb.rcvNxt, take)
    this.stats.bytesIn += take
    if (tcb.paused) {
      tcb.unread.push(Uint8Array.from(part))
      tcb.unreadBytes += take
    } else {
      tcb.delivered += take
      this.app.data(tcb, Uint8Array.from(part))
    }
  }

  drainUnread (tcb: Tcb): void {
    const chunks = tcb.unread
    tcb.unread = []
    tcb.unreadBytes = 0
    for (const c of chunks) {
      tcb.delivered += c.length
      this.app.data(tcb, c)
    }
    if (this.#conns.get(tcb.remoteIp * 65536 + tcb.remotePort) === tcb) {
      this.#sendAck(tcb) // window update
      this.#checkPeerFin(tcb)
    }
  }

  #checkPeerFin (tcb: Tcb): void {
    if (tcb.peerFin < 0 || tcb.peerFin !== tcb.rcvNxt || tcb.unreadBytes > 0) return
    tcb.peerFin = -1
    tcb.rcvNxt = add(tcb.rcvNxt, 1)
    if (tcb.state === 'ESTABLISHED') {
      tcb.state = 'CLOSE_WAIT'
      if (this.app.end !== undefined) this.app.end(tcb)
      else tcb.end()
    } else if (tcb.state === 'FIN_WAIT_1') {
      tcb.state = 'CLOSING'
    } else if (tcb.state === 'FIN_WAIT_2') {
      this.#sendAck(tcb)
      this.#timeWait(tcb)
    }
  }

  trySend (tcb: Tcb): void {
    if (tcb.state === 'SYN_RCVD' || tcb.state === 'CLOSED' || tcb.state === 'TIME_WAIT') return
    const mss = Math.min(this.options.mss, tcb.peerMss)
    for (;;) {
      const inFlight = (tcb.sndNxt - tcb.sndUna) | 0
      const queuedEnd = add(tcb.outSeq, tcb.out.length)
      const avail = (queuedEnd - tcb.sndNxt) | 0
      const wnd = Math.min(tcb.sndWnd, this.options.maxInFlight)
      if (avail > 0 && !tcb.finSent && inFlight < wnd) {
        const n = Math.min(avail, mss, wnd - inFlight)
        const from = (tcb.sndNxt - tcb.outSeq) | 0
        this.#sendData(tcb, tcb.sndNxt, tcb.out.subarray(from, from + n), false)
        tcb.sndNxt = add(tcb.sndNxt, n)
        this.#armRto(tcb, false)
        continue
      }
      if (tcb.finQueued && !tcb.finSent && avail === 0) {
        tcb.finSent = true
        tcb.finSeq = tcb.sndNxt
        this.#sendData(tcb, tcb.sndNxt, new Uint8Array(0), true)
        tcb.sndNxt = add(tcb.sndNxt, 1)
        if (tcb.state === 'ESTABLISHED') tcb.state = 'FIN_WAIT_1'
        else if (tcb.state === 'CLOSE_WAIT') tcb.state = 'LAST_ACK'
        this.#armRto(tcb, false)
      }
      break
    }
  }

  /** Aborts a connection; sends a RST when asked (the application's reset, or retransmission give-up). */
  abort (tcb: Tcb, sendRst: boolean): void {
    if (this.#conns.get(tcb.remoteIp * 65536 + tcb.remotePort) !== tcb) return
    if (sendRst) {
      this.stats.resetsOut++
      this.#emit(tcb, tcb.sndNxt, tcb.rcvNxt, RST | ACK, new Uint8Array(0), false)
    }
    tcb.state = 'CLOSED'
    this.#remove(tcb)
    this.app.reset?.(tcb)
  }

  #window (tcb: Tcb): number {
    return Math.min(65535, Math.max(0, this.options.receiveBuffer - tcb.unreadBytes) >> tcb.rcvWs)
  }

  #sendSynAck (tcb: Tcb): void {
    const o = this.options
    const opts: { mss: number, wscale?: number, ts?: { val: number, ecr: number } } = { mss: o.mss }
    if (tcb.sndWs > 0 || tcb.rcvWs > 0) opts.wscale = tcb.rcvWsOption
    if (tcb.tsOn) opts.ts = { val: this.#tsNow(), ecr: tcb.tsRecent }
    this.#out(buildSegment({
      src: o.ip, dst: tcb.remoteIp, sport: o.port, dport: tcb.remotePort, seq: tcb.iss, ack: tcb.rcvNxt,
      flags: SYN | ACK, window: Math.min(65535, o.receiveBuffer), ipId: this.#ipId++, ...opts
    }))
    this.#armRto(tcb, false)
  }

  #sendAck (tcb: Tcb): void {
    this.#emit(tcb, tcb.sndNxt, tcb.rcvNxt, ACK, new Uint8Array(0), false)
  }

  #sendData (tcb: Tcb, seq: number, payload: Uint8Array, fin: boolean): void {
    this.stats.bytesOut += payload.length
    this.#emit(tcb, seq, tcb.rcvNxt, ACK | (payload.length > 0 ? PSH : 0) | (fin ? FIN : 0), payload, false)
  }

  #emit (tcb: Tcb, seq: number, ack: number, flags: number, payload: Uint8Array, _retrans: boolean): void {
    const o = this.options
    tcb.rcvWup = tcb.rcvNxt
    tcb.sent++
    this.#out(buildSegment({
      src: o.ip, dst: tcb.remoteIp, sport: o.port, dport: tcb.remotePort, seq, ack, flags,
      window: this.#window(tcb), ipId: this.#ipId++, payload,
      ...(tcb.tsOn ? { ts: { val: this.#tsNow(), ecr: tcb.tsRecent } } : {})
    }))
  }

  #rawRst (ip: number, port: number, seq: number, ack: number, withAck: boolean): void {
    const o = this.options
    this.stats.resetsOut++
    this.#out(buildSegment({ src: o.ip, dst: ip, sport: o.port, dport: port, seq, ack, flags: RST | (withAck ? ACK : 0), window: 0, ipId: this.#ipId++ }))
  }

  #out (packet: Uint8Array): void {
    this.#ipId &= 0xffff
    this.stats.segmentsOut++
    this.emit(packet)
  }

  #tsNow (): number {
    return (Math.floor(this.queue.now) + 1000) >>> 0
  }

  #armRto (tcb: Tcb, restart: boolean): void {
    if (tcb.rto !== undefined && !restart) return
    if (tcb.rto !== undefined) this.queue.cancel(tcb.rto)
    const ms = this.options.rtoMs * Math.pow(2, Math.min(tcb.backoff, 6))
    tcb.rto = this.queue.after(ms, () => {
      tcb.rto = undefined
      this.#onRto(tcb)
    })
  }

  #clearRto (tcb: Tcb): void {
    if (tcb.rto !== undefined) this.queue.cancel(tcb.rto)
    tcb.rto = undefined
  }

  #onRto (tcb: Tcb): void {
    if (this.#conns.get(tcb.remoteIp * 65536 + tcb.remotePort) !== tcb) return
    if (++tcb.retries > this.options.maxRetries) {
      this.stats.aborted++
      this.abort(tcb, true)
      return
    }
    tcb.backoff++
    this.stats.retransmissions++
    if (tcb.state === 'SYN_RCVD') {
      this.#sendSynAck(tcb)
      return
    }
    if (tcb.sndUna === tcb.sndNxt) return
    const mss = Math.min(this.options.mss, tcb.peerMss)
    const from = (tcb.sndUna - tcb.outSeq) | 0
    const dataLeft = tcb.out.length - from
    if (dataLeft > 0) {
      const n = Math.min(dataLeft, mss)
      this.#emit(tcb, tcb.sndUna, tcb.rcvNxt, ACK | PSH, tcb.out.subarray(from, from + n), true)
    } else if (tcb.finSent) {
      this.#emit(tcb, tcb.finSeq, tcb.rcvNxt, ACK | FIN, new Uint8Array(0), true)
    }
    this.#armRto(tcb, true)
  }

  #timeWait (tcb: Tcb): void {
    tcb.state = 'TIME_WAIT'
    this.#clearRto(tcb)
    tcb.tw = this.queue.after(this.options.timeWaitMs, () => {
      if (this.#conns.get(tcb.remoteIp * 65536 + tcb.remotePort) === tcb) this.#remove(tcb)
    })
  }

  #remove (tcb: Tcb): void {
    this.#clearRto(tcb)
    if (tcb.tw !== undefined) this.queue.cancel(tcb.tw)
    const key = tcb.remoteIp * 65536 + tcb.remotePort
    if (this.#conns.get(key) === tcb) this.#conns.delete(key)
    if (tcb.state !== 'TIME_WAIT') tcb.state = 'CLOSED'
  }
}

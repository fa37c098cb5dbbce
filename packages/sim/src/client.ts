// The "online" side: what the capture on the online server would see of one
// real client connection — SYN, third ACK, request segments (MSS-sized, or
// one GSO super-packet), ACKs of the online responses, FIN — with the
// capture timestamps of a client at `rttMs` from the online server.
import { ACK, FIN, PSH, RST, SYN, add, buildSegment } from './packet.js'
import type { Rng } from './rng.js'

export interface ClientOptions {
  /** Client address; default 10.1.x.y from the client's number. */
  ip?: string
  /** Client port; default a free one from 20000 up. */
  port?: number
  /** Capture time of the first packet. Default: 20 ms after the current time. */
  startMs?: number
  /** RTT between the client and the online server (decides tcpcopy's pacing). Default 2. */
  rttMs?: number
  /** Pause between a response and the next request. Default 1. */
  thinkMs?: number
  /** How many generated requests, or the requests themselves. Default 3. */
  requests?: number | Array<string | Uint8Array>
  /** Size of each generated request. Default 120. */
  requestBytes?: number
  /** The capture starts after the handshake (no SYN): tcpcopy must fake one. */
  midStream?: boolean
  /** How the client ends: FIN (default), RST, or not at all. */
  close?: 'fin' | 'rst' | 'none'
  /** TCP timestamps on the client's packets. Default true. */
  timestamps?: boolean
  /** Window scale in the SYN; null for none. Default 7. */
  wscale?: number | null
  /** Client MSS (request segments carry at most this minus the 12 bytes of the timestamp option). Default 1460. */
  mss?: number
  /** Send each request as one packet, however large (a GSO/GRO super-packet). */
  gso?: boolean
  /** Bytes the online server greets with (server-first protocol). Default 0. */
  greetingBytes?: number
  /** Bytes of each online response (moves the client's ack). Default 300. */
  responseBytes?: number
  /** Changes the captured packets before they are scheduled (tests: reorder, alter, drop). */
  transform?: (packets: CapturedPacket[]) => void
}

export interface CapturedPacket {
  time: number
  bytes: Uint8Array
}

export interface ClientScript {
  readonly id: number
  readonly ip: number
  readonly port: number
  readonly packets: CapturedPacket[]
  /** The paths of the requests (for the delivery ledger). */
  readonly paths: string[]
  /** Capture time of the last packet. */
  readonly endMs: number
}

function ipNumber (text: string): number {
  const p = text.split('.').map(Number)
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0
}

/** A generated request of about `size` bytes whose path is /c<client>/r<i>. */
export function generatedRequest (client: number, i: number, size: number): string {
  const head = `GET /c${client}/r${i} HTTP/1.1\r\nHost: sim\r\nX-Pad: `
  const pad = Math.max(1, size - head.length - 4)
  return `${head}${'p'.repeat(pad)}\r\n\r\n`
}

export function buildClientScript (id: number, o: ClientOptions, online: { ip: number, port: number }, nowMs: number, rng: Rng, port: number): ClientScript {
  const ip = o.ip !== undefined ? ipNumber(o.ip) : ((10 << 24) | (1 << 16) | (((id >> 8) & 255) << 8) | (id & 255)) >>> 0
  const rtt = o.rttMs ?? 2
  const think = o.thinkMs ?? 1
  const mss = o.mss ?? 1460
  const ts = o.timestamps ?? true
  const ws = o.wscale === undefined ? 7 : o.wscale
  const respBytes = o.responseBytes ?? 300
  const enc = new TextEncoder()
  const reqs: Uint8Array[] = []
  const paths: string[] = []
  const list = o.requests ?? 3
  if (typeof list === 'number') {
    for (let i = 0; i < list; i++) {
      reqs.push(enc.encode(generatedRequest(id, i, o.requestBytes ?? 120)))
      paths.push(`/c${id}/r${i}`)
    }
  } else {
    for (const r of list) {
      const b = typeof r === 'string' ? enc.encode(r) : r
      reqs.push(b)
      const m = /^[A-Z]+ (\S+) HTTP/.exec(new TextDecoder('latin1').decode(b.subarray(0, 200)))
      if (m?.[1] !== undefined) paths.push(m[1])
    }
  }
  const cisn = rng.int(0x100000000)
  const sisn = rng.int(0x100000000)
  let ipId = rng.int(65536)
  const tsBase = rng.int(1 << 30)
  const packets: CapturedPacket[] = []
  let t = o.startMs ?? nowMs + 20
  const window = ws === null ? 64240 : 502
  const push = (flags: number, seq: number, ack: number, payload?: Uint8Array, extra?: { syn?: boolean }): void => {
    const spec = {
      src: ip, dst: online.ip, sport: port, dport: online.port, seq, ack, flags,
      window: extra?.syn === true ? 64240 : window, ipId: ipId++ & 0xffff, ...(payload !== undefined ? { payload } : {}),
      ...(ts ? { ts: { val: (tsBase + Math.floor(t)) >>> 0, ecr: extra?.syn === true ? 0 : (tsBase + 777 + Math.floor(t)) >>> 0 } } : {}),
      ...(extra?.syn === true ? { mss, sackOk: true, ...(ws === null ? {} : { wscale: ws }) } : {})
    }
    packets.push({ time: t, bytes: buildSegment(spec) })
  }
  let cseq = add(cisn, 1)
  let sack = add(sisn, 1)
  if (o.midStream !== true) {
    push(SYN, cisn, 0, undefined, { syn: true })
    t += rtt
    push(ACK, cseq, sack)
    if ((o.greetingBytes ?? 0) > 0) {
      t += rtt / 2
      sack = add(sack, o.greetingBytes!)
      push(ACK, cseq, sack)
    }
  } else if ((o.greetingBytes ?? 0) > 0) {
    sack = add(sack, o.greetingBytes!)
  }
  for (const req of reqs) {
    t += think
    if (o.gso === true) {
      push(ACK | PSH, cseq, sack, req)
      cseq = add(cseq, req.length)
    } else {
      const seg = mss - (ts ? 12 : 0)
      for (let off = 0; off < req.length; off += seg) {
        const part = req.subarray(off, Math.min(req.length, off + seg))
        const last = off + seg >= req.length
        push(ACK | (last ? PSH : 0), cseq, sack, part)
        cseq = add(cseq, part.length)
        t += 0.01
      }
    }
    t += rtt
    sack = add(sack, respBytes)
    push(ACK, cseq, sack)
  }
  const close = o.close ?? 'fin'
  if (close === 'fin') {
    t += think
    push(FIN | ACK, cseq, sack)
    t += rtt
    push(ACK, add(cseq, 1), add(sack, 1))
  } else if (close === 'rst') {
    t += think
    push(RST | ACK, cseq, sack)
  }
  o.transform?.(packets)
  return { id, ip, port, packets, paths, endMs: Math.max(t, ...packets.map((p) => p.time)) }
}

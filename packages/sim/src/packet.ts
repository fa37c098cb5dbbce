// IPv4 + TCP packets for the simulated client and target: a builder that
// computes the checksums, and a parser. Plain JS: this is the test bed, not
// the product's packet path (which goes through the WASM core).

export const FIN = 1
export const SYN = 2
export const RST = 4
export const PSH = 8
export const ACK = 16

export interface TcpOptions {
  mss?: number
  wscale?: number
  sackOk?: boolean
  ts?: { val: number, ecr: number }
}

export interface SegmentSpec extends TcpOptions {
  src: number
  dst: number
  sport: number
  dport: number
  seq: number
  ack: number
  flags: number
  window: number
  ipId?: number
  ttl?: number
  payload?: Uint8Array
}

export interface ParsedSegment {
  src: number
  dst: number
  sport: number
  dport: number
  seq: number
  ack: number
  flags: number
  window: number
  ipId: number
  ttl: number
  ihl: number
  doff: number
  totLen: number
  /** Payload bytes (a view of the packet). */
  payload: Uint8Array
  mss?: number
  wscale?: number
  sackOk: boolean
  ts?: { val: number, ecr: number }
  /** Offset of the TS option from the packet start (for tests of its rewrite). */
  tsOff?: number
}

function sum16 (b: Uint8Array, off: number, len: number, acc: number): number {
  let i = off
  const end = off + len
  for (; i + 1 < end; i += 2) acc += (b[i]! << 8) | b[i + 1]!
  if (i < end) acc += b[i]! << 8
  return acc
}

function fold (acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 65536)
  return acc
}

/** RFC 1071 checksum of the IPv4 header (field taken as is: zero it first). */
export function ipChecksum (b: Uint8Array, ihl: number): number {
  return (~fold(sum16(b, 0, ihl, 0))) & 0xffff
}

/** TCP checksum over the pseudo-header and segment (field taken as is). */
export function tcpChecksum (b: Uint8Array, ihl: number, totLen: number): number {
  const tcpLen = totLen - ihl
  let acc = sum16(b, 12, 8, 0)
  acc += 6 + tcpLen
  acc = sum16(b, ihl, tcpLen, acc)
  return (~fold(acc)) & 0xffff
}

function optionBytes (o: TcpOptions): number[] {
  const out: number[] = []
  if (o.mss !== undefined) out.push(2, 4, (o.mss >> 8) & 0xff, o.mss & 0xff)
  if (o.sackOk === true) out.push(1, 1, 4, 2)
  if (o.ts !== undefined) {
    out.push(1, 1, 8, 10)
    for (const v of [o.ts.val, o.ts.ecr]) out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff)
  }
  if (o.wscale !== undefined) out.push(1, 3, 3, o.wscale)
  return out
}

/** A whole IPv4 packet with correct checksums. */
export function buildSegment (s: SegmentSpec): Uint8Array {
  const opts = optionBytes(s)
  const payload = s.payload ?? new Uint8Array(0)
  const doff = 20 + opts.length
  const totLen = 20 + doff + payload.length
  const b = new Uint8Array(totLen)
  const dv = new DataView(b.buffer)
  b[0] = 0x45
  dv.setUint16(2, totLen)
  dv.setUint16(4, (s.ipId ?? 0) & 0xffff)
  dv.setUint16(6, 0x4000)
  b[8] = s.ttl ?? 64
  b[9] = 6
  dv.setUint32(12, s.src >>> 0)
  dv.setUint32(16, s.dst >>> 0)
  dv.setUint16(20, s.sport)
  dv.setUint16(22, s.dport)
  dv.setUint32(24, s.seq >>> 0)
  dv.setUint32(28, s.ack >>> 0)
  b[32] = (doff >> 2) << 4
  b[33] = s.flags
  dv.setUint16(34, s.window & 0xffff)
  b.set(opts, 40)
  b.set(payload, 20 + doff)
  dv.setUint16(10, ipChecksum(b, 20))
  dv.setUint16(36, tcpChecksum(b, 20, totLen))
  return b
}

/** Parses an IPv4 TCP packet; undefined when it is not one. */
export function parseSegment (b: Uint8Array): ParsedSegment | undefined {
  if (b.length < 40 || (b[0]! >> 4) !== 4 || b[9] !== 6) return undefined
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const ihl = (b[0]! & 15) * 4
  const totLen = dv.getUint16(2)
  if (totLen > b.length || ihl + 20 > totLen) return undefined
  const doff = (b[ihl + 12]! >> 4) * 4
  if (ihl + doff > totLen) return undefined
  const p: ParsedSegment = {
    src: dv.getUint32(12),
    dst: dv.getUint32(16),
    sport: dv.getUint16(ihl),
    dport: dv.getUint16(ihl + 2),
    seq: dv.getUint32(ihl + 4),
    ack: dv.getUint32(ihl + 8),
    flags: b[ihl + 13]!,
    window: dv.getUint16(ihl + 14),
    ipId: dv.getUint16(4),
    ttl: b[8]!,
    ihl,
    doff,
    totLen,
    payload: b.subarray(ihl + doff, totLen),
    sackOk: false
  }
  let i = ihl + 20
  const end = ihl + doff
  while (i < end) {
    const k = b[i]!
    if (k === 0) break
    if (k === 1) { i++; continue }
    const l = b[i + 1] ?? 0
    if (l < 2 || i + l > end) break
    if (k === 2 && l === 4) p.mss = dv.getUint16(i + 2)
    else if (k === 3 && l === 3) p.wscale = b[i + 2]!
    else if (k === 4 && l === 2) p.sackOk = true
    else if (k === 8 && l === 10) {
      p.ts = { val: dv.getUint32(i + 2), ecr: dv.getUint32(i + 6) }
      p.tsOff = i
    }
    i += l
  }
  return p
}

/** Sequence arithmetic. */
export function after (a: number, b: number): boolean { return ((a - b) | 0) > 0 }
export function before (a: number, b: number): boolean { return ((a - b) | 0) < 0 }
export function add (a: number, n: number): number { return (a + n) >>> 0 }

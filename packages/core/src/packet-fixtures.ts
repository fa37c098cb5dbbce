// Test fixtures for the parser and checksum tests: hand-written frames, a
// small IPv4/TCP builder with an independent (plain JS) RFC 1071 checksum, and
// readers for the PARSE struct. Used by parse*.test.ts and checksum.test.ts only.
import {
  FRAMES_OFF, PARSE_OFF, P_STATUS, P_FAMILY, P_L3_OFF, P_IHL, P_TOT_LEN, P_CAP_LEN, P_IP_ID, P_FRAG, P_TTL,
  P_PROTO, P_TOS, P_SRC_ADDR, P_DST_ADDR, P_L4_OFF, P_SPORT, P_DPORT, P_SEQ, P_ACK, P_DOFF, P_TCP_FLAGS,
  P_WINDOW, P_PAYLOAD_OFF, P_PAYLOAD_LEN, P_OPT_FLAGS, P_MSS, P_WSCALE, P_TS_VAL, P_TS_ECR, P_LINK_LEN, P_VLAN
} from '@tcpcopy/wasm'
import type { RawCore } from './loader.js'
import { hex, concat, toSpacedHex as toHex } from '@tcpcopy/interface'

export { hex, concat, toHex }

// ---- PROTOCOL.md §8 vectors -------------------------------------------------------

/** V3: the target's SYN-ACK, 60 bytes of IPv4 (the record without its 4 zero bytes). */
export const V3_SYN_ACK = hex`
  45 00 00 3c                    // IPv4, IHL 5, TOS 0, total length 60
  00 00 40 00                    // ID 0, flags DF, fragment offset 0
  40 06 25 ba                    // TTL 64, protocol TCP, header checksum 0x25BA
  0a 00 01 02                    // source 10.0.1.2 (the target)
  0a 00 00 01                    // destination 10.0.0.1 (the client)
  1f 90 9c 40                    // source port 8080, destination port 40000
  11 22 33 44                    // sequence number 0x11223344
  01 02 03 05                    // acknowledgment number 0x01020305
  a0 12 72 10                    // doff 10 (40 bytes), flags SYN+ACK, window 29200
  fe 9d 00 00                    // TCP checksum 0xFE9D, urgent pointer 0
  02 04 05 b4                    // MSS 1460
  04 02                          // SACK permitted
  08 0a 00 00 ab cd 00 00 12 34  // timestamp val 0xABCD, ecr 0x1234
  01                             // NOP
  03 03 07                       // window scale 7
`

/** V4 record 2: a PSH+ACK data segment from the target with 17 payload bytes. */
export const V4_DATA = hex`
  45 00 00 39                    // IPv4, IHL 5, TOS 0, total length 57
  1a 2b 40 00                    // ID 0x1A2B, flags DF, fragment offset 0
  40 06 0b 92                    // TTL 64, protocol TCP, header checksum 0x0B92
  0a 00 01 02                    // source 10.0.1.2
  0a 00 00 01                    // destination 10.0.0.1
  1f 90 9c 40                    // source port 8080, destination port 40000
  11 22 33 45                    // sequence number 0x11223345
  01 02 03 69                    // acknowledgment number 0x01020369
  50 18 00 e5                    // doff 5, flags PSH+ACK, window 229
  d5 6b 00 00                    // TCP checksum 0xD56B, urgent pointer 0
  48 54 54 50 2f 31 2e 31 20 32 30 30 20 4f 4b 0d 0a  // "HTTP/1.1 200 OK\r\n"
`

// ---- link-layer headers -------------------------------------------------------------

export const ETH_HEADER = hex`
  02 00 00 00 00 01              // destination MAC
  02 00 00 00 00 02              // source MAC
  08 00                          // ethertype IPv4
`

export const ETH_VLAN_HEADER = hex`
  02 00 00 00 00 01              // destination MAC
  02 00 00 00 00 02              // source MAC
  81 00 20 64                    // 802.1Q tag: PCP 1, VLAN 100
  08 00                          // ethertype IPv4
`

export const ETH_QINQ_HEADER = hex`
  02 00 00 00 00 01              // destination MAC
  02 00 00 00 00 02              // source MAC
  88 a8 a0 0a                    // 802.1ad outer tag: PCP 5, VLAN 10
  81 00 00 64                    // 802.1Q inner tag: VLAN 100
  08 00                          // ethertype IPv4
`

export const SLL_HEADER = hex`
  00 00                          // packet type: to us
  00 01                          // ARPHRD_ETHER
  00 06                          // address length 6
  02 00 00 00 00 02 00 00        // link-layer address, padded to 8
  08 00                          // protocol IPv4
`

export const SLL2_HEADER = hex`
  08 00                          // protocol IPv4
  00 00                          // reserved
  00 00 00 02                    // interface index 2
  00 01                          // ARPHRD_ETHER
  00                             // packet type: to us
  06                             // address length 6
  02 00 00 00 00 02 00 00        // link-layer address, padded to 8
`

/** An Ethernet header whose ethertype (and any tags) is `tail`, e.g. hex`86 dd`. */
export function ethWith (tail: Uint8Array): Uint8Array {
  return concat(ETH_HEADER.subarray(0, 12), tail)
}

// ---- an independent RFC 1071 implementation and a packet builder ---------------------

/** One's-complement sum of big-endian 16-bit words, folded to 16 bits (not complemented). */
export function inetSum (bytes: Uint8Array, initial = 0): number {
  let sum = initial
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
  return sum
}

/** The checksum of the bytes: ~sum & 0xFFFF. */
export function inetChecksum (bytes: Uint8Array, initial = 0): number {
  return ~inetSum(bytes, initial) & 0xffff
}

/** The TCP checksum of an IPv4 packet (all of `ip`), computed with the field taken as 0. */
export function refTcpChecksum (ip: Uint8Array): number {
  const ihl = (ip[0]! & 15) * 4
  const seg = ip.slice(ihl)
  seg[16] = 0
  seg[17] = 0
  const pseudo = concat(ip.subarray(12, 20), new Uint8Array([0, 6, seg.length >> 8, seg.length & 0xff]))
  return inetChecksum(concat(pseudo, seg))
}

/** The IPv4 header checksum, computed with the field taken as 0. */
export function refIpChecksum (ip: Uint8Array): number {
  const ihl = (ip[0]! & 15) * 4
  const h = ip.slice(0, ihl)
  h[10] = 0
  h[11] = 0
  return inetChecksum(h)
}

export interface TcpPacketSpec {
  src?: number[]
  dst?: number[]
  sport?: number
  dport?: number
  seq?: number
  ack?: number
  flags?: number
  window?: number
  ipId?: number
  ttl?: number
  tos?: number
  /** Raw flags + fragment offset field. */
  frag?: number
  protocol?: number
  /** IP options, a multiple of 4 bytes. */
  ipOptions?: Uint8Array
  /** TCP options, a multiple of 4 bytes. */
  tcpOptions?: Uint8Array
  payload?: Uint8Array
  /** Overrides the total length field (checksums still cover the bytes built). */
  totLen?: number
  /** Overrides the data offset nibble. */
  doffWords?: number
}

/** An IPv4 packet carrying a TCP segment, both checksums right. */
export function ipv4Tcp (spec: TcpPacketSpec = {}): Uint8Array {
  const ipOpts = spec.ipOptions ?? new Uint8Array(0)
  const tcpOpts = spec.tcpOptions ?? new Uint8Array(0)
  const payload = spec.payload ?? new Uint8Array(0)
  if (ipOpts.length % 4 !== 0 || tcpOpts.length % 4 !== 0) throw new Error('options must be a multiple of 4 bytes')
  const ihl = 20 + ipOpts.length
  const doff = 20 + tcpOpts.length
  const buf = new Uint8Array(ihl + doff + payload.length)
  const v = new DataView(buf.buffer)
  v.setUint8(0, 0x40 | (ihl / 4))
  v.setUint8(1, spec.tos ?? 0)
  v.setUint16(2, spec.totLen ?? buf.length)
  v.setUint16(4, spec.ipId ?? 0x1234)
  v.setUint16(6, spec.frag ?? 0x4000)
  v.setUint8(8, spec.ttl ?? 64)
  v.setUint8(9, spec.protocol ?? 6)
  buf.set(spec.src ?? [10, 0, 1, 2], 12)
  buf.set(spec.dst ?? [10, 0, 0, 1], 16)
  buf.set(ipOpts, 20)
  v.setUint16(ihl, spec.sport ?? 8080)
  v.setUint16(ihl + 2, spec.dport ?? 40000)
  v.setUint32(ihl + 4, spec.seq ?? 0x11223344)
  v.setUint32(ihl + 8, spec.ack ?? 0x01020305)
  v.setUint8(ihl + 12, (spec.doffWords ?? doff / 4) << 4)
  v.setUint8(ihl + 13, spec.flags ?? 0x10)
  v.setUint16(ihl + 14, spec.window ?? 29200)
  buf.set(tcpOpts, ihl + 20)
  buf.set(payload, ihl + doff)
  v.setUint16(10, refIpChecksum(buf))
  v.setUint16(ihl + 16, refTcpChecksum(buf))
  return buf
}

// ---- the core's memory ----------------------------------------------------------------

/** Copies bytes into the core's memory at off (FRAMES_OFF by default); returns off. */
export function put (core: RawCore, bytes: Uint8Array, off: number = FRAMES_OFF): number {
  new Uint8Array(core.memory.buffer, off, bytes.length).set(bytes)
  return off
}

/** The len bytes at off in the core's memory (a copy). */
export function take (core: RawCore, off: number, len: number): Uint8Array {
  return new Uint8Array(core.memory.buffer, off, len).slice()
}

export interface Parsed {
  status: number
  family: number
  linkLen: number
  vlan: number
  l3Off: number
  ihl: number
  totLen: number
  capLen: number
  ipId: number
  frag: number
  ttl: number
  proto: number
  tos: number
  /** The 16 address bytes as hex, e.g. '00 00 … ff ff 0a 00 01 02'. */
  srcBytes: string
  dstBytes: string
  /** The IPv4 address from the last 4 bytes, dotted. */
  src: string
  dst: string
  l4Off: number
  sport: number
  dport: number
  seq: number
  ack: number
  doff: number
  flags: number
  window: number
  payloadOff: number
  payloadLen: number
  optFlags: number
  mss: number
  wscale: number
  tsVal: number
  tsEcr: number
}

/** Reads the PARSE struct at base (PARSE_OFF by default). */
export function readParse (core: RawCore, base: number = PARSE_OFF): Parsed {
  const v = new DataView(core.memory.buffer, base, 128)
  const addr = (off: number): Uint8Array => new Uint8Array(core.memory.buffer, base + off, 16)
  return {
    status: v.getUint32(P_STATUS, true),
    family: v.getUint8(P_FAMILY),
    linkLen: v.getUint32(P_LINK_LEN, true),
    vlan: v.getUint16(P_VLAN, true),
    l3Off: v.getUint32(P_L3_OFF, true),
    ihl: v.getUint32(P_IHL, true),
    totLen: v.getUint32(P_TOT_LEN, true),
    capLen: v.getUint32(P_CAP_LEN, true),
    ipId: v.getUint16(P_IP_ID, true),
    frag: v.getUint16(P_FRAG, true),
    ttl: v.getUint8(P_TTL),
    proto: v.getUint8(P_PROTO),
    tos: v.getUint8(P_TOS),
    srcBytes: toHex(addr(P_SRC_ADDR)),
    dstBytes: toHex(addr(P_DST_ADDR)),
    src: Array.from(addr(P_SRC_ADDR).subarray(12)).join('.'),
    dst: Array.from(addr(P_DST_ADDR).subarray(12)).join('.'),
    l4Off: v.getUint32(P_L4_OFF, true),
    sport: v.getUint16(P_SPORT, true),
    dport: v.getUint16(P_DPORT, true),
    seq: v.getUint32(P_SEQ, true),
    ack: v.getUint32(P_ACK, true),
    doff: v.getUint32(P_DOFF, true),
    flags: v.getUint8(P_TCP_FLAGS),
    window: v.getUint16(P_WINDOW, true),
    payloadOff: v.getUint32(P_PAYLOAD_OFF, true),
    payloadLen: v.getUint32(P_PAYLOAD_LEN, true),
    optFlags: v.getUint32(P_OPT_FLAGS, true),
    mss: v.getUint16(P_MSS, true),
    wscale: v.getUint8(P_WSCALE),
    tsVal: v.getUint32(P_TS_VAL, true),
    tsEcr: v.getUint32(P_TS_ECR, true)
  }
}

/** Writes the frame at FRAMES_OFF (or off), parses it and returns the struct. */
export function parseBytes (core: RawCore, frame: Uint8Array, linkType: number, off: number = FRAMES_OFF): Parsed {
  put(core, frame, off)
  const status = core.exports.parsePacket(off, frame.length, linkType)
  const parsed = readParse(core)
  if (parsed.status !== status) throw new Error(`P_STATUS ${parsed.status} differs from the returned ${status}`)
  return parsed
}

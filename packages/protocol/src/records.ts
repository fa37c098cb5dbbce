// intercept → tcpcopy response records (PROTOCOL.md §3): the first 20 bytes
// of the response's IPv4 header, its TCP header (options included, capped at
// the options area), zeros, and in payload builds up to 128 payload bytes.
import { ProtocolError } from '@tcpcopy/interface'
import type { Dialect } from './dialect.js'
import { checkAvailable, readU16, readU32, target, writeU16 } from './bytes.js'

/** What decides a record's size: the dialect and whether it is a payload build. */
export interface RecordFormat {
  dialect: Dialect
  /** intercept --with-resp-payload / tcpcopy TC_PAYLOAD (1.x), --enable-mysql (0.9). */
  payload: boolean
}

/** IPv4 header (20) + TCP header without options (20). */
export const RECORD_HEADERS_SIZE = 40
/** Bytes of response payload a payload-variant record carries at most. */
export const RECORD_PAYLOAD_MAX = 128
/** Options area of a 0.9 record (`MAX_OPTION_LEN` 40). */
export const OPTIONS_AREA_09 = 40
/** Options area of a 1.x record (`MAX_OPTION_LEN` 24). */
export const OPTIONS_AREA_1X = 24

/** TCP flag bits, as in byte 13 of the TCP header. */
export enum TcpFlag {
  Fin = 1,
  Syn = 2,
  Rst = 4,
  Psh = 8,
  Ack = 16,
  Urg = 32,
  Ece = 64,
  Cwr = 128,
}

/** Bytes of TCP options a record has room for: 40 (0.9) or 24 (1.x). */
export function optionsAreaLength (format: RecordFormat): number {
  return format.dialect === '0.9' ? OPTIONS_AREA_09 : OPTIONS_AREA_1X
}

/** Bytes of one record: 80 (0.9), 64 (1.x); 208 and 192 in payload builds. */
export function recordSize (format: RecordFormat): number {
  return RECORD_HEADERS_SIZE + optionsAreaLength(format) + (format.payload ? RECORD_PAYLOAD_MAX : 0)
}

/** The TCP options tcpcopy can use, as far as they are inside the record. */
export interface TcpOptions {
  mss?: number
  windowScale?: number
  sackPermitted: boolean
  tsVal?: number
  tsEcr?: number
}

/** What tcpcopy reads from a record (§3.3). Addresses are u32 host order. */
export interface ResponseRecord {
  /** IHL as written in the record (5 unless an original intercept saw IP options). */
  ihl: number
  totLen: number
  id: number
  ttl: number
  saddr: number
  daddr: number
  sport: number
  dport: number
  seq: number
  ack: number
  doff: number
  /** Byte 13 of the TCP header; test with TcpFlag. */
  flags: number
  window: number
  options: TcpOptions
  /** totLen − ihl*4 − doff*4: the response's data bytes, whether or not the record carries them. */
  payloadLength: number
  /** Payload builds only: a view of the 1..128 payload bytes the record carries. */
  payload?: Uint8Array
}

function recordError (message: string): ProtocolError {
  return new ProtocolError(message, 'TC_ERR_PROTO_RECORD')
}

/** Reads the options between `start` and `end`; stops at EOL or at the first malformed option. */
function readOptions (buf: Uint8Array, start: number, end: number): TcpOptions {
  const options: TcpOptions = { sackPermitted: false }
  let i = start
  while (i < end) {
    const kind = buf[i] as number
    if (kind === 0) break
    if (kind === 1) { i++; continue }
    if (i + 1 >= end) break
    const len = buf[i + 1] as number
    if (len < 2 || i + len > end) break
    if (kind === 2 && len === 4) options.mss = readU16(buf, i + 2)
    else if (kind === 3 && len === 3) options.windowScale = buf[i + 2] as number
    else if (kind === 4 && len === 2) options.sackPermitted = true
    else if (kind === 8 && len === 10) {
      options.tsVal = readU32(buf, i + 2)
      options.tsEcr = readU32(buf, i + 6)
    }
    i += len
  }
  return options
}

/**
 * Decodes the record at `offset`. The TCP header is read at offset 20, where
 * intercept always puts it; the original tcpcopy looks at IHL*4 instead and
 * misparses the rare response that had IP options (§3.3). payloadLength uses
 * the IHL in the record, so it is right for both our records (IHL 5, tot_len
 * reduced) and an original intercept's (IHL kept, tot_len kept).
 *
 * Throws TC_ERR_PROTO_RECORD when the bytes cannot be a record: no IPv4
 * version nibble, IHL < 5, doff < 5, or tot_len shorter than the headers.
 */
export function decodeRecord (buf: Uint8Array, format: RecordFormat, offset = 0): ResponseRecord {
  const size = recordSize(format)
  checkAvailable(buf, offset, size, `${format.dialect}${format.payload ? ' payload' : ''} record`)
  const b0 = buf[offset] as number
  const ihl = b0 & 0x0f
  if (b0 >> 4 !== 4 || ihl < 5) {
    throw recordError(`a record starts with an IPv4 header byte 0x45..0x4f, got 0x${b0.toString(16).padStart(2, '0')}`)
  }
  const t = offset + 20
  const doff = (buf[t + 12] as number) >> 4
  if (doff < 5) throw recordError(`a record's TCP data offset is at least 5, got ${doff}`)
  const totLen = readU16(buf, offset + 2)
  const payloadLength = totLen - ihl * 4 - doff * 4
  if (payloadLength < 0) {
    throw recordError(`a record's tot_len ${totLen} is shorter than its IP (${ihl * 4}) and TCP (${doff * 4}) headers`)
  }
  const tcpLen = Math.min(doff * 4, 20 + optionsAreaLength(format))
  const record: ResponseRecord = {
    ihl,
    totLen,
    id: readU16(buf, offset + 4),
    ttl: buf[offset + 8] as number,
    saddr: readU32(buf, offset + 12),
    daddr: readU32(buf, offset + 16),
    sport: readU16(buf, t),
    dport: readU16(buf, t + 2),
    seq: readU32(buf, t + 4),
    ack: readU32(buf, t + 8),
    doff,
    flags: buf[t + 13] as number,
    window: readU16(buf, t + 14),
    options: readOptions(buf, t + 20, t + tcpLen),
    payloadLength
  }
  if (format.payload && payloadLength >= 1 && payloadLength <= RECORD_PAYLOAD_MAX && 20 + doff * 4 + payloadLength <= size) {
    record.payload = buf.subarray(t + doff * 4, t + doff * 4 + payloadLength)
  }
  return record
}

function packetError (message: string): ProtocolError {
  return new ProtocolError(message, 'TC_ERR_PROTO_PACKET')
}

/**
 * Builds the record intercept sends for `packet` (an IPv4 + TCP packet,
 * starting at its IP header) as in §3.2, at `offset` of `buf` (a new buffer
 * when none is given), and returns the buffer:
 * zero the record; copy the first 20 IP bytes verbatim, except that IHL > 5
 * becomes 5 and tot_len loses the IP option bytes (the improvement of §3.3;
 * the IP checksum is left as it was, since nobody reads it); copy doff*4
 * bytes of TCP header, at most 20 + options area; in payload builds copy
 * 1..128 payload bytes at 20 + doff*4 when they fit in the record.
 *
 * `buf` must not overlap `packet`. Throws TC_ERR_PROTO_PACKET when `packet`
 * is not a whole IPv4 TCP header.
 */
export function encodeRecord (packet: Uint8Array, format: RecordFormat, buf?: Uint8Array, offset = 0): Uint8Array {
  const size = recordSize(format)
  if (packet.length < 20) throw packetError(`an IPv4 packet is at least 20 bytes, got ${packet.length}`)
  const b0 = packet[0] as number
  const ihl = b0 & 0x0f
  if (b0 >> 4 !== 4 || ihl < 5) throw packetError(`an IPv4 packet starts with 0x45..0x4f, got 0x${b0.toString(16).padStart(2, '0')}`)
  if (packet[9] !== 6) throw packetError(`a response must be TCP (protocol 6), got protocol ${String(packet[9])}`)
  const ipLen = ihl * 4
  if (packet.length < ipLen + 20) throw packetError(`the TCP header of a packet with IHL ${ihl} needs ${ipLen + 20} bytes, got ${packet.length}`)
  const doff = (packet[ipLen + 12] as number) >> 4
  if (doff < 5) throw packetError(`a TCP data offset is at least 5, got ${doff}`)
  const tcpLen = doff * 4
  if (packet.length < ipLen + tcpLen) throw packetError(`a packet with IHL ${ihl} and doff ${doff} needs ${ipLen + tcpLen} bytes, got ${packet.length}`)
  const totLen = readU16(packet, 2)
  if (totLen < ipLen + tcpLen) throw packetError(`tot_len ${totLen} is shorter than the IP (${ipLen}) and TCP (${tcpLen}) headers`)
  const payloadLength = totLen - ipLen - tcpLen

  const out = target(buf, offset, size, 'record')
  out.fill(0, offset, offset + size)
  out.set(packet.subarray(0, 20), offset)
  if (ihl > 5) {
    out[offset] = 0x45
    writeU16(out, offset + 2, totLen - (ipLen - 20))
  }
  const copied = Math.min(tcpLen, 20 + optionsAreaLength(format))
  out.set(packet.subarray(ipLen, ipLen + copied), offset + 20)
  if (format.payload && payloadLength >= 1 && payloadLength <= RECORD_PAYLOAD_MAX && 20 + tcpLen + payloadLength <= size) {
    const start = ipLen + tcpLen
    if (packet.length < start + payloadLength) {
      throw packetError(`tot_len ${totLen} promises ${payloadLength} payload bytes, but the packet holds ${packet.length - start}`)
    }
    out.set(packet.subarray(start, start + payloadLength), offset + 20 + tcpLen)
  }
  return out
}

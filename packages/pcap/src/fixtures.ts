// Test fixtures: pcap and pcapng files written field by field, and small
// builders for the variants. Used by the tests only; not part of the public surface.
import { PcapReader, type PcapPacket } from './reader.js'
import { hex, concat, toHex } from '@tcpcopy/interface'

export { hex, concat, toHex }

/** 1700000000.123456 s (2023-11-14T22:13:20.123456Z), the time most fixtures use. */
export const T_US = 1700000000123456000n
/** 1700000000.123456789 s. */
export const T_NS = 1700000000123456789n

// ---------------------------------------------------------------- classic pcap

/** Little-endian, microseconds, Ethernet: one whole record and one truncated record. */
export const PCAP_LE_US = hex`
  d4 c3 b2 a1  // magic a1b2c3d4 written little-endian: microseconds
  02 00 04 00  // version 2.4
  00 00 00 00  // thiszone 0
  00 00 00 00  // sigfigs 0
  ff ff 00 00  // snaplen 65535
  01 00 00 00  // link type 1 (Ethernet)
  // record 0 at offset 24
  00 f1 53 65  // ts_sec 1700000000
  40 e2 01 00  // ts_usec 123456
  04 00 00 00  // incl_len 4
  04 00 00 00  // orig_len 4
  de ad be ef  // data
  // record 1 at offset 44
  01 f1 53 65  // ts_sec 1700000001
  00 00 00 00  // ts_usec 0
  02 00 00 00  // incl_len 2
  3c 00 00 00  // orig_len 60: truncated
  ca fe        // data
`

/** The same two records, big-endian. */
export const PCAP_BE_US = hex`
  a1 b2 c3 d4  // magic, big-endian: microseconds
  00 02 00 04  // version 2.4
  00 00 00 00  // thiszone 0
  00 00 00 00  // sigfigs 0
  00 00 ff ff  // snaplen 65535
  00 00 00 01  // link type 1 (Ethernet)
  // record 0 at offset 24
  65 53 f1 00  // ts_sec 1700000000
  00 01 e2 40  // ts_usec 123456
  00 00 00 04  // incl_len 4
  00 00 00 04  // orig_len 4
  de ad be ef  // data
  // record 1 at offset 44
  65 53 f1 01  // ts_sec 1700000001
  00 00 00 00  // ts_usec 0
  00 00 00 02  // incl_len 2
  00 00 00 3c  // orig_len 60: truncated
  ca fe        // data
`

/** Little-endian, nanoseconds, raw IP (101). */
export const PCAP_LE_NS = hex`
  4d 3c b2 a1  // magic a1b23c4d written little-endian: nanoseconds
  02 00 04 00  // version 2.4
  00 00 00 00  // thiszone 0
  00 00 00 00  // sigfigs 0
  00 00 04 00  // snaplen 262144
  65 00 00 00  // link type 101 (raw IP)
  // record 0 at offset 24
  00 f1 53 65  // ts_sec 1700000000
  15 cd 5b 07  // ts_nsec 123456789
  03 00 00 00  // incl_len 3
  03 00 00 00  // orig_len 3
  45 00 00     // data
`

/** Big-endian, nanoseconds, Linux SLL (113), FCS bits set in the link-type field's top nibble. */
export const PCAP_BE_NS = hex`
  a1 b2 3c 4d  // magic, big-endian: nanoseconds
  00 02 00 04  // version 2.4
  00 00 00 00  // thiszone 0
  00 00 00 00  // sigfigs 0
  00 04 00 00  // snaplen 262144
  14 00 00 71  // FCS present (bit 28) + link type 113 (Linux SLL)
  // record 0 at offset 24
  65 53 f1 00  // ts_sec 1700000000
  07 5b cd 15  // ts_nsec 123456789
  00 00 00 03  // incl_len 3
  00 00 00 03  // orig_len 3
  45 00 00     // data
`

// -------------------------------------------------------------------- pcapng

/**
 * Little-endian pcapng: SHB, one Ethernet IDB (no options, so microseconds),
 * an Enhanced Packet Block, a Simple Packet Block, an obsolete Packet Block, a
 * Name Resolution Block to skip, and a last EPB that is truncated (caplen < len).
 */
export const PCAPNG_LE = hex`
  // Section Header Block at 0
  0a 0d 0d 0a  // block type SHB
  1c 00 00 00  // block length 28
  4d 3c 2b 1a  // byte-order magic 1a2b3c4d, little-endian
  01 00 00 00  // version 1.0
  ff ff ff ff  // section length -1 (unknown)
  ff ff ff ff
  1c 00 00 00  // block length 28
  // Interface Description Block at 28
  01 00 00 00  // block type IDB
  14 00 00 00  // block length 20
  01 00 00 00  // link type 1 (Ethernet), reserved
  00 00 00 00  // snaplen 0 (no limit)
  14 00 00 00  // block length 20
  // Enhanced Packet Block at 48
  06 00 00 00  // block type EPB
  24 00 00 00  // block length 36
  00 00 00 00  // interface 0
  24 0a 06 00  // timestamp high: 1700000000123456 µs = 0x00060a24_18202240
  40 22 20 18  // timestamp low
  04 00 00 00  // captured length 4
  04 00 00 00  // original length 4
  de ad be ef  // data
  24 00 00 00  // block length 36
  // Simple Packet Block at 84
  03 00 00 00  // block type SPB
  14 00 00 00  // block length 20
  03 00 00 00  // original length 3
  aa bb cc 00  // data, padded to 4
  14 00 00 00  // block length 20
  // obsolete Packet Block at 104
  02 00 00 00  // block type PB
  24 00 00 00  // block length 36
  00 00 00 00  // interface 0, drops count 0
  24 0a 06 00  // timestamp high
  41 22 20 18  // timestamp low: one µs later
  02 00 00 00  // captured length 2
  02 00 00 00  // original length 2
  11 22 00 00  // data, padded
  24 00 00 00  // block length 36
  // Name Resolution Block at 140: skipped
  04 00 00 00  // block type NRB
  10 00 00 00  // block length 16
  00 00 00 00  // nrb_record_end
  10 00 00 00  // block length 16
  // Enhanced Packet Block at 156, truncated capture
  06 00 00 00  // block type EPB
  24 00 00 00  // block length 36
  00 00 00 00  // interface 0
  24 0a 06 00  // timestamp high
  42 22 20 18  // timestamp low: two µs later
  03 00 00 00  // captured length 3
  e8 03 00 00  // original length 1000
  01 02 03 00  // data, padded
  24 00 00 00  // block length 36
`

/** PCAPNG_LE with every field big-endian. */
export const PCAPNG_BE = hex`
  // Section Header Block at 0
  0a 0d 0d 0a  // block type SHB
  00 00 00 1c  // block length 28
  1a 2b 3c 4d  // byte-order magic, big-endian
  00 01 00 00  // version 1.0
  ff ff ff ff  // section length -1
  ff ff ff ff
  00 00 00 1c  // block length 28
  // Interface Description Block at 28
  00 00 00 01  // block type IDB
  00 00 00 14  // block length 20
  00 01 00 00  // link type 1 (Ethernet), reserved
  00 00 00 00  // snaplen 0
  00 00 00 14  // block length 20
  // Enhanced Packet Block at 48
  00 00 00 06  // block type EPB
  00 00 00 24  // block length 36
  00 00 00 00  // interface 0
  00 06 0a 24  // timestamp high
  18 20 22 40  // timestamp low
  00 00 00 04  // captured length 4
  00 00 00 04  // original length 4
  de ad be ef  // data
  00 00 00 24  // block length 36
  // Simple Packet Block at 84
  00 00 00 03  // block type SPB
  00 00 00 14  // block length 20
  00 00 00 03  // original length 3
  aa bb cc 00  // data, padded
  00 00 00 14  // block length 20
  // obsolete Packet Block at 104
  00 00 00 02  // block type PB
  00 00 00 24  // block length 36
  00 00 00 00  // interface 0, drops count 0
  00 06 0a 24  // timestamp high
  18 20 22 41  // timestamp low
  00 00 00 02  // captured length 2
  00 00 00 02  // original length 2
  11 22 00 00  // data, padded
  00 00 00 24  // block length 36
  // Name Resolution Block at 140: skipped
  00 00 00 04  // block type NRB
  00 00 00 10  // block length 16
  00 00 00 00  // nrb_record_end
  00 00 00 10  // block length 16
  // Enhanced Packet Block at 156, truncated capture
  00 00 00 06  // block type EPB
  00 00 00 24  // block length 36
  00 00 00 00  // interface 0
  00 06 0a 24  // timestamp high
  18 20 22 42  // timestamp low
  00 00 00 03  // captured length 3
  00 00 03 e8  // original length 1000
  01 02 03 00  // data, padded
  00 00 00 24  // block length 36
`

/**
 * Two interfaces with different link types and timestamp resolutions:
 * 0 = Ethernet, if_tsresol 9 (ns), snaplen 128, if_name "eth0";
 * 1 = raw IP, if_tsresol 0x94 (2^-20 s), if_tsoffset 10 s.
 * Packets alternate between them.
 */
export const PCAPNG_TWO_INTERFACES = hex`
  // Section Header Block at 0
  0a 0d 0d 0a  // block type SHB
  1c 00 00 00  // block length 28
  4d 3c 2b 1a  // byte-order magic, little-endian
  01 00 00 00  // version 1.0
  ff ff ff ff  // section length -1
  ff ff ff ff
  1c 00 00 00  // block length 28
  // Interface Description Block 0 at 28
  01 00 00 00  // block type IDB
  28 00 00 00  // block length 40
  01 00 00 00  // link type 1 (Ethernet), reserved
  80 00 00 00  // snaplen 128
  02 00 04 00  // option if_name, length 4
  65 74 68 30  // "eth0"
  09 00 01 00  // option if_tsresol, length 1
  09 00 00 00  // 10^-9 s (nanoseconds), padded
  00 00 00 00  // opt_endofopt
  28 00 00 00  // block length 40
  // Interface Description Block 1 at 68
  01 00 00 00  // block type IDB
  2c 00 00 00  // block length 44
  65 00 00 00  // link type 101 (raw IP), reserved
  00 00 04 00  // snaplen 262144
  09 00 01 00  // option if_tsresol, length 1
  94 00 00 00  // 2^-20 s (binary resolution), padded
  0e 00 08 00  // option if_tsoffset, length 8
  0a 00 00 00  // 10 s (int64, little-endian)
  00 00 00 00
  00 00 00 00  // opt_endofopt
  2c 00 00 00  // block length 44
  // Enhanced Packet Block at 112, interface 0
  06 00 00 00  // block type EPB
  24 00 00 00  // block length 36
  00 00 00 00  // interface 0
  fe 9c 97 17  // timestamp high: 1700000000123456789 ns = 0x17979cfe_3d85cd15
  15 cd 85 3d  // timestamp low
  04 00 00 00  // captured length 4
  04 00 00 00  // original length 4
  e0 e1 e2 e3  // data
  24 00 00 00  // block length 36
  // Enhanced Packet Block at 148, interface 1
  06 00 00 00  // block type EPB
  2c 00 00 00  // block length 44
  01 00 00 00  // interface 1
  3f 55 06 00  // timestamp high: (1700000000 s + 0.5 s) × 2^20 = 0x0006553f_10080000
  00 00 08 10  // timestamp low
  05 00 00 00  // captured length 5
  05 00 00 00  // original length 5
  45 00 00 05  // data
  ff 00 00 00  //   (last byte, padded)
  00 00 00 00  // opt_endofopt (an empty options list)
  2c 00 00 00  // block length 44
`

/**
 * Two sections: a little-endian one with an Ethernet interface, then a
 * big-endian one whose interface 0 is raw IP. Interface ids restart per section.
 */
export const PCAPNG_TWO_SECTIONS = hex`
  // Section Header Block at 0, little-endian
  0a 0d 0d 0a  // block type SHB
  1c 00 00 00  // block length 28
  4d 3c 2b 1a  // byte-order magic, little-endian
  01 00 00 00  // version 1.0
  ff ff ff ff  // section length -1
  ff ff ff ff
  1c 00 00 00  // block length 28
  // Interface Description Block at 28
  01 00 00 00  // block type IDB
  14 00 00 00  // block length 20
  01 00 00 00  // link type 1 (Ethernet)
  00 00 00 00  // snaplen 0
  14 00 00 00  // block length 20
  // Enhanced Packet Block at 48
  06 00 00 00  // block type EPB
  20 00 00 00  // block length 32
  00 00 00 00  // interface 0
  24 0a 06 00  // timestamp high
  40 22 20 18  // timestamp low (µs)
  00 00 00 00  // captured length 0
  00 00 00 00  // original length 0
  20 00 00 00  // block length 32
  // Section Header Block at 80, big-endian
  0a 0d 0d 0a  // block type SHB
  00 00 00 1c  // block length 28
  1a 2b 3c 4d  // byte-order magic, big-endian
  00 01 00 02  // version 1.2
  ff ff ff ff  // section length -1
  ff ff ff ff
  00 00 00 1c  // block length 28
  // Interface Description Block at 108
  00 00 00 01  // block type IDB
  00 00 00 14  // block length 20
  00 65 00 00  // link type 101 (raw IP)
  00 00 ff ff  // snaplen 65535
  00 00 00 14  // block length 20
  // Enhanced Packet Block at 128
  00 00 00 06  // block type EPB
  00 00 00 24  // block length 36
  00 00 00 00  // interface 0 of the new section
  00 06 0a 24  // timestamp high
  18 20 22 40  // timestamp low (µs)
  00 00 00 01  // captured length 1
  00 00 00 01  // original length 1
  45 00 00 00  // data, padded
  00 00 00 24  // block length 36
`

// ------------------------------------------------------------------- builders

function u32le (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0, true)
  return b
}

function pad4 (b: Uint8Array): Uint8Array {
  return b.length % 4 === 0 ? b : concat(b, new Uint8Array(4 - (b.length % 4)))
}

/** A little-endian pcapng block with the right lengths around `body`. */
export function block (type: number, body: Uint8Array): Uint8Array {
  const padded = pad4(body)
  const length = padded.length + 12
  return concat(u32le(type), u32le(length), padded, u32le(length))
}

/** A little-endian SHB, version 1.0. */
export function shb (): Uint8Array {
  return block(0x0a0d0d0a, hex`4d3c2b1a 01000000 ffffffff ffffffff`)
}

/** A little-endian IDB; `tsresol` adds an if_tsresol option. */
export function idb (linkType: number, snaplen = 0, tsresol?: number): Uint8Array {
  const head = new Uint8Array(8)
  const v = new DataView(head.buffer)
  v.setUint16(0, linkType, true)
  v.setUint32(4, snaplen, true)
  const opts = tsresol === undefined ? new Uint8Array(0) : concat(hex`09000100`, new Uint8Array([tsresol, 0, 0, 0]), hex`00000000`)
  return block(1, concat(head, opts))
}

/** A little-endian EPB; `ts` in the interface's units. */
export function epb (interfaceId: number, ts: bigint, data: Uint8Array, originalLength = data.length): Uint8Array {
  const head = new Uint8Array(20)
  const v = new DataView(head.buffer)
  v.setUint32(0, interfaceId, true)
  v.setUint32(4, Number(ts >> 32n), true)
  v.setUint32(8, Number(ts & 0xffffffffn), true)
  v.setUint32(12, data.length, true)
  v.setUint32(16, originalLength, true)
  return block(6, concat(head, data))
}

/** Reads a whole input (given as chunks) with push()/end(); returns packets and the error, if any. */
export function readAll (chunks: Iterable<Uint8Array>): { packets: PcapPacket[], error: unknown } {
  const reader = new PcapReader()
  const packets: PcapPacket[] = []
  try {
    for (const c of chunks) packets.push(...reader.push(c))
    reader.end()
  } catch (err) {
    return { packets, error: err }
  }
  return { packets, error: undefined }
}

/** A packet as plain comparable values (data as hex). */
export function plain (p: PcapPacket): Record<string, unknown> {
  return { ...p, data: toHex(p.data) }
}

/** `input` cut at the given offsets. */
export function splitAt (input: Uint8Array, cuts: number[]): Uint8Array[] {
  const sorted = [...new Set(cuts)].filter((c) => c > 0 && c < input.length).sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const c of sorted) { out.push(input.subarray(prev, c)); prev = c }
  out.push(input.subarray(prev))
  return out
}

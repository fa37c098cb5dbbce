// Test fixtures: the vectors of PROTOCOL.md §8, written field by field.
// Used by the tests only; not part of the public surface.
import { hex, concat, toHex } from '@tcpcopy/interface'

export { hex, concat, toHex }

/** `buf` cut at the given offsets (sorted, 0 < cut < length). */
export function split (buf: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let prev = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= prev || cut >= buf.length) continue
    out.push(buf.subarray(prev, cut))
    prev = cut
  }
  out.push(buf.subarray(prev))
  return out
}

/** client (as the target sees it) 10.0.0.1:40000, target 10.0.1.2:8080 */
export const CLIENT_IP = 0x0a000001
export const CLIENT_PORT = 40000
export const TARGET_IP = 0x0a000102
export const TARGET_PORT = 8080

/** V1: hello of T1/I1, version 6 */
export const V1_HELLO_6 = hex`
  00 00 00 00  // clt_ip 0
  00 00        // clt_port 0
  00 06        // type = INTERNAL_VERSION 6
  00 00 00 00  // target_ip 0
  00 00        // target_port 0
`
/** V1 variant: hello of T0 traditional, version 5 */
export const V1_HELLO_5 = hex`00 00 00 00  00 00  00 05  00 00 00 00  00 00`
/** V1 variant: hello of T0 advanced, version 0x8005 */
export const V1_HELLO_8005 = hex`00 00 00 00  00 00  80 05  00 00 00 00  00 00`

/** V2: CLIENT_ADD, 14-byte form */
export const V2_CLIENT_ADD = hex`
  0a 00 00 01  // clt_ip 10.0.0.1
  9c 40        // clt_port 40000
  00 01        // type CLIENT_ADD
  0a 00 01 02  // target_ip 10.0.1.2
  1f 90        // target_port 8080
`
/** V2: the old 8-byte form (0.7 – 0.9.1) */
export const V2_LEGACY_ADD = hex`
  0a 00 00 01  // clt_ip 10.0.0.1
  9c 40        // clt_port 40000
  00 01        // type CLIENT_ADD, network order
`
/** V2: the ≤0.6 host-order form on x86 */
export const V2_HOST_ORDER_ADD = hex`
  0a 00 00 01  // clt_ip 10.0.0.1
  9c 40        // clt_port 40000
  01 00        // type CLIENT_ADD in x86 host order (reads as 256)
`

/** V3: the SYN-ACK packet from the target, 60 bytes */
export const V3_PACKET = hex`
  45 00 00 3c  // IPv4, IHL 5, TOS 0, total length 60
  00 00 40 00  // ID 0, DF, fragment offset 0
  40 06 25 ba  // TTL 64, protocol TCP, header checksum 0x25ba
  0a 00 01 02  // saddr 10.0.1.2 (target)
  0a 00 00 01  // daddr 10.0.0.1 (client)
  1f 90 9c 40  // sport 8080, dport 40000
  11 22 33 44  // seq 0x11223344
  01 02 03 05  // ack 0x01020305
  a0 12 72 10  // doff 10, flags SYN+ACK, window 29200
  fe 9d 00 00  // TCP checksum 0xfe9d, urgent 0
  02 04 05 b4  // MSS 1460
  04 02        // SACK permitted
  08 0a 00 00 ab cd 00 00 12 34  // TS val 0xabcd ecr 0x1234
  01           // NOP
  03 03 07     // window scale 7
`
/** V3: its 1.x record, 64 bytes */
export const V3_RECORD_1X = concat(V3_PACKET, hex`00 00 00 00  // zero to 64`)
/** V3: its 0.9 record, 80 bytes */
export const V3_RECORD_09 = concat(V3_PACKET, new Uint8Array(20))

/** V4 record 2: a data segment from the target, 57 bytes with its payload */
export const V4_DATA_PACKET = hex`
  45 00 00 39  // IPv4, IHL 5, TOS 0, total length 57
  1a 2b 40 00  // ID 0x1a2b, DF
  40 06 0b 92  // TTL 64, TCP, header checksum 0x0b92
  0a 00 01 02  // saddr 10.0.1.2
  0a 00 00 01  // daddr 10.0.0.1
  1f 90 9c 40  // sport 8080, dport 40000
  11 22 33 45  // seq 0x11223345
  01 02 03 69  // ack 0x01020369
  50 18 00 e5  // doff 5, flags PSH+ACK, window 229
  d5 6b 00 00  // TCP checksum 0xd56b, urgent 0
  48 54 54 50 2f 31 2e 31 20 32 30 30 20 4f 4b 0d 0a  // "HTTP/1.1 200 OK\\r\\n"
`
/** The 17 payload bytes of V4 record 2 */
export const V4_PAYLOAD = V4_DATA_PACKET.subarray(40)
/** V4 record 2 as a 1.x record: the 40 header bytes, then zeros (no payload build) */
export const V4_RECORD2_1X = concat(V4_DATA_PACKET.subarray(0, 40), new Uint8Array(24))

/** V4: the combined frame, 130 bytes */
export const V4_FRAME = hex`
  00 02                                            // count 2
  45 00 00 3c 00 00 40 00 40 06 25 ba 0a 00 01 02  // record 1 (V3): IP header
  0a 00 00 01                                      //   daddr
  1f 90 9c 40 11 22 33 44 01 02 03 05              //   ports, seq, ack
  a0 12 72 10 fe 9d 00 00                          //   doff 10 SYN+ACK, window, checksum
  02 04 05 b4 04 02 08 0a 00 00 ab cd 00 00 12 34  //   options
  01 03 03 07 00 00 00 00                          //   options, zero padding
  45 00 00 39 1a 2b 40 00 40 06 0b 92 0a 00 01 02  // record 2 at 0x42: IP header, tot_len 57
  0a 00 00 01                                      //   daddr
  1f 90 9c 40 11 22 33 45 01 02 03 69              //   ports, seq, ack
  50 18 00 e5 d5 6b 00 00                          //   doff 5 PSH+ACK, window 229, checksum
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  //   options area, zero
  00 00 00 00 00 00 00 00                          //   (payload not carried)
`

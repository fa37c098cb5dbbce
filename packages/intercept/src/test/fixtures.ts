// Packet and netlink fixtures for the intercept tests. The response packets
// are the hand-built vectors of PROTOCOL.md §8 (V3, V4); the netlink
// messages follow linux/netlink.h and nfnetlink_queue.h (INTERCEPT.md §11).
import { hex, concat, toSpacedHex as toHex } from '@tcpcopy/interface'

export { hex, concat, toHex }

/** client (as the target sees it) 10.0.0.1:40000, target 10.0.1.2:8080 */
export const CLIENT_IP = 0x0a000001
export const CLIENT_PORT = 40000
export const TARGET_IP = 0x0a000102
export const TARGET_PORT = 8080
export const ROUTE = { clientIp: CLIENT_IP, clientPort: CLIENT_PORT, targetIp: TARGET_IP, targetPort: TARGET_PORT }

/** V3: the target's SYN-ACK, 60 bytes. */
export const V3_SYN_ACK = hex`
  45 00 00 3c                    // IPv4, IHL 5, TOS 0, total length 60
  00 00 40 00                    // ID 0, DF, fragment offset 0
  40 06 25 ba                    // TTL 64, TCP, header checksum 0x25ba
  0a 00 01 02                    // source 10.0.1.2 (the target)
  0a 00 00 01                    // destination 10.0.0.1 (the client)
  1f 90 9c 40                    // source port 8080, destination port 40000
  11 22 33 44                    // seq 0x11223344
  01 02 03 05                    // ack 0x01020305
  a0 12 72 10                    // doff 10, SYN+ACK, window 29200
  fe 9d 00 00                    // TCP checksum 0xfe9d, urgent 0
  02 04 05 b4                    // MSS 1460
  04 02                          // SACK permitted
  08 0a 00 00 ab cd 00 00 12 34  // timestamps val 0xabcd ecr 0x1234
  01                             // NOP
  03 03 07                       // window scale 7
`

/** V4 record 2: a PSH+ACK data segment with 17 payload bytes, 57 bytes. */
export const V4_DATA = hex`
  45 00 00 39                    // IPv4, IHL 5, TOS 0, total length 57
  1a 2b 40 00                    // ID 0x1a2b, DF
  40 06 0b 92                    // TTL 64, TCP, header checksum 0x0b92
  0a 00 01 02                    // source 10.0.1.2
  0a 00 00 01                    // destination 10.0.0.1
  1f 90 9c 40                    // 8080 → 40000
  11 22 33 45                    // seq 0x11223345
  01 02 03 69                    // ack 0x01020369
  50 18 00 e5                    // doff 5, PSH+ACK, window 229
  d5 6b 00 00                    // TCP checksum 0xd56b, urgent 0
  48 54 54 50 2f 31 2e 31 20 32 30 30 20 4f 4b 0d 0a  // "HTTP/1.1 200 OK\r\n"
`

/** A bare ACK from the target (no SYN/RST): unroutable without a route. */
export const PLAIN_ACK = hex`
  45 00 00 28  00 00 40 00  40 06 00 00  // IPv4, total length 40, TCP (checksum not checked)
  0a 00 01 02  0a 00 00 01               // 10.0.1.2 → 10.0.0.1
  1f 90 9c 40  11 22 33 45  01 02 03 05  // 8080 → 40000, seq, ack
  50 10 72 10  00 00 00 00               // doff 5, ACK, window
`

/** The 1.x record of V3 (64 bytes) and its 0.9 record (80 bytes). */
export const V3_RECORD_1X = concat(V3_SYN_ACK, new Uint8Array(4))
export const V3_RECORD_09 = concat(V3_SYN_ACK, new Uint8Array(20))
/** V4 record 2 as a 1.x record: the headers, no payload. */
export const V4_RECORD2_1X = concat(V4_DATA.subarray(0, 40), new Uint8Array(24))

/** PROTOCOL.md §8 V4: the combined frame of V3 and V4 record 2, 130 bytes. */
export const V4_FRAME = hex`
  00 02                                            // count 2
  45 00 00 3c 00 00 40 00 40 06 25 ba 0a 00 01 02  // record 1 (V3)
  0a 00 00 01 1f 90 9c 40 11 22 33 44 01 02 03 05
  a0 12 72 10 fe 9d 00 00 02 04 05 b4 04 02 08 0a
  00 00 ab cd 00 00 12 34 01 03 03 07 00 00 00 00
  45 00 00 39 1a 2b 40 00 40 06 0b 92 0a 00 01 02  // record 2 at 0x42
  0a 00 00 01 1f 90 9c 40 11 22 33 45 01 02 03 69
  50 18 00 e5 d5 6b 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
`

/** The response with its IPv4 destination replaced (another client address). */
export function withDestination (packet: Uint8Array, ip: number): Uint8Array {
  const out = packet.slice()
  new DataView(out.buffer).setUint32(16, ip >>> 0, false)
  return out
}

/** The response with its IPv4 source replaced (the target's real address behind DNAT). */
export function withSource (packet: Uint8Array, ip: number): Uint8Array {
  const out = packet.slice()
  new DataView(out.buffer).setUint32(12, ip >>> 0, false)
  return out
}

/**
 * V3 with 20 more option bytes (NOPs): a 60-byte TCP header (doff 15), 80
 * bytes in all. A 1.x record keeps the first 44 bytes of the TCP header.
 */
export const LONG_TCP_SYN_ACK = (() => {
  const out = concat(V3_SYN_ACK, new Uint8Array(20).fill(0x01)) // 20 × NOP
  const dv = new DataView(out.buffer)
  dv.setUint16(2, 80, false) //          total length 80
  out[32] = 0xf0 | (out[32]! & 0x0f) //  doff 15 (the checksums are not checked)
  return out
})()

/** The response with its TCP destination port replaced. */
export function withDestinationPort (packet: Uint8Array, port: number): Uint8Array {
  const out = packet.slice()
  new DataView(out.buffer).setUint16(22, port, false)
  return out
}

/** An Ethernet II frame carrying `ip`. */
export function ethernet (ip: Uint8Array): Uint8Array {
  return concat(hex`
    02 00 00 00 00 01  // destination MAC (the assistant)
    02 00 00 00 00 02  // source MAC (the target)
    08 00              // ethertype IPv4
  `, ip)
}

// ---- netlink --------------------------------------------------------------------------

const align4 = (n: number): number => (n + 3) & ~3

/** NFQNL_MSG_PACKET of queue `queue` with packet id `id` and NFQA_PAYLOAD `payload` (omitted when undefined). */
export function nfqPacket (id: number, payload: Uint8Array | undefined, queue = 0): Uint8Array {
  const payAttr = payload === undefined ? 0 : align4(4 + payload.length)
  const len = 16 + 4 + 12 + payAttr
  const out = new Uint8Array(len)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, len, true) //         nlmsg_len
  dv.setUint16(4, 0x0300, true) //      NFQNL_MSG_PACKET
  out[16] = 2 //                        nfgenmsg: AF_INET, version 0
  dv.setUint16(18, queue, false) //     res_id = queue
  dv.setUint16(20, 11, true) //         NFQA_PACKET_HDR, nla_len 11
  dv.setUint16(22, 1, true)
  dv.setUint32(24, id >>> 0, false) //  packet_id
  dv.setUint16(28, 0x0800, false) //    hw_protocol ETH_P_IP
  out[30] = 3 //                        hook NF_INET_LOCAL_OUT
  if (payload !== undefined) {
    dv.setUint16(32, 4 + payload.length, true) // NFQA_PAYLOAD
    dv.setUint16(34, 10, true)
    out.set(payload, 36)
  }
  return out
}

/** NLMSG_ERROR answering request `seq` (of type `requestType`): an ack when errno is 0. */
export function nlAnswer (seq: number, errno = 0, requestType = 0x0302): Uint8Array {
  const out = new Uint8Array(36)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, 36, true)
  dv.setUint16(4, 2, true) //            NLMSG_ERROR
  dv.setUint16(6, 0x100, true) //        NLM_F_CAPPED
  dv.setUint32(8, seq >>> 0, true)
  dv.setInt32(16, -errno, true) //       error
  dv.setUint32(20, 28, true) //          the request's header
  dv.setUint16(24, requestType, true)
  dv.setUint16(26, 5, true)
  dv.setUint32(28, seq >>> 0, true)
  return out
}

export interface NetlinkMessage {
  type: number
  seq: number
  /** res_id of the nfgenmsg (the queue number). */
  queue: number
  /** Bytes after nlmsghdr + nfgenmsg. */
  attrs: Uint8Array
}

/** The netlink messages of one datagram the program sent. */
export function netlinkMessages (datagram: Uint8Array): NetlinkMessage[] {
  const dv = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength)
  const out: NetlinkMessage[] = []
  let at = 0
  while (at + 16 <= datagram.length) {
    const len = dv.getUint32(at, true)
    if (len < 16) break
    out.push({ type: dv.getUint16(at + 4, true), seq: dv.getUint32(at + 8, true), queue: len >= 20 ? dv.getUint16(at + 18, false) : 0, attrs: datagram.subarray(at + 20, at + len) })
    at += align4(len)
  }
  return out
}

export type ConfigStepName = 'pf-unbind' | 'pf-bind' | 'bind' | 'params' | 'queue-maxlen' | 'fail-open' | 'unknown'

/** Which step of the NFQUEUE config a NFQNL_MSG_CONFIG message is. */
export function configStep (m: NetlinkMessage): ConfigStepName {
  const attrType = m.attrs[2] ?? 0
  if (attrType === 1) return ({ 4: 'pf-unbind', 3: 'pf-bind', 1: 'bind' } as Record<number, ConfigStepName>)[m.attrs[4] ?? 0] ?? 'unknown'
  if (attrType === 2) return 'params'
  if (attrType === 3) return 'queue-maxlen'
  if (attrType === 5) return 'fail-open'
  return 'unknown'
}

export interface SentVerdict {
  seq: number
  queue: number
  /** 0 NF_DROP, 1 NF_ACCEPT */
  verdict: number
  id: number
}

export const NF_DROP = 0
export const NF_ACCEPT = 1

/** The verdicts in the datagrams the program sent (config datagrams are skipped). */
export function verdictsOf (datagrams: Uint8Array[]): SentVerdict[] {
  const out: SentVerdict[] = []
  for (const d of datagrams) {
    for (const m of netlinkMessages(d)) {
      if (m.type !== 0x0301) continue
      const dv = new DataView(m.attrs.buffer, m.attrs.byteOffset, m.attrs.byteLength)
      out.push({ seq: m.seq, queue: m.queue, verdict: dv.getUint32(4, false), id: dv.getUint32(8, false) })
    }
  }
  return out
}

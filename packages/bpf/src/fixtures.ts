// Test fixtures: packets written field by field, and a small builder for the
// variants. Used by the tests only; not part of the public surface.
import { LinkType } from './link-type.js'
import { hex, concat } from '@tcpcopy/interface'

export { hex, concat }

/** 10.0.0.1:40000 → 10.0.0.2:80, SYN, no options: the packet most tests start from. */
export const SYN = hex`
  45 00 00 28  // IPv4, IHL 5, TOS 0, total length 40
  12 34 40 00  // id 0x1234, flags DF, fragment offset 0
  40 06 00 00  // TTL 64, protocol 6 (TCP), header checksum (never checked)
  0a 00 00 01  // src 10.0.0.1
  0a 00 00 02  // dst 10.0.0.2
  9c 40 00 50  // src port 40000, dst port 80
  00 00 00 01  // seq 1
  00 00 00 00  // ack 0
  50 02 ff ff  // data offset 5, SYN, window 65535
  00 00 00 00  // TCP checksum, urgent pointer
`

/**
 * 10.0.0.1:40000 → 10.0.0.2:8080 with 8 bytes of IP options (IHL 7). A
 * program that ignored IHL would read the options as ports: they hold 80 and
 * 80 where the ports of an IHL-5 packet would be.
 */
export const SYN_WITH_OPTIONS = hex`
  47 00 00 30  // IPv4, IHL 7 (28-byte header), total length 48
  12 34 00 00  // id 0x1234, no flags, fragment offset 0
  40 06 00 00  // TTL 64, protocol 6 (TCP), header checksum
  0a 00 00 01  // src 10.0.0.1
  0a 00 00 02  // dst 10.0.0.2
  00 50 00 50  // options: bytes that read as ports 80/80 at offset 20
  01 01 01 00  // options: NOP NOP NOP EOL
  9c 40 1f 90  // src port 40000, dst port 8080
  00 00 00 01  // seq 1
  00 00 00 00  // ack 0
  50 02 ff ff  // data offset 5, SYN, window 65535
  00 00 00 00  // TCP checksum, urgent pointer
`

/** A non-first fragment of a TCP packet: its first 8 bytes look like ports 40000 → 80, but they are payload. */
export const LATER_FRAGMENT = hex`
  45 00 00 1c  // IPv4, IHL 5, total length 28
  12 34 00 b9  // id 0x1234, no flags, fragment offset 185 (1480 bytes)
  40 06 00 00  // TTL 64, protocol 6 (TCP), header checksum
  0a 00 00 01  // src 10.0.0.1
  0a 00 00 02  // dst 10.0.0.2
  9c 40 00 50  // payload bytes that look like ports 40000 → 80
  00 00 00 00  // payload
`

/** A UDP datagram 10.0.0.1:40000 → 10.0.0.2:80. */
export const UDP = hex`
  45 00 00 1c  // IPv4, IHL 5, total length 28
  12 34 40 00  // id, DF, fragment offset 0
  40 11 00 00  // TTL 64, protocol 17 (UDP), header checksum
  0a 00 00 01  // src 10.0.0.1
  0a 00 00 02  // dst 10.0.0.2
  9c 40 00 50  // src port 40000, dst port 80
  00 08 00 00  // length 8, checksum
`

/** Ethernet header: dst MAC, src MAC, ethertype. */
export function ethernetHeader (ethertype: number): Uint8Array {
  return hex`
    02 00 00 00 00 02  // dst MAC
    02 00 00 00 00 01  // src MAC
    ${ethertype.toString(16).padStart(4, '0')}  // ethertype
  `
}

/** Ethernet header with one 802.1Q tag (VLAN 100) before `ethertype`. */
export function vlanHeader (ethertype: number, tpid = 0x8100): Uint8Array {
  return hex`
    02 00 00 00 00 02  // dst MAC
    02 00 00 00 00 01  // src MAC
    ${tpid.toString(16).padStart(4, '0')}  // TPID 0x8100: 802.1Q tag follows
    00 64              // TCI: priority 0, VLAN 100
    ${ethertype.toString(16).padStart(4, '0')}  // the real ethertype
  `
}

/** Linux "cooked" (SLL) header, as in pcap files captured on "any". */
export function sllHeader (protocol: number): Uint8Array {
  return hex`
    00 00                    // packet type: to us
    00 01                    // ARPHRD_ETHER
    00 06                    // address length 6
    02 00 00 00 00 01 00 00  // address, padded to 8
    ${protocol.toString(16).padStart(4, '0')}  // protocol
  `
}

/** Linux SLL header whose protocol is 0x8100, then the 802.1Q TCI and the real protocol. */
export function sllVlanHeader (protocol: number): Uint8Array {
  return concat(sllHeader(0x8100), hex`
    00 64  // TCI: priority 0, VLAN 100
    ${protocol.toString(16).padStart(4, '0')}  // the real protocol
  `)
}

/** How a test frames an IP packet, and the link type to compile for. */
export interface Framing {
  readonly name: string
  readonly linkType: LinkType
  readonly wrap: (ip: Uint8Array, ethertype?: number) => Uint8Array
}

export const FRAMINGS: readonly Framing[] = [
  { name: 'Ethernet', linkType: LinkType.Ethernet, wrap: (ip, et = 0x0800) => concat(ethernetHeader(et), ip) },
  { name: 'VLAN-tagged Ethernet', linkType: LinkType.Ethernet, wrap: (ip, et = 0x0800) => concat(vlanHeader(et), ip) },
  { name: 'raw IPv4 (LINKTYPE_RAW)', linkType: LinkType.Raw, wrap: (ip) => ip },
  { name: 'raw IPv4 (DLT_RAW 12)', linkType: LinkType.DltRaw, wrap: (ip) => ip },
  { name: 'raw IPv4 (LINKTYPE_IPV4 228)', linkType: LinkType.Ipv4, wrap: (ip) => ip },
  { name: 'Linux SLL', linkType: LinkType.LinuxSll, wrap: (ip, et = 0x0800) => concat(sllHeader(et), ip) },
  { name: 'VLAN-tagged Linux SLL', linkType: LinkType.LinuxSll, wrap: (ip, et = 0x0800) => concat(sllVlanHeader(et), ip) }
]

export interface PacketSpec {
  readonly src?: number
  readonly dst?: number
  readonly sport?: number
  readonly dport?: number
  /** IP protocol, default 6 */
  readonly proto?: number
  /** fragment offset in 8-byte units */
  readonly fragOffset?: number
  /** more-fragments flag */
  readonly mf?: boolean
  /** 32-bit words of IP options (IHL = 5 + options), 0..10 */
  readonly options?: number
  /** byte written into every option byte (default 0x01, NOP) */
  readonly optionByte?: number
}

/** An IPv4 packet with a 20-byte TCP (or same-layout) header. */
export function ipv4Packet (spec: PacketSpec = {}): Uint8Array {
  const options = spec.options ?? 0
  const ihl = 5 + options
  const total = ihl * 4 + 20
  const p = new Uint8Array(total)
  const v = new DataView(p.buffer)
  v.setUint8(0, 0x40 | ihl)
  v.setUint16(2, total)
  v.setUint16(4, 0x1234)
  v.setUint16(6, ((spec.mf === true ? 0x2000 : 0) | (spec.fragOffset ?? 0)) & 0xffff)
  v.setUint8(8, 64)
  v.setUint8(9, spec.proto ?? 6)
  v.setUint32(12, spec.src ?? 0x0a000001)
  v.setUint32(16, spec.dst ?? 0x0a000002)
  p.fill(spec.optionByte ?? 0x01, 20, ihl * 4)
  const tcp = ihl * 4
  v.setUint16(tcp, spec.sport ?? 40000)
  v.setUint16(tcp + 2, spec.dport ?? 80)
  v.setUint8(tcp + 12, 0x50)
  v.setUint8(tcp + 13, 0x02)
  return p
}

/** Dotted quad → host-order u32 (fixtures only). */
export function ip (text: string): number {
  return text.split('.').reduce((a, o) => a * 256 + Number(o), 0)
}

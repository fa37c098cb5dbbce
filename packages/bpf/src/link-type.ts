import { ConfigError } from '@tcpcopy/interface'

/**
 * The link types a filter can be compiled for, by their pcap LINKTYPE_/DLT_
 * numbers (what a pcap file header or pcap_datalink() reports).
 */
export enum LinkType {
  /** LINKTYPE_ETHERNET: 14-byte header, ethertype at 12 (an AF_PACKET SOCK_RAW socket on an Ethernet device). */
  Ethernet = 1,
  /** DLT_RAW on Linux and most BSDs: the packet starts with the IPv4 header. */
  DltRaw = 12,
  /** LINKTYPE_RAW: the packet starts with the IP header (an AF_PACKET SOCK_DGRAM socket delivers this). */
  Raw = 101,
  /** LINKTYPE_LINUX_SLL: 16-byte "cooked" header, protocol at 14 (pcap files captured on "any"). */
  LinuxSll = 113,
  /** LINKTYPE_IPV4: IPv4 header at 0, no version check needed but done anyway. */
  Ipv4 = 228
}

/** Where a frame of one link type keeps its ethertype and its IPv4 header. */
export interface LinkLayout {
  /** Offset of the 16-bit ethertype/protocol field, or undefined for raw IP. */
  readonly protoOffset: number | undefined
  /** Offset of the IPv4 header when the frame carries no 802.1Q tag. */
  readonly networkOffset: number
}

export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_VLAN = 0x8100
/** Bytes an 802.1Q tag adds (TPID 0x8100 + TCI) in front of the real ethertype. */
export const VLAN_TAG_SIZE = 4

export function linkLayout (linkType: LinkType): LinkLayout {
  switch (linkType) {
    case LinkType.Ethernet: return { protoOffset: 12, networkOffset: 14 }
    case LinkType.LinuxSll: return { protoOffset: 14, networkOffset: 16 }
    case LinkType.Raw:
    case LinkType.DltRaw:
    case LinkType.Ipv4:
      return { protoOffset: undefined, networkOffset: 0 }
    default:
      throw new ConfigError(
        `link type ${String(linkType)} is not supported; use 1 (Ethernet), 113 (Linux SLL), 101 or 12 (raw IP) or 228 (IPv4)`,
        'TC_ERR_CONFIG_LINKTYPE')
  }
}

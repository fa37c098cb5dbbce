/**
 * Common LINKTYPE_ values found in pcap file headers and pcapng Interface
 * Description Blocks (https://www.tcpdump.org/linktypes.html). The reader
 * passes any value through; these names are for callers and tests.
 */
export const LinkType = {
  /** BSD loopback: 4-byte address family in host order. */
  Null: 0,
  /** Ethernet: 14-byte header (the usual capture). */
  Ethernet: 1,
  /** DLT_RAW as written by Linux and most BSDs: the packet starts with the IP header. */
  DltRaw: 12,
  /** OpenBSD loopback: 4-byte address family in network order. */
  Loop: 108,
  /** Raw IP (IPv4 or IPv6), no link header. */
  Raw: 101,
  /** Linux "cooked" capture v1 (tcpdump -i any): 16-byte header. */
  LinuxSll: 113,
  /** Raw IPv4. */
  Ipv4: 228,
  /** Raw IPv6. */
  Ipv6: 229,
  /** Linux "cooked" capture v2: 20-byte header. */
  LinuxSll2: 276
} as const

export type LinkType = typeof LinkType[keyof typeof LinkType]

/**
 * The length of the link-layer header for link types with a fixed one, or
 * undefined when it is unknown or variable. TCPCOPY.md §7: offline replay
 * accepts only packets whose link header is at least 14 bytes (Ethernet,
 * SLL); callers use this to decide.
 */
export function linkHeaderLength (linkType: number): number | undefined {
  switch (linkType) {
    case LinkType.Null:
    case LinkType.Loop:
      return 4
    case LinkType.Ethernet: return 14
    case LinkType.DltRaw:
    case LinkType.Raw:
    case LinkType.Ipv4:
    case LinkType.Ipv6:
      return 0
    case LinkType.LinuxSll: return 16
    case LinkType.LinuxSll2: return 20
    default: return undefined
  }
}

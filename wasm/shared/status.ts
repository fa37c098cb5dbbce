// Status codes returned by every WASM export that can fail. Shared by the
// AssemblyScript core and the TypeScript loader: keep to `export enum`.
export enum Status {
  Ok = 0,
  /** The bytes end before a header that must be there. */
  Truncated = 1,
  /** The link type passed to the call is not one the core knows. */
  BadLinkType = 2,
  /** The link layer carries something other than IPv4 (or IPv6 later). */
  NotIp = 3,
  /** IPv4 version nibble is not 4 or IHL < 5. */
  BadIpHeader = 4,
  /** IPv4 total length is smaller than the headers it must hold. */
  BadTotalLength = 5,
  /** A fragment (MF set or offset != 0): never parsed further. */
  Fragment = 6,
  /** IP protocol is not TCP. */
  NotTcp = 7,
  /** TCP data offset < 5. */
  BadTcpHeader = 8,
  /**
   * A TCP option is malformed (a length < 2, past the header, or wrong for a
   * known kind). Not fatal: every field is filled, OptFlag.Malformed is set,
   * and the packet is routed like an Ok one. parsePacket answers it only
   * when asked (ParseFlag.TcpOptionStatus).
   */
  BadTcpOption = 9,
  /** An offset/length pair passed by the host lies outside its region. */
  BadRegion = 10,
  /** An argument out of range (bucket count 0, conn id too large, ...). */
  BadArgument = 11,
  /** The memory could not grow to hold the tables asked for. */
  NoMemory = 12,
  /** The key is not in the table. */
  NotFound = 13,
  /** The core was used before coreInit succeeded. */
  NotInitialised = 14,
  /** The output region is full; the rest of the output was dropped and counted. */
  OutputFull = 15,
  /** The AssemblyScript static data overlaps the fixed regions (build problem). */
  LayoutOverlap = 16,
  /** A table's cap refused the entry (e.g. the delay table's per-key cap); counted. */
  CapReached = 17,
}

// Enumerations shared by the AssemblyScript core and the TypeScript side.

/** Link-layer types, numbered as pcap's LINKTYPE_* values. */
export enum LinkType {
  /** Ethernet II, with any number (up to 4) of 802.1Q / 802.1ad tags. */
  Ethernet = 1,
  /** Raw IP: the frame starts with the IP header (NFQUEUE payloads, SOCK_DGRAM). */
  Raw = 101,
  /** Linux cooked capture v1 (16-byte header), what AF_PACKET "any" gives. */
  LinuxSll = 113,
  /** Linux cooked capture v2 (20-byte header). */
  LinuxSll2 = 276,
}

/** TCP flag bits, as in the TCP header. */
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

/** Bits of P_OPT_FLAGS: which TCP options the parser found. */
export enum OptFlag {
  Mss = 1,
  WScale = 2,
  SackOk = 4,
  Timestamp = 8,
  /** At least one option was malformed; the ones before it were read. */
  Malformed = 16,
}

/** Bits of parsePacket's `flags` argument. */
export enum ParseFlag {
  /**
   * Answer BadTcpOption (instead of Ok) for a packet whose only fault is a
   * malformed TCP option. Every field is filled either way.
   */
  TcpOptionStatus = 1,
}

/** Verdict bytes written per descriptor by the batch call. */
export enum Verdict {
  Drop = 0,
  Accept = 1,
}

/** What an OUT entry holds. */
export enum OutKind {
  /** A response record for the connection. */
  Record = 1,
}

/** Counter indices into the COUNTERS region (u64 each). */
export enum Counter {
  // router
  Routes = 0, //            gauge: entries in the router
  RouterAdds = 1,
  RouterHits = 2,
  RouterMisses = 3,
  RouterEvictions = 4, //   least recently used entries pushed out by the cap
  RouterExpiries = 5, //    entries idle longer than the timeout
  RouterDeletes = 6, //     explicit deletes and deletes of a closed connection
  // delay table
  DelayRecords = 8, //      gauge: records held
  DelayKeys = 9, //         gauge: keys held
  DelayStored = 10,
  DelayFlushed = 11,
  DelayExpired = 12, //     records dropped because their key expired
  DelayDroppedKeyCap = 13, // records refused: their key already held the per-key cap
  DelayEvicted = 14, //     records dropped to make room under the total cap
  // batch classification
  Captured = 16, //         every descriptor seen
  Passed = 17, //           accepted by the passlist
  Routed = 18, //           sent to a connection as a record
  Delayed = 19, //          stored in the delay table
  Unroutable = 20, //       no route and not SYN/RST: dropped
  Malformed = 21, //        failed to parse (truncated, bad header, bad region)
  NotTcp = 22,
  Fragments = 23,
  OutOverflow = 24, //      records lost because OUT was full
  BadTcpOptions = 25, //    responses with a malformed TCP option (routed or delayed all the same)
}

/** Record dialects: the options-area length E of PROTOCOL.md §3.1. */
export enum RecordDialect {
  /** tcpcopy 0.9 (hello 5 or 0x8005): 80-byte records. */
  V09 = 40,
  /** tcpcopy 1.x (hello 6): 64-byte records. */
  V1 = 24,
}

/** Bytes of response payload a payload-variant record carries at most. */
export const RECORD_PAYLOAD_MAX = 128

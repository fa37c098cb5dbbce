// PacketIo: the byte mover under intercept and tcpcopy. Implementations move
// whole datagrams between a socket (or a simulated one) and regions of a
// WebAssembly core's memory, in batches. They never parse or decide: what a
// datagram means is the WASM core's business (netlink messages included).

/** Which kind of socket a PacketIo stands for. */
export type PacketIoKind =
  /** NETLINK_NETFILTER socket bound to an NFQUEUE queue: receives netlink datagrams, sends verdict datagrams. */
  | 'nfqueue'
  /** AF_PACKET socket: receives link-layer frames (a BPF filter may run in the kernel), sends frames. */
  | 'packet'
  /** AF_INET raw socket with IP_HDRINCL: sends IPv4 packets (the destination comes from the descriptor). */
  | 'raw-ipv4'

/**
 * The regions of one core memory a PacketIo reads and writes. Offsets are
 * byte offsets into `memory.buffer` (from wasm/shared/layout.ts).
 */
export interface PacketIoRegions {
  memory: WebAssembly.Memory
  /** Receive: descriptors [offset u32, length u32] written here, one per datagram. */
  rxDescOff: number
  /** Receive: datagram bytes written from here ... */
  rxDataOff: number
  /** ... up to this many bytes. */
  rxDataSize: number
  /** Send: descriptors [offset u32, length u32, IPv4 dst u32, reserved u32]. */
  txDescOff: number
}

export interface PacketIoStats {
  /** Datagrams received. */
  received: number
  /** Datagrams sent. */
  sent: number
  /** Datagrams cut short because they were larger than a receive slot. */
  truncated: number
  /** Receive-buffer overruns reported by the kernel (ENOBUFS) or drops counted by the socket. */
  overruns: number
}

export interface PacketIo {
  readonly kind: PacketIoKind
  /**
   * Reads up to `max` pending datagrams without blocking. Datagram i is
   * placed in the receive data area, each at an 8-byte aligned offset, and
   * described at rxDescOff + 8i as [offset, length]; `length` is the bytes
   * stored (a datagram longer than the slot `snap` is cut to it and counted
   * as truncated). Returns how many datagrams were read (0: none pending).
   */
  receive (max: number): number
  /**
   * Sends the n datagrams described at txDescOff (+16 per descriptor) in one
   * batch. Returns how many the kernel took; throws IoError on a hard error.
   */
  send (n: number): number
  /** Calls `fn` whenever receive() has something to read (until close). */
  onReadable (fn: () => void): void
  stats (): PacketIoStats
  /** Closes the socket; idempotent. receive/send after close throw CanceledError. */
  close (): void
  readonly closed: boolean
}

/** What every PacketIo factory takes. */
export interface PacketIoOptions {
  regions: PacketIoRegions
  /** Largest datagram kept whole, in bytes (receive slot size). */
  snap: number
}

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
  /**
   * Receive: how many descriptors (8 bytes each) the area at rxDescOff holds;
   * receive() never writes more. Absent: the area ends at the next region
   * above rxDescOff (rxDataOff or txDescOff) or at the end of the memory.
   */
  rxDescCount?: number
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
  /** Datagrams stored shorter than they were on the wire (cut by the receive slot, or by a filter's return value in the kernel). */
  truncated: number
  /**
   * Receive-buffer overrun reports. nfqueue: one per ENOBUFS the socket
   * reported, however many datagrams it lost (the queue's user_dropped in
   * /proc/net/netfilter/nfnetlink_queue has the count). packet: one per
   * packet the kernel dropped (it reports them only as a count), = drops.
   */
  overruns: number
  /**
   * Packets the kernel dropped because this socket's receive buffer was full,
   * where it counts them per socket (packet sockets: PACKET_STATISTICS); 0 for
   * nfqueue and raw-ipv4. Absent from implementations that do not count it.
   */
  drops?: number
}

export interface PacketIo {
  readonly kind: PacketIoKind
  /**
   * Reads up to `max` pending datagrams without blocking, and never more than
   * the receive descriptor area holds (PacketIoRegions.rxDescCount) or the
   * data area has slots for. Datagram i is placed in the receive data area,
   * each at an 8-byte aligned offset, and described at rxDescOff + 8i as
   * [offset, length]; `length` is the bytes stored (a datagram longer than
   * the slot `snap` is cut to it and counted as truncated). Returns how many
   * datagrams were read (0: none pending); the rest stay pending, in order.
   */
  receive (max: number): number
  /**
   * Sends the n datagrams described at txDescOff (+16 per descriptor) in one
   * batch, in order, and returns k, 0 ≤ k ≤ n: datagrams 0..k-1 went to the
   * kernel, k..n-1 did not. k < n means either a full socket buffer
   * (EAGAIN/ENOBUFS: send the rest later) or a hard error on datagram k
   * (EMSGSIZE, ENETUNREACH, a firewall's EPERM, ...) that this call does not
   * report: the next call, which starts with datagram k once the caller has
   * written the remaining descriptors from txDescOff again, meets it and
   * throws it. send throws IoError (errno, syscall) only when it sent
   * nothing, so a throw always names datagram 0 of that call: to go on
   * without it, drop that descriptor and send the rest. send(0) returns 0.
   */
  send (n: number): number
  /**
   * Sets the readiness callback; a later call replaces it (there is one).
   * `fn` runs asynchronously (never inside onReadable, receive or send)
   * while datagrams are pending: level-triggered, so a callback that leaves
   * datagrams unread is called again on a later turn of the event loop, and
   * one that reads them all is not called until more arrive. No call after
   * close(); onReadable after close throws CanceledError. A kind that never
   * receives (raw-ipv4) takes fn and never calls it.
   */
  onReadable (fn: () => void): void
  stats (): PacketIoStats
  /** Closes the socket; idempotent. receive/send/onReadable after close throw CanceledError. */
  close (): void
  readonly closed: boolean
}

/** What every PacketIo factory takes. */
export interface PacketIoOptions {
  regions: PacketIoRegions
  /** Largest datagram kept whole, in bytes (receive slot size). */
  snap: number
}

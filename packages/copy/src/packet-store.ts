// Storage of the captured packets a session keeps (its send and
// retransmission queue, TCPCOPY.md §5.2). Packets live in fixed-size slots
// carved from large slabs, in size classes; a slot and its metadata object
// are recycled together, so a steady state allocates nothing per packet.
//
// The bytes are the captured IPv4 packet (IP header onwards) as captured;
// every rewrite happens on the copy placed in the core's TX region at send
// time (see tx.ts). The metadata is authoritative for the fields the engine
// changes (seq, IP ID, flags, total length).

/** Smallest slot; classes double up to 65536 (the largest IPv4 packet). */
const MIN_CLASS_SHIFT = 7
const MAX_CLASS_SHIFT = 16
/** Bytes of one slab; classes larger than this get one slot per slab. */
const SLAB_BYTES = 256 * 1024

export class BufferedPacket {
  /** The slot's bytes (the whole slot; the packet is the first `len`). */
  readonly view: Uint8Array
  /** Bytes stored. */
  len = 0
  /** IP header length in bytes. */
  ihl = 20
  /** TCP header length in bytes. */
  doff = 20
  /** Sequence number of the first payload byte (or of the SYN/FIN). */
  seq = 0
  /** The captured acknowledgement number (never the rewritten one). */
  ack = 0
  /** TCP flags byte as it will be sent (FIN only on the last segment of a split). */
  flags = 0
  /** Payload bytes stored after the headers. */
  payload = 0
  /** Leading payload bytes already sent in an earlier packet (partial overlap, §5.2). */
  skip = 0
  ipId = 0
  window = 0
  /** Offset of the TCP timestamp option from the packet start, -1 when absent. */
  tsOff = -1
  tsVal = 0
  /** Capture time (ms). */
  time = 0

  constructor (view: Uint8Array, readonly sizeClass: number) {
    this.view = view
  }

  /** Payload bytes still to be sent with this packet. */
  get sendLength (): number { return this.payload - this.skip }

  /** Sequence space this packet covers: payload, plus one for SYN or FIN. */
  get seqLength (): number { return this.payload + ((this.flags & 3) !== 0 ? 1 : 0) }
}

export interface PacketStoreStats {
  /** Packets held. */
  packets: number
  /** Bytes of the packets held. */
  bytes: number
  /** Bytes of all slabs allocated (the pool only grows to its peak). */
  reserved: number
}

export class PacketStore {
  readonly #free: BufferedPacket[][] = []
  #packets = 0
  #bytes = 0
  #reserved = 0

  constructor () {
    for (let c = MIN_CLASS_SHIFT; c <= MAX_CLASS_SHIFT; c++) this.#free.push([])
  }

  /** A slot for a packet of `len` bytes (1..65536); reset metadata. */
  alloc (len: number): BufferedPacket {
    let shift = MIN_CLASS_SHIFT
    while ((1 << shift) < len) shift++
    if (shift > MAX_CLASS_SHIFT) throw new RangeError(`a stored packet is at most 65536 bytes, got ${len}`)
    const cls = shift - MIN_CLASS_SHIFT
    const list = this.#free[cls]!
    if (list.length === 0) this.#grow(cls, shift, list)
    const p = list.pop()!
    p.len = len
    p.skip = 0
    p.tsOff = -1
    this.#packets++
    this.#bytes += len
    return p
  }

  release (p: BufferedPacket): void {
    this.#packets--
    this.#bytes -= p.len
    p.len = 0
    this.#free[p.sizeClass]!.push(p)
  }

  stats (): PacketStoreStats {
    return { packets: this.#packets, bytes: this.#bytes, reserved: this.#reserved }
  }

  #grow (cls: number, shift: number, list: BufferedPacket[]): void {
    const size = 1 << shift
    const slots = Math.max(1, Math.floor(SLAB_BYTES / size))
    const slab = new Uint8Array(size * slots)
    this.#reserved += slab.length
    for (let i = slots - 1; i >= 0; i--) list.push(new BufferedPacket(slab.subarray(i * size, (i + 1) * size), cls))
  }
}

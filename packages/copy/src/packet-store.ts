// Storage of the captured packets a session keeps (its send and
// retransmission queue, TCPCOPY.md §5.2). Packets live in fixed-size slots
// carved from large slabs, in size classes; a slot and its metadata object
// are recycled together, so a steady state allocates nothing per packet.
// A slab whose slots are all free again is handed back (beyond a small
// reserve of empty slabs kept to absorb the next burst), so the memory held
// follows the packets buffered instead of staying at the peak.
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
/** Bytes of empty slabs kept for reuse (hysteresis) before further empty ones are released. */
export const DEFAULT_KEEP_EMPTY_BYTES = 4 * 1024 * 1024

/** One allocation carved into slots of one class. */
export class Slab {
  readonly free: BufferedPacket[] = []
  used = 0
  /** Position in its class's list of slabs with free slots, -1 when full. */
  pos = -1
  constructor (readonly bytes: number, readonly slots: number) {}
}

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

  constructor (view: Uint8Array, readonly sizeClass: number, readonly slab: Slab) {
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
  /** Bytes of the slabs held (slots in use, free slots, and the reserve of empty slabs). */
  reserved: number
  /** Of those, bytes of slabs with no packet in them (kept for reuse). */
  emptyReserved: number
  /** Slabs handed back since the start. */
  slabsReleased: number
}

export interface PacketStoreOptions {
  /** Bytes of empty slabs kept for reuse; more are released. Default DEFAULT_KEEP_EMPTY_BYTES. */
  keepEmptyBytes?: number
}

export class PacketStore {
  /** Per class: the slabs that have a free slot. */
  readonly #open: Slab[][] = []
  readonly #keepEmpty: number
  #packets = 0
  #bytes = 0
  #reserved = 0
  #empty = 0
  #released = 0

  constructor (options: PacketStoreOptions = {}) {
    this.#keepEmpty = options.keepEmptyBytes ?? DEFAULT_KEEP_EMPTY_BYTES
    for (let c = MIN_CLASS_SHIFT; c <= MAX_CLASS_SHIFT; c++) this.#open.push([])
  }

  /** A slot for a packet of `len` bytes (1..65536); reset metadata. */
  alloc (len: number): BufferedPacket {
    let shift = MIN_CLASS_SHIFT
    while ((1 << shift) < len) shift++
    if (shift > MAX_CLASS_SHIFT) throw new RangeError(`a stored packet is at most 65536 bytes, got ${len}`)
    const cls = shift - MIN_CLASS_SHIFT
    const open = this.#open[cls]!
    const slab = open.length > 0 ? open[open.length - 1]! : this.#grow(cls, shift, open)
    const p = slab.free.pop()!
    if (slab.used++ === 0) this.#empty -= slab.bytes
    if (slab.free.length === 0) this.#unlist(open, slab)
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
    const slab = p.slab
    const open = this.#open[p.sizeClass]!
    slab.free.push(p)
    if (slab.pos < 0) {
      slab.pos = open.length
      open.push(slab)
    }
    if (--slab.used === 0) {
      this.#empty += slab.bytes
      if (this.#empty > this.#keepEmpty) {
        // Beyond the reserve: hand this slab back (its slots go with it).
        this.#unlist(open, slab)
        this.#empty -= slab.bytes
        this.#reserved -= slab.bytes
        this.#released++
      }
    }
  }

  stats (): PacketStoreStats {
    return { packets: this.#packets, bytes: this.#bytes, reserved: this.#reserved, emptyReserved: this.#empty, slabsReleased: this.#released }
  }

  #unlist (open: Slab[], slab: Slab): void {
    const last = open.pop()!
    if (last !== slab) {
      open[slab.pos] = last
      last.pos = slab.pos
    }
    slab.pos = -1
  }

  #grow (cls: number, shift: number, open: Slab[]): Slab {
    const size = 1 << shift
    const slots = Math.max(1, Math.floor(SLAB_BYTES / size))
    const bytes = new Uint8Array(size * slots)
    const slab = new Slab(bytes.length, slots)
    for (let i = slots - 1; i >= 0; i--) slab.free.push(new BufferedPacket(bytes.subarray(i * size, (i + 1) * size), cls, slab))
    this.#reserved += slab.bytes
    this.#empty += slab.bytes
    slab.pos = open.length
    open.push(slab)
    return slab
  }
}

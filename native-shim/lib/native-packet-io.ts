// PacketIo over the native shim: the three socket kinds behind one class.
// receive() and send() allocate nothing per datagram: the addon reads and
// writes memory.buffer in place and returns a count.
import { readFileSync } from 'node:fs'
import { CanceledError, ConfigError, IoError } from '@tcpcopy/interface'
import type { PacketIo, PacketIoKind, PacketIoOptions, PacketIoRegions, PacketIoStats } from '@tcpcopy/interface'
import { loadNative, type NativeRingOptions, type NativeSocket, type NativeSocketClass, type NativeSocketOptions } from './native.js'
import { toIoError, IoErrorCode, type IoErrorContext } from './errors.js'

/** pcap LINKTYPE_* numbers (the same values as LinkType in wasm/shared/enums.ts). */
export const LINKTYPE_ETHERNET = 1
export const LINKTYPE_RAW = 101

/** Default receive buffer of nfqueue and packet sockets: 16 MiB (intercept's value). */
export const DEFAULT_RCVBUF = 16 * 1024 * 1024
/** Default receive ring (`ring: true`): 64 blocks of 256 KiB (16 MiB), frameSize 2048, blocks handed over after at most 10 ms. */
export const DEFAULT_RING: Readonly<Required<NativeRingOptions>> = Object.freeze({ blockSize: 256 * 1024, blockCount: 64, frameSize: 2048, retireMs: 10 })

/** The ring geometry of a `ring` option (true: DEFAULT_RING; fields absent from an object: DEFAULT_RING's); undefined for no ring. */
export function ringOptions (ring: boolean | Partial<NativeRingOptions> | undefined): NativeRingOptions | undefined {
  if (ring === undefined || ring === false) return undefined
  const bad = (what: string): never => { throw new ConfigError(`packet I/O option ring ${what}`, 'TC_ERR_CONFIG_PACKET_IO') }
  if (ring === true) return { ...DEFAULT_RING }
  if (typeof ring !== 'object' || ring === null) return bad(`must be true or { blockSize, blockCount, frameSize }, got ${String(ring)}`)
  const out = { ...DEFAULT_RING, ...ring }
  for (const key of ['blockSize', 'blockCount', 'frameSize', 'retireMs'] as const) {
    const v = out[key]
    if (!Number.isInteger(v) || v < (key === 'retireMs' ? 0 : 1) || v > 0x7fffffff) bad(`${key} must be a positive integer, got ${String(v)}`)
  }
  if (out.blockSize % 4096 !== 0) bad(`blockSize must be a multiple of 4096 (the page size), got ${out.blockSize}`)
  if (out.frameSize % 16 !== 0 || out.frameSize > out.blockSize) bad(`frameSize must be a multiple of 16 and at most blockSize, got ${out.frameSize}`)
  if (out.blockSize * out.blockCount > 2 ** 31) bad(`blockSize × blockCount must be at most 2 GiB, got ${out.blockSize * out.blockCount}`)
  return out
}

/** Largest receive slot (snap) accepted. */
export const MAX_SNAP = 256 * 1024

const ARPHRD_ETHER = 1
const ARPHRD_RAWIP = 519
const ARPHRD_TUNNEL = 768
const ARPHRD_TUNNEL6 = 769
const ARPHRD_LOOPBACK = 772
const ARPHRD_SIT = 776
const ARPHRD_NONE = 0xfffe

/**
 * The pcap link type of what a packet socket receives, from the ARPHRD type
 * of its interface; undefined when unsupported. Loopback frames carry an
 * Ethernet-like 14-byte header (zero MACs), so they are Ethernet.
 */
export function linkTypeOfArphrd (arphrd: number): number | undefined {
  switch (arphrd) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK:
      return LINKTYPE_ETHERNET
    case ARPHRD_NONE:
    case ARPHRD_RAWIP:
    case ARPHRD_TUNNEL:
    case ARPHRD_TUNNEL6:
    case ARPHRD_SIT:
      return LINKTYPE_RAW
    default:
      return undefined
  }
}

/**
 * The pcap link type of the interface `name`, from its ARPHRD type in
 * /sys/class/net/NAME/type (what a packet socket on it reports); undefined
 * when that cannot be read or the type is not supported. Lets a capture
 * compile its filter for the right link type before the socket opens.
 */
export function linkTypeOfInterface (name: string, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  if (typeof name !== 'string' || name === '' || name.includes('/') || name === '.' || name === '..') return undefined
  let text: string
  try { text = readFile(`/sys/class/net/${name}/type`) } catch { return undefined }
  const arphrd = Number(text.trim())
  return Number.isInteger(arphrd) ? linkTypeOfArphrd(arphrd) : undefined
}

/** The regions a PacketIo takes, with the size of the receive descriptor area. */
export interface PacketIoRegionsWithCapacity extends PacketIoRegions {
  /**
   * Descriptors the area at rxDescOff holds (8 bytes each): receive() never
   * writes more. Absent: the bytes from rxDescOff to the next region above it
   * (rxDataOff or txDescOff) or to the end of the memory, divided by 8.
   */
  rxDescCount?: number
}

/** How many receive descriptors `r` has room for (see PacketIoRegionsWithCapacity.rxDescCount). */
export function rxDescCapacity (r: PacketIoRegionsWithCapacity): number {
  if (r.rxDescCount !== undefined) return r.rxDescCount
  let end = r.memory.buffer.byteLength
  for (const start of [r.rxDataOff, r.txDescOff]) if (start > r.rxDescOff && start < end) end = start
  return Math.floor((end - r.rxDescOff) / 8)
}

/** What every factory here takes: PacketIoOptions whose regions may give the descriptor capacity. */
export interface NativePacketIoOptions extends PacketIoOptions {
  regions: PacketIoRegionsWithCapacity
}

function checkOptions (opts: NativePacketIoOptions): void {
  const r: PacketIoRegionsWithCapacity | undefined = opts?.regions
  const bad = (what: string): never => {
    throw new ConfigError(`packet I/O option ${what}`, 'TC_ERR_CONFIG_PACKET_IO')
  }
  if (r === undefined || !(r.memory instanceof WebAssembly.Memory)) bad('regions.memory must be a WebAssembly.Memory')
  if (!(r.memory.buffer instanceof ArrayBuffer)) bad('regions.memory must not be shared (its SharedArrayBuffer cannot be written by the shim)')
  const size = r.memory.buffer.byteLength
  for (const key of ['rxDescOff', 'rxDataOff', 'rxDataSize', 'txDescOff'] as const) {
    const v = r[key]
    if (!Number.isInteger(v) || v < 0 || v > size) bad(`regions.${key} must be an integer 0..${size} (the memory size), got ${String(v)}`)
  }
  if (r.rxDataOff % 8 !== 0) bad(`regions.rxDataOff must be 8-byte aligned, got ${r.rxDataOff}`)
  if (r.rxDataOff + r.rxDataSize > size) bad(`the receive data region [${r.rxDataOff}, +${r.rxDataSize}) ends past the memory (${size} bytes)`)
  if (r.rxDescCount !== undefined) {
    if (!Number.isInteger(r.rxDescCount) || r.rxDescCount < 1) bad(`regions.rxDescCount must be a positive integer, got ${String(r.rxDescCount)}`)
    const end = r.rxDescOff + 8 * r.rxDescCount
    if (end > size) bad(`the receive descriptor area [${r.rxDescOff}, +${8 * r.rxDescCount}) ends past the memory (${size} bytes)`)
    if (r.rxDescOff < r.rxDataOff + r.rxDataSize && r.rxDataOff < end) bad(`the receive descriptor area [${r.rxDescOff}, +${8 * r.rxDescCount}) overlaps the receive data region`)
  }
  if (rxDescCapacity(r) < 1) bad(`regions.rxDescOff leaves no room for a receive descriptor (${r.rxDescOff})`)
  if (!Number.isInteger(opts.snap) || opts.snap < 1 || opts.snap > MAX_SNAP) bad(`snap must be an integer 1..${MAX_SNAP}, got ${String(opts.snap)}`)
  if (opts.snap > r.rxDataSize) bad(`snap (${opts.snap}) must fit in the receive data region (${r.rxDataSize} bytes)`)
}

/** PacketIoStats with the packet drops the kernel counted for the socket. */
export interface NativePacketIoStats extends PacketIoStats {
  /**
   * Packets the kernel dropped because this socket's receive buffer was full
   * (packet sockets: PACKET_STATISTICS). 0 for nfqueue, whose losses show as
   * `overruns` (ENOBUFS reports) and in the queue's user_dropped counter
   * (/proc/net/netfilter/nfnetlink_queue), and for raw-ipv4.
   */
  drops: number
}

/**
 * One native socket as a PacketIo. The factories below are the public way
 * to make one; `Native` is injectable so tests can pass a fake.
 */
export class NativePacketIo implements PacketIo {
  readonly kind: PacketIoKind
  protected readonly native: NativeSocket
  readonly #regions: PacketIoRegions
  readonly #snap: number
  readonly #descCount: number
  readonly #ctx: IoErrorContext
  #closed = false
  #last: NativePacketIoStats = { received: 0, sent: 0, truncated: 0, overruns: 0, drops: 0 }

  constructor (kind: PacketIoKind, opts: NativePacketIoOptions, nativeOpts: NativeSocketOptions, Native: NativeSocketClass = loadNative()) {
    checkOptions(opts)
    this.kind = kind
    this.#regions = opts.regions
    this.#snap = opts.snap
    this.#descCount = rxDescCapacity(opts.regions)
    this.#ctx = { kind, interface: nativeOpts.interface }
    try {
      this.native = new Native(kind, nativeOpts)
    } catch (err) {
      throw toIoError(err, { ...this.#ctx, op: 'open' })
    }
  }

  get closed (): boolean { return this.#closed }

  /** The socket's file descriptor (-1 once closed); for tests and diagnostics. */
  get fd (): number { return this.#closed ? -1 : this.native.fd }

  /**
   * The receive buffer the kernel granted, in bytes as getsockopt reports it
   * (twice the usable size); compare with the requested rcvbuf to see a cap
   * by net.core.rmem_max. 0 once closed.
   */
  get rcvbuf (): number { return this.#closed ? 0 : this.native.rcvbuf }

  /** Reads up to min(max, the descriptor capacity of the regions) datagrams. */
  receive (max: number): number {
    if (this.#closed) throw new CanceledError(`${this.kind} I/O is closed`)
    if (this.kind === 'raw-ipv4') return 0 // an IPPROTO_RAW socket never receives
    const r = this.#regions
    const n = max > this.#descCount ? this.#descCount : max
    try {
      return this.native.recvBatch(r.memory.buffer, r.rxDescOff, r.rxDataOff, r.rxDataSize, this.#snap, n, this.#descCount)
    } catch (err) {
      throw toIoError(err, { ...this.#ctx, op: 'receive' })
    }
  }

  send (n: number): number {
    if (this.#closed) throw new CanceledError(`${this.kind} I/O is closed`)
    if (n === 0) return 0
    const r = this.#regions
    try {
      return this.native.sendBatch(r.memory.buffer, r.txDescOff, n)
    } catch (err) {
      throw toIoError(err, { ...this.#ctx, op: 'send' })
    }
  }

  /**
   * Sets the one readiness callback (a later call replaces it): called on a
   * later turn of the event loop while datagrams are pending (level-triggered,
   * so again if it leaves some unread), never after close.
   */
  onReadable (fn: () => void): void {
    if (this.#closed) throw new CanceledError(`${this.kind} I/O is closed`)
    if (typeof fn !== 'function') throw new ConfigError(`${this.kind} I/O: onReadable needs a function, got ${typeof fn}`, 'TC_ERR_CONFIG_PACKET_IO')
    if (this.kind === 'raw-ipv4') return // an IPPROTO_RAW socket never has anything to read
    try {
      this.native.startPoll(fn)
    } catch (err) {
      throw toIoError(err, { ...this.#ctx, op: 'poll' })
    }
  }

  stats (): NativePacketIoStats {
    if (this.#closed) return { ...this.#last }
    const s = this.native.stats()
    return { received: s.received, sent: s.sent, truncated: s.truncated, overruns: s.overruns, drops: s.drops ?? 0 }
  }

  close (): void {
    if (this.#closed) return
    this.#last = this.stats()
    this.#closed = true
    this.native.close()
  }
}

export interface NfqueueIoOptions extends NativePacketIoOptions {
  /** Netlink receive buffer in bytes; default 16 MiB (SO_RCVBUFFORCE, else capped by net.core.rmem_max). */
  rcvbuf?: number
}

/** A NETLINK_NETFILTER socket. The queue is bound by a config datagram sent with send() (built by the core). */
export class NfqueueIo extends NativePacketIo {
  constructor (opts: NfqueueIoOptions, Native: NativeSocketClass = loadNative()) {
    super('nfqueue', opts, { rcvbuf: opts.rcvbuf ?? DEFAULT_RCVBUF }, Native)
  }

  /** The netlink port id the kernel assigned (the "peer portid" in /proc/net/netfilter/nfnetlink_queue). */
  get portId (): number { return this.native.portId }
}

export interface PacketSocketIoOptions extends NativePacketIoOptions {
  /**
   * Interface to capture on: frames then start with its link-layer header
   * (linkType 1 for Ethernet and loopback). Absent: all interfaces, as IP
   * packets without a link-layer header (linkType 101); such a socket cannot send.
   */
  interface?: string
  /** Classic BPF program (8-byte sock_filter entries), attached before the socket sees any packet. */
  filter?: Uint8Array
  /** Do not receive the packets this host sends (PACKET_IGNORE_OUTGOING). */
  ignoreOutgoing?: boolean
  /** Receive buffer in bytes; default 16 MiB. */
  rcvbuf?: number
  /**
   * Receive through an mmap'ed TPACKET_V3 ring (PACKET_RX_RING) instead of
   * recvmmsg: true for DEFAULT_RING (64 × 256 KiB), or its geometry. receive()
   * copies the frames into the same slots and descriptors either way.
   * Absent/false: recvmmsg.
   */
  ring?: boolean | Partial<NativeRingOptions>
}

/** An AF_PACKET socket. */
export class PacketSocketIo extends NativePacketIo {
  /** pcap link type of the received frames: 1 (Ethernet) or 101 (raw IP). */
  readonly linkType: number

  constructor (opts: PacketSocketIoOptions, Native: NativeSocketClass = loadNative()) {
    const filter = opts.filter
    if (filter !== undefined && (!(filter instanceof Uint8Array) || filter.length === 0 || filter.length % 8 !== 0 || filter.length > 4096 * 8)) {
      throw new ConfigError(`the BPF filter must be 1..4096 8-byte instructions, got ${filter instanceof Uint8Array ? `${filter.length} bytes` : typeof filter}`, 'TC_ERR_CONFIG_FILTER')
    }
    if (opts.interface !== undefined && (typeof opts.interface !== 'string' || opts.interface === '')) {
      throw new ConfigError(`the capture interface must be a non-empty name, got ${JSON.stringify(opts.interface)}`, 'TC_ERR_CONFIG_PACKET_IO')
    }
    const ring = ringOptions(opts.ring)
    const nativeOpts: NativeSocketOptions = { rcvbuf: opts.rcvbuf ?? DEFAULT_RCVBUF }
    if (ring !== undefined) nativeOpts.ring = ring
    if (opts.interface !== undefined) nativeOpts.interface = opts.interface
    // A copy on a plain ArrayBuffer: the caller's array may sit on a SharedArrayBuffer or change later.
    if (filter !== undefined) nativeOpts.filter = new Uint8Array(filter)
    if (opts.ignoreOutgoing === true) nativeOpts.ignoreOutgoing = true
    super('packet', opts, nativeOpts, Native)
    const lt = this.native.cooked ? LINKTYPE_RAW : linkTypeOfArphrd(this.native.arphrd)
    if (lt === undefined) {
      const arphrd = this.native.arphrd
      this.close()
      throw new IoError(`packet socket on ${String(opts.interface)}: link type ARPHRD ${arphrd} is not supported — capture on an Ethernet, loopback or tunnel interface, or on all interfaces`,
        IoErrorCode.LinkType, 0, 'ioctl')
    }
    this.linkType = lt
  }

  /** The bound interface index (0 = all interfaces). */
  get ifindex (): number { return this.native.ifindex }

  /** Bytes of the mmap'ed receive ring; 0 when receiving with recvmmsg (or once closed). */
  get ringSize (): number { return this.closed ? 0 : (this.native.ringSize ?? 0) }
}

export interface RawIpv4IoOptions extends NativePacketIoOptions {
  /** Send buffer in bytes; absent: kernel default. */
  sndbuf?: number
}

/** An AF_INET raw socket with IP_HDRINCL; receive() always returns 0. */
export class RawIpv4Io extends NativePacketIo {
  constructor (opts: RawIpv4IoOptions, Native: NativeSocketClass = loadNative()) {
    super('raw-ipv4', opts, opts.sndbuf !== undefined ? { sndbuf: opts.sndbuf } : {}, Native)
  }
}

/** NFQUEUE I/O: receive netlink datagrams, send config and verdict datagrams. */
export function createNfqueueIo (opts: NfqueueIoOptions, Native: NativeSocketClass = loadNative()): NfqueueIo {
  return new NfqueueIo(opts, Native)
}

/** AF_PACKET capture (and send on a named interface). */
export function createPacketIo (opts: PacketSocketIoOptions, Native: NativeSocketClass = loadNative()): PacketSocketIo {
  return new PacketSocketIo(opts, Native)
}

/** Raw IPv4 send; the destination of each packet comes from its descriptor. */
export function createRawIpv4Io (opts: RawIpv4IoOptions, Native: NativeSocketClass = loadNative()): RawIpv4Io {
  return new RawIpv4Io(opts, Native)
}

// Typed bindings over the raw WASM exports. Every non-Ok status becomes a
// CoreError here, and nowhere else.
import * as L from '@tcpcopy/wasm'
import { Status, Counter, LinkType, RecordDialect, Verdict, ParseFlag, OptFlag } from '@tcpcopy/wasm'
import { ConfigError } from '@tcpcopy/interface'
import { instantiateCoreSync, instantiateCore, seedWords, type LoadOptions, type RawCore } from './loader.js'
import { toCoreError } from './errors.js'

/** An IPv4 address as a host-order u32, or a 16-byte address (IPv6, or IPv4-mapped). */
export type Address = number | Uint8Array

export interface RouteKey {
  clientIp: Address
  clientPort: number
  targetIp: Address
  targetPort: number
}

/** Router buckets for a hash size (intercept -s n): 2n, as the 0.6 intercept's router had. */
export function routerBuckets (hashSize: number): number {
  return 2 * hashSize
}

export interface CoreOptions extends LoadOptions {
  /**
   * Buckets of the delay table (intercept -s); the router gets twice as
   * many, as the 0.6 intercept's did (INTERCEPT.md §2). Default 65536.
   */
  hashSize?: number
  /** Router entry cap; the least recently used entry is evicted beyond it. Default 1048576. */
  maxRoutes?: number
  /** Router idle timeout in seconds (intercept -t); 0 = never. Default 120. */
  routeTimeoutSec?: number
  /** Ignore the target IP in route keys (the target sits behind DNAT). */
  dnat?: boolean
  /** Delayed SYN/RST records kept per key. Default 16. */
  delayPerKey?: number
  /** Delayed records kept in all. Default 65536. */
  delayTotal?: number
  /** Seconds a delay-table key lives. Default 30. */
  delayExpireSec?: number
}

export type Dialect = '0.9' | '1.x'

export interface ParsedPacket {
  status: Status
  family: number
  linkLen: number
  vlan: number
  l3Offset: number
  ihl: number
  totalLength: number
  capturedLength: number
  ipId: number
  fragment: number
  ttl: number
  protocol: number
  tos: number
  srcIp: Address
  dstIp: Address
  l4Offset: number
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  doff: number
  flags: number
  window: number
  payloadOffset: number
  payloadLength: number
  optionFlags: number
  mss: number
  wscale: number
  tsVal: number
  tsEcr: number
}

export type CounterName = keyof typeof Counter
export type Counters = Record<CounterName, number>

const COUNTER_NAMES = Object.keys(Counter).filter(k => Number.isNaN(Number(k))) as CounterName[]

export class Core {
  readonly raw: RawCore
  readonly options: Required<Omit<CoreOptions, keyof LoadOptions>>
  #u8: Uint8Array
  #dv: DataView

  constructor (raw: RawCore, options: CoreOptions = {}) {
    this.raw = raw
    this.options = {
      hashSize: options.hashSize ?? 65536,
      maxRoutes: options.maxRoutes ?? 1048576,
      routeTimeoutSec: options.routeTimeoutSec ?? 120,
      dnat: options.dnat ?? false,
      delayPerKey: options.delayPerKey ?? 16,
      delayTotal: options.delayTotal ?? 65536,
      delayExpireSec: options.delayExpireSec ?? 30
    }
    const o = this.options
    for (const [name, value, min, max] of [
      ['hashSize', o.hashSize, 1, 0x1000000], ['maxRoutes', o.maxRoutes, 1, 0x1000000],
      ['routeTimeoutSec', o.routeTimeoutSec, 0, 4294967], ['delayPerKey', o.delayPerKey, 1, 0x10000],
      ['delayTotal', o.delayTotal, 1, 0x1000000], ['delayExpireSec', o.delayExpireSec, 1, 4294967]
    ] as const) {
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new ConfigError(`core option ${name} must be an integer ${min}..${max}, got ${String(value)}`, 'TC_ERR_CONFIG_CORE')
      }
    }
    const [seedLo, seedHi] = seedWords(raw.hashSeed)
    const st = raw.exports.coreInit(routerBuckets(o.hashSize), o.maxRoutes, o.routeTimeoutSec * 1000, o.dnat ? 1 : 0,
      o.hashSize, o.delayPerKey, o.delayTotal, o.delayExpireSec * 1000, seedLo, seedHi)
    if (st !== Status.Ok) throw toCoreError(st, 'coreInit')
    // The memory grew in coreInit and never grows again: the views stay valid.
    this.#u8 = new Uint8Array(raw.memory.buffer)
    this.#dv = new DataView(raw.memory.buffer)
  }

  /** The whole core memory as bytes (valid for the core's lifetime). */
  get bytes (): Uint8Array { return this.#u8 }
  get view (): DataView { return this.#dv }
  get exports (): RawCore['exports'] { return this.raw.exports }

  // ---- keys ------------------------------------------------------------------

  /** Writes a key in the 40-byte form at `off` (KEY_OFF by default). */
  writeKey (key: RouteKey, off: number = L.KEY_OFF): void {
    this.#writeAddress(off + L.KEY_CLIENT_ADDR, key.clientIp)
    this.#writeAddress(off + L.KEY_TARGET_ADDR, key.targetIp)
    this.#dv.setUint16(off + L.KEY_CLIENT_PORT, key.clientPort, true)
    this.#dv.setUint16(off + L.KEY_TARGET_PORT, key.targetPort, true)
    this.#dv.setUint32(off + L.KEY_FAMILY, typeof key.clientIp === 'number' ? 4 : 6, true)
  }

  #writeAddress (off: number, addr: Address): void {
    if (typeof addr === 'number') {
      this.#u8.fill(0, off, off + 10)
      this.#u8[off + 10] = 0xff
      this.#u8[off + 11] = 0xff
      this.#dv.setUint32(off + 12, addr >>> 0, false)
    } else {
      if (addr.length !== 16) throw new ConfigError(`an address must be an IPv4 number or 16 bytes, got ${addr.length} bytes`, 'TC_ERR_CONFIG_ADDRESS')
      this.#u8.set(addr, off)
    }
  }

  #readAddress (off: number): Address {
    const u8 = this.#u8
    let mapped = u8[off + 10] === 0xff && u8[off + 11] === 0xff
    for (let i = 0; mapped && i < 10; i++) if (u8[off + i] !== 0) mapped = false
    return mapped ? this.#dv.getUint32(off + 12, false) : u8.slice(off, off + 16)
  }

  // ---- router ----------------------------------------------------------------

  /** Adds or refreshes the route key → conn (no delay-table flush; see clientAdd). */
  routerAdd (key: RouteKey, conn: number, now: number): void {
    this.writeKey(key)
    const st = this.raw.exports.routerAdd(conn, now >>> 0)
    if (st !== Status.Ok) throw toCoreError(st, 'routerAdd')
  }

  /** The connection of `key`, refreshing it, or -1. */
  routerLookup (key: RouteKey, now: number): number {
    this.writeKey(key)
    return this.raw.exports.routerLookup(now >>> 0)
  }

  /** Removes the route of `key`; false when there was none. */
  routerDelete (key: RouteKey): boolean {
    this.writeKey(key)
    const st = this.raw.exports.routerDelete()
    if (st === Status.NotFound) return false
    if (st !== Status.Ok) throw toCoreError(st, 'routerDelete')
    return true
  }

  /** Removes every route of a closed connection; returns how many. */
  routerDeleteConn (conn: number): number { return this.raw.exports.routerDeleteConn(conn) }

  /**
   * Looks up n 40-byte keys already placed at keysOff and writes n i32
   * connection ids (-1 for a miss) at outOff, as n routerLookup calls would.
   * The output may overwrite the keys in place; a region outside the memory,
   * over the static data or the tables is a CoreError (TC_ERR_CORE_BAD_REGION).
   */
  routerLookupBatchAt (keysOff: number, n: number, outOff: number, now: number): void {
    const st = this.raw.exports.routerLookupBatch(keysOff, n, outOff, now >>> 0)
    if (st !== Status.Ok) throw toCoreError(st, 'routerLookupBatch')
  }

  /** The connection of each key (or -1), looked up in one call with the keys placed in FRAMES. */
  routerLookupMany (keys: RouteKey[], now: number): Int32Array {
    const max = Math.floor(L.FRAMES_SIZE / L.KEY_SIZE)
    if (keys.length > max) throw new ConfigError(`one lookup batch holds at most ${max} keys, got ${keys.length}`, 'TC_ERR_CONFIG_BATCH')
    keys.forEach((k, i) => this.writeKey(k, L.FRAMES_OFF + i * L.KEY_SIZE))
    this.routerLookupBatchAt(L.FRAMES_OFF, keys.length, L.FRAMES_OFF, now)
    return new Int32Array(this.raw.memory.buffer.slice(L.FRAMES_OFF, L.FRAMES_OFF + keys.length * 4))
  }

  /** Removes routes idle longer than the timeout; returns how many. */
  routerExpire (now: number): number { return this.raw.exports.routerExpire(now >>> 0) }

  /** Drops delay-table keys past their life; returns how many records went. */
  delayExpire (now: number): number { return this.raw.exports.delayExpire(now >>> 0) }

  /**
   * Holds a copy of the IPv4 packet (copied into FRAMES) under `key` until
   * its CLIENT_ADD, as the batch path does with a SYN or RST that beats its
   * route. False when the key already holds as many records as allowed; a
   * packet the parser refuses (not an unfragmented IPv4/TCP packet with its
   * headers inside the bytes and tot_len) is a CoreError.
   */
  delayStore (key: RouteKey, packet: Uint8Array, now: number): boolean {
    if (packet.length > L.FRAMES_SIZE) throw new ConfigError(`a packet to delay must be at most ${L.FRAMES_SIZE} bytes, got ${packet.length}`, 'TC_ERR_CONFIG_BATCH')
    this.#u8.set(packet, L.FRAMES_OFF)
    this.writeKey(key)
    const st = this.raw.exports.delayStore(L.FRAMES_OFF, packet.length, now >>> 0)
    if (st === Status.CapReached) return false
    if (st !== Status.Ok) throw toCoreError(st, 'delayStore')
    return true
  }

  /**
   * CLIENT_ADD: adds the route and appends the key's delayed SYN/RST records
   * for `conn` to the output (take them with drainOut).
   */
  clientAdd (key: RouteKey, conn: number, now: number): void {
    this.writeKey(key)
    const st = this.raw.exports.routeClientAdd(conn, now >>> 0)
    if (st !== Status.Ok) throw toCoreError(st, 'routeClientAdd')
  }

  // ---- connections and passlist ----------------------------------------------

  setConnFormat (conn: number, dialect: Dialect, payload = false): void {
    const st = this.raw.exports.connSetFormat(conn, dialect === '0.9' ? RecordDialect.V09 : RecordDialect.V1, payload ? 1 : 0)
    if (st !== Status.Ok) throw toCoreError(st, 'connSetFormat')
  }

  /** Destinations whose responses are accepted (passed through), not routed. */
  setPasslist (addresses: Address[]): void {
    if (addresses.length > L.PASSLIST_MAX) {
      throw new ConfigError(`the passlist holds at most ${L.PASSLIST_MAX} addresses, got ${addresses.length}`, 'TC_ERR_CONFIG_PASSLIST')
    }
    addresses.forEach((a, i) => this.#writeAddress(L.PASSLIST_OFF + 16 + i * 16, a))
    const st = this.raw.exports.passlistCommit(addresses.length)
    if (st !== Status.Ok) throw toCoreError(st, 'passlistCommit')
  }

  // ---- batches ---------------------------------------------------------------

  /** The FRAMES region, where an I/O layer places captured frames. */
  get frames (): Uint8Array { return this.#u8.subarray(L.FRAMES_OFF, L.FRAMES_OFF + L.FRAMES_SIZE) }

  /**
   * Classifies `n` frames already placed in FRAMES and described at DESC_OFF.
   * Returns a view of the n verdict bytes (valid until the next call).
   */
  processDescribed (n: number, linkType: LinkType, now: number): Uint8Array {
    const st = this.raw.exports.batchProcess(n, linkType, now >>> 0)
    if (st !== Status.Ok) throw toCoreError(st, 'batchProcess')
    return this.#u8.subarray(L.VERDICT_OFF, L.VERDICT_OFF + n)
  }

  /**
   * Copies frames into FRAMES, describes them and classifies them in one call
   * (convenience for tests and simulators; native I/O writes in place).
   */
  processFrames (frames: Uint8Array[], linkType: LinkType, now: number): Uint8Array {
    if (frames.length > L.MAX_BATCH) throw new ConfigError(`a batch holds at most ${L.MAX_BATCH} frames, got ${frames.length}`, 'TC_ERR_CONFIG_BATCH')
    let at = L.FRAMES_OFF
    frames.forEach((f, i) => {
      if (at + f.length > L.FRAMES_OFF + L.FRAMES_SIZE) throw new ConfigError(`the frames of one batch exceed ${L.FRAMES_SIZE} bytes`, 'TC_ERR_CONFIG_BATCH')
      this.#u8.set(f, at)
      this.#dv.setUint32(L.DESC_OFF + i * 8, at, true)
      this.#dv.setUint32(L.DESC_OFF + i * 8 + 4, f.length, true)
      at += (f.length + 7) & ~7
    })
    return this.processDescribed(frames.length, linkType, now)
  }

  /** Calls fn(conn, record) for each record in OUT (views, valid during the call), then empties OUT. */
  drainOut (fn: (conn: number, record: Uint8Array) => void): number {
    const dv = this.#dv
    const used = dv.getUint32(L.RESULT_OFF + L.R_OUT_BYTES, true)
    let p = L.OUT_OFF
    const end = L.OUT_OFF + used
    let n = 0
    while (p < end) {
      const conn = dv.getUint32(p, true)
      const len = dv.getUint16(p + 4, true)
      fn(conn, this.#u8.subarray(p + L.OUT_ENTRY_HEADER, p + L.OUT_ENTRY_HEADER + len))
      p += (L.OUT_ENTRY_HEADER + len + 3) & ~3
      n++
    }
    this.raw.exports.outReset()
    return n
  }

  // ---- parsing and checksums --------------------------------------------------

  /**
   * Parses one frame (copied into FRAMES) and returns its fields and status.
   * A malformed TCP option gives Status.BadTcpOption with every field filled
   * (optionFlags has OptFlag.Malformed): a caller that forwards such packets
   * treats it as Ok (see parseUsable).
   */
  parse (frame: Uint8Array, linkType: LinkType): ParsedPacket {
    const len = Math.min(frame.length, L.FRAMES_SIZE)
    this.#u8.set(frame.subarray(0, len), L.FRAMES_OFF)
    this.raw.exports.parsePacket(L.FRAMES_OFF, len, linkType, ParseFlag.TcpOptionStatus)
    return this.readParsed(L.PARSE_OFF)
  }

  readParsed (off: number): ParsedPacket {
    const dv = this.#dv
    const u32 = (f: number): number => dv.getUint32(off + f, true)
    const u16 = (f: number): number => dv.getUint16(off + f, true)
    const u8 = (f: number): number => dv.getUint8(off + f)
    return {
      status: u32(L.P_STATUS),
      family: u8(L.P_FAMILY),
      linkLen: u32(L.P_LINK_LEN),
      vlan: u16(L.P_VLAN),
      l3Offset: u32(L.P_L3_OFF),
      ihl: u32(L.P_IHL),
      totalLength: u32(L.P_TOT_LEN),
      capturedLength: u32(L.P_CAP_LEN),
      ipId: u16(L.P_IP_ID),
      fragment: u16(L.P_FRAG),
      ttl: u8(L.P_TTL),
      protocol: u8(L.P_PROTO),
      tos: u8(L.P_TOS),
      srcIp: this.#readAddress(off + L.P_SRC_ADDR),
      dstIp: this.#readAddress(off + L.P_DST_ADDR),
      l4Offset: u32(L.P_L4_OFF),
      srcPort: u16(L.P_SPORT),
      dstPort: u16(L.P_DPORT),
      seq: u32(L.P_SEQ),
      ack: u32(L.P_ACK),
      doff: u32(L.P_DOFF),
      flags: u8(L.P_TCP_FLAGS),
      window: u16(L.P_WINDOW),
      payloadOffset: u32(L.P_PAYLOAD_OFF),
      payloadLength: u32(L.P_PAYLOAD_LEN),
      optionFlags: u32(L.P_OPT_FLAGS),
      mss: u16(L.P_MSS),
      wscale: u8(L.P_WSCALE),
      tsVal: u32(L.P_TS_VAL),
      tsEcr: u32(L.P_TS_ECR)
    }
  }

  // ---- checksums and in-place rewrites (the packet at [ipOff, ipOff+ipLen)) --------

  /** The value the IPv4 header checksum field should hold (the field itself is skipped); ihl 20..60. */
  ipChecksum (ipOff: number, ihl: number): number {
    this.#checkRange(ipOff, ihl, 'ipChecksumCompute')
    if (ihl < 20 || ihl > 60) throw toCoreError(Status.BadArgument, 'ipChecksumCompute')
    return this.raw.exports.ipChecksumCompute(ipOff, ihl)
  }

  /** True when the IPv4 header checksum is right. */
  ipChecksumOk (ipOff: number, ihl: number): boolean {
    this.#checkRange(ipOff, ihl, 'ipChecksumVerify')
    return this.raw.exports.ipChecksumVerify(ipOff, ihl) === 1
  }

  /** The value the TCP checksum field should hold (pseudo-header included, the field skipped). */
  tcpChecksum (ipOff: number, ipLen: number): number {
    this.#checkRange(ipOff, ipLen, 'tcpChecksumCompute')
    if (ipLen < 20) throw toCoreError(Status.Truncated, 'tcpChecksumCompute')
    const vihl = this.#u8[ipOff]!
    const ihl = (vihl & 15) * 4
    if (vihl >> 4 !== 4 || ihl < 20) throw toCoreError(Status.BadIpHeader, 'tcpChecksumCompute')
    if (ipLen - ihl < 20 || ipLen - ihl > 0xffff) throw toCoreError(Status.Truncated, 'tcpChecksumCompute')
    return this.raw.exports.tcpChecksumCompute(ipOff, ipLen)
  }

  /** True when the TCP checksum of the IPv4 packet is right. */
  tcpChecksumOk (ipOff: number, ipLen: number): boolean {
    this.#checkRange(ipOff, ipLen, 'tcpChecksumVerify')
    return this.raw.exports.tcpChecksumVerify(ipOff, ipLen) === 1
  }

  /** Rewrites the source or destination IPv4 address (host-order u32) and fixes the IP and TCP checksums. */
  rewriteAddress (ipOff: number, ipLen: number, which: 'src' | 'dst', addr: number): void {
    const st = this.raw.exports.ipRewriteAddr(ipOff, ipLen, which === 'src' ? 0 : 1, addr >>> 0)
    if (st !== Status.Ok) throw toCoreError(st, 'ipRewriteAddr')
  }

  /** Rewrites the source or destination TCP port and fixes the TCP checksum. */
  rewritePort (ipOff: number, ipLen: number, which: 'src' | 'dst', port: number): void {
    const st = this.raw.exports.tcpRewritePort(ipOff, ipLen, which === 'src' ? 0 : 1, port)
    if (st !== Status.Ok) throw toCoreError(st, 'tcpRewritePort')
  }

  #checkRange (off: number, len: number, op: string): void {
    if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > this.#u8.length) {
      throw toCoreError(Status.BadRegion, op)
    }
  }

  // ---- statistics --------------------------------------------------------------

  counter (c: Counter): number {
    return Number(this.#dv.getBigUint64(L.COUNTERS_OFF + c * 8, true))
  }

  counters (): Counters {
    const out = {} as Counters
    for (const name of COUNTER_NAMES) out[name] = this.counter(Counter[name])
    return out
  }
}

/** Loads and initialises a core synchronously (Node and most runtimes). */
export function createCore (options: CoreOptions = {}): Core {
  return new Core(instantiateCoreSync(options), options)
}

/** Loads and initialises a core with asynchronous compilation (browsers' main thread). */
export async function createCoreAsync (options: CoreOptions = {}): Promise<Core> {
  return new Core(await instantiateCore(options), options)
}

/** True for a parse status whose fields are all usable: Ok, or BadTcpOption (only an option was bad). */
export function parseUsable (status: number): boolean {
  return status === Status.Ok || status === Status.BadTcpOption
}

export { Status, Counter, LinkType, RecordDialect, Verdict, ParseFlag, OptFlag }

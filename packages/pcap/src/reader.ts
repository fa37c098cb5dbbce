import { createReadStream } from 'node:fs'
import { CanceledError, IoError, TcpcopyError } from '@tcpcopy/interface'
import { PcapErrorCode, PcapFormatError } from './errors.js'

/** libpcap's MAXIMUM_SNAPLEN: no record may capture more than 256 KiB. */
export const MAX_CAPTURE_LENGTH = 262144
/** The largest pcapng block the reader buffers (libpcap's limit too). Unknown blocks are skipped whatever their size. */
export const MAX_BLOCK_LENGTH = 16 * 1024 * 1024

/** Classic pcap magic numbers, read as a big-endian u32 from the first four bytes. */
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d
/** pcapng block types. */
export const PcapngBlockType = {
  sectionHeader: 0x0a0d0d0a,
  interfaceDescription: 0x00000001,
  /** Obsolete Packet Block. */
  packet: 0x00000002,
  simplePacket: 0x00000003,
  enhancedPacket: 0x00000006
} as const
const BYTE_ORDER_MAGIC = 0x1a2b3c4d

export type PcapFormat = 'pcap' | 'pcapng'

/** One captured packet, in file order. */
export interface PcapPacket {
  /** LINKTYPE_ value of the file (pcap) or of the packet's interface (pcapng). */
  readonly linkType: number
  /** Capture time in nanoseconds since the epoch (pcapng if_tsoffset applied). */
  readonly timestampNs: bigint
  /** The same time in milliseconds, with the fraction (microsecond precision). */
  readonly timestampMs: number
  /** Bytes stored in the file (`data.length`). */
  readonly capturedLength: number
  /** Bytes the packet had on the wire. */
  readonly originalLength: number
  /** capturedLength < originalLength. The original tcpcopy drops these packets (TCPCOPY.md §7); the caller decides. */
  readonly truncated: boolean
  /** The captured bytes: a view into the chunk (or the block buffer) they came in. Do not modify that chunk while using it. */
  readonly data: Uint8Array
  /** Byte offset of the packet's record (pcap) or block (pcapng) from the start of the input. */
  readonly offset: number
  /** Bytes of that record or block, headers included: `offset + recordLength` is how far the input has been read. */
  readonly recordLength: number
  /** pcapng interface id within its section; 0 for classic pcap. */
  readonly interfaceId: number
  /** 0-based number of the packet in the input. */
  readonly index: number
}

/** The classic pcap file header. */
export interface PcapFileHeader {
  readonly littleEndian: boolean
  readonly nanosecond: boolean
  readonly versionMajor: number
  readonly versionMinor: number
  readonly snaplen: number
  readonly linkType: number
}

/** A pcapng Interface Description Block. */
export interface PcapInterface {
  /** Id within its section (the index of its IDB). */
  readonly id: number
  readonly linkType: number
  /** 0 means no limit. */
  readonly snaplen: number
  /** Timestamp units per second (if_tsresol; 1 000 000 when absent). */
  readonly unitsPerSecond: bigint
  /** if_tsoffset in seconds, added to every timestamp (0 when absent). */
  readonly offsetSeconds: bigint
  /** if_name, when present. */
  readonly name: string | undefined
  /** Byte offset of the IDB. */
  readonly offset: number
}

export interface PcapReaderOptions {
  /** Largest captured length accepted in any record, default MAX_CAPTURE_LENGTH (256 KiB). */
  readonly maxCaptureLength?: number
}

// What the reader is waiting for.
type Stage = 0 | 1 | 2 | 3
const START: Stage = 0 // the magic number
const FILE_HEADER: Stage = 1 // classic: 24-byte file header
const RECORD: Stage = 2 // classic: 16-byte record header + data
const BLOCK: Stage = 3 // pcapng: a block

// Bytes needed before the length of the next unit is known.
const HEAD_LENGTH = [4, 24, 16, 12] as const

type Partial =
  | { kind: 'head', filled: number }
  | { kind: 'body', buf: Uint8Array, filled: number }
  | { kind: 'skip', length: number, left: number, filled: number }

interface TimeScale { readonly mul: bigint, readonly div: bigint, readonly add: bigint }

const NS_PER_S = 1_000_000_000n

function u16 (b: Uint8Array, at: number, le: boolean): number {
  return le ? (b[at]! | (b[at + 1]! << 8)) : ((b[at]! << 8) | b[at + 1]!)
}

function u32 (b: Uint8Array, at: number, le: boolean): number {
  return le
    ? (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
    : ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
}

function hex32 (n: number): string {
  return '0x' + n.toString(16).padStart(8, '0')
}

function blockName (type: number): string {
  switch (type) {
    case PcapngBlockType.sectionHeader: return 'Section Header Block'
    case PcapngBlockType.interfaceDescription: return 'Interface Description Block'
    case PcapngBlockType.packet: return 'Packet Block'
    case PcapngBlockType.simplePacket: return 'Simple Packet Block'
    case PcapngBlockType.enhancedPacket: return 'Enhanced Packet Block'
    default: return `block of type ${hex32(type)}`
  }
}

function minBlockLength (type: number): number {
  switch (type) {
    case PcapngBlockType.sectionHeader: return 28
    case PcapngBlockType.interfaceDescription: return 20
    case PcapngBlockType.packet: return 32
    case PcapngBlockType.simplePacket: return 16
    case PcapngBlockType.enhancedPacket: return 32
    default: return 12
  }
}

function isKnownBlock (type: number): boolean {
  return type === PcapngBlockType.sectionHeader || type === PcapngBlockType.interfaceDescription ||
    type === PcapngBlockType.packet || type === PcapngBlockType.simplePacket || type === PcapngBlockType.enhancedPacket
}

function timeScale (unitsPerSecond: bigint, offsetSeconds: bigint): TimeScale {
  const add = offsetSeconds * NS_PER_S
  if (NS_PER_S % unitsPerSecond === 0n) return { mul: NS_PER_S / unitsPerSecond, div: 1n, add }
  return { mul: NS_PER_S, div: unitsPerSecond, add }
}

/**
 * Incremental reader of classic pcap and pcapng. Feed it the input in chunks
 * of any size with `push()`; it returns the packets completed by each chunk.
 * It keeps at most one partial record or block between calls (unknown pcapng
 * blocks are skipped without being buffered), so memory stays bounded by the
 * largest block plus the chunk being parsed.
 *
 * When the input is corrupt, `push()` returns the packets that were readable
 * before the bad record, and the error (a `PcapFormatError` with the offset)
 * is kept in `error` and thrown by the next `push()` or `end()`. Call `end()`
 * at the end of the input: it throws when the input stopped inside a record.
 */
export class PcapReader {
  readonly #maxCaptureLength: number
  #stage: Stage = START
  /** Absolute offset of the next unit (record, block, header) not yet complete. */
  #offset = 0
  readonly #head = new Uint8Array(24)
  readonly #tail = new Uint8Array(4)
  #partial: Partial | null = null
  #failure: PcapFormatError | undefined
  #ended = false
  #packets = 0
  #format: PcapFormat | undefined
  #le = true
  #nano = false
  #header: PcapFileHeader | undefined
  #snaplen = 0
  #linkType = 0
  #interfaces: PcapInterface[] = []
  #scales: TimeScale[] = []
  #sections = 0
  /** Timestamp of the last packet, given to Simple Packet Blocks (they have none). */
  #lastNs = 0n

  constructor (options: PcapReaderOptions = {}) {
    this.#maxCaptureLength = options.maxCaptureLength ?? MAX_CAPTURE_LENGTH
  }

  /** 'pcap' or 'pcapng' once the magic number has been read. */
  get format (): PcapFormat | undefined { return this.#format }
  /** The classic pcap file header, once read. */
  get fileHeader (): PcapFileHeader | undefined { return this.#header }
  /** The interfaces of the current pcapng section. */
  get interfaces (): readonly PcapInterface[] { return this.#interfaces }
  /** pcapng sections seen so far. */
  get sections (): number { return this.#sections }
  /** Packets returned so far. */
  get packets (): number { return this.#packets }
  /** Bytes of the input consumed by complete records and blocks. */
  get bytesConsumed (): number { return this.#offset }
  /** Bytes held for a record or block that is not complete yet. */
  get bufferedBytes (): number {
    const p = this.#partial
    if (p === null) return 0
    return p.kind === 'body' ? p.buf.length : p.kind === 'head' ? this.#head.length : this.#head.length + this.#tail.length
  }

  /** The format error met so far, if any; it is thrown by the next `push()` or `end()`. */
  get error (): PcapFormatError | undefined { return this.#failure }

  /** Parses `chunk` (after any bytes held from earlier chunks) and returns the packets it completed. */
  push (chunk: Uint8Array): PcapPacket[] {
    if (this.#failure !== undefined) throw this.#failure
    if (this.#ended) throw new TcpcopyError('PcapReader.push() was called after end()', 'TC_ERR_PCAP_ENDED')
    if (!(chunk instanceof Uint8Array)) {
      throw new TcpcopyError(`PcapReader.push() needs bytes (a Uint8Array or Buffer), got ${typeof chunk}; open streams without an encoding`, 'TC_ERR_PCAP_CHUNK')
    }
    const out: PcapPacket[] = []
    try {
      let pos = 0
      while (pos < chunk.length) {
        if (this.#partial !== null) {
          pos = this.#feed(chunk, pos, out)
        } else {
          pos = this.#scan(chunk, pos, out)
          if (pos < chunk.length) this.#partial = { kind: 'head', filled: 0 }
        }
      }
    } catch (err) {
      if (!(err instanceof PcapFormatError)) throw err
      this.#failure = err
    }
    return out
  }

  /** Marks the end of the input. Throws the pending format error, or a truncation error when a record is incomplete. */
  end (): void {
    if (this.#failure !== undefined) throw this.#failure
    if (this.#ended) return
    this.#ended = true
    const p = this.#partial
    if (p === null && this.#stage !== START) return
    const what = ['magic number', 'pcap file header', 'record', 'block'][this.#stage]!
    let err: PcapFormatError
    if (p === null) {
      err = new PcapFormatError('the input is empty (byte offset 0): a pcap or pcapng file starts with a magic number', PcapErrorCode.truncated, 0)
    } else {
      let need: number
      let have: number
      if (p.kind === 'head') {
        need = HEAD_LENGTH[this.#stage]; have = p.filled
      } else if (p.kind === 'body') {
        need = p.buf.length; have = p.filled
      } else {
        need = p.length; have = p.length - p.left - 4 + p.filled
      }
      const at = p.kind === 'head' ? 'at least ' : ''
      err = new PcapFormatError(`truncated ${what} at byte offset ${this.#offset}: it needs ${at}${need} bytes, but the input ends after ${have}`,
        PcapErrorCode.truncated, this.#offset)
    }
    this.#failure = err
    throw err
  }

  /** Parses every complete unit of `chunk` from `pos`; returns where the first incomplete one starts. */
  #scan (chunk: Uint8Array, pos: number, out: PcapPacket[]): number {
    for (;;) {
      const avail = chunk.length - pos
      if (avail < HEAD_LENGTH[this.#stage]) return pos
      if (this.#stage === START) { this.#detect(chunk, pos); continue }
      const length = this.#unitLength(chunk, pos)
      if (avail < length) return pos
      this.#unit(chunk, pos, length, out)
      this.#offset += length
      pos += length
    }
  }

  /** Moves bytes of `chunk` into the partial unit; returns the new position. */
  #feed (chunk: Uint8Array, pos: number, out: PcapPacket[]): number {
    const p = this.#partial!
    const avail = chunk.length - pos
    if (p.kind === 'head') {
      const need = HEAD_LENGTH[this.#stage]
      const n = Math.min(need - p.filled, avail)
      this.#head.set(chunk.subarray(pos, pos + n), p.filled)
      p.filled += n
      if (p.filled < need) return pos + n
      if (this.#stage === START) { this.#detect(this.#head, 0); return pos + n }
      const length = this.#unitLength(this.#head, 0)
      if (length === need) {
        this.#partial = null
        this.#unit(this.#head.slice(0, need), 0, need, out)
        this.#offset += length
      } else if (this.#stage === BLOCK && !isKnownBlock(u32(this.#head, 0, this.#le)) && length >= need + 4) {
        this.#partial = { kind: 'skip', length, left: length - need - 4, filled: 0 }
      } else {
        const buf = new Uint8Array(length)
        buf.set(this.#head.subarray(0, need))
        this.#partial = { kind: 'body', buf, filled: need }
      }
      return pos + n
    }
    if (p.kind === 'body') {
      const n = Math.min(p.buf.length - p.filled, avail)
      p.buf.set(chunk.subarray(pos, pos + n), p.filled)
      p.filled += n
      if (p.filled === p.buf.length) {
        this.#partial = null
        this.#unit(p.buf, 0, p.buf.length, out)
        this.#offset += p.buf.length
      }
      return pos + n
    }
    // skipping the body of an unknown pcapng block, then checking its trailing length
    if (p.left > 0) {
      const n = Math.min(p.left, avail)
      p.left -= n
      return pos + n
    }
    const n = Math.min(4 - p.filled, avail)
    this.#tail.set(chunk.subarray(pos, pos + n), p.filled)
    p.filled += n
    if (p.filled === 4) {
      this.#checkTrailer(this.#tail, 0, p.length, u32(this.#head, 0, this.#le))
      this.#partial = null
      this.#offset += p.length
    }
    return pos + n
  }

  #fail (code: PcapErrorCode, message: string, offset = this.#offset): never {
    throw new PcapFormatError(message, code, offset)
  }

  #detect (b: Uint8Array, at: number): void {
    const magic = u32(b, at, false)
    switch (magic) {
      case PCAP_MAGIC_MICROSECONDS: this.#le = false; this.#nano = false; break
      case PCAP_MAGIC_NANOSECONDS: this.#le = false; this.#nano = true; break
      case 0xd4c3b2a1: this.#le = true; this.#nano = false; break
      case 0x4d3cb2a1: this.#le = true; this.#nano = true; break
      case PcapngBlockType.sectionHeader:
        this.#format = 'pcapng'
        this.#stage = BLOCK
        return
      default: {
        let hint = 'not a pcap or pcapng file'
        if (magic >>> 16 === 0x1f8b) hint = 'this is gzip data; decompress the file first'
        else if (magic === 0xa1b2cd34 || magic === 0x34cdb2a1) hint = 'Kuznetzov\'s modified pcap format is not supported; convert it with editcap'
        this.#fail(PcapErrorCode.badMagic, `bad magic number ${hex32(magic)} at byte offset ${this.#offset}: ${hint}`)
      }
    }
    this.#format = 'pcap'
    this.#stage = FILE_HEADER
  }

  /** The length of the unit whose head (HEAD_LENGTH bytes) is at `at`, after checking it. */
  #unitLength (b: Uint8Array, at: number): number {
    switch (this.#stage) {
      case FILE_HEADER: return 24
      case RECORD: {
        const caplen = u32(b, at + 8, this.#le)
        this.#checkCaplen(caplen, this.#snaplen, 'record')
        return 16 + caplen
      }
      default: {
        const type = u32(b, at, this.#le)
        if (type === PcapngBlockType.sectionHeader) {
          // A new section may switch the byte order: its byte-order magic says which.
          const bom = u32(b, at + 8, false)
          if (bom === BYTE_ORDER_MAGIC) this.#le = false
          else if (bom === 0x4d3c2b1a) this.#le = true
          else this.#fail(PcapErrorCode.badMagic, `Section Header Block at byte offset ${this.#offset}: bad byte-order magic ${hex32(bom)} at byte offset ${this.#offset + 8}; expected 1a2b3c4d in either byte order`)
        }
        const length = u32(b, at + 4, this.#le)
        const name = blockName(type)
        if (length % 4 !== 0) {
          this.#fail(PcapErrorCode.blockLength, `${name} at byte offset ${this.#offset} has length ${length}, which is not a multiple of 4`)
        }
        const min = minBlockLength(type)
        if (length < min) {
          this.#fail(PcapErrorCode.blockLength, `${name} at byte offset ${this.#offset} has length ${length}; it needs at least ${min}`)
        }
        if (isKnownBlock(type) && length > MAX_BLOCK_LENGTH) {
          this.#fail(PcapErrorCode.blockLength, `${name} at byte offset ${this.#offset} has length ${length}, more than the ${MAX_BLOCK_LENGTH} bytes a block may have`)
        }
        return length
      }
    }
  }

  #checkCaplen (caplen: number, snaplen: number, where: string, room?: number): void {
    if (caplen > this.#maxCaptureLength) {
      this.#fail(PcapErrorCode.capturedLength, `${where} at byte offset ${this.#offset} has captured length ${caplen}, more than the maximum of ${this.#maxCaptureLength} bytes`)
    }
    if (snaplen !== 0 && caplen > snaplen) {
      this.#fail(PcapErrorCode.capturedLength, `${where} at byte offset ${this.#offset} has captured length ${caplen}, more than the snaplen of ${snaplen}`)
    }
    if (room !== undefined && caplen > room) {
      this.#fail(PcapErrorCode.capturedLength, `${where} at byte offset ${this.#offset} has captured length ${caplen}, but the block has room for ${room} bytes of data`)
    }
  }

  #checkTrailer (b: Uint8Array, at: number, length: number, type: number): void {
    const trailer = u32(b, at, this.#le)
    if (trailer !== length) {
      this.#fail(PcapErrorCode.trailerMismatch, `${blockName(type)} at byte offset ${this.#offset}: trailing length ${trailer} at byte offset ${this.#offset + length - 4} does not match the leading length ${length}`)
    }
  }

  /** Parses one complete unit of `length` bytes at `at`. */
  #unit (b: Uint8Array, at: number, length: number, out: PcapPacket[]): void {
    const le = this.#le
    if (this.#stage === RECORD) {
      const sec = u32(b, at, le)
      const frac = u32(b, at + 4, le)
      const caplen = u32(b, at + 8, le)
      const len = u32(b, at + 12, le)
      const ns = BigInt(sec) * NS_PER_S + BigInt(this.#nano ? frac : frac * 1000)
      out.push(this.#packet(ns, caplen, len, b.subarray(at + 16, at + 16 + caplen), length, this.#linkType, 0))
      return
    }
    if (this.#stage === FILE_HEADER) {
      const versionMajor = u16(b, at + 4, le)
      const versionMinor = u16(b, at + 6, le)
      if (versionMajor !== 2) {
        this.#fail(PcapErrorCode.badVersion, `pcap file header at byte offset ${this.#offset} has version ${versionMajor}.${versionMinor}; only version 2.x is defined`)
      }
      this.#snaplen = u32(b, at + 16, le)
      // The upper bits of the link-type field carry FCS information (pcap format draft §4).
      this.#linkType = u32(b, at + 20, le) & 0x03ffffff
      this.#header = { littleEndian: le, nanosecond: this.#nano, versionMajor, versionMinor, snaplen: this.#snaplen, linkType: this.#linkType }
      this.#stage = RECORD
      return
    }
    const type = u32(b, at, le)
    this.#checkTrailer(b, at + length - 4, length, type)
    switch (type) {
      case PcapngBlockType.sectionHeader: {
        const major = u16(b, at + 12, le)
        const minor = u16(b, at + 14, le)
        if (major !== 1) {
          this.#fail(PcapErrorCode.badVersion, `Section Header Block at byte offset ${this.#offset} has version ${major}.${minor}; only version 1.x is defined`)
        }
        this.#interfaces = []
        this.#scales = []
        this.#sections++
        return
      }
      case PcapngBlockType.interfaceDescription: {
        const iface = this.#describeInterface(b, at, length)
        this.#interfaces.push(iface)
        this.#scales.push(timeScale(iface.unitsPerSecond, iface.offsetSeconds))
        return
      }
      case PcapngBlockType.enhancedPacket:
      case PcapngBlockType.packet: {
        const epb = type === PcapngBlockType.enhancedPacket
        const id = epb ? u32(b, at + 8, le) : u16(b, at + 8, le)
        const iface = this.#iface(id, type)
        const ts = (BigInt(u32(b, at + 12, le)) << 32n) | BigInt(u32(b, at + 16, le))
        const caplen = u32(b, at + 20, le)
        const len = u32(b, at + 24, le)
        this.#checkCaplen(caplen, iface.snaplen, blockName(type), length - 32)
        const s = this.#scales[id]!
        const ns = (ts * s.mul) / s.div + s.add
        out.push(this.#packet(ns, caplen, len, b.subarray(at + 28, at + 28 + caplen), length, iface.linkType, id))
        return
      }
      case PcapngBlockType.simplePacket: {
        const iface = this.#iface(0, type)
        const len = u32(b, at + 8, le)
        // The spec: captured length = min(original length, snaplen of interface 0); the block says how much room there is.
        let caplen = Math.min(len, length - 16)
        if (iface.snaplen !== 0) caplen = Math.min(caplen, iface.snaplen)
        this.#checkCaplen(caplen, 0, blockName(type))
        // A Simple Packet Block has no timestamp: it gets the time of the packet before it.
        out.push(this.#packet(this.#lastNs, caplen, len, b.subarray(at + 12, at + 12 + caplen), length, iface.linkType, 0))
        return
      }
      default:
        // Name Resolution, Interface Statistics, Decryption Secrets, custom and unknown blocks: skipped.
    }
  }

  #packet (ns: bigint, caplen: number, len: number, data: Uint8Array, recordLength: number, linkType: number, interfaceId: number): PcapPacket {
    this.#lastNs = ns
    return {
      linkType,
      timestampNs: ns,
      timestampMs: Number(ns / 1000n) / 1000,
      capturedLength: caplen,
      originalLength: len,
      truncated: caplen < len,
      data,
      offset: this.#offset,
      recordLength,
      interfaceId,
      index: this.#packets++
    }
  }

  #iface (id: number, type: number): PcapInterface {
    const iface = this.#interfaces[id]
    if (iface === undefined) {
      const n = this.#interfaces.length
      this.#fail(PcapErrorCode.unknownInterface, `${blockName(type)} at byte offset ${this.#offset} names interface ${id}, but its section defines ${n === 0 ? 'no interfaces' : `only interfaces 0-${n - 1}`}`)
    }
    return iface
  }

  #describeInterface (b: Uint8Array, at: number, length: number): PcapInterface {
    const le = this.#le
    const linkType = u16(b, at + 8, le)
    const snaplen = u32(b, at + 12, le)
    let unitsPerSecond = 1_000_000n
    let offsetSeconds = 0n
    let name: string | undefined
    const end = at + length - 4
    let pos = at + 16
    while (pos + 4 <= end) {
      const code = u16(b, pos, le)
      const olen = u16(b, pos + 2, le)
      if (code === 0) break // opt_endofopt
      const value = pos + 4
      if (value + olen > end) {
        this.#fail(PcapErrorCode.badOption, `Interface Description Block at byte offset ${this.#offset}: option ${code} at byte offset ${this.#offset + pos - at} has length ${olen}, which runs past the end of the block`)
      }
      if (code === 9) { // if_tsresol
        if (olen !== 1) this.#fail(PcapErrorCode.badOption, `Interface Description Block at byte offset ${this.#offset}: if_tsresol at byte offset ${this.#offset + pos - at} has length ${olen}; it must be 1`)
        const v = b[value]!
        unitsPerSecond = (v & 0x80) !== 0 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v)
      } else if (code === 14) { // if_tsoffset
        if (olen !== 8) this.#fail(PcapErrorCode.badOption, `Interface Description Block at byte offset ${this.#offset}: if_tsoffset at byte offset ${this.#offset + pos - at} has length ${olen}; it must be 8`)
        const hi = BigInt(u32(b, value + (le ? 4 : 0), le))
        const lo = BigInt(u32(b, value + (le ? 0 : 4), le))
        offsetSeconds = BigInt.asIntN(64, (hi << 32n) | lo)
      } else if (code === 2) { // if_name
        name = new TextDecoder().decode(b.subarray(value, value + olen))
      }
      pos = value + ((olen + 3) & ~3)
    }
    return {
      id: this.#interfaces.length,
      linkType,
      snaplen,
      unitsPerSecond,
      offsetSeconds,
      name,
      offset: this.#offset
    }
  }
}

/**
 * Reads packets from a stream of chunks: a Node Readable (without an
 * encoding), or any (async) iterable of Uint8Array. Yields every packet that
 * was readable; then, if the input was corrupt or truncated, throws the
 * PcapFormatError naming the offset. Pass a reader to watch its progress
 * (`bytesConsumed`, `interfaces`, …).
 */
export async function * readPcap (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, reader: PcapReader = new PcapReader()): AsyncGenerator<PcapPacket, void, undefined> {
  for await (const chunk of source) {
    const packets = reader.push(chunk)
    for (let i = 0; i < packets.length; i++) yield packets[i]!
    if (reader.error !== undefined) throw reader.error
  }
  reader.end()
}

export interface ReadPcapFileOptions {
  /** Bytes read from the file at a time; default 64 KiB. */
  readonly highWaterMark?: number
  /** A reader to use (and watch), instead of a new one. */
  readonly reader?: PcapReader
  /** Stops reading; the iterator then throws a CanceledError (code TC_ERR_CANCELED). */
  readonly signal?: AbortSignal
}

/**
 * Reads a pcap or pcapng file with a node:fs read stream, one chunk at a time.
 * File system failures become an IoError (code TC_ERR_PCAP_READ), an abort
 * a CanceledError; format problems a PcapFormatError, after the packets
 * before them.
 */
export async function * readPcapFile (path: string, options: ReadPcapFileOptions = {}): AsyncGenerator<PcapPacket, void, undefined> {
  const stream = createReadStream(path, { highWaterMark: options.highWaterMark ?? 65536, signal: options.signal })
  const chunks = (async function * () {
    try {
      for await (const chunk of stream) yield chunk as Uint8Array
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e?.name === 'AbortError') throw new CanceledError(`reading pcap file "${path}" was aborted`, { cause: err })
      if (typeof e?.syscall === 'string') {
        throw new IoError(`cannot read pcap file "${path}": ${e.message}`, 'TC_ERR_PCAP_READ', Math.abs(e.errno ?? 0), e.syscall, { cause: err })
      }
      throw err
    }
  })()
  try {
    yield * readPcap(chunks, options.reader)
  } finally {
    stream.destroy()
  }
}

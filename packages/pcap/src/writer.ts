import { createWriteStream, type WriteStream } from 'node:fs'
import { ConfigError, IoError, TcpcopyError } from '@tcpcopy/interface'
import { MAX_CAPTURE_LENGTH } from './reader.js'

export interface PcapWriterOptions {
  /** LINKTYPE_ value written in the file header (1 = Ethernet, 101 = raw IP, 113 = Linux SLL). */
  readonly linkType: number
  /** Default MAX_CAPTURE_LENGTH (262144). Longer packets are cut to it, keeping their original length. */
  readonly snaplen?: number
  /** Byte order of the file; default true (what x86 tcpdump writes). */
  readonly littleEndian?: boolean
  /** Write nanosecond timestamps (magic a1b23c4d) instead of microseconds; default false. */
  readonly nanosecond?: boolean
}

/** What the writer needs of a packet. A PcapPacket from the reader fits. */
export interface PcapRecordInput {
  readonly data: Uint8Array
  /** Capture time in ns since the epoch; takes precedence over timestampMs. */
  readonly timestampNs?: bigint
  /** Capture time in ms since the epoch; the fraction is rounded to the µs. */
  readonly timestampMs?: number
  /** Length on the wire; default data.length. */
  readonly originalLength?: number
}

const NS_PER_S = 1_000_000_000n

/**
 * ms (with a fraction) → ns, rounded to the µs: near 1.7e12 ms a double is
 * only good to 0.24 µs, and 1700000000001 × 1e6 is not a double at all.
 */
function msToNs (ms: number): bigint {
  if (!Number.isFinite(ms)) {
    throw new ConfigError(`pcap record "timestampMs" must be a finite number, got ${ms}`, 'TC_ERR_PCAP_WRITER_OPTION')
  }
  const whole = Math.floor(ms)
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e3)) * 1000n
}

/** Resolves on `event`, rejects on 'error' (events.once without node:events). */
function waitFor (stream: WriteStream, event: 'drain' | 'close'): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => { stream.off('error', fail); resolve() }
    const fail = (err: Error): void => { stream.off(event, done); reject(err) }
    stream.once(event, done)
    stream.once('error', fail)
  })
}

/**
 * Encodes classic pcap: `header()` once, then `record()` per packet. Pure:
 * it returns bytes and leaves where they go to the caller.
 */
export class PcapWriter {
  readonly linkType: number
  readonly snaplen: number
  readonly littleEndian: boolean
  readonly nanosecond: boolean

  constructor (options: PcapWriterOptions) {
    const { linkType, snaplen = MAX_CAPTURE_LENGTH, littleEndian = true, nanosecond = false } = options
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0x03ffffff) {
      throw new ConfigError(`pcap writer "linkType" must be a LINKTYPE_ number such as 1 (Ethernet), got ${String(linkType)}`, 'TC_ERR_PCAP_WRITER_OPTION')
    }
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0xffffffff) {
      throw new ConfigError(`pcap writer "snaplen" must be an integer 1-4294967295, got ${String(snaplen)}`, 'TC_ERR_PCAP_WRITER_OPTION')
    }
    this.linkType = linkType
    this.snaplen = snaplen
    this.littleEndian = littleEndian
    this.nanosecond = nanosecond
  }

  /** The 24-byte file header. */
  header (): Uint8Array {
    const out = new Uint8Array(24)
    const v = new DataView(out.buffer)
    const le = this.littleEndian
    v.setUint32(0, this.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, le)
    v.setUint16(4, 2, le) // version 2.4
    v.setUint16(6, 4, le)
    v.setInt32(8, 0, le) // thiszone
    v.setUint32(12, 0, le) // sigfigs
    v.setUint32(16, this.snaplen, le)
    v.setUint32(20, this.linkType, le)
    return out
  }

  /** One record: 16-byte header and the data (cut to snaplen). */
  record (packet: PcapRecordInput): Uint8Array {
    const caplen = Math.min(packet.data.length, this.snaplen)
    const len = packet.originalLength ?? packet.data.length
    if (!Number.isInteger(len) || len < caplen || len > 0xffffffff) {
      throw new ConfigError(`pcap record "originalLength" must be an integer from the captured length (${caplen}) to 4294967295, got ${String(len)}`, 'TC_ERR_PCAP_WRITER_OPTION')
    }
    const ns = packet.timestampNs ?? msToNs(packet.timestampMs ?? 0)
    const sec = ns / NS_PER_S
    if (ns < 0n || sec > 0xffffffffn) {
      throw new ConfigError(`pcap record timestamp must be 0 to 2^32 s since the epoch, got ${ns} ns`, 'TC_ERR_PCAP_WRITER_OPTION')
    }
    const frac = this.nanosecond ? ns % NS_PER_S : (ns % NS_PER_S) / 1000n
    const out = new Uint8Array(16 + caplen)
    const v = new DataView(out.buffer)
    const le = this.littleEndian
    v.setUint32(0, Number(sec), le)
    v.setUint32(4, Number(frac), le)
    v.setUint32(8, caplen, le)
    v.setUint32(12, len, le)
    out.set(packet.data.subarray(0, caplen), 16)
    return out
  }
}

/** A whole classic pcap file in memory. */
export function encodePcap (packets: Iterable<PcapRecordInput>, options: PcapWriterOptions): Uint8Array {
  const writer = new PcapWriter(options)
  const parts = [writer.header()]
  let total = parts[0]!.length
  for (const p of packets) {
    const r = writer.record(p)
    parts.push(r)
    total += r.length
  }
  const out = new Uint8Array(total)
  let off = 0
  for (const part of parts) { out.set(part, off); off += part.length }
  return out
}

/** One little-endian pcapng block: type, total length, body padded to 4 bytes, total length again. */
function pcapngBlock (type: number, bodyLength: number, fill: (v: DataView, out: Uint8Array, at: number) => void): Uint8Array {
  const padded = (bodyLength + 3) & ~3
  const total = 12 + padded
  const out = new Uint8Array(total)
  const v = new DataView(out.buffer)
  v.setUint32(0, type, true)
  v.setUint32(4, total, true)
  fill(v, out, 8)
  v.setUint32(total - 4, total, true)
  return out
}

/**
 * A whole pcapng file in memory (little-endian): a section header, one
 * interface of `linkType` (if_tsresol 9 with `nanosecond`, else the default
 * µs), and an Enhanced Packet Block per packet. What `tcpcopy -i file.pcapng`
 * replays; the reader of this package reads it back.
 */
export function encodePcapng (packets: Iterable<PcapRecordInput>, options: PcapWriterOptions): Uint8Array {
  const w = new PcapWriter(options) // checks the options
  const parts: Uint8Array[] = []
  parts.push(pcapngBlock(0x0a0d0d0a, 16, (v, _o, at) => {
    v.setUint32(at, 0x1a2b3c4d, true) // byte-order magic
    v.setUint16(at + 4, 1, true) // version 1.0
    v.setUint16(at + 6, 0, true)
    v.setBigInt64(at + 8, -1n, true) // section length unknown
  }))
  const tsOption = w.nanosecond ? 12 : 0 // if_tsresol (9: 10^-9) + opt_endofopt
  parts.push(pcapngBlock(1, 8 + tsOption, (v, o, at) => {
    v.setUint16(at, w.linkType, true)
    v.setUint32(at + 4, w.snaplen, true)
    if (tsOption > 0) {
      v.setUint16(at + 8, 9, true)
      v.setUint16(at + 10, 1, true)
      o[at + 12] = 9
    }
  }))
  for (const packet of packets) {
    const caplen = Math.min(packet.data.length, w.snaplen)
    const len = packet.originalLength ?? packet.data.length
    if (!Number.isInteger(len) || len < caplen || len > 0xffffffff) {
      throw new ConfigError(`pcapng record "originalLength" must be an integer from the captured length (${caplen}) to 4294967295, got ${String(len)}`, 'TC_ERR_PCAP_WRITER_OPTION')
    }
    const ns = packet.timestampNs ?? msToNs(packet.timestampMs ?? 0)
    if (ns < 0n) throw new ConfigError(`pcapng record timestamp must not be before the epoch, got ${ns} ns`, 'TC_ERR_PCAP_WRITER_OPTION')
    const ts = w.nanosecond ? ns : ns / 1000n
    parts.push(pcapngBlock(6, 20 + caplen, (v, o, at) => {
      v.setUint32(at, 0, true) // interface 0
      v.setUint32(at + 4, Number(ts >> 32n), true)
      v.setUint32(at + 8, Number(ts & 0xffffffffn), true)
      v.setUint32(at + 12, caplen, true)
      v.setUint32(at + 16, len, true)
      o.set(packet.data.subarray(0, caplen), at + 20)
    }))
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const part of parts) { out.set(part, off); off += part.length }
  return out
}

/** A classic pcap file being written: what e2e tests use to record traffic as it comes. */
export interface PcapFileWriter {
  /** Packets written so far. */
  readonly count: number
  /** Appends one record; resolves when the stream can take more (back-pressure). */
  write (packet: PcapRecordInput): Promise<void>
  /** Flushes and closes the file; resolves with the number of packets written. */
  close (): Promise<number>
}

function toWriteError (path: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException
  if (typeof e?.syscall === 'string') {
    return new IoError(`cannot write pcap file "${path}": ${e.message}`, 'TC_ERR_PCAP_WRITE', Math.abs(e.errno ?? 0), e.syscall, { cause: err })
  }
  return err
}

/**
 * Opens a classic pcap file for writing with a node:fs write stream and
 * writes its header. File system failures become IoError TC_ERR_PCAP_WRITE,
 * thrown by the next `write()` or by `close()`.
 */
export function createPcapFileWriter (path: string, options: PcapWriterOptions): PcapFileWriter {
  const writer = new PcapWriter(options)
  const stream = createWriteStream(path)
  let failure: unknown
  stream.on('error', (err) => { failure ??= err })
  stream.write(writer.header())
  let count = 0
  let closing: Promise<number> | undefined
  return {
    get count () { return count },
    async write (packet) {
      if (failure !== undefined) throw toWriteError(path, failure)
      if (closing !== undefined) throw new TcpcopyError(`pcap file "${path}" was written after close()`, 'TC_ERR_PCAP_ENDED')
      const record = writer.record(packet)
      count++
      if (!stream.write(record)) {
        try {
          await waitFor(stream, 'drain')
        } catch (err) {
          throw toWriteError(path, err)
        }
      }
    },
    close () {
      closing ??= (async () => {
        if (failure === undefined) {
          const closed = waitFor(stream, 'close')
          stream.end()
          try {
            await closed
          } catch (err) {
            failure ??= err
          }
        }
        if (!stream.destroyed) stream.destroy()
        if (failure !== undefined) throw toWriteError(path, failure)
        return count
      })()
      return closing
    }
  }
}

/**
 * Writes a classic pcap file from an (async) iterable, waiting for the
 * stream to drain, so iterables of any length use bounded memory. Returns the
 * number of packets written.
 */
export async function writePcapFile (path: string, packets: Iterable<PcapRecordInput> | AsyncIterable<PcapRecordInput>, options: PcapWriterOptions): Promise<number> {
  const file = createPcapFileWriter(path, options)
  try {
    for await (const p of packets) await file.write(p)
  } catch (err) {
    await file.close().catch(() => {})
    throw err
  }
  return await file.close()
}

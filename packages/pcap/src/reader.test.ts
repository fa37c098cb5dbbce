import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { expect } from 'chai'
import { CanceledError, IoError, isTcpcopyError } from '@tcpcopy/interface'
import {
  PCAP_BE_NS, PCAP_BE_US, PCAP_LE_NS, PCAP_LE_US, PCAPNG_BE, PCAPNG_LE, PCAPNG_TWO_INTERFACES, PCAPNG_TWO_SECTIONS,
  T_NS, T_US, block, concat, epb, hex, idb, plain, readAll, shb, splitAt
} from './fixtures.js'
import { LinkType } from './link-type.js'
import { PcapReader, readPcap, readPcapFile, type PcapPacket } from './reader.js'

function readWhole (input: Uint8Array): { reader: PcapReader, packets: PcapPacket[] } {
  const reader = new PcapReader()
  const packets = reader.push(input)
  reader.end()
  return { reader, packets }
}

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('classic pcap reader', () => {
  it('reads a little-endian microsecond file: header, timestamps, lengths, offsets', () => {
    const { reader, packets } = readWhole(PCAP_LE_US)
    expect(reader.format).to.equal('pcap')
    expect(reader.fileHeader).to.deep.equal({ littleEndian: true, nanosecond: false, versionMajor: 2, versionMinor: 4, snaplen: 65535, linkType: 1 })
    expect(packets.map(plain)).to.deep.equal([
      { linkType: 1, timestampNs: T_US, timestampMs: 1700000000123.456, capturedLength: 4, originalLength: 4, truncated: false, data: 'deadbeef', offset: 24, recordLength: 20, interfaceId: 0, index: 0 },
      { linkType: 1, timestampNs: 1700000001000000000n, timestampMs: 1700000001000, capturedLength: 2, originalLength: 60, truncated: true, data: 'cafe', offset: 44, recordLength: 18, interfaceId: 0, index: 1 }
    ])
    expect(reader.bytesConsumed).to.equal(PCAP_LE_US.length)
  })

  it('reads the big-endian file as the same packets', () => {
    const { reader, packets } = readWhole(PCAP_BE_US)
    expect(reader.fileHeader?.littleEndian).to.equal(false)
    expect(packets.map(plain)).to.deep.equal(readWhole(PCAP_LE_US).packets.map(plain))
  })

  it('reads nanosecond timestamps in both byte orders', () => {
    for (const [file, le, linkType] of [[PCAP_LE_NS, true, LinkType.Raw], [PCAP_BE_NS, false, LinkType.LinuxSll]] as const) {
      const { reader, packets } = readWhole(file)
      expect(reader.fileHeader).to.include({ littleEndian: le, nanosecond: true, snaplen: 262144, linkType })
      expect(packets).to.have.length(1)
      expect(packets[0]!.timestampNs).to.equal(T_NS)
      expect(packets[0]!.timestampMs).to.equal(1700000000123.456)
      expect(packets[0]!.linkType).to.equal(linkType)
    }
  })

  it('masks the FCS bits out of the link-type field', () => {
    expect(readWhole(PCAP_BE_NS).reader.fileHeader?.linkType).to.equal(113)
  })

  it('reads a header-only file as no packets', () => {
    expect(readWhole(PCAP_LE_US.subarray(0, 24)).packets).to.deep.equal([])
  })

  it('gives data as a view of the input, not a copy', () => {
    const { packets } = readWhole(PCAP_LE_US)
    expect(packets[0]!.data.buffer).to.equal(PCAP_LE_US.buffer)
    expect(packets[0]!.data.byteOffset).to.equal(PCAP_LE_US.byteOffset + 40)
  })
})

describe('pcapng reader', () => {
  it('reads Enhanced, Simple and obsolete Packet Blocks and skips a Name Resolution Block (little-endian)', () => {
    const { reader, packets } = readWhole(PCAPNG_LE)
    expect(reader.format).to.equal('pcapng')
    expect(reader.sections).to.equal(1)
    expect(reader.interfaces).to.deep.equal([{ id: 0, linkType: 1, snaplen: 0, unitsPerSecond: 1000000n, offsetSeconds: 0n, name: undefined, offset: 28 }])
    expect(packets.map(plain)).to.deep.equal([
      { linkType: 1, timestampNs: T_US, timestampMs: 1700000000123.456, capturedLength: 4, originalLength: 4, truncated: false, data: 'deadbeef', offset: 48, recordLength: 36, interfaceId: 0, index: 0 },
      // a Simple Packet Block has no timestamp: it takes the one of the packet before it
      { linkType: 1, timestampNs: T_US, timestampMs: 1700000000123.456, capturedLength: 3, originalLength: 3, truncated: false, data: 'aabbcc', offset: 84, recordLength: 20, interfaceId: 0, index: 1 },
      { linkType: 1, timestampNs: T_US + 1000n, timestampMs: 1700000000123.457, capturedLength: 2, originalLength: 2, truncated: false, data: '1122', offset: 104, recordLength: 36, interfaceId: 0, index: 2 },
      { linkType: 1, timestampNs: T_US + 2000n, timestampMs: 1700000000123.458, capturedLength: 3, originalLength: 1000, truncated: true, data: '010203', offset: 156, recordLength: 36, interfaceId: 0, index: 3 }
    ])
    expect(reader.bytesConsumed).to.equal(PCAPNG_LE.length)
  })

  it('reads the big-endian file as the same packets', () => {
    expect(readWhole(PCAPNG_BE).packets.map(plain)).to.deep.equal(readWhole(PCAPNG_LE).packets.map(plain))
  })

  it('reads two interfaces with different link types, snaplens and timestamp resolutions', () => {
    const { reader, packets } = readWhole(PCAPNG_TWO_INTERFACES)
    expect(reader.interfaces).to.deep.equal([
      { id: 0, linkType: 1, snaplen: 128, unitsPerSecond: 1000000000n, offsetSeconds: 0n, name: 'eth0', offset: 28 },
      { id: 1, linkType: 101, snaplen: 262144, unitsPerSecond: 1048576n, offsetSeconds: 10n, name: undefined, offset: 68 }
    ])
    expect(packets.map(plain)).to.deep.equal([
      { linkType: 1, timestampNs: T_NS, timestampMs: 1700000000123.456, capturedLength: 4, originalLength: 4, truncated: false, data: 'e0e1e2e3', offset: 112, recordLength: 36, interfaceId: 0, index: 0 },
      // 2^-20 s units: (1700000000.5 s) × 2^20, plus if_tsoffset 10 s
      { linkType: 101, timestampNs: 1700000010500000000n, timestampMs: 1700000010500, capturedLength: 5, originalLength: 5, truncated: false, data: '45000005ff', offset: 148, recordLength: 44, interfaceId: 1, index: 1 }
    ])
  })

  it('converts every decimal and binary if_tsresol exactly (floor to ns)', () => {
    for (const [resol, units, ns] of [
      [0, 5n, 5n * 1_000_000_000n], // seconds
      [3, 5n, 5_000_000n], // ms
      [6, 5n, 5000n],
      [9, 5n, 5n],
      [12, 5000n, 5n], // ps
      [0x80, 5n, 5_000_000_000n], // 2^0 s
      [0x8a, 1024n * 3n, 3_000_000_000n], // 2^-10 s
      [0x9e, 1n, 0n] // 2^-30 s: 0.93 ns → 0
    ] as const) {
      const file = concat(shb(), idb(1, 0, resol), epb(0, units, hex`00`))
      expect(readWhole(file).packets[0]!.timestampNs, `if_tsresol ${resol}`).to.equal(ns)
    }
  })

  it('starts afresh at each section: byte order and interface ids change', () => {
    const { reader, packets } = readWhole(PCAPNG_TWO_SECTIONS)
    expect(reader.sections).to.equal(2)
    expect(reader.interfaces).to.deep.equal([{ id: 0, linkType: 101, snaplen: 65535, unitsPerSecond: 1000000n, offsetSeconds: 0n, name: undefined, offset: 108 }])
    expect(packets.map((p) => [p.linkType, p.interfaceId, p.offset, toHexData(p)])).to.deep.equal([
      [1, 0, 48, ''],
      [101, 0, 128, '45']
    ])
  })

  it('skips an unknown block far larger than the chunks without buffering it', () => {
    const big = block(0x40000bad, new Uint8Array(1 << 20)) // a 1 MiB custom block
    const file = concat(shb(), idb(1), big, epb(0, 7n, hex`ab`))
    const reader = new PcapReader()
    const packets: PcapPacket[] = []
    let maxBuffered = 0
    for (const chunk of splitAt(file, Array.from({ length: file.length / 1000 }, (_, i) => (i + 1) * 1000))) {
      packets.push(...reader.push(chunk))
      maxBuffered = Math.max(maxBuffered, reader.bufferedBytes)
    }
    reader.end()
    expect(packets.map(toHexData)).to.deep.equal(['ab'])
    expect(maxBuffered).to.be.at.most(28)
  })

  it('buffers at most one block between chunks', () => {
    const blocks = [shb(), idb(1), epb(0, 1n, new Uint8Array(3000)), epb(0, 2n, new Uint8Array(100)), epb(0, 3n, new Uint8Array(7000))]
    const file = concat(...blocks)
    const largest = Math.max(...blocks.map((b) => b.length))
    const reader = new PcapReader()
    let n = 0
    for (const chunk of splitAt(file, Array.from({ length: 40 }, (_, i) => i * 257))) {
      n += reader.push(chunk).length
      expect(reader.bufferedBytes).to.be.at.most(largest)
    }
    reader.end()
    expect(n).to.equal(3)
  })
})

function toHexData (p: PcapPacket): string {
  return Buffer.from(p.data).toString('hex')
}

describe('readPcap and readPcapFile', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'tcpcopy-pcap-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('reads from a Node Readable', async () => {
    const stream = Readable.from(splitAt(PCAPNG_LE, [5, 50, 51, 100]).map((c) => Buffer.from(c)), { objectMode: false })
    const packets = await collect(readPcap(stream))
    expect(packets.map(plain)).to.deep.equal(readAll([PCAPNG_LE]).packets.map(plain))
  })

  it('reads from an async iterable and lets the caller watch the reader', async () => {
    async function * chunks (): AsyncGenerator<Uint8Array> {
      yield PCAP_LE_US.subarray(0, 30)
      yield PCAP_LE_US.subarray(30)
    }
    const reader = new PcapReader()
    const packets = await collect(readPcap(chunks(), reader))
    expect(packets).to.have.length(2)
    expect(reader.bytesConsumed).to.equal(PCAP_LE_US.length)
    expect(reader.format).to.equal('pcap')
  })

  it('reads a file in small chunks with node:fs', async () => {
    const path = join(dir, 'two-interfaces.pcapng')
    writeFileSync(path, PCAPNG_TWO_INTERFACES)
    const packets = await collect(readPcapFile(path, { highWaterMark: 7 }))
    expect(packets.map(plain)).to.deep.equal(readAll([PCAPNG_TWO_INTERFACES]).packets.map(plain))
  })

  it('stops reading when the consumer stops early', async () => {
    const path = join(dir, 'le.pcap')
    writeFileSync(path, PCAP_LE_US)
    let n = 0
    for await (const p of readPcapFile(path, { highWaterMark: 8 })) {
      n++
      expect(p.index).to.equal(0)
      break
    }
    expect(n).to.equal(1)
  })

  it('turns a missing file into an IoError with code TC_ERR_PCAP_READ', async () => {
    try {
      await collect(readPcapFile(join(dir, 'missing.pcap')))
      expect.fail('no error')
    } catch (err) {
      expect(err).to.be.instanceOf(IoError)
      expect((err as IoError).code).to.equal('TC_ERR_PCAP_READ')
      expect((err as IoError).syscall).to.equal('open')
      expect((err as IoError).errno).to.equal(2) // ENOENT
    }
  })

  it('stops with CanceledError when its signal aborts', async () => {
    const path = join(dir, 'abort.pcap')
    writeFileSync(path, PCAPNG_LE)
    const controller = new AbortController()
    const seen: number[] = []
    try {
      for await (const p of readPcapFile(path, { highWaterMark: 40, signal: controller.signal })) {
        seen.push(p.index)
        controller.abort()
      }
      expect.fail('no error')
    } catch (err) {
      expect(err).to.be.instanceOf(CanceledError)
    }
    expect(seen[0]).to.equal(0)
    expect(seen.length).to.be.lessThan(4)
  })

  it('refuses text chunks and pushes after end()', () => {
    const reader = new PcapReader()
    expect(() => reader.push('d4c3b2a1' as unknown as Uint8Array)).to.throw().that.satisfies((e: unknown) => isTcpcopyError(e, 'TC_ERR_PCAP_CHUNK'))
    reader.push(PCAP_LE_US)
    reader.end()
    expect(() => reader.push(PCAP_LE_US)).to.throw().that.satisfies((e: unknown) => isTcpcopyError(e, 'TC_ERR_PCAP_ENDED'))
  })
})

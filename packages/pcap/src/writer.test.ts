import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import fc from 'fast-check'
import { ConfigError, IoError } from '@tcpcopy/interface'
import { PCAP_BE_US, PCAP_LE_NS, PCAP_LE_US, T_NS, T_US, concat, hex, plain, readAll, toHex } from './fixtures.js'
import { LinkType } from './link-type.js'
import { readPcapFile, type PcapPacket } from './reader.js'
import { PcapWriter, createPcapFileWriter, encodePcap, encodePcapng, writePcapFile } from './writer.js'

const tcpdump = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' })
const haveTcpdump = tcpdump.status === 0

describe('pcap writer', () => {
  it('writes the file header field by field', () => {
    expect(toHex(new PcapWriter({ linkType: LinkType.Raw }).header())).to.equal(toHex(hex`
      d4 c3 b2 a1  // magic, little-endian, microseconds
      02 00 04 00  // version 2.4
      00 00 00 00  // thiszone
      00 00 00 00  // sigfigs
      00 00 04 00  // snaplen 262144
      65 00 00 00  // link type 101 (raw IP)
    `))
  })

  it('writes the fixture files byte for byte from their packets', () => {
    const le = new PcapWriter({ linkType: 1, snaplen: 65535 })
    const be = new PcapWriter({ linkType: 1, snaplen: 65535, littleEndian: false })
    const packets = [
      { timestampNs: T_US, data: hex`deadbeef` },
      { timestampNs: 1700000001000000000n, data: hex`cafe`, originalLength: 60 }
    ]
    expect(toHex(concat(le.header(), ...packets.map((p) => le.record(p))))).to.equal(toHex(PCAP_LE_US))
    expect(toHex(concat(be.header(), ...packets.map((p) => be.record(p))))).to.equal(toHex(PCAP_BE_US))
    expect(toHex(encodePcap([{ timestampNs: T_NS, data: hex`450000` }], { linkType: 101, nanosecond: true }))).to.equal(toHex(PCAP_LE_NS))
  })

  it('round-trips: encode → read → encode gives the same bytes, in every byte order and precision', () => {
    const packetArb = fc.record({
      timestampNs: fc.bigInt({ min: 0n, max: 0xffffffffn * 1_000_000_000n + 999_999_999n }),
      data: fc.uint8Array({ maxLength: 120 }),
      extra: fc.nat({ max: 2000 })
    })
    fc.assert(fc.property(fc.array(packetArb, { maxLength: 12 }), fc.boolean(), fc.boolean(), fc.constantFrom(1, 101, 113, 276),
      (packets, littleEndian, nanosecond, linkType) => {
        const options = { linkType, littleEndian, nanosecond }
        const input = packets.map((p) => ({ timestampNs: p.timestampNs, data: p.data, originalLength: p.data.length + p.extra }))
        const file = encodePcap(input, options)
        const { packets: read, error } = readAll([file])
        expect(error).to.equal(undefined)
        expect(read.map((p) => [toHex(p.data), p.originalLength, p.linkType, p.truncated])).to.deep.equal(
          input.map((p) => [toHex(p.data), p.originalLength, linkType, p.originalLength > p.data.length]))
        const precision = nanosecond ? 1n : 1000n
        expect(read.map((p) => p.timestampNs)).to.deep.equal(input.map((p) => (p.timestampNs / precision) * precision))
        expect(toHex(encodePcap(read, options))).to.equal(toHex(file))
      }), { numRuns: 200 })
  })

  it('cuts packets to the snaplen and keeps their original length', () => {
    const file = encodePcap([{ data: new Uint8Array(100).fill(7) }], { linkType: 1, snaplen: 64 })
    const [p] = readAll([file]).packets as [PcapPacket]
    expect([p.capturedLength, p.originalLength, p.truncated]).to.deep.equal([64, 100, true])
  })

  it('takes timestamps in ms too, exact to the µs', () => {
    const file = encodePcap([{ timestampMs: 1700000000123.456, data: hex`00` }], { linkType: 1 })
    expect(readAll([file]).packets[0]!.timestampNs).to.equal(T_US)
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_000_000_000_000_000 }), (us) => {
      const timestampMs = us / 1000
      const [p] = readAll([encodePcap([{ timestampMs, data: hex`00` }], { linkType: 1 })]).packets as [PcapPacket]
      expect(p.timestampNs).to.equal(BigInt(us) * 1000n)
      expect(p.timestampMs).to.equal(timestampMs)
    }), { numRuns: 500 })
  })

  it('rejects bad options with ConfigError TC_ERR_PCAP_WRITER_OPTION', () => {
    for (const make of [
      () => new PcapWriter({ linkType: -1 }),
      () => new PcapWriter({ linkType: 1.5 }),
      () => new PcapWriter({ linkType: 1, snaplen: 0 }),
      () => new PcapWriter({ linkType: 1 }).record({ data: hex`0102`, originalLength: 1 }),
      () => new PcapWriter({ linkType: 1 }).record({ data: hex`01`, timestampNs: -1n }),
      () => new PcapWriter({ linkType: 1 }).record({ data: hex`01`, timestampMs: NaN }),
      () => new PcapWriter({ linkType: 1 }).record({ data: hex`01`, timestampNs: 1n << 32n << 30n })
    ]) {
      expect(make).to.throw(ConfigError).with.property('code', 'TC_ERR_PCAP_WRITER_OPTION')
    }
  })

  describe('files', () => {
    let dir: string
    before(() => { dir = mkdtempSync(join(tmpdir(), 'tcpcopy-pcap-')) })
    after(() => { rmSync(dir, { recursive: true, force: true }) })

    it('writes a file from an async iterable that readPcapFile reads back', async () => {
      const path = join(dir, 'round-trip.pcap')
      async function * packets (): AsyncGenerator<{ timestampNs: bigint, data: Uint8Array }> {
        for (let i = 0; i < 1000; i++) yield { timestampNs: T_US + BigInt(i) * 1_000_000n, data: new Uint8Array(i % 300).fill(i & 0xff) }
      }
      expect(await writePcapFile(path, packets(), { linkType: LinkType.Ethernet })).to.equal(1000)
      let i = 0
      for await (const p of readPcapFile(path)) {
        expect(p.timestampNs).to.equal(T_US + BigInt(i) * 1_000_000n)
        expect(p.capturedLength).to.equal(i % 300)
        i++
      }
      expect(i).to.equal(1000)
    })

    it('records packets one at a time as they come, for e2e tests', async () => {
      const path = join(dir, 'recorded.pcap')
      const file = createPcapFileWriter(path, { linkType: LinkType.Raw })
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1))
        await file.write({ timestampMs: 1700000000000 + i, data: new Uint8Array([0x45, i]) })
      }
      expect(file.count).to.equal(3)
      expect(await file.close()).to.equal(3)
      expect(await file.close()).to.equal(3)
      const read: string[] = []
      for await (const p of readPcapFile(path)) read.push(`${p.timestampMs} ${toHex(p.data)} ${p.linkType}`)
      expect(read).to.deep.equal(['1700000000000 4500 101', '1700000000001 4501 101', '1700000000002 4502 101'])
      try {
        await file.write({ data: hex`00` })
        expect.fail('no error')
      } catch (err) {
        expect(err).to.have.property('code', 'TC_ERR_PCAP_ENDED')
      }
    })

    it('reports the failure when it arrives while packets are still coming', async () => {
      async function * slow (): AsyncGenerator<{ data: Uint8Array }> {
        for (let i = 0; i < 50; i++) {
          await new Promise((resolve) => setTimeout(resolve, 1))
          yield { data: hex`00` }
        }
      }
      try {
        await writePcapFile(join(dir, 'no-such-dir', 'slow.pcap'), slow(), { linkType: 1 })
        expect.fail('no error')
      } catch (err) {
        expect(err).to.be.instanceOf(IoError).with.property('code', 'TC_ERR_PCAP_WRITE')
        expect((err as IoError).syscall).to.equal('open')
      }
    })

    it('reports a file it cannot create as IoError TC_ERR_PCAP_WRITE', async () => {
      try {
        await writePcapFile(join(dir, 'no-such-dir', 'x.pcap'), [{ data: hex`00` }], { linkType: 1 })
        expect.fail('no error')
      } catch (err) {
        expect(err).to.be.instanceOf(IoError).with.property('code', 'TC_ERR_PCAP_WRITE')
      }
    })

    it(haveTcpdump ? 'writes files that tcpdump (libpcap) reads' : 'writes files that tcpdump (libpcap) reads — skipped: tcpdump is not installed', async function () {
      if (!haveTcpdump) this.skip()
      for (const nanosecond of [false, true]) {
        for (const littleEndian of [true, false]) {
          const path = join(dir, `tcpdump-${String(nanosecond)}-${String(littleEndian)}.pcap`)
          await writePcapFile(path, [
            { timestampNs: T_NS, data: hex`45000014 00000000 40060000 0a000001 0a000002` },
            { timestampNs: T_NS + 1_500_000_000n, data: hex`45000014 00000000 40060000 0a000002 0a000001` }
          ], { linkType: LinkType.Raw, nanosecond, littleEndian })
          const out = spawnSync('tcpdump', ['-r', path, '-nn', '-tt', '--time-stamp-precision=nano'], { encoding: 'utf8' })
          expect(out.status, out.stderr).to.equal(0)
          const frac = nanosecond ? '123456789' : '123456000'
          const lines = out.stdout.trim().split('\n')
          expect(lines).to.have.length(2)
          expect(lines[0]).to.match(new RegExp(`^1700000000\\.${frac} IP 10\\.0\\.0\\.1 > 10\\.0\\.0\\.2`))
          expect(lines[1]).to.match(new RegExp(`^1700000001\\.${nanosecond ? '623456789' : '623456000'} IP 10\\.0\\.0\\.2 > 10\\.0\\.0\\.1`))
        }
      }
    })
  })
})

describe('pcapng writer', () => {
  const packets = [
    { data: new Uint8Array([1, 2, 3]), timestampNs: 1_700_000_000_123_456_789n },
    { data: new Uint8Array(61).fill(7), timestampNs: 1_700_000_001_000_000_001n, originalLength: 1500 }
  ]

  it('writes a section header, one interface and an Enhanced Packet Block per packet, padded to 4 bytes', () => {
    const b = encodePcapng(packets.slice(0, 1), { linkType: LinkType.Ethernet })
    expect(toHex(b.subarray(0, 28))).to.equal(toHex(hex`
      0a 0d 0d 0a  1c 00 00 00  // SHB, 28 bytes
      4d 3c 2b 1a  01 00 00 00  // byte-order magic, version 1.0
      ff ff ff ff  ff ff ff ff  // section length unknown
      1c 00 00 00`))
    expect(toHex(b.subarray(28, 48))).to.equal(toHex(hex`
      01 00 00 00  14 00 00 00  // IDB, 20 bytes
      01 00 00 00  00 00 04 00  // Ethernet, snaplen 262144
      14 00 00 00`))
    // EPB: 12 + 20 + 3 data bytes padded to 4 = 36
    expect(toHex(b.subarray(48, 56))).to.equal(toHex(hex`06 00 00 00  24 00 00 00`))
    expect(b.length).to.equal(48 + 36)
  })

  it('round-trips through the reader: link type, data, lengths and timestamps (µs, or ns with if_tsresol 9)', () => {
    for (const nanosecond of [false, true]) {
      const b = encodePcapng(packets, { linkType: LinkType.Raw, nanosecond })
      const { packets: got, error } = readAll([b.subarray(0, 7), b.subarray(7)])
      expect(error).to.equal(undefined)
      expect(got.map((p) => [p.linkType, Array.from(p.data.subarray(0, 3)), p.data.length, p.originalLength, p.timestampNs])).to.deep.equal([
        [LinkType.Raw, [1, 2, 3], 3, 3, nanosecond ? packets[0]!.timestampNs : 1_700_000_000_123_456_000n],
        [LinkType.Raw, [7, 7, 7], 61, 1500, nanosecond ? packets[1]!.timestampNs : 1_700_000_001_000_000_000n]
      ])
    }
  })

  it('converts a classic pcap: the same packets come back from either file', () => {
    const classic = encodePcap(packets, { linkType: LinkType.Ethernet, nanosecond: true })
    const read = readAll([classic]).packets
    const ng = encodePcapng(read, { linkType: read[0]!.linkType, nanosecond: true })
    // the same packets (the file offsets and record sizes differ between the formats)
    const same = (p: PcapPacket): Record<string, unknown> => ({ ...plain(p), offset: undefined, recordLength: undefined })
    expect(readAll([ng]).packets.map(same)).to.deep.equal(read.map(same))
  })
})

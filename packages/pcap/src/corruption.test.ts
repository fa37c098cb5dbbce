import { expect } from 'chai'
import { ProtocolError } from '@tcpcopy/interface'
import { PcapErrorCode, PcapFormatError } from './errors.js'
import { PCAP_LE_US, PCAPNG_LE, PCAPNG_TWO_SECTIONS, block, concat, epb, hex, idb, readAll, shb, splitAt } from './fixtures.js'
import { PcapReader, readPcap, type PcapPacket } from './reader.js'

/** A copy of `file` with the little-endian u32 at `at` replaced. */
function patch32 (file: Uint8Array, at: number, value: number, le = true): Uint8Array {
  const out = file.slice()
  new DataView(out.buffer).setUint32(at, value, le)
  return out
}

interface Expected {
  readonly code: string
  /** Byte offset of the record or block that was wrong. */
  readonly offset: number
  /** Offsets of the packets that must be read before the error. */
  readonly before: number[]
}

/** Checks the outcome whole, fed one byte at a time, and through the async iterator. */
async function expectCorrupt (input: Uint8Array, want: Expected): Promise<PcapFormatError> {
  const check = (packets: PcapPacket[], error: unknown, how: string): PcapFormatError => {
    expect(packets.map((p) => p.offset), `packets before the error (${how})`).to.deep.equal(want.before)
    expect(error, how).to.be.instanceOf(PcapFormatError)
    expect(error).to.be.instanceOf(ProtocolError)
    const e = error as PcapFormatError
    expect(e.code, how).to.equal(want.code)
    expect(e.offset, how).to.equal(want.offset)
    expect(e.message).to.contain(`byte offset ${want.offset}`)
    return e
  }
  const whole = readAll([input])
  const err = check(whole.packets, whole.error, 'whole')
  const bytes = readAll(Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1)))
  check(bytes.packets, bytes.error, 'one byte at a time')
  const streamed: PcapPacket[] = []
  let streamError: unknown
  try {
    for await (const p of readPcap(splitAt(input, [3, 17, 45, 100]))) streamed.push(p)
  } catch (e) {
    streamError = e
  }
  check(streamed, streamError, 'readPcap')
  return err
}

describe('corrupt and truncated input', () => {
  describe('bad magic and versions', () => {
    it('rejects a file that is neither pcap nor pcapng at offset 0', async () => {
      await expectCorrupt(hex`00 11 22 33  44 55 66 77`, { code: PcapErrorCode.badMagic, offset: 0, before: [] })
    })

    it('says so when the file is gzip-compressed', async () => {
      const e = await expectCorrupt(hex`1f 8b 08 00  00 00 00 00`, { code: PcapErrorCode.badMagic, offset: 0, before: [] })
      expect(e.message).to.contain('gzip')
    })

    it('rejects a pcap version other than 2', async () => {
      const file = PCAP_LE_US.slice()
      file[4] = 3 // version 3.4
      await expectCorrupt(file, { code: PcapErrorCode.badVersion, offset: 0, before: [] })
    })

    it('rejects a bad byte-order magic in a later section, after the packets of the first', async () => {
      const file = patch32(PCAPNG_TWO_SECTIONS, 88, 0x11223344) // the second SHB is at 80
      await expectCorrupt(file, { code: PcapErrorCode.badMagic, offset: 80, before: [48] })
    })

    it('rejects a pcapng section of major version 2', async () => {
      const file = PCAPNG_TWO_SECTIONS.slice()
      file[93] = 2 // big-endian major version of the SHB at 80
      await expectCorrupt(file, { code: PcapErrorCode.badVersion, offset: 80, before: [48] })
    })
  })

  describe('captured length', () => {
    const SNAPLEN_4 = hex`
      d4 c3 b2 a1  // magic, little-endian, microseconds
      02 00 04 00  // version 2.4
      00 00 00 00  // thiszone
      00 00 00 00  // sigfigs
      04 00 00 00  // snaplen 4
      01 00 00 00  // Ethernet
      // record at 24
      00 00 00 00  // ts_sec
      00 00 00 00  // ts_usec
      04 00 00 00  // incl_len 4 = snaplen
      05 00 00 00  // orig_len 5
      01 02 03 04  // data
      // record at 44
      00 00 00 00  // ts_sec
      00 00 00 00  // ts_usec
      05 00 00 00  // incl_len 5 > snaplen
      05 00 00 00  // orig_len 5
      01 02 03 04 05
    `

    it('rejects a record longer than the snaplen', async () => {
      await expectCorrupt(SNAPLEN_4, { code: PcapErrorCode.capturedLength, offset: 44, before: [24] })
    })

    it('rejects a record longer than 256 KiB before reading its data', async () => {
      const file = patch32(patch32(SNAPLEN_4, 16, 0xffffffff), 52, 262145).subarray(0, 60)
      await expectCorrupt(file, { code: PcapErrorCode.capturedLength, offset: 44, before: [24] })
    })

    it('rejects an Enhanced Packet Block longer than its interface\'s snaplen', async () => {
      const file = concat(shb(), idb(1, 2), epb(0, 0n, hex`0102`), epb(0, 0n, hex`010203`))
      await expectCorrupt(file, { code: PcapErrorCode.capturedLength, offset: 84, before: [48] })
    })

    it('rejects an Enhanced Packet Block whose captured length does not fit in the block', async () => {
      const file = patch32(PCAPNG_LE, 156 + 20, 8) // the last EPB has room for 4 bytes
      await expectCorrupt(file, { code: PcapErrorCode.capturedLength, offset: 156, before: [48, 84, 104] })
    })
  })

  describe('block lengths', () => {
    it('rejects a block length that is not a multiple of 4', async () => {
      const file = patch32(PCAPNG_LE, 144, 17) // the Name Resolution Block at 140
      await expectCorrupt(file, { code: PcapErrorCode.blockLength, offset: 140, before: [48, 84, 104] })
    })

    it('rejects an Enhanced Packet Block too short for its fields', async () => {
      const file = patch32(PCAPNG_LE, 160, 28)
      await expectCorrupt(file, { code: PcapErrorCode.blockLength, offset: 156, before: [48, 84, 104] })
    })

    it('rejects a packet block over 16 MiB without buffering it', async () => {
      const file = patch32(PCAPNG_LE, 160, 32 * 1024 * 1024)
      await expectCorrupt(file, { code: PcapErrorCode.blockLength, offset: 156, before: [48, 84, 104] })
    })

    it('rejects a trailing length that differs from the leading one', async () => {
      const file = patch32(PCAPNG_LE, 188, 40) // trailer of the EPB at 156
      await expectCorrupt(file, { code: PcapErrorCode.trailerMismatch, offset: 156, before: [48, 84, 104] })
    })

    it('checks the trailing length of skipped blocks too', async () => {
      const file = patch32(PCAPNG_LE, 152, 20) // trailer of the Name Resolution Block at 140
      await expectCorrupt(file, { code: PcapErrorCode.trailerMismatch, offset: 140, before: [48, 84, 104] })
    })

    it('checks the trailing length of an unknown block skipped across chunks', async () => {
      const big = block(0x40000bad, new Uint8Array(5000))
      const bad = patch32(big, big.length - 4, 12)
      const file = concat(shb(), idb(1), epb(0, 0n, hex`00`), bad, epb(0, 0n, hex`00`))
      await expectCorrupt(file, { code: PcapErrorCode.trailerMismatch, offset: 84, before: [48] })
    })
  })

  describe('interfaces and options', () => {
    it('rejects a packet for an interface its section did not define', async () => {
      const file = PCAPNG_TWO_SECTIONS.slice()
      file[139] = 1 // interface id of the EPB at 128 (big-endian u32 at 136); the second section has only interface 0
      await expectCorrupt(file, { code: PcapErrorCode.unknownInterface, offset: 128, before: [48] })
    })

    it('rejects a Simple Packet Block before any interface', async () => {
      await expectCorrupt(concat(shb(), block(3, hex`01000000 aa000000`)), { code: PcapErrorCode.unknownInterface, offset: 28, before: [] })
    })

    it('rejects an option that runs past the end of its block', async () => {
      const file = concat(shb(), block(1, hex`
        01 00 00 00  // Ethernet
        00 00 00 00  // snaplen
        02 00 64 00  // if_name, length 100: more than the block holds
        65 74 68 30`))
      await expectCorrupt(file, { code: PcapErrorCode.badOption, offset: 28, before: [] })
    })

    it('rejects an if_tsresol that is not one byte', async () => {
      const file = concat(shb(), block(1, hex`
        01 00 00 00  // Ethernet
        00 00 00 00  // snaplen
        09 00 02 00  // if_tsresol, length 2
        06 00 00 00
        00 00 00 00`))
      await expectCorrupt(file, { code: PcapErrorCode.badOption, offset: 28, before: [] })
    })
  })

  describe('truncation at the end of the input', () => {
    it('reports an empty input at offset 0', async () => {
      await expectCorrupt(new Uint8Array(0), { code: PcapErrorCode.truncated, offset: 0, before: [] })
    })

    it('reports an input shorter than the magic number', async () => {
      await expectCorrupt(hex`d4 c3`, { code: PcapErrorCode.truncated, offset: 0, before: [] })
    })

    it('reports a truncated pcap file header', async () => {
      await expectCorrupt(PCAP_LE_US.subarray(0, 10), { code: PcapErrorCode.truncated, offset: 0, before: [] })
    })

    it('reports a truncated record header after the whole records', async () => {
      await expectCorrupt(PCAP_LE_US.subarray(0, 50), { code: PcapErrorCode.truncated, offset: 44, before: [24] })
    })

    it('reports truncated record data after the whole records', async () => {
      const e = await expectCorrupt(PCAP_LE_US.subarray(0, 61), { code: PcapErrorCode.truncated, offset: 44, before: [24] })
      expect(e.message).to.contain('needs 18 bytes').and.contain('ends after 17')
    })

    it('reports a truncated pcapng block after the whole blocks', async () => {
      await expectCorrupt(PCAPNG_LE.subarray(0, 170), { code: PcapErrorCode.truncated, offset: 156, before: [48, 84, 104] })
    })

    it('reports a truncated unknown block that was being skipped', async () => {
      const file = concat(shb(), idb(1), epb(0, 0n, hex`00`), block(0x40000bad, new Uint8Array(5000)))
      await expectCorrupt(file.subarray(0, 3000), { code: PcapErrorCode.truncated, offset: 84, before: [48] })
    })
  })

  it('keeps throwing the same error once failed', () => {
    const reader = new PcapReader()
    const packets = reader.push(PCAP_LE_US.subarray(0, 50))
    expect(packets).to.have.length(1)
    expect(() => reader.end()).to.throw(PcapFormatError)
    const first = reader.error
    expect(() => reader.push(PCAP_LE_US)).to.throw().that.equals(first)
    expect(() => reader.end()).to.throw().that.equals(first)
  })

  it('returns the packets before a corrupt record from the same push, and throws on the next call', () => {
    const reader = new PcapReader()
    const packets = reader.push(patch32(PCAPNG_LE, 188, 40))
    expect(packets.map((p) => p.offset)).to.deep.equal([48, 84, 104])
    expect(reader.error?.code).to.equal(PcapErrorCode.trailerMismatch)
    expect(() => reader.end()).to.throw(PcapFormatError)
  })
})

import { expect } from 'chai'
import fc from 'fast-check'
import type { PcapFormatError } from './errors.js'
import {
  PCAP_BE_NS, PCAP_BE_US, PCAP_LE_NS, PCAP_LE_US, PCAPNG_BE, PCAPNG_LE, PCAPNG_TWO_INTERFACES, PCAPNG_TWO_SECTIONS,
  block, concat, epb, idb, plain, readAll, shb, splitAt
} from './fixtures.js'
import { encodePcap } from './writer.js'

const FIXTURES = { PCAP_LE_US, PCAP_BE_US, PCAP_LE_NS, PCAP_BE_NS, PCAPNG_LE, PCAPNG_BE, PCAPNG_TWO_INTERFACES, PCAPNG_TWO_SECTIONS }

function outcome (chunks: Iterable<Uint8Array>): { packets: Array<Record<string, unknown>>, error: { code: string, offset: number } | undefined } {
  const { packets, error } = readAll(chunks)
  const e = error as PcapFormatError | undefined
  return { packets: packets.map(plain), error: e === undefined ? undefined : { code: e.code, offset: e.offset } }
}

/** A larger file: several sections, interfaces, unknown blocks and packet sizes. */
const MIXED = concat(
  shb(), idb(1), idb(101, 0, 9),
  epb(0, 1n, new Uint8Array(70).fill(1)), block(0x40000bad, new Uint8Array(300)),
  epb(1, 2n, new Uint8Array(0)), epb(1, 3n, new Uint8Array(1).fill(3), 90),
  shb(), idb(113, 1000, 0x83),
  epb(0, 4n, new Uint8Array(1000).fill(4)), block(5, new Uint8Array(20)), epb(0, 5n, new Uint8Array(13).fill(5))
)
const CLASSIC = encodePcap(Array.from({ length: 20 }, (_, i) => ({ timestampNs: BigInt(i) * 1_234_567_000n, data: new Uint8Array(i * 7).fill(i) })), { linkType: 1 })

describe('chunking', () => {
  for (const [name, file] of Object.entries(FIXTURES)) {
    it(`yields the same packets for ${name} cut at every byte offset, and fed one byte at a time`, () => {
      const whole = outcome([file])
      expect(whole.error).to.equal(undefined)
      expect(whole.packets).to.not.be.empty
      for (let cut = 0; cut <= file.length; cut++) {
        expect(outcome(splitAt(file, [cut])), `cut at ${cut}`).to.deep.equal(whole)
      }
      const bytes = Array.from({ length: file.length }, (_, i) => file.subarray(i, i + 1))
      expect(outcome(bytes)).to.deep.equal(whole)
    })
  }

  it('yields the same packets for every pair of cuts in a pcapng file', () => {
    const file = PCAPNG_LE
    const whole = outcome([file])
    for (let a = 1; a < file.length; a++) {
      for (let b = a; b < file.length; b++) expect(outcome(splitAt(file, [a, b]))).to.deep.equal(whole)
    }
  })

  it('yields the same packets for random chunkings (fast-check)', () => {
    for (const file of [MIXED, CLASSIC]) {
      const whole = outcome([file])
      expect(whole.packets.length).to.be.greaterThan(4)
      fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: file.length }), { maxLength: 60 }), (cuts) => {
        expect(outcome(splitAt(file, cuts))).to.deep.equal(whole)
      }), { numRuns: 300 })
    }
  })

  it('reports the same error at the same offset after the same packets, however a corrupt file is cut', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: MIXED.length - 1 }), fc.integer({ min: 0, max: 255 }),
      fc.array(fc.integer({ min: 0, max: MIXED.length }), { maxLength: 20 }),
      (at, value, cuts) => {
        const bad = MIXED.slice()
        bad[at] = value
        const whole = outcome([bad])
        expect(outcome(splitAt(bad, cuts))).to.deep.equal(whole)
        expect(outcome(splitAt(bad, [at]))).to.deep.equal(whole)
      }), { numRuns: 400 })
  })

  it('reports the same truncation, however a cut-short file is chunked', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: MIXED.length - 1 }),
      fc.array(fc.integer({ min: 0, max: MIXED.length }), { maxLength: 20 }),
      (end, cuts) => {
        const short = MIXED.subarray(0, end)
        const whole = outcome([short])
        // cut at a block boundary, the file is whole; anywhere else it is truncated
        if (whole.error !== undefined) expect(whole.error.code).to.equal('TC_ERR_PCAP_TRUNCATED')
        expect(outcome(splitAt(short, cuts))).to.deep.equal(whole)
      }), { numRuns: 300 })
  })
})

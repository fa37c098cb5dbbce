import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import { concat, hex, toHex, V3_PACKET, V3_RECORD_1X, V4_DATA_PACKET, V4_FRAME, V4_RECORD2_1X } from './fixtures.js'
import { combinedFrameLength, combMaxNum, COMB_MAX_NUM, COMB_MAX_NUM_PAYLOAD, decodeCombinedFrame, encodeCombinedFrame, encodePlainRecords } from './framing.js'
import { decodeRecord, encodeRecord, type RecordFormat } from './records.js'

const F1X: RecordFormat = { dialect: '1.x', payload: false }
const F09: RecordFormat = { dialect: '0.9', payload: false }
const F1X_P: RecordFormat = { dialect: '1.x', payload: true }

function code (expected: string): (err: unknown) => boolean {
  return (err) => isTcpcopyError(err, expected)
}

/** A hex dump as printed in PROTOCOL.md: `0000: xx xx …   <- note` lines. */
function dump (text: string): Uint8Array {
  return hex(text.split('\n').map((line) => line.replace(/^\s*[0-9a-f]{4}:/, '').replace(/<-.*$/, '')).join(' '))
}

// V4 exactly as printed in PROTOCOL.md §8
const V4_AS_PRINTED = dump(`
0000: 00 02 45 00 00 3c 00 00 40 00 40 06 25 ba 0a 00   <- count=2, record 1 (V3)
0010: 01 02 0a 00 00 01 1f 90 9c 40 11 22 33 44 01 02
0020: 03 05 a0 12 72 10 fe 9d 00 00 02 04 05 b4 04 02
0030: 08 0a 00 00 ab cd 00 00 12 34 01 03 03 07 00 00
0040: 00 00 45 00 00 39 1a 2b 40 00 40 06 0b 92 0a 00   <- record 2 starts at 0x42
0050: 01 02 0a 00 00 01 1f 90 9c 40 11 22 33 45 01 02
0060: 03 69 50 18 00 e5 d5 6b 00 00 00 00 00 00 00 00
0070: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0080: 00 00`)

describe('combined framing', () => {
  it('has the V4 fixture equal to the dump printed in the spec', () => {
    expect(V4_AS_PRINTED.length).to.equal(130)
    expect(toHex(V4_FRAME)).to.equal(toHex(V4_AS_PRINTED))
  })

  it('encodes the two V4 records to the 130-byte frame of the spec', () => {
    const frame = encodeCombinedFrame([encodeRecord(V3_PACKET, F1X), encodeRecord(V4_DATA_PACKET, F1X)], F1X)
    expect(frame.length).to.equal(combinedFrameLength(2, F1X)).and.equal(130)
    expect(toHex(frame)).to.equal(toHex(V4_FRAME))
  })

  it('decodes the V4 frame into its two records; record 2 starts at 0x42', () => {
    const records = decodeCombinedFrame(V4_FRAME, F1X)
    expect(records.map(toHex)).to.deep.equal([toHex(V3_RECORD_1X), toHex(V4_RECORD2_1X)])
    expect(records[1]?.byteOffset).to.equal(V4_FRAME.byteOffset + 0x42)
    expect(decodeRecord(records[1] ?? hex``, F1X).payloadLength).to.equal(17)
  })

  it('encodes at an offset into a larger buffer and decodes from there', () => {
    const big = new Uint8Array(140).fill(0xee)
    expect(encodeCombinedFrame([V3_RECORD_1X, V4_RECORD2_1X], F1X, big, 5)).to.equal(big)
    expect(toHex(big.subarray(5, 135))).to.equal(toHex(V4_FRAME))
    expect([big[4], big[135]]).to.deep.equal([0xee, 0xee])
    expect(toHex(encodeCombinedFrame(decodeCombinedFrame(big, F1X, 5), F1X))).to.equal(toHex(V4_FRAME))
  })

  it('allows 16 records per frame, 6 in payload builds', () => {
    expect([combMaxNum(F1X), combMaxNum(F09), combMaxNum(F1X_P)]).to.deep.equal([COMB_MAX_NUM, 16, COMB_MAX_NUM_PAYLOAD])
    expect(COMB_MAX_NUM_PAYLOAD).to.equal(6)
    const sixteen = encodeCombinedFrame(Array(16).fill(V3_RECORD_1X), F1X)
    expect(decodeCombinedFrame(sixteen, F1X)).to.have.length(16)
    expect(() => encodeCombinedFrame(Array(17).fill(V3_RECORD_1X), F1X)).to.throw(/17 records/).that.satisfies(code('TC_ERR_PROTO_COUNT'))
    const payloadRecord = encodeRecord(V4_DATA_PACKET, F1X_P)
    expect(decodeCombinedFrame(encodeCombinedFrame(Array(6).fill(payloadRecord), F1X_P), F1X_P)).to.have.length(6)
    expect(() => encodeCombinedFrame(Array(7).fill(payloadRecord), F1X_P)).to.throw().that.satisfies(code('TC_ERR_PROTO_COUNT'))
  })

  it('refuses a decoded count above the limit with TC_ERR_PROTO_COUNT naming count, limit and likely cause', () => {
    const frame = concat(hex`00 11  // count 17`, new Uint8Array(17 * 64))
    expect(() => decodeCombinedFrame(frame, F1X)).to.throw(/17 records.*at most 16.*record size.*combined/).that.satisfies(code('TC_ERR_PROTO_COUNT'))
    // a 1.x reader on a plain 0.9 stream reads 0x4500 as a count
    expect(() => decodeCombinedFrame(V3_RECORD_1X, F1X)).to.throw(/17664 records/).that.satisfies(code('TC_ERR_PROTO_COUNT'))
  })

  it('accepts a count of 0 as an empty frame but never encodes one', () => {
    expect(decodeCombinedFrame(hex`00 00`, F1X)).to.deep.equal([])
    expect(() => encodeCombinedFrame([], F1X)).to.throw().that.satisfies(code('TC_ERR_PROTO_COUNT'))
  })

  it('refuses records of the wrong size and frames cut short', () => {
    expect(() => encodeCombinedFrame([V3_RECORD_1X], F09)).to.throw(/64 bytes/).that.satisfies(code('TC_ERR_PROTO_RECORD_SIZE'))
    expect(() => decodeCombinedFrame(V4_FRAME.subarray(0, 129), F1X)).to.throw().that.satisfies(code('TC_ERR_PROTO_TRUNCATED'))
    expect(() => decodeCombinedFrame(hex`00`, F1X)).to.throw().that.satisfies(code('TC_ERR_PROTO_TRUNCATED'))
  })
})

describe('plain framing', () => {
  it('is the records back to back with nothing between them', () => {
    const stream = encodePlainRecords([V3_RECORD_1X, V4_RECORD2_1X], F1X)
    expect(toHex(stream)).to.equal(toHex(V4_FRAME.subarray(2)))
    const big = new Uint8Array(130).fill(0xee)
    encodePlainRecords([V3_RECORD_1X, V4_RECORD2_1X], F1X, big, 1)
    expect(toHex(big.subarray(1, 129))).to.equal(toHex(stream))
    expect([big[0], big[129]]).to.deep.equal([0xee, 0xee])
    expect(encodePlainRecords([], F1X)).to.have.length(0)
  })
})

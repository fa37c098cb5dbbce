import { expect } from 'chai'
import fc from 'fast-check'
import { isTcpcopyError } from '@tcpcopy/interface'
import { ClientSideDecoder, type ClientSideDecoderOptions } from './client-decoder.js'
import { concat, hex, split, toHex, V3_RECORD_09, V3_RECORD_1X, V4_DATA_PACKET, V4_FRAME, V4_RECORD2_1X } from './fixtures.js'
import { encodeCombinedFrame, encodePlainRecords } from './framing.js'
import { decodeRecord, encodeRecord, recordSize, type RecordFormat } from './records.js'

const F1X: RecordFormat = { dialect: '1.x', payload: false }
const F09: RecordFormat = { dialect: '0.9', payload: false }
const F09_P: RecordFormat = { dialect: '0.9', payload: true }

function code (expected: string): (err: unknown) => boolean {
  return (err) => isTcpcopyError(err, expected)
}

/** V4, then a frame of record 2 alone, an empty frame, and V4 again */
const COMBINED = concat(V4_FRAME, hex`00 01`, V4_RECORD2_1X, hex`00 00  // count 0`, V4_FRAME)
const COMBINED_RECORDS = [V3_RECORD_1X, V4_RECORD2_1X, V4_RECORD2_1X, V3_RECORD_1X, V4_RECORD2_1X].map(toHex)
const PLAIN = encodePlainRecords([V3_RECORD_1X, V4_RECORD2_1X, V3_RECORD_1X], F1X)
const PLAIN_RECORDS = [V3_RECORD_1X, V4_RECORD2_1X, V3_RECORD_1X].map(toHex)

interface Result { records: string[], frames: number, error: unknown }

/** Feeds the chunks to a new decoder; returns the records as hex, the frame count and the error, if any. */
function run (chunks: Uint8Array[], options: ClientSideDecoderOptions): Result {
  const decoder = new ClientSideDecoder(options)
  const views: Uint8Array[] = []
  let error: unknown
  try {
    for (const chunk of chunks) {
      decoder.push(chunk, views)
      expect(decoder.buffered).to.be.below(recordSize(options.format))
    }
    decoder.end()
  } catch (err) {
    error = err
  }
  // views stay valid: the decoder never writes to a record it handed out
  return { records: views.map(toHex), frames: decoder.frames, error }
}

describe('ClientSideDecoder', () => {
  it('cuts combined frames into records, empty frames included', () => {
    expect(run([COMBINED], { format: F1X, combined: true })).to.deep.equal({ records: COMBINED_RECORDS, frames: 4, error: undefined })
  })

  it('gives the same records for a combined stream split at every byte offset, and byte by byte', () => {
    for (let cut = 0; cut <= COMBINED.length; cut++) {
      expect(run(split(COMBINED, [cut]), { format: F1X, combined: true }), `cut at ${cut}`)
        .to.deep.equal({ records: COMBINED_RECORDS, frames: 4, error: undefined })
    }
    const bytes = Array.from(COMBINED, (_, i) => COMBINED.slice(i, i + 1))
    expect(run(bytes, { format: F1X, combined: true })).to.deep.equal({ records: COMBINED_RECORDS, frames: 4, error: undefined })
  })

  it('gives the same records for a plain stream split at every byte offset', () => {
    for (let cut = 0; cut <= PLAIN.length; cut++) {
      expect(run(split(PLAIN, [cut]), { format: F1X, combined: false }), `cut at ${cut}`)
        .to.deep.equal({ records: PLAIN_RECORDS, frames: 0, error: undefined })
    }
  })

  it('gives the same records for any random chunking, in every format', () => {
    const formats = [F1X, F09, F09_P, { dialect: '1.x', payload: true } as const]
    fc.assert(fc.property(
      fc.constantFrom(...formats),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 30 }),
      (format, combined, counts, cuts) => {
        const record = encodeRecord(V4_DATA_PACKET, format)
        const frames = counts.map((n) => Array<Uint8Array>(n).fill(record))
        const stream = concat(...frames.map((f) => combined ? encodeCombinedFrame(f, format) : encodePlainRecords(f, format)))
        const whole = run([stream], { format, combined })
        expect(whole.records).to.have.length(counts.reduce((a, b) => a + b, 0))
        expect(whole.error).to.equal(undefined)
        expect(run(split(stream, cuts.map((c) => c % stream.length)), { format, combined })).to.deep.equal(whole)
      }))
  })

  it('refuses a count above 16 with TC_ERR_PROTO_COUNT, keeping the records before it', () => {
    const bad = concat(V4_FRAME, hex`00 11  // count 17`, new Uint8Array(17 * 64))
    for (let cut = 0; cut <= 140; cut += 7) {
      const { records, error } = run(split(bad, [cut]), { format: F1X, combined: true })
      expect(records).to.deep.equal(COMBINED_RECORDS.slice(0, 2))
      expect(error).to.satisfy(code('TC_ERR_PROTO_COUNT'))
      expect((error as Error).message).to.match(/17 records.*at most 16/)
    }
  })

  it('refuses a count above 6 in payload builds', () => {
    const { error } = run([hex`00 07`], { format: F09_P, combined: true })
    expect(error).to.satisfy(code('TC_ERR_PROTO_COUNT'))
    expect((error as Error).message).to.match(/at most 6/)
  })

  it('detects a peer with combined mode off: the first IP header byte reads as a huge count', () => {
    const { records, error } = run([PLAIN], { format: F1X, combined: true })
    expect(records).to.deep.equal([])
    expect(error).to.satisfy(code('TC_ERR_PROTO_COUNT'))
  })

  it('detects a record-size mismatch with TC_ERR_PROTO_RECORD', () => {
    // 0.9 records read as 1.x: the second "record" starts in the zero tail of the first
    const plain09 = encodePlainRecords([V3_RECORD_09, V3_RECORD_09], F09)
    const asPlain1x = run([plain09], { format: F1X, combined: false })
    expect(asPlain1x.records).to.have.length(1)
    expect(asPlain1x.error).to.satisfy(code('TC_ERR_PROTO_RECORD'))
    expect((asPlain1x.error as Error).message).to.match(/record 1 .* 0x00/)
    // a 1.x frame read as 0.9: the second record starts inside record 2
    expect(run([V4_FRAME, new Uint8Array(32)], { format: F09, combined: true }).error).to.satisfy(code('TC_ERR_PROTO_RECORD'))
    // without validation the bytes pass through
    expect(run([plain09.subarray(0, 128)], { format: F1X, combined: false, validate: false }).records).to.have.length(2)
  })

  it('keeps throwing the same error after a desync', () => {
    const decoder = new ClientSideDecoder({ format: F1X, combined: true })
    expect(() => decoder.push(hex`ff ff`)).to.throw().that.satisfies(code('TC_ERR_PROTO_COUNT'))
    const first = decoder.error
    expect(() => decoder.push(V4_FRAME)).to.throw().that.equals(first)
    expect(() => decoder.end()).to.throw().that.equals(first)
  })

  it('decodes records on request, with the same result as decodeRecord on the views', () => {
    const decoder = new ClientSideDecoder({ format: F1X, combined: true })
    const decoded = [...decoder.pushDecoded(COMBINED.subarray(0, 100)), ...decoder.pushDecoded(COMBINED.subarray(100))]
    expect(decoded).to.deep.equal([V3_RECORD_1X, V4_RECORD2_1X, V4_RECORD2_1X, V3_RECORD_1X, V4_RECORD2_1X].map((r) => decodeRecord(r, F1X)))
    expect(decoded[1]?.payloadLength).to.equal(17)
    expect(decoder.records).to.equal(5)
  })

  it('keeps payload views of records that spanned chunks intact across later pushes', () => {
    const record = encodeRecord(V4_DATA_PACKET, F09_P)
    const stream = encodeCombinedFrame([record, record, record], F09_P)
    const decoder = new ClientSideDecoder({ format: F09_P, combined: true })
    const out = decoder.pushDecoded(stream.subarray(0, 300))
    out.push(...decoder.pushDecoded(stream.subarray(300, 500)))
    out.push(...decoder.pushDecoded(stream.subarray(500)))
    expect(out.map((r) => new TextDecoder().decode(r.payload))).to.deep.equal(Array(3).fill('HTTP/1.1 200 OK\r\n'))
  })

  it('points views into the chunk when a record lies inside it', () => {
    const views = new ClientSideDecoder({ format: F1X, combined: true }).push(V4_FRAME)
    expect(views[0]?.buffer).to.equal(V4_FRAME.buffer)
    expect(views[1]?.byteOffset).to.equal(V4_FRAME.byteOffset + 0x42)
  })

  it('reports a stream that ends inside a frame as TC_ERR_PROTO_TRUNCATED', () => {
    for (const end of [1, 2, 66, 129]) {
      expect(run([V4_FRAME.subarray(0, end)], { format: F1X, combined: true }).error, `end at ${end}`).to.satisfy(code('TC_ERR_PROTO_TRUNCATED'))
    }
    expect(run([V4_FRAME], { format: F1X, combined: true }).error).to.equal(undefined)
  })

  it('holds less than one record after 1 MiB in one chunk', () => {
    const frame = encodeCombinedFrame(Array<Uint8Array>(16).fill(V3_RECORD_09), F09)
    const frames = Math.ceil((1 << 20) / frame.length)
    const stream = new Uint8Array(frames * frame.length + 2 + 79)
    for (let i = 0; i < frames; i++) stream.set(frame, i * frame.length)
    stream.set(hex`00 01`, frames * frame.length)
    stream.set(V3_RECORD_09.subarray(0, 79), frames * frame.length + 2)
    const decoder = new ClientSideDecoder({ format: F09, combined: true })
    expect(decoder.push(stream)).to.have.length(frames * 16)
    expect(decoder.buffered).to.equal(79)
    expect(decoder.frames).to.equal(frames + 1)
    expect(decoder.push(hex`00`)).to.have.length(1)
    expect(decoder.buffered).to.equal(0)
  })
})

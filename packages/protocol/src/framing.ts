// Framing of the intercept → tcpcopy stream (PROTOCOL.md §4): plain
// concatenation of records, or combined frames [u16 count][count × record].
import { ProtocolError } from '@tcpcopy/interface'
import { checkAvailable, readU16, target, writeU16 } from './bytes.js'
import { recordSize, type RecordFormat } from './records.js'

/** Records per combined frame at most (`COMB_MAX_NUM`, since 0.9.8). */
export const COMB_MAX_NUM = 16
/** Records per combined frame at most in payload builds. */
export const COMB_MAX_NUM_PAYLOAD = 6
/** The u16 count in front of a combined frame. */
export const COMB_HEADER_SIZE = 2

/** How the stream is framed; both ends must agree, nothing negotiates it. */
export type Framing = 'combined' | 'plain'

/** Largest count a combined frame of `format` may announce: 16, or 6 in payload builds. */
export function combMaxNum (format: RecordFormat): number {
  return format.payload ? COMB_MAX_NUM_PAYLOAD : COMB_MAX_NUM
}

function describe (format: RecordFormat): string {
  return `${format.dialect}${format.payload ? ' payload' : ''} records of ${recordSize(format)} bytes`
}

/** The error of a combined count above the limit; names the count, the limit and the likely cause. */
export function countError (count: number, format: RecordFormat): ProtocolError {
  return new ProtocolError(
    `combined frame announces ${count} records but at most ${combMaxNum(format)} fit (${describe(format)}): ` +
    'the peer probably uses another record size (0.9 vs 1.x, payload build or not) or has combined mode set differently',
    'TC_ERR_PROTO_COUNT')
}

/** Bytes of a combined frame of `count` records. */
export function combinedFrameLength (count: number, format: RecordFormat): number {
  return COMB_HEADER_SIZE + count * recordSize(format)
}

function checkRecords (records: readonly Uint8Array[], format: RecordFormat): number {
  const size = recordSize(format)
  records.forEach((record, i) => {
    if (record.length !== size) {
      throw new ProtocolError(`record ${i} is ${record.length} bytes; ${describe(format)} are ${size}`, 'TC_ERR_PROTO_RECORD_SIZE')
    }
  })
  return size
}

/**
 * Encodes one combined frame, `[count][records…]`, at `offset` of `buf` (a
 * new buffer when none is given) and returns the buffer. Like intercept, it
 * sends 1..COMB_MAX_NUM records; other counts throw TC_ERR_PROTO_COUNT.
 */
export function encodeCombinedFrame (records: readonly Uint8Array[], format: RecordFormat, buf?: Uint8Array, offset = 0): Uint8Array {
  if (records.length > combMaxNum(format)) throw countError(records.length, format)
  if (records.length === 0) throw new ProtocolError('a combined frame carries at least 1 record, got 0', 'TC_ERR_PROTO_COUNT')
  const size = checkRecords(records, format)
  const out = target(buf, offset, combinedFrameLength(records.length, format), 'combined frame')
  writeU16(out, offset, records.length)
  records.forEach((record, i) => out.set(record, offset + COMB_HEADER_SIZE + i * size))
  return out
}

/**
 * Decodes the combined frame at `offset`: views of its records, in order.
 * A count of 0 gives an empty array (the original accepts it); a count above
 * COMB_MAX_NUM throws TC_ERR_PROTO_COUNT. Use ClientSideDecoder for a stream.
 */
export function decodeCombinedFrame (buf: Uint8Array, format: RecordFormat, offset = 0): Uint8Array[] {
  checkAvailable(buf, offset, COMB_HEADER_SIZE, 'combined frame header')
  const count = readU16(buf, offset)
  if (count > combMaxNum(format)) throw countError(count, format)
  const size = recordSize(format)
  checkAvailable(buf, offset, combinedFrameLength(count, format), `combined frame of ${count} records`)
  const records: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const start = offset + COMB_HEADER_SIZE + i * size
    records.push(buf.subarray(start, start + size))
  }
  return records
}

/** Encodes records for a plain (non-combined) stream: their concatenation. */
export function encodePlainRecords (records: readonly Uint8Array[], format: RecordFormat, buf?: Uint8Array, offset = 0): Uint8Array {
  const size = checkRecords(records, format)
  const out = target(buf, offset, records.length * size, 'plain record run')
  records.forEach((record, i) => out.set(record, offset + i * size))
  return out
}

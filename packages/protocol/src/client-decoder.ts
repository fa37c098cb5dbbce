// What tcpcopy runs per intercept connection (PROTOCOL.md §4): cuts the
// intercept → tcpcopy stream into records, plain or combined.
import { ProtocolError } from '@tcpcopy/interface'
import { readU16 } from './bytes.js'
import { COMB_HEADER_SIZE, combMaxNum, countError } from './framing.js'
import { decodeRecord, recordSize, type RecordFormat, type ResponseRecord } from './records.js'
import { Reassembler } from './reassembler.js'

export interface ClientSideDecoderOptions {
  /** Record dialect and payload variant; must match the intercept's build. */
  format: RecordFormat
  /** Combined frames ([u16 count][records]), the default of both originals; false for --disable-combined. */
  combined: boolean
  /**
   * Check that each record starts with an IPv4 header byte (0x45..0x4f), the
   * cheapest sign that the stream is out of step (TC_ERR_PROTO_RECORD).
   * Every record a real intercept sends passes. Default true.
   */
  validate?: boolean
}

const NO_VIEWS: Uint8Array[] = [] //         stand in between pushes; never written
const NO_RECORDS: ResponseRecord[] = []

/**
 * Decodes the intercept → tcpcopy stream of one connection, split at any
 * byte boundary, into records as soon as each one is complete. It carries
 * over less than one record (`buffered` < record size). A combined count
 * above COMB_MAX_NUM is TC_ERR_PROTO_COUNT; a count of 0 is an empty frame.
 * After a ProtocolError every push throws the same error.
 */
export class ClientSideDecoder extends Reassembler {
  readonly format: RecordFormat
  readonly combined: boolean
  readonly #size: number
  readonly #max: number
  readonly #validate: boolean
  /** Records still due in the current combined frame. */
  #remaining = 0
  #frames = 0
  #records = 0
  #views: Uint8Array[] = NO_VIEWS
  #decoded: ResponseRecord[] = NO_RECORDS
  #decode = false

  constructor (options: ClientSideDecoderOptions) {
    const size = recordSize(options.format)
    super(size)
    this.format = { dialect: options.format.dialect, payload: options.format.payload }
    this.combined = options.combined
    this.#size = size
    this.#max = combMaxNum(options.format)
    this.#validate = options.validate ?? true
  }

  /** Combined frame headers read so far (empty frames included). */
  get frames (): number {
    return this.#frames
  }

  /** Records completed so far. */
  get records (): number {
    return this.#records
  }

  /**
   * Appends a view of each record `chunk` completes to `out` (a new array by
   * default) and returns it. Views point into `chunk` where the record lies
   * inside it, else into a fresh copy; the decoder never writes to them. When
   * it throws, `out` holds the records before the bad bytes.
   */
  push (chunk: Uint8Array, out: Uint8Array[] = []): Uint8Array[] {
    this.#views = out
    this.#decode = false
    try {
      this.feed(chunk)
    } finally {
      this.#views = NO_VIEWS
    }
    return out
  }

  /** Like push, but appends each record decoded with decodeRecord. */
  pushDecoded (chunk: Uint8Array, out: ResponseRecord[] = []): ResponseRecord[] {
    this.#decoded = out
    this.#decode = true
    try {
      this.feed(chunk)
    } finally {
      this.#decoded = NO_RECORDS
    }
    return out
  }

  protected need (): number {
    return this.combined && this.#remaining === 0 ? COMB_HEADER_SIZE : this.#size
  }

  protected override midUnit (): boolean {
    return super.midUnit() || this.#remaining > 0
  }

  protected unitName (): string {
    if (!this.combined) return 'record'
    return this.#remaining === 0 ? 'combined frame header' : `combined frame (${this.#remaining} records due)`
  }

  protected unit (buf: Uint8Array, off: number, carried: boolean): void {
    if (this.combined && this.#remaining === 0) {
      const count = readU16(buf, off)
      if (count > this.#max) throw countError(count, this.format)
      this.#frames++
      this.#remaining = count
      return
    }
    if (this.#validate) {
      const b0 = buf[off] as number
      if (b0 < 0x45 || b0 > 0x4f) {
        throw new ProtocolError(
          `record ${this.#records} of the stream starts with 0x${b0.toString(16).padStart(2, '0')}, not an IPv4 header (0x45..0x4f): ` +
          `the stream is out of step; the peer probably uses another record size than ${this.#size} bytes (0.9 vs 1.x, payload build or not) ` +
          `or has combined mode ${this.combined ? 'off' : 'on'}`,
          'TC_ERR_PROTO_RECORD')
      }
    }
    if (this.combined) this.#remaining--
    this.#records++
    const record = carried ? buf.slice(off, off + this.#size) : buf.subarray(off, off + this.#size)
    if (this.#decode) this.#decoded.push(decodeRecord(record, this.format))
    else this.#views.push(record)
  }
}

// The shared core of the stream decoders: cuts a byte stream, split at any
// boundary, into fixed-size units whose size depends on the decoder's state.
// At most one unfinished unit is carried over between chunks. Internal.
import { ProtocolError } from '@tcpcopy/interface'

export abstract class Reassembler {
  readonly #carry: Uint8Array
  #carryLen = 0
  #error: unknown = undefined

  constructor (largestUnit: number) {
    this.#carry = new Uint8Array(largestUnit)
  }

  /** Bytes held over from earlier chunks: always less than one message or record. */
  get buffered (): number {
    return this.#carryLen
  }

  /** The error that stopped this decoder, if one did; every later push throws it again. */
  get error (): unknown {
    return this.#error
  }

  /** Bytes the next unit needs, given the current state. */
  protected abstract need (): number

  /**
   * Consumes one whole unit at `off` of `buf`. `carried` is true when `buf`
   * is the internal carry buffer, which the next chunk overwrites: copy
   * anything kept.
   */
  protected abstract unit (buf: Uint8Array, off: number, carried: boolean): void

  /** True when the stream stopped inside a unit or a frame. */
  protected midUnit (): boolean {
    return this.#carryLen > 0
  }

  protected feed (chunk: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error
    try {
      let pos = 0
      if (this.#carryLen > 0) {
        const need = this.need()
        const n = Math.min(need - this.#carryLen, chunk.length)
        this.#carry.set(chunk.subarray(0, n), this.#carryLen)
        this.#carryLen += n
        pos = n
        if (this.#carryLen < need) return
        this.#carryLen = 0
        this.unit(this.#carry, 0, true)
      }
      let need = this.need()
      while (chunk.length - pos >= need) {
        this.unit(chunk, pos, false)
        pos += need
        need = this.need()
      }
      if (pos < chunk.length) {
        this.#carry.set(chunk.subarray(pos), 0)
        this.#carryLen = chunk.length - pos
      }
    } catch (err) {
      this.#carryLen = 0
      this.#error = err
      throw err
    }
  }

  /** Throws TC_ERR_PROTO_TRUNCATED when the stream ended inside a unit; call it when the peer closes. */
  end (): void {
    if (this.#error !== undefined) throw this.#error
    if (this.midUnit()) {
      throw new ProtocolError(
        `the stream ended inside a ${this.unitName()} (${this.#carryLen} bytes of ${this.need()} held)`,
        'TC_ERR_PROTO_TRUNCATED')
    }
  }

  protected abstract unitName (): string
}

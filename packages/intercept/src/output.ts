// The output side of one control connection: what intercept has handed to
// the socket and not yet seen leave. Every byte is counted where it sits:
//
// - in the socket's own write buffer (writableLength): only exactly sized
//   copies are written, so the buffers the socket keeps alive are exactly the
//   bytes it reports, and only while the socket does not ask for a drain (up
//   to its high-water mark, 16 KiB) plus the write that crossed it;
// - beyond that, in this object's staging blocks (64 KiB each, filled to the
//   last byte), written in one go when the socket drains.
//
// pendingBytes is therefore what the connection really holds, within one
// block; the engine compares it with the per-connection and global caps
// before it hands over a record.

/** What ConnOutput needs of a socket (net.Socket has it). */
export interface OutputSocket {
  write (chunk: Uint8Array): boolean
  readonly writableLength: number
  readonly writableNeedDrain: boolean
  readonly destroyed: boolean
  on (event: 'drain', listener: () => void): unknown
}

/** Staging block size: large enough that a backed-up connection holds few objects. */
export const STAGE_BLOCK = 64 * 1024

export class ConnOutput {
  readonly #socket: OutputSocket
  readonly #blocks: Uint8Array[] = []
  /** Bytes used in the last block. */
  #tailUsed = 0
  #staged = 0
  /** Called after a drain moved staged bytes to the socket (the engine updates its totals). */
  onChange: (() => void) | undefined

  constructor (socket: OutputSocket) {
    this.#socket = socket
    socket.on('drain', () => { this.#drain() })
  }

  /** Bytes waiting in staging blocks. */
  get staged (): number { return this.#staged }

  /** Bytes this connection holds unsent: the socket's buffer plus the staging blocks. */
  get pendingBytes (): number { return this.#socket.writableLength + this.#staged }

  /** Memory the staging blocks take (whole blocks). */
  get stagedCapacity (): number { return this.#blocks.length * STAGE_BLOCK }

  /**
   * Sends `bytes` (valid during the call only): an exact copy to the socket
   * while it takes data without asking for a drain; otherwise into the
   * staging blocks, behind what is already staged, to keep the order.
   */
  write (bytes: Uint8Array): void {
    if (this.#socket.destroyed) return
    if (this.#staged === 0 && !this.#socket.writableNeedDrain) {
      this.#socket.write(bytes.slice())
      return
    }
    this.#stage(bytes)
  }

  /** Hands every staged byte to the socket now (before end() at shutdown), drain or not. */
  flush (): void {
    if (this.#staged === 0 || this.#socket.destroyed) return
    for (const chunk of this.#take()) this.#socket.write(chunk)
  }

  /** Forgets the staged bytes (the connection is gone); returns how many there were. */
  discard (): number {
    const n = this.#staged
    this.#blocks.length = 0
    this.#tailUsed = 0
    this.#staged = 0
    return n
  }

  #stage (bytes: Uint8Array): void {
    let at = 0
    while (at < bytes.length) {
      let tail = this.#blocks[this.#blocks.length - 1]
      if (tail === undefined || this.#tailUsed === tail.length) {
        tail = new Uint8Array(STAGE_BLOCK)
        this.#blocks.push(tail)
        this.#tailUsed = 0
      }
      const n = Math.min(tail.length - this.#tailUsed, bytes.length - at)
      tail.set(bytes.subarray(at, at + n), this.#tailUsed)
      this.#tailUsed += n
      at += n
    }
    this.#staged += bytes.length
  }

  /** The staged bytes as exactly sized chunks (full blocks as they are, the last one cut), and empty staging. */
  #take (): Uint8Array[] {
    const out = this.#blocks.slice()
    const last = out.length - 1
    if (last >= 0 && this.#tailUsed < STAGE_BLOCK) out[last] = out[last]!.slice(0, this.#tailUsed)
    this.discard()
    return out
  }

  #drain (): void {
    if (this.#staged === 0 || this.#socket.destroyed) return
    // One write per block: the socket asks for the next drain once they are out.
    for (const chunk of this.#take()) this.#socket.write(chunk)
    this.onChange?.()
  }
}

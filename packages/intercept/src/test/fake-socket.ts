// A control socket whose peer never reads: it keeps every chunk written to
// it, as net.Socket keeps unsent chunks, and reports writableLength and
// writableNeedDrain the way net.Socket does (high-water mark 16 KiB). The
// test decides when the peer reads (drain()).
import { EventEmitter } from 'node:events'
import type * as net from 'node:net'

export class FakeSocket extends EventEmitter {
  readonly remoteAddress: string
  readonly remotePort: number
  readonly writableHighWaterMark = 16 * 1024
  /** Every chunk handed to write(), in order; the peer has read the first `readUpTo`. */
  readonly writes: Uint8Array[] = []
  #unsent = 0
  #readUpTo = 0
  destroyed = false
  ended = false

  constructor (address = '127.0.0.1', port = 40999) {
    super()
    this.remoteAddress = address
    this.remotePort = port
  }

  get writableLength (): number { return this.#unsent }
  get writableNeedDrain (): boolean { return this.#unsent >= this.writableHighWaterMark }

  /** Memory the unsent chunks keep alive: the whole ArrayBuffer behind each view. */
  get retainedBytes (): number {
    let n = 0
    for (let i = this.#readUpTo; i < this.writes.length; i++) n += this.writes[i]!.buffer.byteLength
    return n
  }

  /** Every byte written so far. */
  get bytes (): Uint8Array {
    const out = new Uint8Array(this.writes.reduce((s, w) => s + w.length, 0))
    let at = 0
    for (const w of this.writes) { out.set(w, at); at += w.length }
    return out
  }

  write (chunk: Uint8Array): boolean {
    if (this.destroyed) return false
    this.writes.push(chunk)
    this.#unsent += chunk.length
    return !this.writableNeedDrain
  }

  /** The peer reads everything unsent; 'drain' follows when a drain was due. */
  drain (): void {
    const due = this.writableNeedDrain
    this.#unsent = 0
    this.#readUpTo = this.writes.length
    if (due) this.emit('drain')
  }

  /** What the peer sends. */
  receive (bytes: Uint8Array): void { this.emit('data', Buffer.from(bytes)) }

  setNoDelay (): this { return this }
  pause (): this { return this }
  resume (): this { return this }
  end (): this {
    this.ended = true
    return this
  }

  destroy (): this {
    if (this.destroyed) return this
    this.destroyed = true
    setImmediate(() => this.emit('close'))
    return this
  }

  /** As the engine sees it. */
  asSocket (): net.Socket { return this as unknown as net.Socket }
}

// A session's packet list (T1 slide_win_packs, TCPCOPY.md §5.2): the
// captured packets in seq order; [0, sent) went to the target and wait for
// its ACK (the retransmission queue), [sent, length) wait to be sent.
//
// The common cases cost O(1): a packet appended in order, the next packet
// sent or consumed, acknowledged packets dropped from the front. The counts
// the engine asks on every response ("is any client data pending?",
// "is any unsent?") are kept as counters instead of scans.
import type { BufferedPacket } from './packet-store.js'

/** Compact the backing array once this many dropped slots lead it (and they are at least half of it). */
const COMPACT_AT = 64

export class PacketQueue {
  #items: BufferedPacket[] = []
  /** Index of the first live packet in #items. */
  #head = 0
  #sent = 0
  #data = 0
  #unsentData = 0

  /** Packets held. */
  get length (): number { return this.#items.length - this.#head }
  /** Packets sent and not yet acknowledged: [0, sent). */
  get sent (): number { return this.#sent }
  /** Packets with payload (sent or not): client data the target has not acknowledged. */
  get dataPackets (): number { return this.#data }
  /** Packets with payload not sent yet. */
  get unsentData (): number { return this.#unsentData }
  /** A packet waits to be sent. */
  get hasNext (): boolean { return this.#sent < this.length }

  /** Packet i (0 = the oldest). */
  at (i: number): BufferedPacket {
    return this.#items[this.#head + i]!
  }

  /** The next packet to send (check hasNext first). */
  get next (): BufferedPacket {
    return this.#items[this.#head + this.#sent]!
  }

  /** Inserts `p` at position `pos` (sent ≤ pos ≤ length): at the end in the common, in-order case. */
  insert (pos: number, p: BufferedPacket): void {
    if (pos < this.#sent || pos > this.length) throw new RangeError(`packet queue: insert at ${pos} outside [${this.#sent}, ${this.length}]`)
    if (pos === this.length) this.#items.push(p)
    else this.#items.splice(this.#head + pos, 0, p)
    if (p.payload > 0) {
      this.#data++
      this.#unsentData++
    }
  }

  /** The next packet was sent: the cursor moves past it. */
  advance (): void {
    const p = this.next
    this.#sent++
    if (p.payload > 0) this.#unsentData--
  }

  /** Removes the next packet (consumed without sending) and returns it. */
  removeNext (): BufferedPacket {
    const p = this.next
    if (p.payload > 0) {
      this.#data--
      this.#unsentData--
    }
    if (this.#sent === 0) {
      this.#items[this.#head] = undefined as unknown as BufferedPacket
      this.#head++
      this.#maybeCompact()
    } else {
      this.#items.splice(this.#head + this.#sent, 1)
    }
    return p
  }

  /** The next packet goes out without its payload (a RST clamped to the next seq). */
  dropNextPayload (): void {
    const p = this.next
    if (p.payload > 0) {
      this.#data--
      this.#unsentData--
    }
    p.payload = 0
    p.skip = 0
  }

  /** Removes the k oldest packets (all sent), calling `release` on each. */
  dropFront (k: number, release: (p: BufferedPacket) => void): void {
    if (k > this.#sent) throw new RangeError(`packet queue: dropping ${k} packets, only ${this.#sent} were sent`)
    const items = this.#items
    for (let i = 0; i < k; i++) {
      const p = items[this.#head]!
      if (p.payload > 0) this.#data--
      items[this.#head] = undefined as unknown as BufferedPacket
      this.#head++
      release(p)
    }
    this.#sent -= k
    this.#maybeCompact()
  }

  /** Removes every unsent packet, calling `release` on each; returns how many. */
  dropUnsent (release: (p: BufferedPacket) => void): number {
    const from = this.#head + this.#sent
    const items = this.#items
    const n = items.length - from
    for (let i = from; i < items.length; i++) {
      const p = items[i]!
      if (p.payload > 0) this.#data--
      release(p)
    }
    items.length = from
    this.#unsentData = 0
    return n
  }

  /**
   * Back to the start: nothing counts as sent; packets for which `drop`
   * says true are removed (and `release`d), the others get `keep` called.
   */
  rewind (drop: (p: BufferedPacket) => boolean, release: (p: BufferedPacket) => void, keep: (p: BufferedPacket) => void): void {
    const out: BufferedPacket[] = []
    let data = 0
    for (let i = this.#head; i < this.#items.length; i++) {
      const p = this.#items[i]!
      if (drop(p)) {
        release(p)
        continue
      }
      keep(p)
      out.push(p)
      if (p.payload > 0) data++
    }
    this.#items = out
    this.#head = 0
    this.#sent = 0
    this.#data = data
    this.#unsentData = data
  }

  /** Empties the queue, calling `each(p, unsent)` on every packet. */
  clear (each: (p: BufferedPacket, unsent: boolean) => void): void {
    const items = this.#items
    for (let i = this.#head; i < items.length; i++) each(items[i]!, i - this.#head >= this.#sent)
    this.#items = []
    this.#head = 0
    this.#sent = 0
    this.#data = 0
    this.#unsentData = 0
  }

  /** The first packet for which `fn` is true, or undefined. */
  find (fn: (p: BufferedPacket) => boolean): BufferedPacket | undefined {
    for (let i = this.#head; i < this.#items.length; i++) if (fn(this.#items[i]!)) return this.#items[i]
    return undefined
  }

  /** Recounts everything and says what disagrees with the counters ([] when consistent). */
  check (seqAfter: (a: number, b: number) => boolean): string[] {
    const problems: string[] = []
    let data = 0
    let unsent = 0
    for (let i = 0; i < this.length; i++) {
      const p = this.at(i)
      if (p.payload > 0) {
        data++
        if (i >= this.#sent) unsent++
      }
      if (i > this.#sent && seqAfter(this.at(i - 1).seq, p.seq)) problems.push(`unsent packet ${i} (seq ${p.seq}) is before packet ${i - 1} (seq ${this.at(i - 1).seq})`)
    }
    if (this.#sent > this.length) problems.push(`sent ${this.#sent} > length ${this.length}`)
    if (data !== this.#data) problems.push(`data packets: counter ${this.#data}, counted ${data}`)
    if (unsent !== this.#unsentData) problems.push(`unsent data packets: counter ${this.#unsentData}, counted ${unsent}`)
    return problems
  }

  #maybeCompact (): void {
    const h = this.#head
    if (h === this.#items.length) {
      this.#items.length = 0
      this.#head = 0
    } else if (h >= COMPACT_AT && h * 2 >= this.#items.length) {
      this.#items.copyWithin(0, h)
      this.#items.length -= h
      this.#head = 0
    }
  }
}

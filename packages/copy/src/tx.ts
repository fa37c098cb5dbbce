// Outgoing packets: each one is written into the core's TX region, its
// checksums are computed there by the WASM core, and a descriptor
// [offset, length, IPv4 destination, 0] is appended at TX_DESC_OFF. flush()
// hands the batch to the send PacketIo (raw IPv4, or AF_PACKET with an
// Ethernet header for pcap-send, TCPCOPY.md §3.5).
import type { Core } from '@tcpcopy/core'
import type { PacketIo } from '@tcpcopy/interface'
import { MAX_BATCH, TX_DESC_OFF, TX_OFF, TX_SIZE } from '@tcpcopy/wasm'
import type { TargetEntry } from './filter.js'

const ETH_HLEN = 14

export class Tx {
  readonly #core: Core
  readonly #bytes: Uint8Array
  readonly #dv: DataView
  #io: PacketIo | undefined
  #ethernet = false
  #off = TX_OFF
  #n = 0
  /** Packets the kernel did not take (EAGAIN), since the start. */
  dropped = 0
  /** Packets handed to the PacketIo, since the start. */
  sent = 0

  constructor (core: Core) {
    this.#core = core
    this.#bytes = core.bytes
    this.#dv = core.view
  }

  attach (io: PacketIo): void {
    this.#io = io
    this.#ethernet = io.kind === 'packet'
  }

  get pending (): number { return this.#n }

  /**
   * Where to write an IPv4 packet of `len` bytes (8-byte aligned; in pcap-send
   * mode 14 bytes are kept free before it for the Ethernet header). Flushes
   * first when the batch is full.
   */
  reserve (len: number): number {
    const head = this.#ethernet ? ETH_HLEN : 0
    if (this.#n >= MAX_BATCH || this.#off + head + len > TX_OFF + TX_SIZE) this.flush()
    return this.#off + head
  }

  /**
   * Finishes the packet written at ipOff: IP and TCP checksums (WASM), the
   * Ethernet header in pcap-send mode, the descriptor. `ihl` in bytes.
   */
  commit (ipOff: number, ipLen: number, ihl: number, target: TargetEntry): void {
    const dv = this.#dv
    const ex = this.#core.exports
    dv.setUint16(ipOff + 10, ex.ipChecksumCompute(ipOff, ihl))
    dv.setUint16(ipOff + ihl + 16, ex.tcpChecksumCompute(ipOff, ipLen))
    let off = ipOff
    let len = ipLen
    if (this.#ethernet) {
      off -= ETH_HLEN
      len += ETH_HLEN
      if (target.nextHopMac !== undefined) this.#bytes.set(target.nextHopMac, off)
      else this.#bytes.fill(0, off, off + 6)
      if (target.sourceMac !== undefined) this.#bytes.set(target.sourceMac, off + 6)
      else this.#bytes.fill(0, off + 6, off + 12)
      dv.setUint16(off + 12, 0x0800)
    }
    const d = TX_DESC_OFF + this.#n * 16
    dv.setUint32(d, off, true)
    dv.setUint32(d + 4, len, true)
    dv.setUint32(d + 8, target.targetIp, false) // the 4 address bytes in network order
    dv.setUint32(d + 12, 0, true)
    this.#n++
    this.#off = (ipOff + ipLen + 7) & ~7
  }

  /** Sends the batch. Throws what the PacketIo throws (a hard send error). */
  flush (): void {
    const n = this.#n
    if (n === 0) return
    this.#n = 0
    this.#off = TX_OFF
    const io = this.#io
    if (io === undefined || io.closed) {
      this.dropped += n
      return
    }
    const took = io.send(n)
    this.sent += took
    if (took < n) this.dropped += n - took
  }

  /** Forgets the batch without sending it. */
  discard (): void {
    this.#n = 0
    this.#off = TX_OFF
  }
}

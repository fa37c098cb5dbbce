// Outgoing packets: each one is written into the core's TX region, its
// checksums are computed there by the WASM core, and a descriptor
// [offset, length, IPv4 destination, 0] is appended at TX_DESC_OFF. flush()
// hands the batch to the send PacketIo (raw IPv4, or AF_PACKET with an
// Ethernet header for pcap-send, TCPCOPY.md §3.5).
//
// Send failures are handled here, for every caller (a flush at the end of a
// turn or one forced mid-turn by a full batch): flush() never throws.
// PacketIo.send(n) returns k < n when datagram k failed with a hard error
// (the error is thrown by the next call) or when the socket buffer is full.
// So after a short return the rest is offered again: a throw then concerns
// its first datagram, which is counted, reported and skipped, and the
// others still go out; "0 sent, no error" means the buffer is full, and the
// rest is dropped (counted). An error of the socket itself (closed, bad
// descriptor, device gone) is fatal: reported once, and every later packet
// is dropped.
import type { Core } from '@tcpcopy/core'
import { IoError, type PacketIo } from '@tcpcopy/interface'
import { MAX_BATCH, TX_DESC_OFF, TX_OFF, TX_SIZE } from '@tcpcopy/wasm'
import type { TargetEntry } from './filter.js'

const ETH_HLEN = 14
const DESC = 16

/** errnos that mean the socket (or its device) is unusable, not that one datagram was refused. */
const FATAL_ERRNOS = new Set([
  6, //   ENXIO: AF_PACKET socket without a usable device
  9, //   EBADF
  14, //  EFAULT
  19, //  ENODEV: the -o device is gone
  88, //  ENOTSOCK
  89, //  EDESTADDRREQ
  95, //  EOPNOTSUPP
  107 //  ENOTCONN
])

/**
 * True when a send error means the socket is unusable. Per-datagram errors
 * (EPERM/EACCES from a firewall rule, EHOSTUNREACH, ENETUNREACH, EMSGSIZE,
 * ENETDOWN, …) are not: they concern one packet, and the others can still go.
 */
export function isFatalSendError (err: unknown): boolean {
  if (!(err instanceof IoError)) return true
  return FATAL_ERRNOS.has(err.errno)
}

/** Receives every send failure: `fatal` says whether the socket is unusable from now on. */
export type SendErrorHandler = (err: unknown, fatal: boolean) => void

export class Tx {
  readonly #core: Core
  readonly #bytes: Uint8Array
  readonly #dv: DataView
  #io: PacketIo | undefined
  #ethernet = false
  #off = TX_OFF
  #n = 0
  #broken = false
  readonly #onError: SendErrorHandler
  /** Packets not sent, since the start: the kernel's buffer was full (EAGAIN), a hard error, or the socket broke. */
  dropped = 0
  /** Of those, packets refused with a hard error. */
  errors = 0
  /** Packets the PacketIo took, since the start. */
  sent = 0

  constructor (core: Core, onError: SendErrorHandler = () => {}) {
    this.#core = core
    this.#bytes = core.bytes
    this.#dv = core.view
    this.#onError = onError
  }

  /** A fatal send error happened: every later packet is dropped. */
  get broken (): boolean { return this.#broken }

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
    const d = TX_DESC_OFF + this.#n * DESC
    dv.setUint32(d, off, true)
    dv.setUint32(d + 4, len, true)
    dv.setUint32(d + 8, target.targetIp, false) // the 4 address bytes in network order
    dv.setUint32(d + 12, 0, true)
    this.#n++
    this.#off = (ipOff + ipLen + 7) & ~7
  }

  /** Sends the batch. Never throws: failures go to the error handler and the counters. */
  flush (): void {
    const n = this.#n
    if (n === 0) return
    this.#n = 0
    this.#off = TX_OFF
    const io = this.#io
    if (io === undefined || io.closed || this.#broken) {
      this.dropped += n
      return
    }
    let left = n
    while (left > 0) {
      let took: number
      try {
        took = io.send(left)
      } catch (err) {
        if (isFatalSendError(err)) {
          this.#broken = true
          this.dropped += left
          this.#onError(err, true)
          return
        }
        // The first datagram offered was refused: skip it, offer the rest.
        this.errors++
        this.dropped++
        this.#onError(err, false)
        left = this.#shift(left, 1)
        continue
      }
      took = Math.max(0, Math.min(took, left))
      this.sent += took
      if (took === 0) {
        // Nothing taken and no error: the socket buffer is full.
        this.dropped += left
        return
      }
      left = this.#shift(left, took)
    }
  }

  /** Moves the descriptors after the first `by` of the `left` remaining ones to TX_DESC_OFF; returns how many remain. */
  #shift (left: number, by: number): number {
    const rest = left - by
    if (rest > 0) {
      const from = TX_DESC_OFF + by * DESC
      this.#bytes.copyWithin(TX_DESC_OFF, from, from + rest * DESC)
    }
    return rest
  }

  /** Forgets the batch without sending it. */
  discard (): void {
    this.#n = 0
    this.#off = TX_OFF
  }
}

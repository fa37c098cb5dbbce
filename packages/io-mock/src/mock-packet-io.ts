// An in-memory PacketIo: datagrams handed to deliver() wait in a queue until
// receive() copies them into the regions of a WebAssembly memory, exactly as
// the native shim does with a socket. Deterministic: no timers; onReadable
// listeners run in one queueMicrotask after data arrives.
import {
  CanceledError, ConfigError, IoError,
  type PacketIo, type PacketIoKind, type PacketIoOptions, type PacketIoRegions, type PacketIoStats
} from '@tcpcopy/interface'

const EFAULT = 14

/** Where a MockPacketIo's sent datagrams go: the network or a kernel-queue helper. */
export type MockSendSink = (datagram: Uint8Array, dst: number, from: MockPacketIo) => void

export interface MockPacketIoOptions extends PacketIoOptions {
  /** Default 'packet'. */
  kind?: PacketIoKind
  /** A label for messages and MockNetwork lookups. Default 'mock'. */
  name?: string
  /** Where send() puts datagrams. Default: nowhere (they are only counted). */
  sink?: MockSendSink
}

function align8 (n: number): number { return (n + 7) & ~7 }

function checkCount (what: string, value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${name}: ${what} must be a non-negative integer, got ${String(value)}`, 'TC_ERR_CONFIG_IO')
  }
  return value
}

function checkRegions (r: PacketIoRegions, snap: number, name: string): void {
  const size = r.memory.buffer.byteLength
  for (const [what, v] of [['rxDescOff', r.rxDescOff], ['rxDataOff', r.rxDataOff], ['rxDataSize', r.rxDataSize], ['txDescOff', r.txDescOff]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > size) {
      throw new ConfigError(`${name}: regions.${what} must be an offset inside the memory (0..${size}), got ${String(v)}`, 'TC_ERR_CONFIG_IO')
    }
  }
  if (r.rxDataOff + r.rxDataSize > size) {
    throw new ConfigError(`${name}: the receive area [${r.rxDataOff}, +${r.rxDataSize}) runs past the memory (${size} bytes)`, 'TC_ERR_CONFIG_IO')
  }
  const usable = r.rxDataOff + r.rxDataSize - align8(r.rxDataOff)
  if (!Number.isInteger(snap) || snap < 1 || snap > usable) {
    throw new ConfigError(`${name}: snap must be an integer 1..${usable} (the 8-byte aligned receive area), got ${String(snap)}`, 'TC_ERR_CONFIG_IO')
  }
}

export class MockPacketIo implements PacketIo {
  readonly kind: PacketIoKind
  readonly name: string
  readonly regions: PacketIoRegions
  readonly snap: number
  sink: MockSendSink | undefined
  #queue: Uint8Array[] = []
  #head = 0
  #listeners: Array<() => void> = []
  #notifyQueued = false
  #closed = false
  #failNext: Array<{ errno: number, syscall: string }> = []
  #sendLimit: number | undefined
  #stats: PacketIoStats = { received: 0, sent: 0, truncated: 0, overruns: 0 }
  /** Called once by close() (the network detaches the endpoint here). */
  onClose: (() => void) | undefined

  constructor (options: MockPacketIoOptions) {
    this.name = options.name ?? 'mock'
    checkRegions(options.regions, options.snap, this.name)
    this.kind = options.kind ?? 'packet'
    this.regions = options.regions
    this.snap = options.snap
    this.sink = options.sink
  }

  get closed (): boolean { return this.#closed }

  /** Datagrams waiting for receive(). */
  get pending (): number { return this.#queue.length - this.#head }

  /** Queues a copy of `datagram` as if it had arrived from the wire. Dropped (not counted) after close. */
  deliver (datagram: Uint8Array): void {
    if (this.#closed) return
    this.#queue.push(datagram.slice())
    this.#scheduleNotify()
  }

  /** Counts `count` receive-buffer overruns, as the kernel's ENOBUFS would. */
  overrun (count = 1): void {
    this.#stats.overruns += checkCount('count', count, this.name)
  }

  /** The next send() throws IoError(errno) without sending anything. */
  failNextSend (errno: number, syscall = 'sendmmsg'): void {
    this.#failNext.push({ errno, syscall })
  }

  /** Each send() takes at most `limit` datagrams (the rest are not sent); undefined: no limit. */
  limitSend (limit: number | undefined): void {
    this.#sendLimit = limit === undefined ? undefined : checkCount('limit', limit, this.name)
  }

  receive (max: number): number {
    if (this.#closed) throw new CanceledError(`${this.name}: receive after close`)
    checkCount('max', max, this.name)
    const { memory, rxDescOff, rxDataOff, rxDataSize } = this.regions
    const u8 = new Uint8Array(memory.buffer)
    const dv = new DataView(memory.buffer)
    const end = rxDataOff + rxDataSize
    let at = align8(rxDataOff)
    let n = 0
    while (n < max && this.#head < this.#queue.length) {
      const d = this.#queue[this.#head]!
      const len = Math.min(d.length, this.snap)
      if (at + len > end) break // no room left in this call: stays queued
      u8.set(d.subarray(0, len), at)
      dv.setUint32(rxDescOff + 8 * n, at, true)
      dv.setUint32(rxDescOff + 8 * n + 4, len, true)
      if (d.length > len) this.#stats.truncated++
      this.#head++
      n++
      at = align8(at + len)
    }
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
    }
    this.#stats.received += n
    return n
  }

  send (n: number): number {
    if (this.#closed) throw new CanceledError(`${this.name}: send after close`)
    checkCount('n', n, this.name)
    const fail = this.#failNext.shift()
    if (fail !== undefined) {
      throw new IoError(`${this.name}: ${fail.syscall} failed (simulated errno ${fail.errno})`, 'TC_ERR_IO', fail.errno, fail.syscall)
    }
    const { memory, txDescOff } = this.regions
    const size = memory.buffer.byteLength
    const dv = new DataView(memory.buffer)
    const take = this.#sendLimit === undefined ? n : Math.min(n, this.#sendLimit)
    if (txDescOff + 16 * take > size) {
      throw new IoError(`${this.name}: send of ${n} datagrams: the descriptors run past the memory`, 'TC_ERR_IO', EFAULT, 'sendmmsg')
    }
    const out: Array<[Uint8Array, number]> = []
    for (let i = 0; i < take; i++) {
      const d = txDescOff + 16 * i
      const off = dv.getUint32(d, true)
      const len = dv.getUint32(d + 4, true)
      if (off + len > size) {
        throw new IoError(`${this.name}: send descriptor ${i} [${off}, +${len}) lies outside the memory`, 'TC_ERR_IO', EFAULT, 'sendmmsg')
      }
      out.push([new Uint8Array(memory.buffer, off, len).slice(), dv.getUint32(d + 8, true)])
    }
    for (const [bytes, dst] of out) {
      this.#stats.sent++
      this.sink?.(bytes, dst, this)
    }
    return take
  }

  onReadable (fn: () => void): void {
    if (this.#closed) return
    this.#listeners.push(fn)
    if (this.pending > 0) this.#scheduleNotify()
  }

  stats (): PacketIoStats { return { ...this.#stats } }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#queue = []
    this.#head = 0
    this.#listeners = []
    this.onClose?.()
  }

  #scheduleNotify (): void {
    if (this.#notifyQueued || this.#listeners.length === 0) return
    this.#notifyQueued = true
    queueMicrotask(() => {
      this.#notifyQueued = false
      if (this.#closed || this.pending === 0) return
      for (const fn of this.#listeners.slice()) fn()
    })
  }
}

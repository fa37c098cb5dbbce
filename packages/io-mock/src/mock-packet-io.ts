// An in-memory PacketIo: datagrams handed to deliver() wait in a queue until
// receive() copies them into the regions of a WebAssembly memory, exactly as
// the native shim does with a socket. No timers: the onReadable callback runs
// in a queueMicrotask after data arrives and, while datagrams stay unread
// (level-triggered, as the native poll), again on each setImmediate turn.
import {
  CanceledError, ConfigError, IoError,
  type PacketIo, type PacketIoKind, type PacketIoOptions, type PacketIoRegions, type PacketIoStats
} from '@tcpcopy/interface'

const EFAULT = 14
const EMSGSIZE = 90

/** Where a MockPacketIo's sent datagrams go: the network or a kernel-queue helper. */
export type MockSendSink = (datagram: Uint8Array, dst: number, from: MockPacketIo) => void

export interface MockPacketIoOptions extends PacketIoOptions {
  regions: MockPacketIoRegions
  /** Default 'packet'. */
  kind?: PacketIoKind
  /** A label for messages and MockNetwork lookups. Default 'mock'. */
  name?: string
  /** Where send() puts datagrams. Default: nowhere (they are only counted). */
  sink?: MockSendSink
  /**
   * Largest datagram send() takes; a longer one is a hard error (EMSGSIZE) at
   * its index, with the contract of PacketIo.send. Default: no limit.
   */
  mtu?: number
}

/** Regions that may say how many receive descriptors their area holds. */
export interface MockPacketIoRegions extends PacketIoRegions {
  /** Descriptors at rxDescOff (8 bytes each); receive() never writes more. Absent: up to the next region above rxDescOff, or the memory end. */
  rxDescCount?: number
}

/** PacketIoStats with the packets a packet socket's kernel dropped (see drop()). */
export interface MockPacketIoStats extends PacketIoStats {
  drops: number
}

function align8 (n: number): number { return (n + 7) & ~7 }

/**
 * Runs fn on a later turn of the event loop without keeping the process
 * alive for it (a readiness callback that never drains its io must not hold
 * a test run open); setTimeout 0 where there is no setImmediate.
 */
function nextTurn (fn: () => void): void {
  if (typeof setImmediate === 'function') setImmediate(fn).unref()
  else setTimeout(fn, 0)
}

function checkCount (what: string, value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${name}: ${what} must be a non-negative integer, got ${String(value)}`, 'TC_ERR_CONFIG_IO')
  }
  return value
}

/** How many receive descriptors `r` has room for: rxDescCount, else up to the next region above rxDescOff (rxDataOff, txDescOff) or the memory end. */
export function mockRxDescCapacity (r: MockPacketIoRegions): number {
  if (r.rxDescCount !== undefined) return r.rxDescCount
  let end = r.memory.buffer.byteLength
  for (const start of [r.rxDataOff, r.txDescOff]) if (start > r.rxDescOff && start < end) end = start
  return Math.floor((end - r.rxDescOff) / 8)
}

function checkRegions (r: MockPacketIoRegions, snap: number, name: string): void {
  const size = r.memory.buffer.byteLength
  for (const [what, v] of [['rxDescOff', r.rxDescOff], ['rxDataOff', r.rxDataOff], ['rxDataSize', r.rxDataSize], ['txDescOff', r.txDescOff]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > size) {
      throw new ConfigError(`${name}: regions.${what} must be an offset inside the memory (0..${size}), got ${String(v)}`, 'TC_ERR_CONFIG_IO')
    }
  }
  if (r.rxDataOff + r.rxDataSize > size) {
    throw new ConfigError(`${name}: the receive area [${r.rxDataOff}, +${r.rxDataSize}) runs past the memory (${size} bytes)`, 'TC_ERR_CONFIG_IO')
  }
  if (r.rxDescCount !== undefined) {
    const end = r.rxDescOff + 8 * r.rxDescCount
    if (!Number.isInteger(r.rxDescCount) || r.rxDescCount < 1 || end > size) {
      throw new ConfigError(`${name}: regions.rxDescCount must be a positive integer whose area fits the memory, got ${String(r.rxDescCount)}`, 'TC_ERR_CONFIG_IO')
    }
    if (r.rxDescOff < r.rxDataOff + r.rxDataSize && r.rxDataOff < end) {
      throw new ConfigError(`${name}: the receive descriptor area [${r.rxDescOff}, +${8 * r.rxDescCount}) overlaps the receive area`, 'TC_ERR_CONFIG_IO')
    }
  }
  if (mockRxDescCapacity(r) < 1) throw new ConfigError(`${name}: regions.rxDescOff leaves no room for a receive descriptor`, 'TC_ERR_CONFIG_IO')
  const usable = r.rxDataOff + r.rxDataSize - align8(r.rxDataOff)
  if (!Number.isInteger(snap) || snap < 1 || snap > usable) {
    throw new ConfigError(`${name}: snap must be an integer 1..${usable} (the 8-byte aligned receive area), got ${String(snap)}`, 'TC_ERR_CONFIG_IO')
  }
}

export class MockPacketIo implements PacketIo {
  readonly kind: PacketIoKind
  readonly name: string
  readonly regions: MockPacketIoRegions
  readonly snap: number
  readonly mtu: number | undefined
  sink: MockSendSink | undefined
  readonly #descCount: number
  #queue: Uint8Array[] = []
  #head = 0
  #listener: (() => void) | undefined
  #microQueued = false
  #laterQueued = false
  #closed = false
  /** Scheduled send failures: the call that meets one sends the datagrams before index `at`, the error goes to the next call. */
  #failures: Array<{ at: number, errno: number, syscall: string }> = []
  /** A hard error met by the last send: the next call reports it. */
  #pendingError: { errno: number, syscall: string, what: string } | undefined
  #sendLimit: number | undefined
  #stats: MockPacketIoStats = { received: 0, sent: 0, truncated: 0, overruns: 0, drops: 0 }
  /** Called once by close() (the network detaches the endpoint here). */
  onClose: (() => void) | undefined

  constructor (options: MockPacketIoOptions) {
    this.name = options.name ?? 'mock'
    checkRegions(options.regions, options.snap, this.name)
    this.kind = options.kind ?? 'packet'
    this.regions = options.regions
    this.snap = options.snap
    this.sink = options.sink
    this.#descCount = mockRxDescCapacity(options.regions)
    if (options.mtu !== undefined) checkCount('mtu', options.mtu, this.name)
    this.mtu = options.mtu
  }

  get closed (): boolean { return this.#closed }

  /** Datagrams waiting for receive(). */
  get pending (): number { return this.#queue.length - this.#head }

  /** Queues a copy of `datagram` as if it had arrived from the wire. Dropped (not counted) after close. */
  deliver (datagram: Uint8Array): void {
    if (this.#closed) return
    this.#queue.push(datagram.slice())
    this.#scheduleNotify(false)
  }

  /** Counts `count` receive-buffer overruns, as the kernel's ENOBUFS reports on an nfqueue socket would. */
  overrun (count = 1): void {
    this.#stats.overruns += checkCount('count', count, this.name)
  }

  /** Counts `count` packets the kernel dropped, as a packet socket's PACKET_STATISTICS would (drops, and overruns too). */
  drop (count = 1): void {
    checkCount('count', count, this.name)
    this.#stats.drops += count
    this.#stats.overruns += count
  }

  /** The next send() throws IoError(errno) without sending anything. */
  failNextSend (errno: number, syscall = 'sendmmsg'): void {
    this.failSendAt(0, errno, syscall)
  }

  /**
   * A hard error on datagram `index` of the next send() that gets that far:
   * that call sends the datagrams before it and returns `index`; the call
   * after it (which starts with the failed datagram) throws IoError(errno)
   * and sends nothing. index 0: the next call throws. The contract of
   * PacketIo.send.
   */
  failSendAt (index: number, errno: number, syscall = 'sendmmsg'): void {
    this.#failures.push({ at: checkCount('index', index, this.name), errno: checkCount('errno', errno, this.name), syscall })
  }

  /** Each send() takes at most `limit` datagrams (the rest are not sent); undefined: no limit. */
  limitSend (limit: number | undefined): void {
    this.#sendLimit = limit === undefined ? undefined : checkCount('limit', limit, this.name)
  }

  /** Reads up to min(max, the descriptor capacity of the regions) datagrams. */
  receive (max: number): number {
    if (this.#closed) throw new CanceledError(`${this.name}: receive after close`)
    checkCount('max', max, this.name)
    const limit = Math.min(max, this.#descCount)
    const { memory, rxDescOff, rxDataOff, rxDataSize } = this.regions
    const u8 = new Uint8Array(memory.buffer)
    const dv = new DataView(memory.buffer)
    const end = rxDataOff + rxDataSize
    let at = align8(rxDataOff)
    let n = 0
    while (n < limit && this.#head < this.#queue.length) {
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

  /**
   * Sends the n described datagrams in order; returns k ≤ n, how many were
   * sent. k < n: a send limit (limitSend: a full socket buffer), or a hard
   * error on datagram k (failSendAt, or a datagram longer than mtu) which the
   * next call throws without sending anything.
   */
  send (n: number): number {
    if (this.#closed) throw new CanceledError(`${this.name}: send after close`)
    checkCount('n', n, this.name)
    if (n === 0) return 0
    const pendingError = this.#pendingError
    if (pendingError !== undefined) {
      this.#pendingError = undefined
      throw new IoError(`${this.name}: ${pendingError.syscall} failed: ${pendingError.what}`, 'TC_ERR_IO', pendingError.errno, pendingError.syscall)
    }
    const { memory, txDescOff } = this.regions
    const size = memory.buffer.byteLength
    const dv = new DataView(memory.buffer)
    let take = this.#sendLimit === undefined ? n : Math.min(n, this.#sendLimit)
    if (txDescOff + 16 * n > size) {
      throw new IoError(`${this.name}: send of ${n} datagrams: the descriptors run past the memory`, 'TC_ERR_IO', EFAULT, 'sendmmsg')
    }
    // Every descriptor is checked before anything is sent, as the native shim does.
    const out: Array<[Uint8Array, number]> = []
    for (let i = 0; i < n; i++) {
      const d = txDescOff + 16 * i
      const off = dv.getUint32(d, true)
      const len = dv.getUint32(d + 4, true)
      if (off + len > size) {
        throw new IoError(`${this.name}: send descriptor ${i} [${off}, +${len}) lies outside the memory`, 'TC_ERR_IO', EFAULT, 'sendmmsg')
      }
      if (i < take) out.push([new Uint8Array(memory.buffer, off, len).slice(), dv.getUint32(d + 8, true)])
    }
    // The first hard error among the datagrams this call gets to.
    let error: { at: number, errno: number, syscall: string, what: string } | undefined
    const failure = this.#failures[0]
    if (failure !== undefined && failure.at < take) {
      this.#failures.shift()
      error = { ...failure, what: `simulated errno ${failure.errno} on datagram ${failure.at}` }
    }
    const mtu = this.mtu
    if (mtu !== undefined) {
      const big = out.findIndex(([bytes]) => bytes.length > mtu)
      if (big >= 0 && (error === undefined || big < error.at)) {
        error = { at: big, errno: EMSGSIZE, syscall: 'sendmmsg', what: `EMSGSIZE: datagram ${big} is ${out[big]![0].length} bytes, the mtu ${mtu}` }
      }
    }
    if (error !== undefined) {
      if (error.at === 0) throw new IoError(`${this.name}: ${error.syscall} failed: ${error.what}`, 'TC_ERR_IO', error.errno, error.syscall)
      take = error.at
      // Sent up to the failing datagram; the next call, which starts with it, reports the error.
      this.#pendingError = error.errno === EMSGSIZE ? undefined : error
    }
    for (let i = 0; i < take; i++) {
      const [bytes, dst] = out[i]!
      this.#stats.sent++
      this.sink?.(bytes, dst, this)
    }
    return take
  }

  /**
   * Sets the one readiness callback (a later call replaces it). It runs in a
   * microtask after data arrives, and again on each setImmediate turn while
   * datagrams stay pending (level-triggered); never synchronously, never
   * after close. After close, onReadable throws CanceledError.
   */
  onReadable (fn: () => void): void {
    if (this.#closed) throw new CanceledError(`${this.name}: onReadable after close`)
    if (typeof fn !== 'function') throw new ConfigError(`${this.name}: onReadable needs a function, got ${typeof fn}`, 'TC_ERR_CONFIG_IO')
    this.#listener = fn
    if (this.pending > 0) this.#scheduleNotify(false)
  }

  stats (): MockPacketIoStats { return { ...this.#stats } }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#queue = []
    this.#head = 0
    this.#listener = undefined
    this.#pendingError = undefined
    this.onClose?.()
  }

  /** A notification in a microtask (new data), or on a later turn (`later`: data left unread). */
  #scheduleNotify (later: boolean): void {
    if (this.#listener === undefined) return
    if (!later) {
      if (this.#microQueued) return
      this.#microQueued = true
      queueMicrotask(() => { this.#microQueued = false; this.#notify() })
    } else {
      if (this.#laterQueued) return
      this.#laterQueued = true
      nextTurn(() => { this.#laterQueued = false; this.#notify() })
    }
  }

  #notify (): void {
    const fn = this.#listener
    if (this.#closed || this.pending === 0 || fn === undefined) return
    try {
      fn()
    } finally {
      // Still pending: call again on a later turn (not in this microtask
      // burst, so a callback that reads nothing cannot starve the loop).
      if (!this.#closed && this.pending > 0) this.#scheduleNotify(true)
    }
  }
}

// Test helpers: a virtual clock with timers, in-memory control sockets, and
// a packet builder. Not part of the public surface.
import { EventEmitter } from 'node:events'
import { resolveConfig, tcpcopyOptions, type TcpcopyConfig } from '@tcpcopy/config'
import type { CopyTimers } from '../timers.js'
import type { ConnectFn, ControlSocket } from '../control.js'
import { hex } from '@tcpcopy/interface'

export { hex }

/** Timers that run only when the test advances the clock. */
export class FakeClock implements CopyTimers {
  now = 0
  #seq = 0
  readonly #timers = new Map<number, { at: number, ms: number, n: number, fn: () => void }>()
  readonly clock = (): number => this.now

  setTimeout (fn: () => void, ms: number): unknown {
    const id = ++this.#seq
    this.#timers.set(id, { at: this.now + Math.max(0, ms), ms: Math.max(0, ms), n: id, fn })
    return id
  }

  clearTimeout (handle: unknown): void { this.#timers.delete(handle as number) }

  /** As Node's Timeout.refresh(): a pending timer runs its delay again from now (and after the timers due at that time). */
  refresh (handle: unknown): void {
    const t = this.#timers.get(handle as number)
    if (t === undefined) return
    t.at = this.now + t.ms
    t.n = ++this.#seq
  }

  setImmediate (fn: () => void): unknown { return this.setTimeout(fn, 0) }

  get pending (): number { return this.#timers.size }

  /** Moves the clock forward by `ms`, firing what falls due in time order. */
  advance (ms: number): void {
    const end = this.now + ms
    for (let guard = 0; guard < 1e6; guard++) {
      let first: [number, { at: number, ms: number, n: number, fn: () => void }] | undefined
      for (const e of this.#timers) {
        if (e[1].at <= end && (first === undefined || e[1].at < first[1].at || (e[1].at === first[1].at && e[1].n < first[1].n))) first = e
      }
      if (first === undefined) break
      this.#timers.delete(first[0])
      this.now = Math.max(this.now, first[1].at)
      first[1].fn()
    }
    this.now = end
  }
}

/** A control socket the test drives: connect(), data(), close(). */
export class FakeSocket extends EventEmitter implements ControlSocket {
  readonly written: Uint8Array[] = []
  destroyed = false
  /** What node:net reports as queued and not yet sent (tests set it to simulate a peer that does not read). */
  writableLength = 0
  constructor (readonly host: string, readonly port: number) { super() }
  write (data: Uint8Array): boolean {
    this.written.push(Uint8Array.from(data))
    return true
  }

  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    this.emit('close')
  }

  setNoDelay (): this { return this }
  /** The bytes written so far, concatenated. */
  get bytes (): Uint8Array {
    const n = this.written.reduce((a, c) => a + c.length, 0)
    const out = new Uint8Array(n)
    let at = 0
    for (const c of this.written) { out.set(c, at); at += c.length }
    return out
  }

  /** The server accepted: 'connect'. */
  accept (): void { this.emit('connect') }
  /** The server refused: 'error' + 'close'. */
  refuse (): void {
    this.destroyed = true
    this.emit('error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
    this.emit('close')
  }

  /** The server closed it. */
  drop (): void {
    if (this.destroyed) return
    this.destroyed = true
    this.emit('close')
  }

  data (bytes: Uint8Array): void { this.emit('data', bytes) }
}

/** A ConnectFn that records every socket; `auto` accepts ('accept'), refuses, or leaves them pending. */
export function fakeConnector (auto: 'accept' | 'refuse' | 'none' = 'accept'): { connect: ConnectFn, sockets: FakeSocket[], setAuto: (a: 'accept' | 'refuse' | 'none') => void } {
  const sockets: FakeSocket[] = []
  let mode = auto
  const connect: ConnectFn = (host, port) => {
    const s = new FakeSocket(host, port)
    sockets.push(s)
    if (mode !== 'none') {
      queueMicrotask(() => {
        if (s.destroyed) return
        if (mode === 'accept') s.accept()
        else s.refuse()
      })
    }
    return s
  }
  return { connect, sockets, setAuto: (a) => { mode = a } }
}

export function makeConfig (flags: Record<string, unknown> = {}, over: Partial<TcpcopyConfig> = {}): TcpcopyConfig {
  return { ...resolveConfig(tcpcopyOptions, { flags: { targets: '80-10.0.1.2:8080', intercepts: '10.0.2.1', ...flags }, env: {} }), ...over }
}

export function ip (text: string): number {
  const p = text.split('.').map(Number)
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0
}

function csum (b: Uint8Array, off: number, len: number, acc: number): number {
  for (let i = 0; i < len; i += 2) acc += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0)
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 65536)
  return acc
}

export interface PacketSpec {
  src: string
  dst: string
  sport: number
  dport: number
  seq: number
  ack?: number
  flags: number
  window?: number
  ipId?: number
  payload?: Uint8Array | number
  /** TS option (val, ecr). */
  ts?: [number, number]
  mss?: number
  wscale?: number
}

/** An IPv4/TCP packet with correct checksums. */
export function packet (s: PacketSpec): Uint8Array {
  const opts: number[] = []
  if (s.mss !== undefined) opts.push(2, 4, s.mss >> 8, s.mss & 255)
  if (s.ts !== undefined) {
    opts.push(1, 1, 8, 10)
    for (const v of s.ts) opts.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255)
  }
  if (s.wscale !== undefined) opts.push(1, 3, 3, s.wscale)
  const payload = typeof s.payload === 'number' ? new Uint8Array(s.payload).map((_, i) => 97 + (i % 26)) : (s.payload ?? new Uint8Array(0))
  const doff = 20 + opts.length
  const tot = 20 + doff + payload.length
  const b = new Uint8Array(tot)
  const dv = new DataView(b.buffer)
  b[0] = 0x45
  dv.setUint16(2, tot)
  dv.setUint16(4, s.ipId ?? 1)
  dv.setUint16(6, 0x4000)
  b[8] = 64
  b[9] = 6
  dv.setUint32(12, ip(s.src))
  dv.setUint32(16, ip(s.dst))
  dv.setUint16(20, s.sport)
  dv.setUint16(22, s.dport)
  dv.setUint32(24, s.seq >>> 0)
  dv.setUint32(28, (s.ack ?? 0) >>> 0)
  b[32] = (doff / 4) << 4
  b[33] = s.flags
  dv.setUint16(34, s.window ?? 65535)
  b.set(opts, 40)
  b.set(payload, 20 + doff)
  dv.setUint16(10, (~csum(b, 0, 20, 0)) & 0xffff)
  const tcpLen = tot - 20
  let acc = csum(b, 12, 8, 0) + 6 + tcpLen
  acc = csum(b, 20, tcpLen, acc)
  dv.setUint16(36, (~acc) & 0xffff)
  return b
}

/** An Ethernet frame around an IPv4 packet. */
export function ethernet (ipPacket: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + ipPacket.length)
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00])
  f.set(ipPacket, 14)
  return f
}

export const SYN = 2
export const ACK = 16
export const FIN = 1
export const RST = 4
export const PSH = 8

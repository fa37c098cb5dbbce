// Test helpers for router*.test.ts and delay.test.ts: a fresh core, key
// writers, counter readers, hex fixtures, OUT readers, and a walker that reads
// the router's tables straight from memory (the layout documented at the top
// of wasm/assembly/router.ts).
import {
  ARENA_BASE, KEY_OFF, KEY_SIZE, COUNTERS_OFF, OUT_OFF, OUT_ENTRY_HEADER, RESULT_OFF, R_OUT_BYTES, R_OUT_COUNT
} from '@tcpcopy/wasm'
import { instantiateCoreSync } from './loader.js'
import type { RawCore } from './loader.js'
import type { CoreExports } from './exports.js'
import { hex, toHex } from '@tcpcopy/interface'

export { hex, toHex }

/** The exports these tests use, delayStore included (not in CoreExports yet). */
export type TestExports = CoreExports & {
  delayStore (ipOff: number, capLen: number, now: number): number
}

export interface InitOptions {
  buckets?: number
  maxRoutes?: number
  timeoutMs?: number
  dnat?: boolean
  delayBuckets?: number
  delayPerKey?: number
  delayTotal?: number
  delayExpireMs?: number
}

export class TestCore {
  readonly raw: RawCore
  readonly x: TestExports
  opts: Required<InitOptions> = {
    buckets: 64, maxRoutes: 64, timeoutMs: 0, dnat: false, delayBuckets: 64, delayPerKey: 16, delayTotal: 64, delayExpireMs: 30000
  }

  constructor () {
    this.raw = instantiateCoreSync()
    this.x = this.raw.exports as TestExports
  }

  /** coreInit with defaults overridden by `o`; returns the Status. */
  init (o: InitOptions = {}): number {
    this.opts = { ...this.opts, ...o }
    const p = this.opts
    return this.x.coreInit(p.buckets, p.maxRoutes, p.timeoutMs, p.dnat ? 1 : 0,
      p.delayBuckets, p.delayPerKey, p.delayTotal, p.delayExpireMs)
  }

  /** A fresh view each time: memory.grow detaches the old buffer. */
  get dv (): DataView { return new DataView(this.raw.memory.buffer) }
  get u8 (): Uint8Array { return new Uint8Array(this.raw.memory.buffer) }

  counter (idx: number): number { return Number(this.dv.getBigUint64(COUNTERS_OFF + idx * 8, true)) }

  setKey (key: Uint8Array): void { this.u8.set(key, KEY_OFF) }
  keyBytes (): Uint8Array { return this.u8.slice(KEY_OFF, KEY_OFF + KEY_SIZE) }

  add (key: Uint8Array, conn: number, now: number): number { this.setKey(key); return this.x.routerAdd(conn, now) }
  lookup (key: Uint8Array, now: number): number { this.setKey(key); return this.x.routerLookup(now) }
  del (key: Uint8Array): number { this.setKey(key); return this.x.routerDelete() }

  /** OUT entries since the last outReset. */
  out (): OutEntry[] {
    const dv = this.dv
    const count = dv.getUint32(RESULT_OFF + R_OUT_COUNT, true)
    const bytes = dv.getUint32(RESULT_OFF + R_OUT_BYTES, true)
    const list: OutEntry[] = []
    let off = OUT_OFF
    for (let i = 0; i < count; i++) {
      const len = dv.getUint16(off + 4, true)
      list.push({
        conn: dv.getUint32(off, true),
        len,
        kind: dv.getUint16(off + 6, true),
        record: this.u8.slice(off + OUT_ENTRY_HEADER, off + OUT_ENTRY_HEADER + len)
      })
      off += (OUT_ENTRY_HEADER + len + 3) & ~3
    }
    if (off - OUT_OFF !== bytes) throw new Error(`OUT holds ${bytes} bytes but its entries span ${off - OUT_OFF}`)
    return list
  }
}

export interface OutEntry { conn: number, len: number, kind: number, record: Uint8Array }

function ipBytes (ip: string): number[] {
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`bad IPv4 address ${ip}`)
  return parts
}

/** A 40-byte IPv4 route key (layout KEY_*): addresses IPv4-mapped, ports host order, family 4. */
export function keyV4 (clientIp: string, clientPort: number, targetIp: string, targetPort: number): Uint8Array {
  const k = new Uint8Array(KEY_SIZE)
  k.set([0xff, 0xff, ...ipBytes(clientIp)], 10)
  k.set([0xff, 0xff, ...ipBytes(targetIp)], 26)
  const dv = new DataView(k.buffer)
  dv.setUint16(32, clientPort, true)
  dv.setUint16(34, targetPort, true)
  k[36] = 4
  return k
}

// ---- a reader of the router's tables (mirrors wasm/assembly/router.ts) --------

const ENTRY_SIZE = 64

export interface RouteEntry { key: string, conn: number, last: number, hash: number }

/**
 * Every live entry, oldest first, read from memory. Throws when the bucket
 * chains and the LRU list disagree (an entry on one and not the other, a
 * broken back link, an entry in the wrong bucket).
 */
export function readRoutes (core: TestCore): RouteEntry[] {
  const { buckets, maxRoutes } = core.opts
  const dv = core.dv
  const poolStart = ARENA_BASE + ((buckets * 4 + 63) & ~63)
  const poolEnd = poolStart + maxRoutes * ENTRY_SIZE
  const inChains = new Set<number>()
  for (let b = 0; b < buckets; b++) {
    let prev = 0
    for (let e = dv.getUint32(ARENA_BASE + b * 4, true); e !== 0; e = dv.getUint32(e + 48, true)) {
      if (e < poolStart || e >= poolEnd || (e - poolStart) % ENTRY_SIZE !== 0) throw new Error(`bucket ${b}: bad entry pointer ${e}`)
      if (inChains.has(e)) throw new Error(`bucket ${b}: entry ${e} reached twice`)
      if (dv.getUint32(e + 52, true) !== prev) throw new Error(`bucket ${b}: bad chain back link at ${e}`)
      const h = dv.getUint32(e + 44, true)
      if (Number((BigInt(h) * BigInt(buckets)) >> 32n) !== b) throw new Error(`entry ${e} sits in bucket ${b}, its hash says otherwise`)
      inChains.add(e)
      prev = e
    }
  }
  let head = 0
  for (const e of inChains) if (dv.getUint32(e + 56, true) === 0) { head = e; break }
  const list: RouteEntry[] = []
  let older = 0
  for (let e = head; e !== 0; e = dv.getUint32(e + 60, true)) {
    if (!inChains.has(e)) throw new Error(`LRU list reaches ${e}, which no bucket holds`)
    if (dv.getUint32(e + 56, true) !== older) throw new Error(`bad LRU back link at ${e}`)
    if (list.length > inChains.size) throw new Error('LRU list loops')
    list.push({ key: toHex(core.u8.slice(e, e + 36)), conn: dv.getInt32(e + 36, true), last: dv.getUint32(e + 40, true), hash: dv.getUint32(e + 44, true) })
    older = e
  }
  if (list.length !== inChains.size) throw new Error(`LRU list holds ${list.length} entries, the buckets ${inChains.size}`)
  return list
}

// ---- a reader of the delay table (mirrors wasm/assembly/delay.ts) -------------

export interface DelayKeyEntry {
  key: string
  created: number
  /** Each record's stored length and its first bytes up to 256. */
  records: Uint8Array[]
}

/** Where the delay table starts: right after the router in the arena. */
export function delayBase (core: TestCore): number {
  return ARENA_BASE + ((core.opts.buckets * 4 + 63) & ~63) + core.opts.maxRoutes * ENTRY_SIZE
}

/**
 * Every delay-table key, oldest first, with its records in order, read from
 * memory. Throws when the bucket chains, the creation list and the record
 * lists disagree.
 */
export function readDelay (core: TestCore): DelayKeyEntry[] {
  const { delayBuckets: buckets, delayTotal: total } = core.opts
  const dv = core.dv
  const base = delayBase(core)
  const keyStart = base + ((buckets * 4 + 7) & ~7)
  const recStart = keyStart + total * 72
  const recEnd = recStart + total * 264
  const inChains = new Set<number>()
  for (let b = 0; b < buckets; b++) {
    let prev = 0
    for (let e = dv.getUint32(base + b * 4, true); e !== 0; e = dv.getUint32(e + 56, true)) {
      if (e < keyStart || e >= recStart || (e - keyStart) % 72 !== 0) throw new Error(`delay bucket ${b}: bad key pointer ${e}`)
      if (inChains.has(e)) throw new Error(`delay bucket ${b}: key ${e} reached twice`)
      if (dv.getUint32(e + 60, true) !== prev) throw new Error(`delay bucket ${b}: bad chain back link at ${e}`)
      const h = dv.getUint32(e + 36, true)
      if (Number((BigInt(h) * BigInt(buckets)) >> 32n) !== b) throw new Error(`delay key ${e} sits in bucket ${b}, its hash says otherwise`)
      inChains.add(e)
      prev = e
    }
  }
  let head = 0
  for (const e of inChains) if (dv.getUint32(e + 64, true) === 0) { head = e; break }
  const list: DelayKeyEntry[] = []
  const seenRecords = new Set<number>()
  let older = 0
  for (let e = head; e !== 0; e = dv.getUint32(e + 68, true)) {
    if (!inChains.has(e)) throw new Error(`delay creation list reaches ${e}, which no bucket holds`)
    if (dv.getUint32(e + 64, true) !== older) throw new Error(`bad creation-list back link at ${e}`)
    if (list.length > inChains.size) throw new Error('delay creation list loops')
    const records: Uint8Array[] = []
    let last = 0
    for (let r = dv.getUint32(e + 48, true); r !== 0; r = dv.getUint32(r, true)) {
      if (r < recStart || r >= recEnd || (r - recStart) % 264 !== 0) throw new Error(`delay key ${e}: bad record pointer ${r}`)
      if (seenRecords.has(r)) throw new Error(`record ${r} reached twice`)
      seenRecords.add(r)
      const len = dv.getUint32(r + 4, true)
      if (len > 256) throw new Error(`record ${r} says it holds ${len} bytes`)
      records.push(core.u8.slice(r + 8, r + 8 + len))
      last = r
    }
    if (dv.getUint32(e + 52, true) !== last) throw new Error(`delay key ${e}: last-record pointer is not the last record`)
    if (dv.getUint32(e + 44, true) !== records.length) throw new Error(`delay key ${e}: count ${dv.getUint32(e + 44, true)}, list ${records.length}`)
    if (records.length === 0) throw new Error(`delay key ${e} holds no records`)
    list.push({ key: toHex(core.u8.slice(e, e + 36)), created: dv.getUint32(e + 40, true), records })
    older = e
  }
  if (list.length !== inChains.size) throw new Error(`delay creation list holds ${list.length} keys, the buckets ${inChains.size}`)
  return list
}

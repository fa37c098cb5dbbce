// Test helpers for the router, delay-table and batch tests: a fresh core,
// key writers, counter readers, hex fixtures, OUT readers, and walkers that
// read the router's and the delay table's structures straight from memory
// (the layouts documented at the top of wasm/assembly/router.ts and delay.ts).
import {
  ARENA_BASE, KEY_OFF, KEY_SIZE, COUNTERS_OFF, OUT_OFF, OUT_ENTRY_HEADER, RESULT_OFF, R_OUT_BYTES, R_OUT_COUNT, CONNS_MAX
} from '@tcpcopy/wasm'
import { instantiateCoreSync, seedWords } from './loader.js'
import type { RawCore } from './loader.js'
import type { CoreExports } from './exports.js'
import { hex, toHex } from '@tcpcopy/interface'

export { hex, toHex }

/** The hash seed of TestCore unless a test asks for another: runs are repeatable. */
export const TEST_SEED = 0x243f6a8885a308d3n

/** Both builds, for suites that run on each: [title, debug]. */
export const BUILDS: Array<[string, boolean]> = [['release build', false], ['debug build', true]]

export interface InitOptions {
  seed?: bigint
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
  readonly x: CoreExports
  opts: Required<InitOptions> = {
    seed: TEST_SEED, buckets: 64, maxRoutes: 64, timeoutMs: 0, dnat: false, delayBuckets: 64, delayPerKey: 16, delayTotal: 64, delayExpireMs: 30000
  }

  /** An uninitialised core of the release build, or of the debug build (assertions on). */
  constructor (debug = false) {
    this.raw = instantiateCoreSync({ debug })
    this.x = this.raw.exports
  }

  /** coreInit with defaults overridden by `o`; returns the Status. */
  init (o: InitOptions = {}): number {
    this.opts = { ...this.opts, ...o }
    const p = this.opts
    const [lo, hi] = seedWords(p.seed)
    return this.x.coreInit(p.buckets, p.maxRoutes, p.timeoutMs, p.dnat ? 1 : 0,
      p.delayBuckets, p.delayPerKey, p.delayTotal, p.delayExpireMs, lo, hi)
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
const LINK_SIZE = 8
/** Bytes of a key that take part in a compare: addresses, ports, family. */
export const KEY_COMPARED = 37

export interface RouteEntry { key: string, conn: number, last: number, hash: number }

function routerGeometry (core: TestCore): { poolStart: number, poolEnd: number, links: number, heads: number, end: number } {
  const { buckets, maxRoutes } = core.opts
  const poolStart = ARENA_BASE + ((buckets * 4 + 63) & ~63)
  const poolEnd = poolStart + maxRoutes * ENTRY_SIZE
  const links = poolEnd
  const heads = links + maxRoutes * LINK_SIZE
  return { poolStart, poolEnd, links, heads, end: heads + CONNS_MAX * 4 }
}

/**
 * Every live entry, oldest first, read from memory. Throws when the bucket
 * chains, the LRU list and the per-connection lists disagree (an entry on one
 * and not the other, a broken back link, an entry in the wrong bucket or on
 * another connection's list).
 */
export function readRoutes (core: TestCore): RouteEntry[] {
  const { buckets } = core.opts
  const dv = core.dv
  const { poolStart, poolEnd, links, heads } = routerGeometry(core)
  const inChains = new Set<number>()
  for (let b = 0; b < buckets; b++) {
    let prev = 0
    for (let e = dv.getUint32(ARENA_BASE + b * 4, true); e !== 0; e = dv.getUint32(e + 48, true)) {
      if (e < poolStart || e >= poolEnd || (e - poolStart) % ENTRY_SIZE !== 0) throw new Error(`bucket ${b}: bad entry pointer ${e}`)
      if (inChains.has(e)) throw new Error(`bucket ${b}: entry ${e} reached twice`)
      if (dv.getUint32(e + 52, true) !== prev) throw new Error(`bucket ${b}: bad chain back link at ${e}`)
      const h = dv.getUint32(e + 44, true)
      if (Number((BigInt(h) * BigInt(buckets)) >> 32n) !== b) throw new Error(`entry ${e} sits in bucket ${b}, its hash says otherwise`)
      if (dv.getUint8(e + 37) !== 0) throw new Error(`entry ${e}: byte 37 is not zero`)
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
    list.push({ key: toHex(core.u8.slice(e, e + KEY_COMPARED)), conn: dv.getUint16(e + 38, true), last: dv.getUint32(e + 40, true), hash: dv.getUint32(e + 44, true) })
    older = e
  }
  if (list.length !== inChains.size) throw new Error(`LRU list holds ${list.length} entries, the buckets ${inChains.size}`)
  // the per-connection lists: together exactly the live entries, each on its own conn's list
  const link = (e: number): number => links + ((e - poolStart) / ENTRY_SIZE) * LINK_SIZE
  const listed = new Set<number>()
  const headWords = new Uint32Array(core.raw.memory.buffer, heads, CONNS_MAX)
  for (let conn = 0; conn < CONNS_MAX; conn++) {
    if (headWords[conn] === 0) continue
    let prev = 0
    for (let e = dv.getUint32(heads + conn * 4, true); e !== 0; e = dv.getUint32(link(e), true)) {
      if (!inChains.has(e)) throw new Error(`conn ${conn}: list reaches ${e}, which no bucket holds`)
      if (listed.has(e)) throw new Error(`conn ${conn}: entry ${e} listed twice`)
      if (dv.getUint16(e + 38, true) !== conn) throw new Error(`conn ${conn}: lists entry ${e} of conn ${dv.getUint16(e + 38, true)}`)
      if (dv.getUint32(link(e) + 4, true) !== prev) throw new Error(`conn ${conn}: bad back link at ${e}`)
      listed.add(e)
      prev = e
    }
  }
  if (listed.size !== inChains.size) throw new Error(`the connection lists hold ${listed.size} entries, the buckets ${inChains.size}`)
  return list
}

/** How many routes each connection's list holds, read from memory (connections with none left out). */
export function connListSizes (core: TestCore): Map<number, number> {
  const dv = core.dv
  const { poolStart, links, heads } = routerGeometry(core)
  const sizes = new Map<number, number>()
  const headWords = new Uint32Array(core.raw.memory.buffer, heads, CONNS_MAX)
  for (let conn = 0; conn < CONNS_MAX; conn++) {
    if (headWords[conn] === 0) continue
    let n = 0
    for (let e = dv.getUint32(heads + conn * 4, true); e !== 0; e = dv.getUint32(links + ((e - poolStart) / ENTRY_SIZE) * LINK_SIZE, true)) n++
    if (n !== 0) sizes.set(conn, n)
  }
  return sizes
}

// ---- a reader of the delay table (mirrors wasm/assembly/delay.ts) -------------

const KEY_ENTRY = 80
const REC_SLOT = 280
const REC_DATA = 24

export interface DelayKeyEntry {
  key: string
  created: number
  /** Each record's stored bytes (at most 256). */
  records: Uint8Array[]
}

/** Where the delay table starts: right after the router in the arena. */
export function delayBase (core: TestCore): number {
  return routerGeometry(core).end
}

/** Where the delay table's record slots start. */
export function delayRecordsStart (core: TestCore): number {
  return delayBase(core) + ((core.opts.delayBuckets * 4 + 7) & ~7) + core.opts.delayTotal * KEY_ENTRY
}

/**
 * Every delay-table key, oldest first, with its records in order, read from
 * memory. Throws when the bucket chains, the creation list, the record lists
 * and the table-wide arrival list of records disagree.
 */
export function readDelay (core: TestCore): DelayKeyEntry[] {
  const { delayBuckets: buckets, delayTotal: total } = core.opts
  const dv = core.dv
  const base = delayBase(core)
  const keyStart = base + ((buckets * 4 + 7) & ~7)
  const recStart = keyStart + total * KEY_ENTRY
  const recEnd = recStart + total * REC_SLOT
  const inChains = new Set<number>()
  for (let b = 0; b < buckets; b++) {
    let prev = 0
    for (let e = dv.getUint32(base + b * 4, true); e !== 0; e = dv.getUint32(e + 60, true)) {
      if (e < keyStart || e >= recStart || (e - keyStart) % KEY_ENTRY !== 0) throw new Error(`delay bucket ${b}: bad key pointer ${e}`)
      if (inChains.has(e)) throw new Error(`delay bucket ${b}: key ${e} reached twice`)
      if (dv.getUint32(e + 64, true) !== prev) throw new Error(`delay bucket ${b}: bad chain back link at ${e}`)
      const h = dv.getUint32(e + 40, true)
      if (Number((BigInt(h) * BigInt(buckets)) >> 32n) !== b) throw new Error(`delay key ${e} sits in bucket ${b}, its hash says otherwise`)
      inChains.add(e)
      prev = e
    }
  }
  let head = 0
  for (const e of inChains) if (dv.getUint32(e + 68, true) === 0) { head = e; break }
  const list: DelayKeyEntry[] = []
  const recordKey = new Map<number, number>()
  let older = 0
  for (let e = head; e !== 0; e = dv.getUint32(e + 72, true)) {
    if (!inChains.has(e)) throw new Error(`delay creation list reaches ${e}, which no bucket holds`)
    if (dv.getUint32(e + 68, true) !== older) throw new Error(`bad creation-list back link at ${e}`)
    if (list.length > inChains.size) throw new Error('delay creation list loops')
    const records: Uint8Array[] = []
    let last = 0
    for (let r = dv.getUint32(e + 52, true); r !== 0; r = dv.getUint32(r, true)) {
      if (r < recStart || r >= recEnd || (r - recStart) % REC_SLOT !== 0) throw new Error(`delay key ${e}: bad record pointer ${r}`)
      if (recordKey.has(r)) throw new Error(`record ${r} reached twice`)
      if (dv.getUint32(r + 8, true) !== e) throw new Error(`record ${r} names key ${dv.getUint32(r + 8, true)}, it is on the list of ${e}`)
      recordKey.set(r, e)
      const len = dv.getUint32(r + 4, true)
      if (len > 256) throw new Error(`record ${r} says it holds ${len} bytes`)
      records.push(core.u8.slice(r + REC_DATA, r + REC_DATA + len))
      last = r
    }
    if (dv.getUint32(e + 56, true) !== last) throw new Error(`delay key ${e}: last-record pointer is not the last record`)
    if (dv.getUint32(e + 48, true) !== records.length) throw new Error(`delay key ${e}: count ${dv.getUint32(e + 48, true)}, list ${records.length}`)
    if (records.length === 0) throw new Error(`delay key ${e} holds no records`)
    list.push({ key: toHex(core.u8.slice(e, e + KEY_COMPARED)), created: dv.getUint32(e + 44, true), records })
    older = e
  }
  if (list.length !== inChains.size) throw new Error(`delay creation list holds ${list.length} keys, the buckets ${inChains.size}`)
  // the arrival list: every record once, and each key's records in its own order
  let arrivalHead = 0
  for (const r of recordKey.keys()) if (dv.getUint32(r + 16, true) === 0) { arrivalHead = r; break }
  let seen = 0
  let olderRec = 0
  const lastOfKey = new Map<number, number>()
  for (let r = arrivalHead; r !== 0; r = dv.getUint32(r + 12, true)) {
    const e = recordKey.get(r)
    if (e === undefined) throw new Error(`arrival list reaches record ${r}, which no key holds`)
    if (dv.getUint32(r + 16, true) !== olderRec) throw new Error(`bad arrival-list back link at ${r}`)
    if (++seen > recordKey.size) throw new Error('arrival list loops')
    const prevOfKey = lastOfKey.get(e)
    if (prevOfKey !== undefined && dv.getUint32(prevOfKey, true) !== r) throw new Error(`key ${e}: its records are out of arrival order at ${r}`)
    if (prevOfKey === undefined && dv.getUint32(e + 52, true) !== r) throw new Error(`key ${e}: its first record ${dv.getUint32(e + 52, true)} is not its oldest ${r}`)
    lastOfKey.set(e, r)
    olderRec = r
  }
  if (seen !== recordKey.size) throw new Error(`arrival list holds ${seen} records, the keys ${recordKey.size}`)
  return list
}

/** Addresses of the record slots the delay table holds, key by key (each key's in its order). */
export function delayRecordSlots (core: TestCore): number[] {
  const { delayBuckets: buckets } = core.opts
  const dv = core.dv
  const base = delayBase(core)
  const out: number[] = []
  for (let b = 0; b < buckets; b++) {
    for (let e = dv.getUint32(base + b * 4, true); e !== 0; e = dv.getUint32(e + 60, true)) {
      for (let r = dv.getUint32(e + 52, true); r !== 0; r = dv.getUint32(r, true)) out.push(r)
    }
  }
  return out
}

/** Offset of a record slot's packet bytes. */
export const DELAY_RECORD_DATA = REC_DATA

// npm run bench: the WASM router and batch classifier against a plain
// TypeScript baseline (Map + DataView) on the same bytes, in one run, printed
// as ratios. Loops are bounded in count and time.
//
// The baselines are what a careful TS programmer would write: numeric keys
// (no strings, no per-operation allocation), DataView reads straight from
// the bytes, no subarray views. Two of them:
// - "same work": what the router does per operation, in TS: a Map from the
//   client half of the 4-tuple to slots in typed arrays, each lookup
//   stamping the slot and moving it to the newest end of an LRU list (the
//   core keeps both for -t expiry and the route cap). The router targets are
//   judged against this one.
// - "map only": the Map and the slots without stamps or LRU order, a lower
//   bound on what any TS router with those duties could cost (printed for
//   reference).
// Inserts are timed into an empty table on both sides (cleared, untimed,
// before each round: the core laid out again, the baseline's clear()), so
// both hold the routes in insertion order; lookups are timed separately over
// the full tables, in insertion order and in one shuffled order (responses
// come back for whichever sessions the target answers). The targets are
// judged on each row. The contenders' rounds are interleaved (rates()).
import * as L from '@tcpcopy/wasm'
import { LinkType, TcpFlag } from '@tcpcopy/wasm'
import { createCore, routerBuckets, type Core } from '../core.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1)
const MAX_ROUNDS = 100_000

/**
 * Runs each contender's fn (which does `ops` operations) in rounds, the
 * rounds interleaved (A, B, C, A, B, C, ...) for ~SECONDS per contender, and
 * returns each one's median rate in ops per second, in order. Interleaving
 * makes a change in the machine's load (other tenants of a VM) hit all
 * contenders alike, not only the one measured at that moment; the median
 * keeps a stalled round from counting. `before`, when given, runs before
 * each of its contender's rounds and is not timed.
 */
function rates (ops: number, runs: Array<{ fn: () => void, before?: () => void }>): number[] {
  for (const r of runs) for (let i = 0; i < 3; i++) { r.before?.(); r.fn() } // warm-up
  const all: number[][] = runs.map(() => [])
  const start = performance.now()
  while ((performance.now() - start) / 1000 < SECONDS * runs.length && all[0]!.length < MAX_ROUNDS) {
    runs.forEach((r, i) => {
      r.before?.()
      const t0 = performance.now()
      r.fn()
      const dt = (performance.now() - t0) / 1000
      all[i]!.push(ops / Math.max(dt, 1e-9))
    })
  }
  return all.map((xs) => xs.sort((a, b) => a - b)[xs.length >> 1]!)
}

// Deterministic pseudo-random numbers (xorshift32).
let seed = 0x12345678
function rnd (): number {
  seed ^= seed << 13; seed >>>= 0
  seed ^= seed >>> 17
  seed ^= seed << 5; seed >>>= 0
  return seed
}

const TARGET_IP = 0x0a4d001e // 10.77.0.30
const TARGET_PORT = 8080

interface Flow { cip: number, cport: number }

function makeFlows (n: number): Flow[] {
  const seen = new Set<string>()
  const flows: Flow[] = []
  while (flows.length < n) {
    const f = { cip: (0x0a580000 | (rnd() & 0xffff)) >>> 0, cport: 1024 + (rnd() % 64000) }
    const k = `${f.cip}:${f.cport}`
    if (!seen.has(k)) { seen.add(k); flows.push(f) }
  }
  return flows
}

/** Writes the 40-byte key form of a flow, as the core lays it out. */
function writeKey (dv: DataView, off: number, f: Flow): void {
  for (let i = 0; i < 40; i++) dv.setUint8(off + i, 0)
  dv.setUint16(off + 10, 0xffff); dv.setUint32(off + 12, f.cip)
  dv.setUint16(off + 26, 0xffff); dv.setUint32(off + 28, TARGET_IP)
  dv.setUint16(off + 32, f.cport, true); dv.setUint16(off + 34, TARGET_PORT, true)
  dv.setUint32(off + 36, 4, true)
}

/**
 * The baseline router: exact on the IPv4 4-tuple with numbers only. A Map
 * from the client half (ip * 65536 + port, exact in a double) to the first of
 * that client's slots; the slots hold the target half and the connection in
 * typed arrays, chained for clients with several targets. Nothing is
 * allocated per operation (the Map and the arrays grow on their own).
 */
class BaselineRouter {
  readonly #first = new Map<number, number>()
  readonly #target: Float64Array
  readonly #conn: Int32Array
  readonly #next: Int32Array
  #used = 0

  constructor (cap: number) {
    this.#target = new Float64Array(cap)
    this.#conn = new Int32Array(cap)
    this.#next = new Int32Array(cap)
  }

  add (client: number, target: number, conn: number): void {
    const head = this.#first.get(client) ?? -1
    for (let j = head; j >= 0; j = this.#next[j]!) {
      if (this.#target[j] === target) { this.#conn[j] = conn; return }
    }
    const s = this.#used++
    this.#target[s] = target
    this.#conn[s] = conn
    this.#next[s] = head
    this.#first.set(client, s)
  }

  get (client: number, target: number): number {
    for (let j = this.#first.get(client) ?? -1; j >= 0; j = this.#next[j]!) {
      if (this.#target[j] === target) return this.#conn[j]!
    }
    return -1
  }

  clear (): void {
    this.#first.clear()
    this.#used = 0
  }
}

/**
 * The baseline router doing the router's work: BaselineRouter's exact
 * 4-tuple map, plus a last-use stamp per slot and a doubly linked LRU list
 * (typed arrays) that every add and lookup moves the slot to the newest end
 * of, as the core does for idle expiry and eviction at the route cap.
 */
class SameWorkRouter {
  readonly #first = new Map<number, number>()
  readonly #target: Float64Array
  readonly #conn: Int32Array
  readonly #next: Int32Array
  readonly #last: Uint32Array
  readonly #older: Int32Array
  readonly #newer: Int32Array
  #oldest = -1
  #newest = -1
  #used = 0

  constructor (cap: number) {
    this.#target = new Float64Array(cap)
    this.#conn = new Int32Array(cap)
    this.#next = new Int32Array(cap)
    this.#last = new Uint32Array(cap)
    this.#older = new Int32Array(cap)
    this.#newer = new Int32Array(cap)
  }

  #touch (s: number, now: number): void {
    this.#last[s] = now
    if (s === this.#newest) return
    const older = this.#older[s]!
    const newer = this.#newer[s]!
    if (older >= 0) this.#newer[older] = newer; else this.#oldest = newer
    if (newer >= 0) this.#older[newer] = older; else this.#newest = older
    this.#push(s)
  }

  #push (s: number): void {
    this.#older[s] = this.#newest
    this.#newer[s] = -1
    if (this.#newest >= 0) this.#newer[this.#newest] = s; else this.#oldest = s
    this.#newest = s
  }

  add (client: number, target: number, conn: number, now: number): void {
    const head = this.#first.get(client) ?? -1
    for (let j = head; j >= 0; j = this.#next[j]!) {
      if (this.#target[j] === target) { this.#conn[j] = conn; this.#touch(j, now); return }
    }
    const s = this.#used++
    this.#target[s] = target
    this.#conn[s] = conn
    this.#next[s] = head
    this.#last[s] = now
    this.#push(s)
    this.#first.set(client, s)
  }

  get (client: number, target: number, now: number): number {
    for (let j = this.#first.get(client) ?? -1; j >= 0; j = this.#next[j]!) {
      if (this.#target[j] === target) { this.#touch(j, now); return this.#conn[j]! }
    }
    return -1
  }

  clear (): void {
    this.#first.clear()
    this.#used = 0
    this.#oldest = this.#newest = -1
  }
}

/** The client half of the key at off (40-byte form): IPv4 address * 65536 + port. */
function clientHalf (dv: DataView, off: number): number {
  return dv.getUint32(off + 12) * 65536 + dv.getUint16(off + 32, true)
}

/** The target half of the key at off. */
function targetHalf (dv: DataView, off: number): number {
  return dv.getUint32(off + 28) * 65536 + dv.getUint16(off + 34, true)
}

function fmt (r: number): string { return (r / 1e6).toFixed(2).padStart(7) + ' M/s' }

function line (name: string, wasm: number, base: number, target: string, lean?: number): void {
  const extra = lean === undefined ? '' : `   (map only ${fmt(lean)}, ratio ${(wasm / lean).toFixed(2)}x)`
  console.log(`${name.padEnd(28)} wasm ${fmt(wasm)}   baseline ${fmt(base)}   ratio ${(wasm / base).toFixed(2)}x   ${target}${extra}`)
}

// ---- router ------------------------------------------------------------------

function benchRouter (core: Core, N: number): void {
  // N keys resident in FRAMES (40 bytes each)
  const flows = makeFlows(N)
  const mem = core.view
  const keysOff = L.FRAMES_OFF
  flows.forEach((f, i) => writeKey(mem, keysOff + i * 40, f))
  const keyBytes = core.bytes.slice(keysOff, keysOff + N * 40)
  const keyView = new DataView(keyBytes.buffer)
  const x = core.exports

  // add: one call per key (the control path), key copied into KEY_OFF, each
  // round into an empty table (emptied, untimed, by deleting every
  // connection's routes on the WASM side and clear() on the baseline's)
  const CONNS = 1024
  const u8 = core.bytes
  // Emptied by laying the core out again, as clear() does for the baseline:
  // both then place the routes of a round in insertion order (deleting them
  // instead would leave the core's entries scattered by its free list, and
  // the lookups below would measure that, not the router).
  const o = core.options
  const emptyWasm = (): void => {
    const st = x.coreInit(routerBuckets(o.hashSize), o.maxRoutes, 0, 0, o.hashSize, o.delayPerKey, o.delayTotal, o.delayExpireSec * 1000, 0x9e3779b9, 0x7f4a7c15)
    if (st !== 0) throw new Error(`router bench: coreInit returned ${st}`)
    u8.set(keyBytes, keysOff) // coreInit zeroes the fixed regions, FRAMES included
  }
  const lean = new BaselineRouter(N)
  const base = new SameWorkRouter(N)
  const [addWasm, addLean, addBase] = rates(N, [
    {
      fn: () => {
        for (let i = 0; i < N; i++) {
          u8.copyWithin(L.KEY_OFF, keysOff + i * 40, keysOff + i * 40 + 40)
          x.routerAdd(i & (CONNS - 1), 1)
        }
      },
      before: emptyWasm
    },
    {
      fn: () => { for (let i = 0; i < N; i++) lean.add(clientHalf(keyView, i * 40), targetHalf(keyView, i * 40), i & (CONNS - 1)) },
      before: () => { lean.clear() }
    },
    {
      fn: () => { for (let i = 0; i < N; i++) base.add(clientHalf(keyView, i * 40), targetHalf(keyView, i * 40), i & (CONNS - 1), 1) },
      before: () => { base.clear() }
    }
  ]) as [number, number, number]
  if (core.counter(L.Counter.Routes) !== N) throw new Error(`router bench: ${core.counter(L.Counter.Routes)} routes after the adds, not ${N}`)
  line(`router insert, ${N / 1000}k routes`, addWasm, addBase, '', addLean)

  // lookup: the batch API against the baseline's loop, over the full tables
  const outOff = L.OUT_OFF
  const hits = new Int32Array(N)
  const leanHits = new Int32Array(N)
  const lookups = (now: number): number[] => rates(N, [
    { fn: () => { x.routerLookupBatch(keysOff, N, outOff, now) } },
    { fn: () => { for (let i = 0; i < N; i++) leanHits[i] = lean.get(clientHalf(keyView, i * 40), targetHalf(keyView, i * 40)) } },
    { fn: () => { for (let i = 0; i < N; i++) hits[i] = base.get(clientHalf(keyView, i * 40), targetHalf(keyView, i * 40), now) } }
  ])
  const [lookupWasm, lookupLean, lookupBase] = lookups(2) as [number, number, number]
  // the three must agree
  for (let i = 0; i < N; i++) {
    if (mem.getInt32(outOff + i * 4, true) !== hits[i] || hits[i] !== (i & (CONNS - 1)) || leanHits[i] !== hits[i]) throw new Error(`router bench: wasm and baselines disagree at key ${i}`)
  }
  line(`router lookup, ${N / 1000}k routes`, lookupWasm, lookupBase,
    `target >= 10 M/s and >= 3x same work: ${lookupWasm >= 10e6 && lookupWasm / lookupBase >= 3 ? 'met' : 'NOT MET'}`, lookupLean)

  // The same lookups in a shuffled order (one permutation, the same for
  // all three): responses come back for whichever sessions the target
  // answers, not in the order their routes were added. The keys are
  // rewritten in that order in place; the tables are unchanged.
  const order = Array.from({ length: N }, (_, i) => i)
  for (let i = N - 1; i > 0; i--) {
    const j = rnd() % (i + 1)
    const t = order[i]!; order[i] = order[j]!; order[j] = t
  }
  order.forEach((k, i) => {
    writeKey(mem, keysOff + i * 40, flows[k]!)
    writeKey(keyView, i * 40, flows[k]!)
  })
  const [shufWasm, shufLean, shufBase] = lookups(3) as [number, number, number]
  for (let i = 0; i < N; i++) {
    const want = order[i]! & (CONNS - 1)
    if (mem.getInt32(outOff + i * 4, true) !== want || hits[i] !== want || leanHits[i] !== want) throw new Error(`router bench: wasm and baselines disagree at shuffled key ${i}`)
  }
  line(`  shuffled order`, shufWasm, shufBase,
    `target >= 10 M/s and >= 3x same work: ${shufWasm >= 10e6 && shufWasm / shufBase >= 3 ? 'met' : 'NOT MET'}`, shufLean)
  core.exports.outReset()
}

// ---- parse + classify -----------------------------------------------------------

/** An Ethernet + IPv4 + TCP response from the target to a flow, cut at a 134-byte snaplen. */
function responseFrame (f: Flow, i: number): Uint8Array {
  const payload = i % 4 === 0 ? 0 : 300
  const tcpLen = 32 // doff 8: NOP NOP TS
  const totLen = 20 + tcpLen + payload
  const b = new Uint8Array(Math.min(14 + totLen, 134))
  const dv = new DataView(b.buffer)
  dv.setUint16(12, 0x0800)
  b[14] = 0x45; dv.setUint16(16, totLen); dv.setUint16(18, i & 0xffff); b[20] = 0x40; b[22] = 64; b[23] = 6
  dv.setUint32(26, TARGET_IP); dv.setUint32(30, f.cip)
  const t = 34
  dv.setUint16(t, TARGET_PORT); dv.setUint16(t + 2, f.cport)
  dv.setUint32(t + 4, rnd()); dv.setUint32(t + 8, rnd())
  b[t + 12] = (tcpLen / 4) << 4
  b[t + 13] = i % 4 === 0 ? (TcpFlag.Syn | TcpFlag.Ack) : (TcpFlag.Psh | TcpFlag.Ack)
  dv.setUint16(t + 14, 502)
  b[t + 20] = 1; b[t + 21] = 1; b[t + 22] = 8; b[t + 23] = 10
  dv.setUint32(t + 24, rnd()); dv.setUint32(t + 28, rnd())
  return b
}

/** The baseline classifier: same decisions as the core, in plain TS over a DataView. */
function baselineClassify (buf: Uint8Array, dv: DataView, descs: Uint32Array, pass: Set<number>,
  routes: BaselineRouter, verdicts: Uint8Array, out: Uint8Array): number {
  let outAt = 0
  const n = descs.length >> 1
  for (let i = 0; i < n; i++) {
    const off = descs[2 * i]!
    const len = descs[2 * i + 1]!
    verdicts[i] = 0
    if (len < 14) continue
    let l3 = off + 14
    let et = dv.getUint16(off + 12)
    let tags = 0
    while ((et === 0x8100 || et === 0x88a8) && tags < 4 && l3 + 4 <= off + len) { et = dv.getUint16(l3 + 2); l3 += 4; tags++ }
    if (et !== 0x0800 || l3 + 20 > off + len) continue
    const vihl = buf[l3]!
    const ihl = (vihl & 15) * 4
    if (vihl >> 4 !== 4 || ihl < 20 || l3 + ihl > off + len) continue
    const totLen = dv.getUint16(l3 + 2)
    if (totLen < ihl || (dv.getUint16(l3 + 6) & 0x3fff) !== 0 || buf[l3 + 9] !== 6) continue
    const src = dv.getUint32(l3 + 12)
    const dst = dv.getUint32(l3 + 16)
    if (pass.has(dst)) { verdicts[i] = 1; continue }
    const t = l3 + ihl
    if (t + 20 > off + len) continue
    const doff = (buf[t + 12]! >> 4) * 4
    if (doff < 20 || t + doff > off + len || ihl + doff > totLen) continue
    let mss = 0; let ws = 0; let tsv = 0; let tse = 0
    for (let o = t + 20; o < t + doff;) {
      const kind = buf[o]!
      if (kind === 0) break
      if (kind === 1) { o++; continue }
      const olen = buf[o + 1] ?? 0
      if (olen < 2 || o + olen > t + doff) break
      if (kind === 2 && olen === 4) mss = dv.getUint16(o + 2)
      else if (kind === 3 && olen === 3) ws = buf[o + 2]!
      else if (kind === 8 && olen === 10) { tsv = dv.getUint32(o + 2); tse = dv.getUint32(o + 6) }
      o += olen
    }
    const sport = dv.getUint16(t); const dport = dv.getUint16(t + 2)
    const conn = routes.get(dst * 65536 + dport, src * 65536 + sport)
    if (conn >= 0) {
      // the 64-byte record: IP header, TCP header with up to 24 option bytes, zeros
      out.fill(0, outAt, outAt + 64)
      for (let b = 0; b < 20; b++) out[outAt + b] = buf[l3 + b]!
      const tcpBytes = doff < 44 ? doff : 44
      for (let b = 0; b < tcpBytes; b++) out[outAt + 20 + b] = buf[t + b]!
      outAt += 64
    } else if ((buf[t + 13]! & (TcpFlag.Syn | TcpFlag.Rst)) !== 0) {
      outAt += 0 // the baseline keeps no delay table
    }
    if (mss + ws + tsv + tse === -1) outAt++ // keep the option reads alive
  }
  return outAt
}

function benchClassify (core: Core): void {
  const N = L.MAX_BATCH
  const flows = makeFlows(N)
  const frames = flows.map((f, i) => responseFrame(f, i))
  // Routes for 7/8 of the flows (the missing ones include SYN-ACKs, which wait in the delay table); the passlist names two other addresses.
  const routes = new BaselineRouter(N)
  const now = 5
  flows.forEach((f, i) => {
    if (i % 8 === 4) return
    core.routerAdd({ clientIp: f.cip, clientPort: f.cport, targetIp: TARGET_IP, targetPort: TARGET_PORT }, i & 255, now)
    routes.add(f.cip * 65536 + f.cport, TARGET_IP * 65536 + TARGET_PORT, i & 255)
  })
  const pass = [0x0a4d000a, 0x0a4d0014]
  core.setPasslist(pass)
  core.processFrames(frames, LinkType.Ethernet, now)
  core.exports.outReset()
  const x = core.exports

  // Baseline: the same frame bytes at the same offsets, the same descriptors.
  const buf = core.bytes.slice(0, L.FRAMES_OFF + L.FRAMES_SIZE)
  const dv = new DataView(buf.buffer)
  const descs = new Uint32Array(buf.buffer.slice(L.DESC_OFF, L.DESC_OFF + N * 8))
  const verdicts = new Uint8Array(N)
  const out = new Uint8Array(N * 64)
  const passSet = new Set(pass)
  const [wasm, base] = rates(N, [
    { fn: () => { x.batchProcess(N, LinkType.Ethernet, now); x.outReset() } },
    { fn: () => { baselineClassify(buf, dv, descs, passSet, routes, verdicts, out) } }
  ]) as [number, number]
  const before = core.counters()
  const wasmVerdicts = core.bytes.subarray(L.VERDICT_OFF, L.VERDICT_OFF + N)
  for (let i = 0; i < N; i++) {
    if (verdicts[i] !== wasmVerdicts[i]) throw new Error(`classify bench: wasm and baseline verdicts disagree at frame ${i}`)
  }
  line('parse + classify (batch)', wasm, base, `target >= 5 M packets/s: ${wasm >= 5e6 ? 'met' : 'NOT MET'}`)
  const routed = before.Routed
  console.log(`${''.padEnd(28)} (per batch of ${N}: ${Math.round(routed / before.Captured * N)} routed, ${Math.round(before.Delayed / before.Captured * N)} delayed)`)
}

console.log(`tcpcopy-ts core benchmark (node ${process.version}, ${SECONDS}s per measurement)`)
for (const n of [10_000, 100_000]) benchRouter(createCore({ maxRoutes: 1 << 17, routeTimeoutSec: 0 }), n)
benchClassify(createCore({ maxRoutes: 1 << 16, routeTimeoutSec: 0 }))

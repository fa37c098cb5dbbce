import { expect } from 'chai'
import fc from 'fast-check'
import { Status, Counter, KEY_OFF, KEY_SIZE, FRAMES_OFF, OUT_OFF } from '@tcpcopy/wasm'
import { TestCore, keyV4, toHex, hex, readRoutes, readDelay, connListSizes, KEY_COMPARED, BUILDS } from './router-helpers.js'

/** A 60-byte SYN-ACK with a few bytes overwritten: mostly still a packet the delay table takes. */
const SYN_ACK = hex`
  45 00 00 3c  00 00 40 00  40 06 00 00  0a 00 00 02  c0 a8 01 0a  // IPv4 10.0.0.2 -> 192.168.1.10, total length 60
  1f 90 9c 40  11 22 33 44  00 00 00 00  a0 12 72 10  00 00 00 00  // 8080 -> 40000, doff 10, SYN+ACK
  02 04 05 b4  04 02 08 0a  00 00 ab cd  00 00 12 34  01 03 03 07  // MSS, SACK-OK, TS, NOP, WS
`
const mutatedSynAck = fc.array(fc.tuple(fc.nat(59), fc.nat(255)), { maxLength: 3 }).map((edits) => {
  const p = SYN_ACK.slice()
  for (const [at, value] of edits) p[at] = value
  return p
})

// ---- the reference model: a Map in LRU order (oldest first) ---------------------

interface ModelEntry { conn: number, last: number }

class RouterModel {
  readonly routes = new Map<string, ModelEntry>()
  readonly counters = { routes: 0, adds: 0, hits: 0, misses: 0, evictions: 0, expiries: 0, deletes: 0 }

  constructor (readonly cap: number, readonly timeout: number, readonly dnat: boolean) {}

  /** The 37 compared key bytes as hex; DNAT mode zeroes the target address. */
  norm (key: Uint8Array): string {
    const k = key.slice(0, KEY_COMPARED)
    if (this.dnat) k.fill(0, 16, 32)
    return toHex(k)
  }

  stale (e: ModelEntry, now: number): boolean {
    return this.timeout !== 0 && ((now - e.last) >>> 0) > this.timeout
  }

  private remove (k: string): void {
    this.routes.delete(k)
    this.counters.routes = this.routes.size
  }

  add (key: Uint8Array, conn: number, now: number): number {
    if (conn < 0 || conn >= 65536) return Status.BadArgument
    const k = this.norm(key)
    if (!this.routes.has(k) && this.routes.size >= this.cap) {
      const [oldKey, old] = this.routes.entries().next().value!
      if (this.stale(old, now)) this.counters.expiries++
      else this.counters.evictions++
      this.remove(oldKey)
    }
    this.routes.delete(k)
    this.routes.set(k, { conn, last: now })
    this.counters.routes = this.routes.size
    this.counters.adds++
    return Status.Ok
  }

  lookup (key: Uint8Array, now: number): number {
    const k = this.norm(key)
    const e = this.routes.get(k)
    if (e === undefined || this.stale(e, now)) {
      if (e !== undefined) {
        this.remove(k)
        this.counters.expiries++
      }
      this.counters.misses++
      return -1
    }
    this.routes.delete(k)
    this.routes.set(k, { conn: e.conn, last: now })
    this.counters.hits++
    return e.conn
  }

  delete (key: Uint8Array): number {
    const k = this.norm(key)
    if (!this.routes.has(k)) return Status.NotFound
    this.remove(k)
    this.counters.deletes++
    return Status.Ok
  }

  /** An id outside 0..65535 has no routes (add refuses it). */
  deleteConn (conn: number): number {
    let n = 0
    for (const [k, e] of [...this.routes]) {
      if (e.conn === conn) { this.remove(k); n++ }
    }
    this.counters.deletes += n
    return n
  }

  /** With a monotonic clock the LRU order is the last-use order: pop stale entries from the front. */
  expire (now: number): number {
    let n = 0
    for (const [k, e] of [...this.routes]) {
      if (!this.stale(e, now)) break
      this.remove(k)
      n++
    }
    this.counters.expiries += n
    return n
  }

  entries (): Array<{ key: string, conn: number, last: number }> {
    return [...this.routes].map(([key, e]) => ({ key, conn: e.conn, last: e.last }))
  }

  /** Routes per connection id (ids without routes left out), as the per-connection lists must hold them. */
  perConn (): Map<number, number> {
    const m = new Map<number, number>()
    for (const e of this.routes.values()) m.set(e.conn, (m.get(e.conn) ?? 0) + 1)
    return new Map([...m].sort(([a], [b]) => a - b))
  }
}

function wasmCounters (core: TestCore): RouterModel['counters'] {
  return {
    routes: core.counter(Counter.Routes),
    adds: core.counter(Counter.RouterAdds),
    hits: core.counter(Counter.RouterHits),
    misses: core.counter(Counter.RouterMisses),
    evictions: core.counter(Counter.RouterEvictions),
    expiries: core.counter(Counter.RouterExpiries),
    deletes: core.counter(Counter.RouterDeletes)
  }
}

// ---- operations ---------------------------------------------------------------------

/**
 * A small key space, so operations hit the same keys often: client ports
 * 1000..1003 and 2 client addresses, 2 target addresses (DNAT merges them),
 * 2 target ports, and now and then family 6 over the same IPv4-mapped bytes
 * (another key).
 */
const keyArb = fc.record({
  client: fc.constantFrom('192.168.0.1', '192.168.0.2'),
  cport: fc.integer({ min: 1000, max: 1003 }),
  target: fc.constantFrom('10.0.0.2', '172.17.0.5'),
  tport: fc.constantFrom(80, 8080),
  family: fc.oneof({ weight: 5, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.constant(6) })
}).map(({ client, cport, target, tport, family }) => {
  const k = keyV4(client, cport, target, tport)
  k[36] = family
  return k
})

type Op =
  | { op: 'add', key: Uint8Array, conn: number }
  | { op: 'lookup', key: Uint8Array }
  | { op: 'batch', keys: Uint8Array[] }
  | { op: 'delete', key: Uint8Array }
  | { op: 'deleteConn', conn: number }
  | { op: 'expire' }
  | { op: 'tick', ms: number }

const connArb = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 65535, 65536) })

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('add' as const), key: keyArb, conn: connArb }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('lookup' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('batch' as const), keys: fc.array(keyArb, { maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteConn' as const), conn: connArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expire' as const) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 150 }) }) }
)

const setupArb = fc.record({
  buckets: fc.integer({ min: 1, max: 9 }),
  cap: fc.integer({ min: 1, max: 6 }),
  timeout: fc.constantFrom(0, 100, 250),
  dnat: fc.boolean(),
  // start near the top of the u32 clock so runs cross the wrap
  start: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0xffffff00, max: 0xffffffff }))
})

for (const [build, debug] of BUILDS) describe(`router against a reference model (property-based, ${build})`, function () {
  this.timeout(60_000)
  let core: TestCore
  beforeEach(() => { core = new TestCore(debug) })

  it('agrees with a Map + LRU model after every add, lookup, delete, deleteConn, expire and tick', () => {
    let steps = 0
    fc.assert(fc.property(setupArb, fc.array(opArb, { minLength: 1, maxLength: 80 }), (setup, ops) => {
      expect(core.init({ buckets: setup.buckets, maxRoutes: setup.cap, timeoutMs: setup.timeout, dnat: setup.dnat })).to.equal(Status.Ok)
      const model = new RouterModel(setup.cap, setup.timeout, setup.dnat)
      let now = setup.start
      ops.forEach((op, i) => {
        const at = `step ${i} ${op.op}`
        switch (op.op) {
          case 'add': expect(core.add(op.key, op.conn, now), at).to.equal(model.add(op.key, op.conn, now)); break
          case 'lookup': expect(core.lookup(op.key, now), at).to.equal(model.lookup(op.key, now)); break
          case 'batch': {
            op.keys.forEach((k, j) => core.u8.set(k, FRAMES_OFF + j * KEY_SIZE))
            expect(core.x.routerLookupBatch(FRAMES_OFF, op.keys.length, OUT_OFF, now), at).to.equal(Status.Ok)
            const dv = core.dv
            const got = op.keys.map((_, j) => dv.getInt32(OUT_OFF + j * 4, true))
            expect(got, at).to.deep.equal(op.keys.map((k) => model.lookup(k, now)))
            break
          }
          case 'delete': expect(core.del(op.key), at).to.equal(model.delete(op.key)); break
          case 'deleteConn': expect(core.x.routerDeleteConn(op.conn), at).to.equal(model.deleteConn(op.conn)); break
          case 'expire': expect(core.x.routerExpire(now), at).to.equal(model.expire(now)); break
          case 'tick': now = (now + op.ms) >>> 0; break
        }
        expect(wasmCounters(core), at).to.deep.equal(model.counters)
        expect(readRoutes(core).map(({ key, conn, last }) => ({ key, conn, last })), at).to.deep.equal(model.entries())
        expect(new Map([...connListSizes(core)].sort(([a], [b]) => a - b)), at).to.deep.equal(model.perConn())
        steps++
      })
    }), { numRuns: 300 })
    expect(steps).to.be.greaterThan(1000)
  })

  it('never traps on garbage keys, connection ids, clocks and batch regions', () => {
    const memEnd = (): number => core.raw.memory.buffer.byteLength
    fc.assert(fc.property(
      fc.array(fc.record({
        key: fc.uint8Array({ minLength: KEY_SIZE, maxLength: KEY_SIZE }),
        conn: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
        now: fc.integer({ min: 0, max: 0xffffffff }),
        which: fc.integer({ min: 0, max: 6 }),
        off: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(FRAMES_OFF)),
        out: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(OUT_OFF)),
        n: fc.integer({ min: -0x80000000, max: 0x7fffffff })
      }), { minLength: 1, maxLength: 40 }),
      fc.boolean(),
      (calls, dnat) => {
        expect(core.init({ buckets: 3, maxRoutes: 4, timeoutMs: 50, dnat })).to.equal(Status.Ok)
        for (const c of calls) {
          core.u8.set(c.key, KEY_OFF)
          switch (c.which) {
            case 0: expect(core.x.routerAdd(c.conn, c.now)).to.be.oneOf([Status.Ok, Status.BadArgument]); break
            case 1: expect(core.x.routerLookup(c.now)).to.be.at.least(-1); break
            case 2: expect(core.x.routerDelete()).to.be.oneOf([Status.Ok, Status.NotFound]); break
            case 3: expect(core.x.routerDeleteConn(c.conn)).to.be.at.least(0); break
            case 4: expect(core.x.routerExpire(c.now)).to.be.at.least(0); break
            case 5: expect(core.x.routerLookupBatch(c.off, c.n, c.out, c.now)).to.be.oneOf([Status.Ok, Status.BadRegion, Status.BadArgument]); break
            case 6: {
              const n = c.n & 7
              const st = core.x.routerLookupBatch(c.off % memEnd(), n, c.out % memEnd(), c.now)
              expect(st).to.be.oneOf([Status.Ok, Status.BadRegion])
              break
            }
          }
        }
        const routes = readRoutes(core)
        expect(routes.length).to.equal(core.counter(Counter.Routes))
        expect(routes.length).to.be.at.most(4)
      }
    ), { numRuns: 300 })
  })

  it('never traps on garbage packets and keys in the delay table', () => {
    fc.assert(fc.property(
      fc.array(fc.record({
        key: fc.uint8Array({ minLength: KEY_SIZE, maxLength: KEY_SIZE }),
        packet: fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 300 }), mutatedSynAck),
        capLen: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 300 })),
        conn: fc.integer({ min: -5, max: 70000 }),
        now: fc.integer({ min: 0, max: 200 }),
        which: fc.integer({ min: 0, max: 2 })
      }), { minLength: 1, maxLength: 40 }),
      (calls) => {
        expect(core.init({ delayBuckets: 2, delayPerKey: 3, delayTotal: 5, delayExpireMs: 100 })).to.equal(Status.Ok)
        for (const c of calls) {
          core.u8.set(c.key, KEY_OFF)
          core.u8.set(c.packet, FRAMES_OFF)
          if (c.which === 0) core.x.delayStore(FRAMES_OFF, c.capLen, c.now)
          else if (c.which === 1) core.x.routeClientAdd(c.conn, c.now)
          else core.x.delayExpire(c.now)
          expect(core.counter(Counter.DelayRecords)).to.be.at.most(5)
          expect(core.counter(Counter.DelayKeys)).to.be.at.most(core.counter(Counter.DelayRecords))
        }
        const keys = readDelay(core)
        expect(keys.reduce((n, k) => n + k.records.length, 0)).to.equal(core.counter(Counter.DelayRecords))
        expect(keys.length).to.equal(core.counter(Counter.DelayKeys))
      }
    ), { numRuns: 300 })
  })
})

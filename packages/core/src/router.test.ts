import { expect } from 'chai'
import { Status, Counter, KEY_OFF, KEY_SIZE, FRAMES_OFF, REGION_BASE, ARENA_BASE, OUT_OFF, CONNS_MAX } from '@tcpcopy/wasm'
import { TestCore, keyV4, readRoutes, connListSizes, BUILDS, TEST_SEED } from './router-helpers.js'
import { randomHashSeed } from './loader.js'

const A = keyV4('192.168.1.10', 40000, '10.0.0.2', 8080)
const B = keyV4('192.168.1.11', 40000, '10.0.0.2', 8080)
const C = keyV4('192.168.1.12', 40000, '10.0.0.2', 8080)
const D = keyV4('192.168.1.13', 40000, '10.0.0.2', 8080)

/** Offset of the u32 that the collision pairs below vary, per 8-byte word of the key. */
const WORD_FIELD = [4, 12, 20, 28, 32]

/**
 * The key A with the u32 at WORD_FIELD[w] set to v ^ 0x5a5a0000
 * (little-endian); for words 0 and 2, which are zero in every IPv4-mapped
 * address (and which the hash of a family-4 key leaves out), a family-6 key.
 */
function variant (w: number, v: number): Uint8Array {
  const k = keyV4('192.168.1.10', 40000, '10.0.0.2', 8080)
  new DataView(k.buffer).setUint32(WORD_FIELD[w]!, (v ^ 0x5a5a0000) >>> 0, true)
  if (w === 0 || w === 2) k[36] = 6
  return k
}

/**
 * Pairs (v, v') whose variants differ only in word w and whose hashes are
 * equal under TEST_SEED (found offline by adding variants 0, 1, 2, ... and
 * reading the hashes the router stored until two were equal).
 */
const COLLIDING: Array<[number, number]> = [[32280, 65956], [3873, 69823], [13853, 25705], [51076, 52432], [57271, 95268]]

for (const [build, debug] of BUILDS) describe(`router (${build})`, () => {
  let core: TestCore
  beforeEach(() => {
    core = new TestCore(debug)
    expect(core.init({ buckets: 64, maxRoutes: 64, timeoutMs: 0 })).to.equal(Status.Ok)
  })

  describe('add and lookup', () => {
    it('returns the client fd for a known 4-tuple', () => {
      expect(core.add(A, 7, 1000)).to.equal(Status.Ok)
      expect(core.lookup(A, 1001)).to.equal(7)
      expect(core.counter(Counter.RouterHits)).to.equal(1)
      expect(core.counter(Counter.RouterAdds)).to.equal(1)
      expect(core.counter(Counter.Routes)).to.equal(1)
    })

    it('counts a miss when the 4-tuple was never added', () => {
      core.add(A, 7, 1000)
      expect(core.lookup(B, 1000)).to.equal(-1)
      expect(core.counter(Counter.RouterMisses)).to.equal(1)
      expect(core.counter(Counter.RouterHits)).to.equal(0)
    })

    it('overwrites the connection of an existing key without adding a second route', () => {
      core.add(A, 7, 1000)
      core.add(A, 9, 1001)
      expect(core.lookup(A, 1002)).to.equal(9)
      expect(core.counter(Counter.Routes)).to.equal(1)
      expect(core.counter(Counter.RouterAdds)).to.equal(2)
    })

    it('keeps many routes apart in one bucket', () => {
      core.init({ buckets: 1, maxRoutes: 100 })
      for (let i = 0; i < 100; i++) expect(core.add(keyV4('10.1.0.1', 1000 + i, '10.0.0.2', 80), i, 5)).to.equal(Status.Ok)
      for (let i = 0; i < 100; i++) expect(core.lookup(keyV4('10.1.0.1', 1000 + i, '10.0.0.2', 80), 6)).to.equal(i)
      expect(core.counter(Counter.Routes)).to.equal(100)
      expect(readRoutes(core)).to.have.length(100)
    })

    it('works with any bucket count, also ones that are not powers of two', () => {
      for (const buckets of [1, 3, 7, 1000, 65537]) {
        core.init({ buckets, maxRoutes: 50 })
        for (let i = 0; i < 50; i++) core.add(keyV4('10.1.0.1', 2000 + i, '10.0.0.2', 80), i, 1)
        const got = Array.from({ length: 50 }, (_, i) => core.lookup(keyV4('10.1.0.1', 2000 + i, '10.0.0.2', 80), 1))
        expect(got, `buckets ${buckets}`).to.deep.equal(Array.from({ length: 50 }, (_, i) => i))
        expect(readRoutes(core)).to.have.length(50)
      }
    })

    it('treats keys that differ in any one of the 37 compared bytes as distinct', () => {
      core.add(A, 1, 0)
      for (let i = 0; i < 37; i++) {
        const k = A.slice()
        k[i] = k[i]! ^ 0x01
        expect(core.lookup(k, 0), `byte ${i}`).to.equal(-1)
        expect(core.add(k, 100 + i, 0)).to.equal(Status.Ok)
      }
      expect(core.lookup(A, 0)).to.equal(1)
      for (let i = 0; i < 37; i++) {
        const k = A.slice()
        k[i] = k[i]! ^ 0x01
        expect(core.lookup(k, 0), `byte ${i}`).to.equal(100 + i)
      }
      expect(core.counter(Counter.Routes)).to.equal(38)
    })

    it('ignores the three padding bytes after the family', () => {
      core.add(A, 1, 0)
      const k = A.slice()
      k.set([0xaa, 0xbb, 0xcc], 37)
      expect(core.lookup(k, 0)).to.equal(1)
    })

    it('keeps an IPv4 key and a family-6 key with the same IPv4-mapped addresses apart', () => {
      const v6 = A.slice()
      v6[36] = 6
      core.add(A, 1, 0)
      expect(core.lookup(v6, 0)).to.equal(-1)
      core.add(v6, 2, 0)
      expect([core.lookup(A, 0), core.lookup(v6, 0)]).to.deep.equal([1, 2])
      expect(core.del(A)).to.equal(Status.Ok)
      expect([core.lookup(A, 0), core.lookup(v6, 0)]).to.deep.equal([-1, 2])
    })

    it('treats keys that differ only in the client port or only in the target port as distinct', () => {
      core.add(keyV4('1.2.3.4', 1000, '5.6.7.8', 80), 1, 0)
      core.add(keyV4('1.2.3.4', 1001, '5.6.7.8', 80), 2, 0)
      core.add(keyV4('1.2.3.4', 1000, '5.6.7.8', 81), 3, 0)
      expect(core.lookup(keyV4('1.2.3.4', 1000, '5.6.7.8', 80), 0)).to.equal(1)
      expect(core.lookup(keyV4('1.2.3.4', 1001, '5.6.7.8', 80), 0)).to.equal(2)
      expect(core.lookup(keyV4('1.2.3.4', 1000, '5.6.7.8', 81), 0)).to.equal(3)
      // client and target swapped is another key too
      expect(core.lookup(keyV4('5.6.7.8', 80, '1.2.3.4', 1000), 0)).to.equal(-1)
    })

    for (let w = 0; w < 5; w++) {
      it(`tells apart keys whose 32-bit hashes collide and that differ only in key word ${w} (bytes ${8 * w}..${Math.min(8 * w + 7, 36)})`, () => {
        const [p, q] = COLLIDING[w]!
        const x = variant(w, p)
        const y = variant(w, q)
        core.init({ buckets: 1 })
        core.add(x, 1, 0)
        core.add(y, 2, 0)
        const [hx, hy] = readRoutes(core).map((e) => e.hash)
        expect(hx, `word ${w}: these keys no longer collide under the hash with TEST_SEED: find another pair`).to.equal(hy)
        expect([core.lookup(x, 0), core.lookup(y, 0)]).to.deep.equal([1, 2])
        expect(core.del(x)).to.equal(Status.Ok)
        expect([core.lookup(x, 0), core.lookup(y, 0)]).to.deep.equal([-1, 2])
      })
    }

    it('leaves words 0 and 2 out of a family-4 key\'s hash (zero in IPv4-mapped addresses) and still tells such keys apart', () => {
      core.init({ buckets: 1 })
      const k4 = (w: number, v: number): Uint8Array => { const k = variant(w, v); k[36] = 4; return k }
      const keys = [A, k4(0, 1), k4(0, 2), k4(2, 1)]
      keys.forEach((k, i) => core.add(k, i + 1, 0))
      const routes = readRoutes(core)
      expect(new Set(routes.map((e) => e.hash)).size).to.equal(1)
      expect(keys.map((k) => core.lookup(k, 0))).to.deep.equal([1, 2, 3, 4])
      // the same bytes as a family-6 key: every word is hashed
      core.init({ buckets: 1 })
      const six = [variant(0, 1), variant(0, 2), variant(2, 1), variant(2, 2)]
      six.forEach((k, i) => core.add(k, i + 1, 0))
      expect(new Set(readRoutes(core).map((e) => e.hash)).size).to.equal(4)
    })

    it('hashes with the seed given to coreInit: a colliding pair under one seed is apart under another', () => {
      const [p, q] = COLLIDING[0]!
      const hashes = (seed: bigint): number[] => {
        core.init({ seed, buckets: 1 })
        core.add(variant(0, p), 1, 0)
        core.add(variant(0, q), 2, 0)
        return readRoutes(core).map((e) => e.hash)
      }
      const [a1, a2] = hashes(TEST_SEED)
      expect(a1).to.equal(a2)
      const [b1, b2] = hashes(TEST_SEED + 1n)
      expect(b1).not.to.equal(b2)
      expect(b1).not.to.equal(a1)
      // random seeds (what createCore uses) give another hash each time
      const seen = new Set([randomHashSeed(), randomHashSeed(), randomHashSeed()].map((seed) => hashes(seed)[0]))
      expect(seen.size).to.equal(3)
    })

    it('distinguishes keys by target address when DNAT mode is off', () => {
      core.add(keyV4('1.2.3.4', 1000, '10.0.0.2', 80), 1, 0)
      expect(core.lookup(keyV4('1.2.3.4', 1000, '172.17.0.5', 80), 0)).to.equal(-1)
    })

    it('refuses a negative or too large connection id with BadArgument', () => {
      expect(core.add(A, -1, 0)).to.equal(Status.BadArgument)
      expect(core.add(A, CONNS_MAX, 0)).to.equal(Status.BadArgument)
      expect(core.add(A, CONNS_MAX - 1, 0)).to.equal(Status.Ok)
      expect(core.counter(Counter.RouterAdds)).to.equal(1)
    })

    it('leaves the key at KEY_OFF as the caller wrote it', () => {
      core.init({ dnat: true })
      core.add(A, 3, 0)
      expect(core.keyBytes()).to.deep.equal(A)
      core.x.routerLookup(0)
      expect(core.keyBytes()).to.deep.equal(A)
    })

    it('reports NotInitialised before coreInit and finds nothing', () => {
      const fresh = new TestCore(debug)
      expect(fresh.add(A, 1, 0)).to.equal(Status.NotInitialised)
      expect(fresh.lookup(A, 0)).to.equal(-1)
      expect(fresh.x.routerDelete()).to.equal(Status.NotInitialised)
      expect(fresh.x.routerDeleteConn(1)).to.equal(0)
      expect(fresh.x.routerExpire(0)).to.equal(0)
      expect(fresh.x.routerLookupBatch(FRAMES_OFF, 1, OUT_OFF, 0)).to.equal(Status.NotInitialised)
    })

    it('starts empty after coreInit is called again', () => {
      core.add(A, 1, 0)
      expect(core.init({ buckets: 8, maxRoutes: 4 })).to.equal(Status.Ok)
      expect(core.counter(Counter.Routes)).to.equal(0)
      expect(core.lookup(A, 0)).to.equal(-1)
      core.add(B, 2, 0)
      expect(core.lookup(B, 0)).to.equal(2)
    })
  })

  describe('delete', () => {
    it('removes one route and reports NotFound for a key it does not hold', () => {
      core.add(A, 1, 0)
      core.add(B, 2, 0)
      expect(core.del(A)).to.equal(Status.Ok)
      expect(core.del(A)).to.equal(Status.NotFound)
      expect(core.lookup(A, 0)).to.equal(-1)
      expect(core.lookup(B, 0)).to.equal(2)
      expect(core.counter(Counter.RouterDeletes)).to.equal(1)
      expect(core.counter(Counter.Routes)).to.equal(1)
    })

    it('removes a route from the middle of a bucket chain without losing its neighbours', () => {
      core.init({ buckets: 1, maxRoutes: 8 })
      const keys = [A, B, C, D]
      keys.forEach((k, i) => core.add(k, i, 0))
      core.del(B)
      expect(keys.map((k) => core.lookup(k, 0))).to.deep.equal([0, -1, 2, 3])
      core.del(D)
      core.del(A)
      expect(keys.map((k) => core.lookup(k, 0))).to.deep.equal([-1, -1, 2, -1])
      expect(readRoutes(core)).to.have.length(1)
    })

    it('reuses the entry of a deleted route', () => {
      core.init({ maxRoutes: 2 })
      core.add(A, 1, 0)
      core.add(B, 2, 0)
      core.del(A)
      core.add(C, 3, 0)
      expect([core.lookup(B, 0), core.lookup(C, 0)]).to.deep.equal([2, 3])
      expect(core.counter(Counter.RouterEvictions)).to.equal(0)
    })

    it('removes every route of a closed connection and keeps the others', () => {
      core.add(A, 5, 0)
      core.add(B, 6, 0)
      core.add(C, 5, 0)
      core.add(D, 5, 0)
      expect(connListSizes(core)).to.deep.equal(new Map([[5, 3], [6, 1]]))
      expect(core.x.routerDeleteConn(5)).to.equal(3)
      expect([A, B, C, D].map((k) => core.lookup(k, 0))).to.deep.equal([-1, 6, -1, -1])
      expect(core.counter(Counter.RouterDeletes)).to.equal(3)
      expect(core.counter(Counter.Routes)).to.equal(1)
      expect(core.x.routerDeleteConn(5)).to.equal(0)
      expect(connListSizes(core)).to.deep.equal(new Map([[6, 1]]))
    })

    it('moves a route to its new connection\'s list when a CLIENT_ADD gives it another connection', () => {
      core.add(A, 5, 0)
      core.add(B, 5, 0)
      core.add(A, 6, 1)
      expect(connListSizes(core)).to.deep.equal(new Map([[5, 1], [6, 1]]))
      expect(core.x.routerDeleteConn(5)).to.equal(1)
      expect([core.lookup(A, 2), core.lookup(B, 2)]).to.deep.equal([6, -1])
      expect(core.x.routerDeleteConn(6)).to.equal(1)
      expect(readRoutes(core)).to.deep.equal([])
    })

    it('takes expired, evicted and deleted routes off their connection\'s list', () => {
      core.init({ buckets: 4, maxRoutes: 3, timeoutMs: 100 })
      core.add(A, 1, 0)
      core.add(B, 1, 0)
      core.add(C, 2, 50)
      core.add(D, 2, 60) // the pool is full: A (the least recently used) goes
      expect(connListSizes(core)).to.deep.equal(new Map([[1, 1], [2, 2]]))
      expect(core.x.routerExpire(101)).to.equal(1) // B
      expect(connListSizes(core)).to.deep.equal(new Map([[2, 2]]))
      expect(core.del(C)).to.equal(Status.Ok)
      expect(core.lookup(D, 200)).to.equal(-1) // stale: expired by the lookup
      expect(connListSizes(core)).to.deep.equal(new Map())
      expect(core.x.routerDeleteConn(1) + core.x.routerDeleteConn(2)).to.equal(0)
    })

    it('answers 0 for a connection id outside 0..65535 and keeps every route', () => {
      core.add(A, CONNS_MAX - 1, 0)
      for (const conn of [-1, CONNS_MAX, 0x7fffffff]) expect(core.x.routerDeleteConn(conn)).to.equal(0)
      expect(core.lookup(A, 0)).to.equal(CONNS_MAX - 1)
      expect(core.x.routerDeleteConn(CONNS_MAX - 1)).to.equal(1)
    })

    it('deletes one connection\'s routes without touching the routes of thousands of others', () => {
      core.init({ buckets: 4096, maxRoutes: 20000 })
      for (let i = 0; i < 20000; i++) core.add(keyV4(`10.${i >> 8 & 255}.${i & 255}.1`, 1000 + (i % 7), '10.0.0.2', 80), i % 2000, 1)
      expect(core.x.routerDeleteConn(1234)).to.equal(10)
      expect(core.counter(Counter.Routes)).to.equal(19990)
      const sizes = connListSizes(core)
      expect(sizes.size).to.equal(1999)
      expect([...sizes.values()].every((n) => n === 10)).to.equal(true)
    })
  })

  describe('idle expiry', () => {
    beforeEach(() => { core.init({ timeoutMs: 1000 }) })

    it('removes routes idle longer than the timeout on a sweep and keeps the rest', () => {
      core.add(A, 1, 0)
      core.add(B, 2, 500)
      core.add(C, 3, 900)
      expect(core.x.routerExpire(1000)).to.equal(0) // idle exactly the timeout: still live
      expect(core.x.routerExpire(1501)).to.equal(2)
      expect(core.counter(Counter.RouterExpiries)).to.equal(2)
      expect(core.counter(Counter.Routes)).to.equal(1)
      expect(core.lookup(C, 1501)).to.equal(3)
    })

    it('keeps a route that lookups keep using', () => {
      core.add(A, 1, 0)
      core.add(B, 2, 0)
      expect(core.lookup(A, 800)).to.equal(1)
      expect(core.x.routerExpire(1500)).to.equal(1)
      expect(core.lookup(A, 1500)).to.equal(1)
      expect(core.lookup(B, 1500)).to.equal(-1)
    })

    it('refreshes a route when it is added again', () => {
      core.add(A, 1, 0)
      core.add(A, 1, 900)
      expect(core.x.routerExpire(1800)).to.equal(0)
      expect(core.lookup(A, 1800)).to.equal(1)
    })

    it('treats a stale route found by a lookup as expired, even without a sweep', () => {
      core.add(A, 1, 0)
      expect(core.lookup(A, 1001)).to.equal(-1)
      expect(core.counter(Counter.RouterExpiries)).to.equal(1)
      expect(core.counter(Counter.RouterMisses)).to.equal(1)
      expect(core.counter(Counter.Routes)).to.equal(0)
      expect(readRoutes(core)).to.deep.equal([])
    })

    it('never expires routes when the timeout is 0', () => {
      core.init({ timeoutMs: 0 })
      core.add(A, 1, 0)
      expect(core.x.routerExpire(0xffffffff)).to.equal(0)
      expect(core.lookup(A, 0x80000000)).to.equal(1)
    })

    it('compares times across the u32 clock wrap', () => {
      core.add(A, 1, 0xffffff00)
      core.add(B, 2, 0xffffff00)
      expect(core.lookup(A, 0x00000200)).to.equal(1) // 0x300 ms later
      expect(core.x.routerExpire(0x00000300)).to.equal(1) // B idle 0x400 = 1024 ms
      expect(core.lookup(B, 0x00000300)).to.equal(-1)
      expect(core.lookup(A, 0x000005e8)).to.equal(1) // 1000 ms after the refresh
      expect(core.lookup(A, 0x000009d1)).to.equal(-1) // 1001 ms after
    })
  })

  describe('LRU cap', () => {
    beforeEach(() => { core.init({ buckets: 4, maxRoutes: 3 }) })

    it('pushes out the least recently used route when the pool is full', () => {
      core.add(A, 1, 0)
      core.add(B, 2, 1)
      core.add(C, 3, 2)
      expect(core.lookup(A, 3)).to.equal(1) // A is now the newest: B is the oldest
      core.add(D, 4, 4)
      expect(core.counter(Counter.RouterEvictions)).to.equal(1)
      expect(core.counter(Counter.Routes)).to.equal(3)
      expect([A, B, C, D].map((k) => core.lookup(k, 5))).to.deep.equal([1, -1, 3, 4])
    })

    it('evicts in least-recently-used order, refreshing on add and on hit', () => {
      core.add(A, 1, 0)
      core.add(B, 2, 0)
      core.add(C, 3, 0)
      core.add(A, 9, 0) // refresh A by add: order B, C, A
      core.lookup(B, 0) // refresh B by hit: order C, A, B
      expect(readRoutes(core).map((e) => e.conn)).to.deep.equal([3, 9, 2])
      core.add(D, 4, 0) // evicts C
      expect(readRoutes(core).map((e) => e.conn)).to.deep.equal([9, 2, 4])
      core.add(C, 3, 0) // evicts A
      expect(readRoutes(core).map((e) => e.conn)).to.deep.equal([2, 4, 3])
      expect(core.counter(Counter.RouterEvictions)).to.equal(2)
    })

    it('counts pushing out an idle route as an expiry, not an eviction', () => {
      core.init({ buckets: 4, maxRoutes: 2, timeoutMs: 100 })
      core.add(A, 1, 0)
      core.add(B, 2, 50)
      core.add(C, 3, 150) // A is idle 150 ms: expired
      expect(core.counter(Counter.RouterExpiries)).to.equal(1)
      expect(core.counter(Counter.RouterEvictions)).to.equal(0)
      core.add(D, 4, 150) // B idle 100 ms: live, evicted
      expect(core.counter(Counter.RouterEvictions)).to.equal(1)
    })

    it('keeps exact LRU order, eviction and idle expiry over 4000 random adds and lookups, against a model', () => {
      core.init({ buckets: 2, maxRoutes: 5, timeoutMs: 50 })
      const keys = Array.from({ length: 9 }, (_, i) => keyV4(`192.168.7.${i + 1}`, 5000 + i, '10.0.0.2', 80))
      const model: number[] = [] // key indexes, least recently used first
      const conns = new Map<number, number>()
      let seed = 7
      const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n }
      let now = 0
      let evictions = 0
      for (let op = 0; op < 4000; op++) {
        const k = rnd(keys.length)
        const at = model.indexOf(k)
        if (rnd(3) === 0) {
          if (at >= 0) model.splice(at, 1)
          else if (model.length === 5) { conns.delete(model.shift()!); evictions++ }
          model.push(k)
          conns.set(k, op & 1023)
          expect(core.add(keys[k]!, op & 1023, now)).to.equal(Status.Ok)
        } else {
          if (at >= 0) { model.splice(at, 1); model.push(k) }
          expect(core.lookup(keys[k]!, now), `op ${op}`).to.equal(at >= 0 ? conns.get(k) : -1)
        }
        if (op % 97 === 0) {
          expect(readRoutes(core).map((e) => e.conn), `op ${op}`).to.deep.equal(model.map((i) => conns.get(i)))
        }
      }
      expect(core.counter(Counter.RouterEvictions)).to.equal(evictions)
      expect(evictions).to.be.greaterThan(100)
      // idle expiry pops from the least recently used end: use the newest two, then sweep
      const keep = model.slice(-2)
      now += 40
      for (const k of keep) core.lookup(keys[k]!, now)
      expect(core.x.routerExpire(now + 20)).to.equal(3)
      expect(readRoutes(core).map((e) => e.conn)).to.deep.equal(keep.map((i) => conns.get(i)))
    })

    it('holds a single route with a pool of one', () => {
      core.init({ buckets: 1, maxRoutes: 1 })
      core.add(A, 1, 0)
      core.add(B, 2, 0)
      expect([core.lookup(A, 0), core.lookup(B, 0)]).to.deep.equal([-1, 2])
      expect(readRoutes(core)).to.have.length(1)
    })
  })

  describe('DNAT mode', () => {
    beforeEach(() => { core.init({ dnat: true }) })

    it('finds a route whatever the target address of the lookup key', () => {
      core.add(keyV4('192.168.1.10', 40000, '10.0.0.2', 8080), 4, 0)
      expect(core.lookup(keyV4('192.168.1.10', 40000, '172.17.0.5', 8080), 0)).to.equal(4)
      expect(core.lookup(keyV4('192.168.1.10', 40000, '10.0.0.2', 8080), 0)).to.equal(4)
    })

    it('still tells target ports, client addresses and client ports apart', () => {
      core.add(keyV4('192.168.1.10', 40000, '10.0.0.2', 8080), 4, 0)
      expect(core.lookup(keyV4('192.168.1.10', 40000, '172.17.0.5', 8081), 0)).to.equal(-1)
      expect(core.lookup(keyV4('192.168.1.11', 40000, '172.17.0.5', 8080), 0)).to.equal(-1)
      expect(core.lookup(keyV4('192.168.1.10', 40001, '172.17.0.5', 8080), 0)).to.equal(-1)
    })

    it('overwrites one route for keys that differ only in the target address', () => {
      core.add(keyV4('192.168.1.10', 40000, '10.0.0.2', 8080), 4, 0)
      core.add(keyV4('192.168.1.10', 40000, '10.0.0.3', 8080), 5, 0)
      expect(core.counter(Counter.Routes)).to.equal(1)
      expect(core.lookup(keyV4('192.168.1.10', 40000, '1.1.1.1', 8080), 0)).to.equal(5)
    })

    it('deletes a route by a key with another target address', () => {
      core.add(keyV4('192.168.1.10', 40000, '10.0.0.2', 8080), 4, 0)
      expect(core.del(keyV4('192.168.1.10', 40000, '9.9.9.9', 8080))).to.equal(Status.Ok)
      expect(core.counter(Counter.Routes)).to.equal(0)
    })
  })
})

for (const [build, debug] of BUILDS) describe(`routerLookupBatch (${build})`, () => {
  let core: TestCore
  beforeEach(() => {
    core = new TestCore(debug)
    expect(core.init({ buckets: 16, maxRoutes: 32, timeoutMs: 1000 })).to.equal(Status.Ok)
  })

  function writeKeys (c: TestCore, keys: Uint8Array[], off: number): void {
    keys.forEach((k, i) => c.u8.set(k, off + i * KEY_SIZE))
  }

  function readOut (c: TestCore, off: number, n: number): number[] {
    const dv = c.dv
    return Array.from({ length: n }, (_, i) => dv.getInt32(off + i * 4, true))
  }

  it('gives the same answers, counters and LRU order as one routerLookup per key', () => {
    const single = new TestCore(debug)
    single.init(core.opts)
    const keys = Array.from({ length: 60 }, (_, i) => keyV4(`10.2.${i % 7}.1`, 3000 + (i % 40), '10.0.0.2', 80))
    for (const c of [core, single]) {
      for (let i = 0; i < 40; i += 2) c.add(keyV4(`10.2.${i % 7}.1`, 3000 + i, '10.0.0.2', 80), i, i)
    }
    // the clock makes the first few routes stale: lazy expiry must match too
    const now = 1010
    writeKeys(core, keys, FRAMES_OFF)
    expect(core.x.routerLookupBatch(FRAMES_OFF, keys.length, OUT_OFF, now)).to.equal(Status.Ok)
    const batch = readOut(core, OUT_OFF, keys.length)
    const one = keys.map((k) => single.lookup(k, now))
    expect(batch).to.deep.equal(one)
    expect(batch.filter((c) => c >= 0).length).to.be.greaterThan(5)
    expect(batch.filter((c) => c < 0).length).to.be.greaterThan(5)
    for (const idx of [Counter.Routes, Counter.RouterHits, Counter.RouterMisses, Counter.RouterExpiries]) {
      expect(core.counter(idx), Counter[idx]).to.equal(single.counter(idx))
    }
    expect(core.counter(Counter.RouterExpiries)).to.be.greaterThan(0)
    expect(readRoutes(core)).to.deep.equal(readRoutes(single))
  })

  it('expires a stale route once when the batch holds its key twice in a row', () => {
    core.add(B, 2, 0)
    core.add(A, 1, 0)
    core.add(C, 3, 1500)
    writeKeys(core, [A, A, B, C, C], FRAMES_OFF)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 5, OUT_OFF, 1500)).to.equal(Status.Ok)
    expect(readOut(core, OUT_OFF, 5)).to.deep.equal([-1, -1, -1, 3, 3])
    expect(core.counter(Counter.RouterExpiries)).to.equal(2)
    expect(core.counter(Counter.Routes)).to.equal(1)
    expect(readRoutes(core).map((e) => e.conn)).to.deep.equal([3])
    core.add(D, 4, 1500) // the freed entries are reused without harm
    core.add(A, 5, 1500)
    expect(readRoutes(core).map((e) => e.conn)).to.deep.equal([3, 4, 5])
  })

  it('writes nothing for n = 0', () => {
    core.dv.setInt32(OUT_OFF, 12345, true)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 0, OUT_OFF, 0)).to.equal(Status.Ok)
    expect(core.dv.getInt32(OUT_OFF, true)).to.equal(12345)
  })

  it('accepts keys at the last bytes of the memory', () => {
    core.add(A, 3, 0)
    const end = core.raw.memory.buffer.byteLength
    expect(end - KEY_SIZE).to.be.at.least(ARENA_BASE + core.x.coreArenaBytes()) // the key goes past the tables
    writeKeys(core, [A], end - KEY_SIZE)
    expect(core.x.routerLookupBatch(end - KEY_SIZE, 1, OUT_OFF, 0)).to.equal(Status.Ok)
    expect(readOut(core, OUT_OFF, 1)).to.deep.equal([3])
  })

  it('rejects key or output regions that leave the memory with BadRegion, and looks nothing up', () => {
    const end = core.raw.memory.buffer.byteLength
    const bad: Array<[number, number, number]> = [
      [end - KEY_SIZE + 1, 1, OUT_OFF], // keys run past the end by one byte
      [FRAMES_OFF, 1, end - 3], // output runs past the end
      [FRAMES_OFF, 0x7fffffff, OUT_OFF], // n * 40 far beyond memory
      [0xffffffff, 1, OUT_OFF], // offset near 4 GiB: must not wrap
      [FRAMES_OFF, 1, 0xfffffffc]
    ]
    for (const [keysOff, n, outOff] of bad) {
      expect(core.x.routerLookupBatch(keysOff, n, outOff, 0), `${keysOff} ${n} ${outOff}`).to.equal(Status.BadRegion)
    }
    expect(core.x.routerLookupBatch(FRAMES_OFF, -1, OUT_OFF, 0)).to.equal(Status.BadArgument)
    expect(core.counter(Counter.RouterMisses) + core.counter(Counter.RouterHits)).to.equal(0)
  })

  it('writes in place over the keys, but refuses an output that starts inside the keys after their start', () => {
    core.add(A, 3, 0)
    core.add(B, 4, 0)
    writeKeys(core, [A, C, B], FRAMES_OFF)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 3, FRAMES_OFF + 4, 0)).to.equal(Status.BadRegion)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 3, FRAMES_OFF + 3 * KEY_SIZE - 1, 0)).to.equal(Status.BadRegion)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 3, FRAMES_OFF, 0)).to.equal(Status.Ok)
    expect(readOut(core, FRAMES_OFF, 3)).to.deep.equal([3, -1, 4])
    writeKeys(core, [A, C, B], FRAMES_OFF)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 3, FRAMES_OFF + 3 * KEY_SIZE, 0)).to.equal(Status.Ok)
    expect(readOut(core, FRAMES_OFF + 3 * KEY_SIZE, 3)).to.deep.equal([3, -1, 4])
  })

  it('does not read the keys region when n = 0, even at the end of the memory', () => {
    const end = core.raw.memory.buffer.byteLength
    expect(core.x.routerLookupBatch(end, 0, OUT_OFF, 0)).to.equal(Status.Ok)
  })

  it('refuses to write its output over the static data or the tables', () => {
    core.add(A, 3, 0)
    writeKeys(core, [A], FRAMES_OFF)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 1, 0, 0)).to.equal(Status.BadRegion)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 1, REGION_BASE - 2, 0)).to.equal(Status.BadRegion)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 1, ARENA_BASE, 0)).to.equal(Status.BadRegion)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 1, ARENA_BASE - 2, 0)).to.equal(Status.BadRegion)
    const arenaEnd = ARENA_BASE + core.x.coreArenaBytes()
    expect(core.x.routerLookupBatch(FRAMES_OFF, 1, arenaEnd - 1, 0)).to.equal(Status.BadRegion)
    expect(core.x.routerLookupBatch(FRAMES_OFF, 1, KEY_OFF, 0)).to.equal(Status.Ok)
    if (core.raw.memory.buffer.byteLength >= arenaEnd + 4) {
      expect(core.x.routerLookupBatch(FRAMES_OFF, 1, arenaEnd, 0)).to.equal(Status.Ok)
    }
    expect(core.lookup(A, 0)).to.equal(3)
    expect(readRoutes(core)).to.have.length(1)
  })
})

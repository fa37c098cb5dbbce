import { expect } from 'chai'
import fc from 'fast-check'
import {
  Status, Counter, LinkType, Verdict, DESC_OFF, VERDICT_OFF, FRAMES_OFF, FRAMES_SIZE, PASSLIST_OFF, KEY_OFF, CONNS_MAX
} from '@tcpcopy/wasm'
import { TestCore, keyV4, toHex, readRoutes, readDelay, KEY_COMPARED, BUILDS } from './router-helpers.js'
import { ipv4Tcp, concat, hex, ETH_HEADER, ETH_VLAN_HEADER, ETH_QINQ_HEADER, SLL_HEADER, SLL2_HEADER } from './packet-fixtures.js'

// ---- frames ---------------------------------------------------------------------------

const HEADERS: Record<number, Uint8Array[]> = {
  [LinkType.Ethernet]: [ETH_HEADER, ETH_VLAN_HEADER, ETH_QINQ_HEADER],
  [LinkType.Raw]: [new Uint8Array(0)],
  [LinkType.LinuxSll]: [SLL_HEADER],
  [LinkType.LinuxSll2]: [SLL2_HEADER]
}
/** Link types of a batch: the four the core knows, and two it does not. */
const LINK_TYPES = [LinkType.Ethernet, LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2, 0, 77]

/** Responses from the targets 10.0.1.2-3 to the clients 10.0.0.1-4, the key space the control steps use too. */
const responseArb = fc.record({
  client: fc.integer({ min: 1, max: 4 }),
  cport: fc.integer({ min: 40000, max: 40003 }),
  target: fc.constantFrom(2, 3),
  tport: fc.constantFrom(80, 8080),
  flags: fc.constantFrom(0x12, 0x10, 0x04, 0x14, 0x18, 0x11, 0x02),
  payload: fc.nat(40),
  tcpOptions: fc.constantFrom(hex``, hex`02 04 05 b4`, hex`01 01 08 0a 00 00 00 01 00 00 00 02`, hex`fe 01 00 00`, hex`03 02 07 00`),
  ipOptions: fc.constantFrom(hex``, hex`01 01 01 00`)
}).map((r) => ipv4Tcp({
  src: [10, 0, 1, r.target],
  dst: [10, 0, 0, r.client],
  sport: r.tport,
  dport: r.cport,
  flags: r.flags,
  payload: new Uint8Array(r.payload),
  tcpOptions: r.tcpOptions,
  ipOptions: r.ipOptions
}))

type FrameSpec =
  | { kind: 'template', header: number, packet: Uint8Array, pad: Uint8Array }
  | { kind: 'mutated', header: number, packet: Uint8Array, flips: Array<[number, number]>, cut: number }
  | { kind: 'random', bytes: Uint8Array }
  | { kind: 'outside', offset: number, length: number }

const frameArb: fc.Arbitrary<FrameSpec> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('template' as const), header: fc.nat(2), packet: responseArb, pad: fc.uint8Array({ maxLength: 8 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('mutated' as const),
      header: fc.nat(2),
      packet: responseArb,
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
      cut: fc.nat()
    })
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 120 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('outside' as const),
      offset: fc.constantFrom(0, KEY_OFF, FRAMES_OFF - 8, FRAMES_OFF + FRAMES_SIZE - 20, FRAMES_OFF + FRAMES_SIZE, 0xfffffff0),
      length: fc.constantFrom(0, 40, 60, 0x7fffffff)
    })
  }
)

function buildFrame (spec: FrameSpec, linkType: number): Uint8Array {
  const headers = HEADERS[linkType] ?? [ETH_HEADER]
  switch (spec.kind) {
    case 'template': return concat(headers[spec.header % headers.length]!, spec.packet, spec.pad)
    case 'mutated': {
      const full = concat(headers[spec.header % headers.length]!, spec.packet)
      for (const [at, x] of spec.flips) full[at % full.length] = full[at % full.length]! ^ x
      return full.subarray(0, spec.cut % (full.length + 1))
    }
    case 'random': return spec.bytes
    case 'outside': return new Uint8Array(0)
  }
}

/**
 * The destination address of a frame when the parser reaches it (a plain JS
 * walk of the link header and the first 20 IPv4 bytes, written from the
 * parser's rules), else undefined.
 */
function destinationOf (f: Uint8Array, linkType: number): number | undefined {
  const n = f.length
  const be16 = (o: number): number => (f[o]! << 8) | f[o + 1]!
  let l3 = 0
  let proto = -1 // Raw: the version nibble decides
  switch (linkType) {
    case LinkType.Ethernet: {
      if (n < 14) return undefined
      l3 = 14
      proto = be16(12)
      for (let tags = 0; proto === 0x8100 || proto === 0x88a8; tags++) {
        if (tags === 4 || n - l3 < 4) return undefined
        proto = be16(l3 + 2)
        l3 += 4
      }
      break
    }
    case LinkType.Raw: break
    case LinkType.LinuxSll: if (n < 16) return undefined; l3 = 16; proto = be16(14); break
    case LinkType.LinuxSll2: if (n < 20) return undefined; l3 = 20; proto = be16(0); break
    default: return undefined
  }
  if (proto !== -1 && proto !== 0x0800) return undefined
  if (n - l3 < 20) return undefined
  const vihl = f[l3]!
  if (vihl >> 4 !== 4 || (vihl & 15) < 5) return undefined
  return ((f[l3 + 16]! << 24) | (f[l3 + 17]! << 16) | (f[l3 + 18]! << 8) | f[l3 + 19]!) >>> 0
}

// ---- steps ----------------------------------------------------------------------------

const keyArb = fc.record({
  client: fc.integer({ min: 1, max: 4 }),
  cport: fc.integer({ min: 40000, max: 40003 }),
  target: fc.constantFrom(2, 3),
  tport: fc.constantFrom(80, 8080)
}).map((k) => keyV4(`10.0.0.${k.client}`, k.cport, `10.0.1.${k.target}`, k.tport))
const connArb = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 7 }) }, { weight: 1, arbitrary: fc.constant(CONNS_MAX - 1) })

type Step =
  | { op: 'batch', linkType: number, frames: FrameSpec[] }
  | { op: 'clientAdd', key: Uint8Array, conn: number }
  | { op: 'deleteConn', conn: number }
  | { op: 'routerExpire' }
  | { op: 'delayExpire' }
  | { op: 'passlist', clients: number[] }
  | { op: 'clock', delta: number }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('batch' as const), linkType: fc.constantFrom(...LINK_TYPES), frames: fc.array(frameArb, { minLength: 1, maxLength: 16 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('clientAdd' as const), key: keyArb, conn: connArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteConn' as const), conn: connArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('routerExpire' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delayExpire' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('passlist' as const), clients: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }) }) },
  // a clock that jumps back as well as forward, now and then by half its range
  { weight: 3, arbitrary: fc.record({ op: fc.constant('clock' as const), delta: fc.oneof(fc.integer({ min: -3000, max: 3000 }), fc.constantFrom(0x7fffffff, -0x7fffffff)) }) }
)

const setupArb = fc.record({
  buckets: fc.integer({ min: 1, max: 64 }),
  maxRoutes: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constant(4096)),
  timeoutMs: fc.constantFrom(0, 500, 5000),
  dnat: fc.boolean(),
  delayBuckets: fc.integer({ min: 1, max: 16 }),
  delayPerKey: fc.integer({ min: 1, max: 4 }),
  delayTotal: fc.integer({ min: 1, max: 12 }),
  delayExpireMs: fc.constantFrom(0, 1000, 30000),
  start: fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0xfffff000, max: 0xffffffff }))
})

/**
 * Routes no fuzzed input can name: clients in 198.51.100.0/24 (never in a
 * frame template, and a mutation would have to hit 6 bytes at once),
 * connections 60000.. (never added, deleted or looked up by a step).
 */
const BYSTANDERS = [0, 1, 2].map((i) => ({ key: keyV4(`198.51.100.${i + 1}`, 7000 + i, '10.0.1.2', 8080), conn: 60000 + i }))

/** The stored form of a key (DNAT: the target address is kept as zero). */
function storedKey (key: Uint8Array, dnat: boolean): string {
  const k = key.slice(0, KEY_COMPARED)
  if (dnat) k.fill(0, 16, 32)
  return toHex(k)
}

function mapped (ip: number): number[] {
  return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255]
}

for (const [build, debug] of BUILDS) {
  describe(`batch path under fuzzing (${build})`, function () {
    this.timeout(180_000)

    it('never traps, keeps the router and delay table whole, leaves routes no input names alone, and gives exactly the passlist verdicts', () => {
      const core = new TestCore(debug)
      let batches = 0
      let frames = 0
      fc.assert(fc.property(setupArb, fc.array(stepArb, { minLength: 1, maxLength: 30, size: 'medium' }), (setup, steps) => {
        const { start, ...init } = setup
        expect(core.init(init)).to.equal(Status.Ok)
        const x = core.x
        let now = start >>> 0
        const stale = (last: number): boolean => setup.timeoutMs !== 0 && ((now - last) >>> 0) > setup.timeoutMs
        // routes nothing below may touch
        const watched = new Map<string, { conn: number, last: number }>()
        for (const b of BYSTANDERS) {
          expect(core.add(b.key, b.conn, now)).to.equal(Status.Ok)
          watched.set(storedKey(b.key, setup.dnat), { conn: b.conn, last: now })
        }
        // a bystander may already have pushed out another at a cap below 3
        for (const [k] of watched) if (!readRoutes(core).some((r) => r.key === k)) watched.delete(k)
        let pass = new Set<number>()

        steps.forEach((step, i) => {
          const at = `step ${i} ${step.op}`
          const before = { evictions: core.counter(Counter.RouterEvictions), expiries: core.counter(Counter.RouterExpiries) }
          switch (step.op) {
            case 'batch': {
              const u8 = core.u8
              const dv = core.dv
              let off = FRAMES_OFF
              const expected: number[] = []
              step.frames.forEach((spec, j) => {
                if (spec.kind === 'outside') {
                  dv.setUint32(DESC_OFF + j * 8, spec.offset >>> 0, true)
                  dv.setUint32(DESC_OFF + j * 8 + 4, spec.length >>> 0, true)
                  // inside FRAMES (only an empty range here) the bytes there decide, else it is dropped unread
                  const inside = spec.offset >= FRAMES_OFF && spec.offset + spec.length <= FRAMES_OFF + FRAMES_SIZE
                  const dst = inside ? destinationOf(u8.slice(spec.offset, spec.offset + spec.length), step.linkType) : undefined
                  expected.push(dst !== undefined && pass.has(dst) ? Verdict.Accept : Verdict.Drop)
                  return
                }
                const f = buildFrame(spec, step.linkType)
                u8.set(f, off)
                dv.setUint32(DESC_OFF + j * 8, off, true)
                dv.setUint32(DESC_OFF + j * 8 + 4, f.length, true)
                const dst = destinationOf(f, step.linkType)
                expected.push(dst !== undefined && pass.has(dst) ? Verdict.Accept : Verdict.Drop)
                off += (f.length + 7) & ~7
              })
              u8.fill(0xee, VERDICT_OFF, VERDICT_OFF + step.frames.length)
              expect(x.batchProcess(step.frames.length, step.linkType, now), at).to.equal(Status.Ok)
              expect(Array.from(core.u8.subarray(VERDICT_OFF, VERDICT_OFF + step.frames.length)), at).to.deep.equal(expected)
              for (const e of core.out()) expect(e.conn, at).to.be.oneOf([0, 1, 2, 3, 4, 5, 6, 7, CONNS_MAX - 1])
              x.outReset()
              batches++
              frames += step.frames.length
              break
            }
            case 'clientAdd': {
              core.setKey(step.key)
              expect(x.routeClientAdd(step.conn, now), at).to.equal(Status.Ok)
              for (const e of core.out()) expect(e.conn, at).to.equal(step.conn)
              x.outReset()
              break
            }
            case 'deleteConn': expect(x.routerDeleteConn(step.conn), at).to.be.at.least(0); break
            case 'routerExpire': expect(x.routerExpire(now), at).to.be.at.least(0); break
            case 'delayExpire': expect(x.delayExpire(now), at).to.be.at.least(0); break
            case 'passlist': {
              const addrs = step.clients.map((c) => (0x0a000000 | c) >>> 0)
              addrs.forEach((a, j) => core.u8.set(mapped(a), PASSLIST_OFF + 16 + j * 16))
              expect(x.passlistCommit(addrs.length), at).to.equal(Status.Ok)
              pass = new Set(addrs)
              break
            }
            case 'clock': now = (now + step.delta) >>> 0; break
          }

          // the tables are whole (the readers throw on any broken link) and agree with the gauges
          const routes = readRoutes(core)
          expect(routes.length, at).to.equal(core.counter(Counter.Routes))
          expect(routes.length, at).to.be.at.most(setup.maxRoutes)
          const delayed = readDelay(core)
          const records = delayed.reduce((n, k) => n + k.records.length, 0)
          expect([delayed.length, records], at).to.deep.equal([core.counter(Counter.DelayKeys), core.counter(Counter.DelayRecords)])
          expect(records, at).to.be.at.most(setup.delayTotal)
          for (const k of delayed) expect(k.records.length, at).to.be.within(1, setup.delayPerKey)

          // the routes no input names: unchanged, or gone by expiry (when idle too long) or eviction
          const evicted = core.counter(Counter.RouterEvictions) > before.evictions
          const expired = core.counter(Counter.RouterExpiries) > before.expiries
          for (const [k, w] of [...watched]) {
            const r = routes.find((e) => e.key === k)
            if (r !== undefined) {
              expect({ conn: r.conn, last: r.last }, `${at}: a route no input names changed`).to.deep.equal(w)
            } else {
              expect(evicted || (expired && stale(w.last)), `${at}: a route no input names went without an eviction or expiry`).to.equal(true)
              watched.delete(k)
            }
          }
        })
      }), { numRuns: 300 })
      expect(batches).to.be.greaterThan(600)
      expect(frames).to.be.greaterThan(3000)
      // still a working core
      expect(core.init({ buckets: 4, maxRoutes: 4, timeoutMs: 0, dnat: false, delayTotal: 4, delayPerKey: 2 })).to.equal(Status.Ok)
      expect(core.add(BYSTANDERS[0]!.key, 1, 0)).to.equal(Status.Ok)
      expect(core.lookup(BYSTANDERS[0]!.key, 0)).to.equal(1)
    })
  })
}

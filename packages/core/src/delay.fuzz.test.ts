import { expect } from 'chai'
import fc from 'fast-check'
import { Status, Counter, FRAMES_OFF } from '@tcpcopy/wasm'
import { TestCore, keyV4, toHex, hex, readDelay, KEY_COMPARED, BUILDS } from './router-helpers.js'

/** A SYN-ACK whose sequence number the tests set to tell records apart. */
const SYN_ACK = hex`
  45 00 00 3c  00 00 40 00  40 06 00 00  // IPv4, IHL 5, total length 60, DF, TTL 64, TCP
  0a 00 00 02  c0 a8 01 0a               // 10.0.0.2 -> 192.168.1.10
  1f 90 9c 40  00 00 00 00  00 00 00 00  // ports 8080 -> 40000, seq (set per record), ack 0
  a0 12 72 10  00 00 00 00               // doff 10, SYN+ACK, window 29200
  02 04 05 b4  04 02 08 0a  00 00 ab cd  00 00 12 34  01 03 03 07  // MSS, SACK-OK, TS, NOP, WS
`

interface ModelKey { created: number, records: Uint8Array[] }

/**
 * The reference model: a Map in creation order (oldest first) of FIFO record
 * lists, and the arrival order of every record held.
 */
class DelayModel {
  readonly keys = new Map<string, ModelKey>()
  /** Records held, oldest first, each with its key. */
  arrivals: Array<{ key: string, record: Uint8Array }> = []
  readonly counters = { records: 0, keys: 0, stored: 0, flushed: 0, expired: 0, droppedKeyCap: 0, evicted: 0 }

  constructor (readonly perKey: number, readonly total: number, readonly expireMs: number, readonly dnat: boolean) {}

  norm (key: Uint8Array): string {
    const k = key.slice(0, KEY_COMPARED)
    if (this.dnat) k.fill(0, 16, 32)
    return toHex(k)
  }

  expired (e: ModelKey, now: number): boolean {
    return this.expireMs !== 0 && ((now - e.created) >>> 0) > this.expireMs
  }

  private drop (k: string): number {
    const n = this.keys.get(k)!.records.length
    this.keys.delete(k)
    this.arrivals = this.arrivals.filter((a) => a.key !== k)
    this.sync()
    return n
  }

  /** Drops the oldest record of the table (its key's first); the key too when that was its last. */
  private dropOldestRecord (): void {
    const { key } = this.arrivals.shift()!
    const e = this.keys.get(key)!
    e.records.shift()
    if (e.records.length === 0) this.keys.delete(key)
    this.sync()
  }

  private sync (): void {
    this.counters.keys = this.keys.size
    this.counters.records = [...this.keys.values()].reduce((n, e) => n + e.records.length, 0)
  }

  /**
   * `packet` is the SYN_ACK template cut to its length, with tot_len set:
   * the table takes it once its 60 header bytes are all there, and keeps
   * min(length, tot_len, 256) bytes.
   */
  put (key: Uint8Array, packet: Uint8Array, now: number): number {
    if (packet.length < 60) return Status.Truncated
    const totLen = (packet[2]! << 8) | packet[3]!
    const k = this.norm(key)
    let e = this.keys.get(k)
    if (e !== undefined && this.expired(e, now)) {
      this.counters.expired += this.drop(k)
      e = undefined
    }
    if (e !== undefined && e.records.length >= this.perKey) {
      this.counters.droppedKeyCap++
      return Status.CapReached
    }
    if (this.counters.records >= this.total) {
      const [oldestKey, oldest] = this.keys.entries().next().value!
      if (this.expired(oldest, now)) {
        this.counters.expired += this.drop(oldestKey)
      } else {
        this.dropOldestRecord()
        this.counters.evicted++
        if (!this.keys.has(k)) e = undefined
      }
    }
    if (e === undefined) {
      e = { created: now, records: [] }
      this.keys.set(k, e)
    }
    const record = packet.slice(0, Math.min(packet.length, totLen, 256))
    e.records.push(record)
    this.arrivals.push({ key: k, record })
    this.counters.stored++
    this.sync()
    return Status.Ok
  }

  flush (key: Uint8Array, now: number): Uint8Array[] {
    const k = this.norm(key)
    const e = this.keys.get(k)
    if (e === undefined) return []
    if (this.expired(e, now)) {
      this.counters.expired += this.drop(k)
      return []
    }
    this.counters.flushed += this.drop(k)
    return e.records
  }

  expire (now: number): number {
    let n = 0
    for (const [k, e] of [...this.keys]) {
      if (!this.expired(e, now)) break
      n += this.drop(k)
    }
    this.counters.expired += n
    return n
  }

  entries (): Array<{ key: string, created: number, records: Uint8Array[] }> {
    return [...this.keys].map(([key, e]) => ({ key, created: e.created, records: e.records }))
  }
}

function wasmCounters (core: TestCore): DelayModel['counters'] {
  return {
    records: core.counter(Counter.DelayRecords),
    keys: core.counter(Counter.DelayKeys),
    stored: core.counter(Counter.DelayStored),
    flushed: core.counter(Counter.DelayFlushed),
    expired: core.counter(Counter.DelayExpired),
    droppedKeyCap: core.counter(Counter.DelayDroppedKeyCap),
    evicted: core.counter(Counter.DelayEvicted)
  }
}

const keyArb = fc.record({
  cport: fc.integer({ min: 1, max: 3 }),
  target: fc.constantFrom('10.0.0.2', '172.17.0.5')
}).map(({ cport, target }) => keyV4('192.168.1.10', cport, target, 8080))

type Op =
  | { op: 'store', key: Uint8Array, len: number, wholeLength: boolean }
  | { op: 'clientAdd', key: Uint8Array, conn: number }
  | { op: 'expire' }
  | { op: 'tick', ms: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('store' as const),
      key: keyArb,
      len: fc.oneof({ weight: 6, arbitrary: fc.constant(60) }, { weight: 2, arbitrary: fc.integer({ min: 60, max: 400 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 59 }) }),
      wholeLength: fc.boolean()
    })
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('clientAdd' as const), key: keyArb, conn: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expire' as const) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 60 }) }) }
)

const setupArb = fc.record({
  buckets: fc.integer({ min: 1, max: 5 }),
  perKey: fc.integer({ min: 1, max: 4 }),
  total: fc.integer({ min: 1, max: 8 }),
  expireMs: fc.constantFrom(0, 100),
  dnat: fc.boolean(),
  start: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0xffffff00, max: 0xffffffff }))
})

for (const [build, debug] of BUILDS) describe(`delay table against a reference model (property-based, ${build})`, function () {
  this.timeout(60_000)
  let core: TestCore
  beforeEach(() => { core = new TestCore(debug) })

  it('agrees with a FIFO-per-key model after every store, CLIENT_ADD flush, expire and tick', () => {
    let steps = 0
    fc.assert(fc.property(setupArb, fc.array(opArb, { minLength: 1, maxLength: 60 }), (setup, ops) => {
      expect(core.init({ dnat: setup.dnat, delayBuckets: setup.buckets, delayPerKey: setup.perKey, delayTotal: setup.total, delayExpireMs: setup.expireMs })).to.equal(Status.Ok)
      const model = new DelayModel(setup.perKey, setup.total, setup.expireMs, setup.dnat)
      let now = setup.start
      let seq = 1
      ops.forEach((op, i) => {
        const at = `step ${i} ${op.op}`
        switch (op.op) {
          case 'store': {
            const packet = new Uint8Array(op.len)
            packet.set(SYN_ACK.subarray(0, op.len))
            // tot_len 60 (the rest is padding) or the whole length (the table keeps up to 256 bytes)
            if (op.len >= 4) new DataView(packet.buffer).setUint16(2, op.wholeLength ? Math.max(op.len, 60) : 60)
            if (op.len >= 28) new DataView(packet.buffer).setUint32(24, seq++)
            core.u8.set(packet, FRAMES_OFF)
            core.setKey(op.key)
            expect(core.x.delayStore(FRAMES_OFF, op.len, now), at).to.equal(model.put(op.key, packet, now))
            break
          }
          case 'clientAdd': {
            core.x.outReset()
            core.setKey(op.key)
            expect(core.x.routeClientAdd(op.conn, now), at).to.equal(Status.Ok)
            const got = core.out().map((e) => [e.conn, toHex(e.record.subarray(0, 28))])
            expect(got, at).to.deep.equal(model.flush(op.key, now).map((r) => [op.conn, toHex(r.subarray(0, 28))]))
            break
          }
          case 'expire': expect(core.x.delayExpire(now), at).to.equal(model.expire(now)); break
          case 'tick': now = (now + op.ms) >>> 0; break
        }
        expect(wasmCounters(core), at).to.deep.equal(model.counters)
        expect(readDelay(core), at).to.deep.equal(model.entries())
        steps++
      })
    }), { numRuns: 300 })
    expect(steps).to.be.greaterThan(1000)
  })
})

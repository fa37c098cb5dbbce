import { expect } from 'chai'
import { Status, Counter, OutKind, RecordDialect, FRAMES_OFF } from '@tcpcopy/wasm'
import { TestCore, keyV4, hex, readDelay, delayRecordSlots, DELAY_RECORD_DATA, BUILDS } from './router-helpers.js'
import { createCore } from './core.js'

/** The target's SYN-ACK to the client: 60 bytes of IPv4. */
const SYN_ACK = hex`
  45 00 00 3c                    // IPv4, IHL 5, TOS 0, total length 60
  00 00 40 00                    // ID 0, flags DF, fragment offset 0
  40 06 00 00                    // TTL 64, protocol TCP, checksum (not checked)
  0a 00 00 02                    // source 10.0.0.2 (the target)
  c0 a8 01 0a                    // destination 192.168.1.10 (the client)
  1f 90 9c 40                    // source port 8080, destination port 40000
  11 22 33 44                    // sequence number 0x11223344
  01 02 03 05                    // acknowledgment number 0x01020305
  a0 12 72 10                    // doff 10 (40 bytes), flags SYN+ACK, window 29200
  00 00 00 00                    // TCP checksum (not checked), urgent pointer 0
  02 04 05 b4                    // MSS 1460
  04 02                          // SACK permitted
  08 0a 00 00 ab cd 00 00 12 34  // timestamp val 0xABCD, ecr 0x1234
  01                             // NOP
  03 03 07                       // window scale 7
`

/** The route key of SYN_ACK: client = its destination, target = its source. */
const KEY = keyV4('192.168.1.10', 40000, '10.0.0.2', 8080)

/** SYN_ACK to another client port, with sequence number `seq`. */
function synAck (clientPort: number, seq: number, srcIp = [10, 0, 0, 2]): Uint8Array {
  const p = SYN_ACK.slice()
  const dv = new DataView(p.buffer)
  p.set(srcIp, 12)
  dv.setUint16(22, clientPort)
  dv.setUint32(24, seq)
  return p
}
function keyOf (clientPort: number): Uint8Array { return keyV4('192.168.1.10', clientPort, '10.0.0.2', 8080) }
function seqOf (record: Uint8Array): number { return new DataView(record.buffer, record.byteOffset).getUint32(24) }

for (const [build, debug] of BUILDS) describe(`delay table (${build})`, () => {
  let core: TestCore
  beforeEach(() => {
    core = new TestCore(debug)
    expect(core.init({ delayBuckets: 16, delayPerKey: 8, delayTotal: 32, delayExpireMs: 30000 })).to.equal(Status.Ok)
  })

  function store (key: Uint8Array, packet: Uint8Array, now: number): number {
    core.u8.set(packet, FRAMES_OFF)
    core.setKey(key)
    return core.x.delayStore(FRAMES_OFF, packet.length, now)
  }
  function clientAdd (key: Uint8Array, conn: number, now: number): number {
    core.setKey(key)
    return core.x.routeClientAdd(conn, now)
  }

  describe('flush on CLIENT_ADD', () => {
    it('emits a delayed SYN-ACK to the new connection as a 64-byte 1.x record by default', () => {
      expect(store(KEY, SYN_ACK, 1000)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayStored)).to.equal(1)
      expect(core.counter(Counter.DelayRecords)).to.equal(1)
      expect(core.counter(Counter.DelayKeys)).to.equal(1)
      expect(clientAdd(KEY, 7, 1200)).to.equal(Status.Ok)
      const out = core.out()
      expect(out).to.have.length(1)
      expect(out[0]!.conn).to.equal(7)
      expect(out[0]!.len).to.equal(64)
      expect(out[0]!.kind).to.equal(OutKind.Record)
      expect(out[0]!.record.slice(0, 60)).to.deep.equal(SYN_ACK)
      expect(Array.from(out[0]!.record.slice(60))).to.deep.equal([0, 0, 0, 0])
      expect(core.counter(Counter.DelayFlushed)).to.equal(1)
      expect(core.counter(Counter.DelayRecords)).to.equal(0)
      expect(core.counter(Counter.DelayKeys)).to.equal(0)
      expect(core.lookup(KEY, 1200)).to.equal(7)
    })

    it('emits 80-byte records to a connection set to the 0.9 format', () => {
      expect(core.x.connSetFormat(9, RecordDialect.V09, 0)).to.equal(Status.Ok)
      store(KEY, SYN_ACK, 0)
      clientAdd(KEY, 9, 1)
      const out = core.out()
      expect(out.map((e) => [e.conn, e.len])).to.deep.equal([[9, 80]])
      expect(out[0]!.record.slice(0, 60)).to.deep.equal(SYN_ACK)
      expect(out[0]!.record.slice(60).every((b) => b === 0)).to.equal(true)
    })

    it('emits each key\'s records in arrival order, across interleaved keys', () => {
      const puts: Array<[number, number]> = [[1, 11], [2, 21], [1, 12], [3, 31], [2, 22], [1, 13], [3, 32], [2, 23]]
      puts.forEach(([port, seq], i) => expect(store(keyOf(port), synAck(port, seq), i)).to.equal(Status.Ok))
      expect(core.counter(Counter.DelayKeys)).to.equal(3)
      expect(core.counter(Counter.DelayRecords)).to.equal(8)
      clientAdd(keyOf(2), 5, 10)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([21, 22, 23])
      core.x.outReset()
      clientAdd(keyOf(1), 5, 11)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([11, 12, 13])
      core.x.outReset()
      clientAdd(keyOf(3), 6, 12)
      expect(core.out().map((e) => [e.conn, seqOf(e.record)])).to.deep.equal([[6, 31], [6, 32]])
      expect(core.counter(Counter.DelayFlushed)).to.equal(8)
      expect(core.counter(Counter.DelayKeys)).to.equal(0)
    })

    it('flushes only the key of the CLIENT_ADD', () => {
      store(keyOf(1), synAck(1, 1), 0)
      store(keyOf(2), synAck(2, 2), 0)
      clientAdd(keyOf(1), 3, 0)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([1])
      expect(core.counter(Counter.DelayKeys)).to.equal(1)
      expect(core.counter(Counter.DelayRecords)).to.equal(1)
    })

    it('forgets a flushed key: a second CLIENT_ADD emits nothing', () => {
      store(KEY, SYN_ACK, 0)
      clientAdd(KEY, 7, 1)
      core.x.outReset()
      expect(clientAdd(KEY, 8, 2)).to.equal(Status.Ok)
      expect(core.out()).to.deep.equal([])
      expect(core.counter(Counter.DelayFlushed)).to.equal(1)
      // a new response after the flush starts a new key
      store(KEY, synAck(40000, 99), 3)
      clientAdd(KEY, 8, 4)
      expect(core.out().map((e) => [e.conn, seqOf(e.record)])).to.deep.equal([[8, 99]])
    })

    it('emits nothing for a CLIENT_ADD without delayed records', () => {
      expect(clientAdd(KEY, 7, 0)).to.equal(Status.Ok)
      expect(core.out()).to.deep.equal([])
      expect(core.counter(Counter.DelayFlushed)).to.equal(0)
    })

    it('keeps a long packet (cut to 256 bytes) and still builds its record', () => {
      const long = new Uint8Array(1500)
      long.set(SYN_ACK)
      new DataView(long.buffer).setUint16(2, 1500) // total length 1500
      expect(store(KEY, long, 0)).to.equal(Status.Ok)
      clientAdd(KEY, 2, 1)
      const out = core.out()
      expect(out.map((e) => e.len)).to.deep.equal([64])
      expect(out[0]!.record.slice(0, 60)).to.deep.equal(long.slice(0, 60))
    })
  })

  describe('caps', () => {
    it('refuses a record beyond the per-key cap and counts it', () => {
      core.init({ delayPerKey: 3, delayTotal: 32 })
      for (let i = 1; i <= 3; i++) expect(store(KEY, synAck(40000, i), 0)).to.equal(Status.Ok)
      expect(store(KEY, synAck(40000, 4), 0)).to.equal(Status.CapReached)
      expect(core.counter(Counter.DelayDroppedKeyCap)).to.equal(1)
      expect(core.counter(Counter.DelayStored)).to.equal(3)
      expect(store(keyOf(1), synAck(1, 5), 0)).to.equal(Status.Ok) // other keys are not affected
      clientAdd(KEY, 1, 0)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([1, 2, 3])
    })

    it('pushes out the oldest record of the table, not its whole key, to make room under the total cap', () => {
      core.init({ delayPerKey: 4, delayTotal: 4 })
      store(keyOf(1), synAck(1, 11), 0)
      store(keyOf(2), synAck(2, 21), 1)
      store(keyOf(2), synAck(2, 22), 2)
      store(keyOf(1), synAck(1, 12), 3)
      expect(core.counter(Counter.DelayRecords)).to.equal(4)
      expect(store(keyOf(3), synAck(3, 31), 4)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayEvicted)).to.equal(1)
      expect(core.counter(Counter.DelayRecords)).to.equal(4)
      expect(core.counter(Counter.DelayKeys)).to.equal(3)
      clientAdd(keyOf(1), 1, 5)
      clientAdd(keyOf(2), 1, 5)
      clientAdd(keyOf(3), 1, 5)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([12, 21, 22, 31])
    })

    it('pushes out records in arrival order across keys, and a key goes with its last record', () => {
      core.init({ delayPerKey: 4, delayTotal: 4 })
      const puts: Array<[number, number]> = [[1, 1], [2, 2], [1, 3], [2, 4]]
      puts.forEach(([port, seq], i) => store(keyOf(port), synAck(port, seq), i))
      for (const seq of [5, 6, 7]) expect(store(keyOf(3), synAck(3, seq), 10)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayEvicted)).to.equal(3)
      expect(core.counter(Counter.DelayKeys)).to.equal(2) // key 1 lost both its records
      expect(readDelay(core).map((k) => k.records.map((r) => seqOf(r)))).to.deep.equal([[4], [5, 6, 7]])
      clientAdd(keyOf(1), 1, 11)
      expect(core.out()).to.deep.equal([])
    })

    it('keeps a key (and its creation time) when its own oldest record makes room for its next', () => {
      core.init({ delayPerKey: 8, delayTotal: 2, delayExpireMs: 100 })
      store(KEY, synAck(40000, 1), 0)
      store(KEY, synAck(40000, 2), 10)
      expect(store(KEY, synAck(40000, 3), 20)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayEvicted)).to.equal(1)
      expect(readDelay(core).map((k) => [k.created, k.records.map((r) => seqOf(r))])).to.deep.equal([[0, [2, 3]]])
      clientAdd(KEY, 1, 30)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([2, 3])
    })

    it('starts the key over when a table of one record makes room for the key\'s next record', () => {
      core.init({ delayPerKey: 8, delayTotal: 1 })
      store(KEY, synAck(40000, 1), 0)
      expect(store(KEY, synAck(40000, 2), 7)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayEvicted)).to.equal(1)
      expect(readDelay(core).map((k) => [k.created, k.records.map((r) => seqOf(r))])).to.deep.equal([[7, [2]]])
    })

    it('reuses the slots of flushed records', () => {
      core.init({ delayPerKey: 2, delayTotal: 2 })
      for (let round = 0; round < 50; round++) {
        store(keyOf(round), synAck(round, round), round)
        store(keyOf(round), synAck(round, round + 1000), round)
        clientAdd(keyOf(round), 1, round)
      }
      expect(core.counter(Counter.DelayEvicted)).to.equal(0)
      expect(core.counter(Counter.DelayFlushed)).to.equal(100)
      expect(core.out().map((e) => seqOf(e.record)).slice(-2)).to.deep.equal([49, 1049])
    })
  })

  describe('expiry (30 s from creation, I1)', () => {
    it('drops keys created more than 30 s ago on a sweep and returns the records dropped', () => {
      store(keyOf(1), synAck(1, 1), 0)
      store(keyOf(1), synAck(1, 2), 100)
      store(keyOf(2), synAck(2, 3), 20000)
      expect(core.x.delayExpire(30000)).to.equal(0) // exactly 30 s: still there
      expect(core.x.delayExpire(30001)).to.equal(2)
      expect(core.counter(Counter.DelayExpired)).to.equal(2)
      expect(core.counter(Counter.DelayKeys)).to.equal(1)
      expect(core.counter(Counter.DelayRecords)).to.equal(1)
      clientAdd(keyOf(2), 4, 30001)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([3])
    })

    it('counts a key\'s life from its creation, not from its last record', () => {
      store(KEY, synAck(40000, 1), 0)
      store(KEY, synAck(40000, 2), 29000)
      expect(core.x.delayExpire(30001)).to.equal(2)
    })

    it('drops instead of flushing a key that expired before its CLIENT_ADD', () => {
      store(KEY, SYN_ACK, 0)
      expect(clientAdd(KEY, 7, 30001)).to.equal(Status.Ok)
      expect(core.out()).to.deep.equal([])
      expect(core.counter(Counter.DelayExpired)).to.equal(1)
      expect(core.counter(Counter.DelayFlushed)).to.equal(0)
      expect(core.counter(Counter.DelayKeys)).to.equal(0)
      expect(core.lookup(KEY, 30001)).to.equal(7) // the route itself is added
    })

    it('starts a new key when a record arrives for an expired key', () => {
      store(KEY, synAck(40000, 1), 0)
      store(KEY, synAck(40000, 2), 30001)
      expect(core.counter(Counter.DelayExpired)).to.equal(1)
      expect(core.counter(Counter.DelayRecords)).to.equal(1)
      clientAdd(KEY, 7, 50000)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([2])
    })

    it('compares creation times across the u32 clock wrap', () => {
      store(KEY, SYN_ACK, 0xffffff00)
      expect(core.x.delayExpire(0x00001000)).to.equal(0)
      expect(core.x.delayExpire((0xffffff00 + 30001) >>> 0)).to.equal(1)
    })

    it('drops the oldest key as expired, not evicted, when it expired before the table filled', () => {
      core.init({ delayPerKey: 4, delayTotal: 2, delayExpireMs: 100 })
      store(keyOf(1), synAck(1, 1), 0)
      store(keyOf(2), synAck(2, 2), 50)
      store(keyOf(3), synAck(3, 3), 101)
      expect(core.counter(Counter.DelayExpired)).to.equal(1)
      expect(core.counter(Counter.DelayEvicted)).to.equal(0)
    })
  })

  describe('DNAT mode', () => {
    it('flushes a SYN-ACK from the DNAT-ed address to the CLIENT_ADD of the public target', () => {
      core.init({ dnat: true })
      const fromDocker = synAck(40000, 77, [172, 17, 0, 5])
      store(keyV4('192.168.1.10', 40000, '172.17.0.5', 8080), fromDocker, 0)
      clientAdd(keyV4('192.168.1.10', 40000, '10.0.0.2', 8080), 4, 1)
      const out = core.out()
      expect(out.map((e) => [e.conn, seqOf(e.record)])).to.deep.equal([[4, 77]])
      expect(out[0]!.record.slice(12, 16)).to.deep.equal(new Uint8Array([172, 17, 0, 5]))
    })

    it('keeps keys with different target addresses apart when DNAT mode is off', () => {
      store(keyV4('192.168.1.10', 40000, '172.17.0.5', 8080), SYN_ACK, 0)
      clientAdd(keyV4('192.168.1.10', 40000, '10.0.0.2', 8080), 4, 1)
      expect(core.out()).to.deep.equal([])
      expect(core.counter(Counter.DelayKeys)).to.equal(1)
    })
  })

  describe('delayStore arguments', () => {
    it('rejects a packet region outside the memory with BadRegion and one under 20 bytes with Truncated', () => {
      const end = core.raw.memory.buffer.byteLength
      core.setKey(KEY)
      expect(core.x.delayStore(end - 10, 60, 0)).to.equal(Status.BadRegion)
      expect(core.x.delayStore(0xffffffff, 60, 0)).to.equal(Status.BadRegion)
      expect(core.x.delayStore(FRAMES_OFF, 0xffffffff, 0)).to.equal(Status.BadRegion)
      core.u8.set(SYN_ACK, FRAMES_OFF)
      expect(core.x.delayStore(FRAMES_OFF, 19, 0)).to.equal(Status.Truncated)
      core.u8.set(SYN_ACK, end - 60)
      expect(core.x.delayStore(end - 60, 60, 0)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayStored)).to.equal(1)
    })

    it('refuses, with the parser\'s status and nothing stored, a packet whose headers do not fit or are not TCP/IPv4', () => {
      const edit = (f: (p: Uint8Array, dv: DataView) => void): Uint8Array => {
        const p = SYN_ACK.slice()
        f(p, new DataView(p.buffer))
        return p
      }
      const cases: Array<[string, Uint8Array, number]> = [
        ['IHL 4', edit((p) => { p[0] = 0x44 }), Status.BadIpHeader],
        ['version 5', edit((p) => { p[0] = 0x55 }), Status.BadIpHeader],
        ['IHL 15 in a 60-byte packet (tot_len leaves no room for TCP)', edit((p) => { p[0] = 0x4f }), Status.BadTotalLength],
        ['tot_len 10, below the IP header', edit((_, dv) => dv.setUint16(2, 10)), Status.BadTotalLength],
        ['tot_len 30, below the TCP header', edit((_, dv) => dv.setUint16(2, 30)), Status.BadTotalLength],
        ['tot_len 50, below doff 40', edit((_, dv) => dv.setUint16(2, 50)), Status.BadTotalLength],
        ['doff 4', edit((p) => { p[32] = 0x40 }), Status.BadTcpHeader],
        ['doff 15, past the bytes', edit((p) => { p[32] = 0xf0 }), Status.BadTotalLength],
        ['UDP', edit((p) => { p[9] = 17 }), Status.NotTcp],
        ['a later fragment', edit((_, dv) => dv.setUint16(6, 0x0010)), Status.Fragment],
        ['cut inside the TCP options', SYN_ACK.slice(0, 50), Status.Truncated]
      ]
      for (const [name, packet, want] of cases) {
        expect(store(KEY, packet, 0), name).to.equal(want)
      }
      expect(core.counter(Counter.DelayStored)).to.equal(0)
      expect(readDelay(core)).to.deep.equal([])
      clientAdd(KEY, 3, 1)
      expect(core.out()).to.deep.equal([])
    })

    it('keeps a packet whose only fault is a malformed TCP option, and drops bytes past tot_len', () => {
      const p = new Uint8Array(80)
      p.set(SYN_ACK)
      p[40] = 0xfe // kind 254 ...
      p[41] = 0x01 // ... with length 1
      expect(store(KEY, p, 0)).to.equal(Status.Ok)
      expect(readDelay(core)[0]!.records[0]!.length).to.equal(60)
      clientAdd(KEY, 3, 1)
      expect(core.out().map((e) => e.record.slice(40, 42))).to.deep.equal([new Uint8Array([0xfe, 0x01])])
    })

    it('emits no record for a held packet whose headers no longer add up', () => {
      expect(store(KEY, SYN_ACK, 0)).to.equal(Status.Ok)
      const [slot] = delayRecordSlots(core)
      // IHL 15 with tot_len 30: an IP header longer than the bytes held and than tot_len
      core.u8[slot! + DELAY_RECORD_DATA] = 0x4f
      core.dv.setUint16(slot! + DELAY_RECORD_DATA + 2, 30)
      clientAdd(KEY, 3, 1)
      expect(core.out()).to.deep.equal([])
      expect(core.counter(Counter.DelayFlushed)).to.equal(0)
      expect(core.counter(Counter.DelayKeys)).to.equal(0)
    })

    it('reports NotInitialised before coreInit', () => {
      const fresh = new TestCore(debug)
      expect(fresh.x.delayStore(FRAMES_OFF, 60, 0)).to.equal(Status.NotInitialised)
      expect(fresh.x.delayExpire(0)).to.equal(0)
      expect(fresh.x.routeClientAdd(1, 0)).to.equal(Status.NotInitialised)
    })
  })
})

describe('Core.delayStore', () => {
  it('holds a packet until the CLIENT_ADD of its key, says false at the per-key cap, and throws a CoreError for a bad packet', () => {
    const core = createCore({ hashSize: 16, maxRoutes: 16, delayPerKey: 1, delayTotal: 4, debug: true })
    const key = { clientIp: 0xc0a8010a, clientPort: 40000, targetIp: 0x0a000002, targetPort: 8080 }
    expect(core.delayStore(key, SYN_ACK, 0)).to.equal(true)
    expect(core.delayStore(key, SYN_ACK, 0)).to.equal(false)
    expect(() => core.delayStore(key, SYN_ACK.slice(0, 30), 0)).to.throw().with.property('code', 'TC_ERR_CORE_TRUNCATED')
    core.clientAdd(key, 5, 1)
    const out: number[] = []
    core.drainOut((conn) => out.push(conn))
    expect(out).to.deep.equal([5])
  })
})

import { expect } from 'chai'
import { Status, Counter, OutKind, RecordDialect, FRAMES_OFF } from '@tcpcopy/wasm'
import { TestCore, keyV4, hex } from './router-helpers.js'

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

describe('delay table', () => {
  let core: TestCore
  beforeEach(() => {
    core = new TestCore()
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

    it('drops the oldest key\'s records to make room under the total cap', () => {
      core.init({ delayPerKey: 4, delayTotal: 4 })
      store(keyOf(1), synAck(1, 11), 0)
      store(keyOf(2), synAck(2, 21), 1)
      store(keyOf(2), synAck(2, 22), 2)
      store(keyOf(1), synAck(1, 12), 3) // key 1 is still the oldest: created first
      expect(core.counter(Counter.DelayRecords)).to.equal(4)
      expect(store(keyOf(3), synAck(3, 31), 4)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayEvicted)).to.equal(2)
      expect(core.counter(Counter.DelayRecords)).to.equal(3)
      expect(core.counter(Counter.DelayKeys)).to.equal(2)
      clientAdd(keyOf(1), 1, 5)
      expect(core.out()).to.deep.equal([])
      clientAdd(keyOf(2), 1, 5)
      clientAdd(keyOf(3), 1, 5)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([21, 22, 31])
    })

    it('makes room by restarting a key that holds the whole table', () => {
      core.init({ delayPerKey: 8, delayTotal: 2 })
      store(KEY, synAck(40000, 1), 0)
      store(KEY, synAck(40000, 2), 0)
      expect(store(KEY, synAck(40000, 3), 0)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayEvicted)).to.equal(2)
      clientAdd(KEY, 1, 0)
      expect(core.out().map((e) => seqOf(e.record))).to.deep.equal([3])
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
      expect(core.x.delayStore(FRAMES_OFF, 19, 0)).to.equal(Status.Truncated)
      expect(core.x.delayStore(end - 60, 60, 0)).to.equal(Status.Ok)
      expect(core.counter(Counter.DelayStored)).to.equal(1)
    })

    it('reports NotInitialised before coreInit', () => {
      const fresh = new TestCore()
      expect(fresh.x.delayStore(FRAMES_OFF, 60, 0)).to.equal(Status.NotInitialised)
      expect(fresh.x.delayExpire(0)).to.equal(0)
      expect(fresh.x.routeClientAdd(1, 0)).to.equal(Status.NotInitialised)
    })
  })
})

import { expect } from 'chai'
import { LinkType, Verdict, Status, MAX_BATCH, DESC_OFF, FRAMES_OFF, FRAMES_SIZE, PASSLIST_OFF, KEY_SIZE } from '@tcpcopy/wasm'
import { createCore, type Core, type RouteKey } from './core.js'
import { instantiateCoreSync, seedWords } from './loader.js'
import { ipv4Tcp, concat, hex, ETH_HEADER, ETH_VLAN_HEADER, V3_SYN_ACK, V4_DATA } from './packet-fixtures.js'
import { BUILDS } from './router-helpers.js'

const SYN = 0x02
const ACK = 0x10
const RST = 0x04
const PSH = 0x08

const CLIENT = 0x0a000001 // 10.0.0.1
const TARGET = 0x0a000102 // 10.0.1.2
const KEY: RouteKey = { clientIp: CLIENT, clientPort: 40000, targetIp: TARGET, targetPort: 8080 }

/** The 64-byte 1.x record of PROTOCOL.md §8 V3. */
const V3_RECORD_1X = hex`
  45 00 00 3c 00 00 40 00 40 06 25 ba 0a 00 01 02
  0a 00 00 01 1f 90 9c 40 11 22 33 44 01 02 03 05
  a0 12 72 10 fe 9d 00 00 02 04 05 b4 04 02 08 0a
  00 00 ab cd 00 00 12 34 01 03 03 07 00 00 00 00
`

function eth (ip: Uint8Array): Uint8Array { return concat(ETH_HEADER, ip) }

function drain (core: Core): Array<[number, Uint8Array]> {
  const out: Array<[number, Uint8Array]> = []
  core.drainOut((conn, rec) => out.push([conn, rec.slice()]))
  return out
}

for (const [build, debug] of BUILDS) describe(`batch classification (${build})`, () => {
  let core: Core
  beforeEach(() => { core = createCore({ hashSize: 1024, maxRoutes: 4096, delayTotal: 256, debug }) })

  it('sends the record of a routed response to its connection and drops the packet', () => {
    core.routerAdd(KEY, 7, 1)
    const verdicts = core.processFrames([eth(V3_SYN_ACK)], LinkType.Ethernet, 2)
    expect(Array.from(verdicts)).to.deep.equal([Verdict.Drop])
    const out = drain(core)
    expect(out).to.have.length(1)
    expect(out[0]![0]).to.equal(7)
    expect(Array.from(out[0]![1])).to.deep.equal(Array.from(V3_RECORD_1X))
    expect(core.counters().Routed).to.equal(1)
  })

  it('writes 80-byte records (the same 60 bytes, then zeros) to a 0.9 connection', () => {
    core.setConnFormat(3, '0.9')
    core.routerAdd(KEY, 3, 1)
    core.processFrames([V3_SYN_ACK], LinkType.Raw, 2)
    const [[, rec]] = drain(core) as [[number, Uint8Array]]
    expect(rec.length).to.equal(80)
    expect(Array.from(rec.subarray(0, 60))).to.deep.equal(Array.from(V3_RECORD_1X.subarray(0, 60)))
    expect(rec.subarray(60).every(b => b === 0)).to.equal(true)
  })

  it('copies 1..128 payload bytes after the TCP header for payload connections', () => {
    core.setConnFormat(4, '1.x', true)
    core.routerAdd(KEY, 4, 1)
    core.processFrames([V4_DATA], LinkType.Raw, 2)
    const [[, rec]] = drain(core) as [[number, Uint8Array]]
    expect(rec.length).to.equal(192)
    expect(new TextDecoder().decode(rec.subarray(40, 57))).to.equal('HTTP/1.1 200 OK\r\n')
    expect(rec.subarray(57).every(b => b === 0)).to.equal(true)
  })

  it('writes IHL 5 and shortens tot_len when the response carries IP options', () => {
    core.routerAdd(KEY, 1, 1)
    const pkt = ipv4Tcp({ ipOptions: hex`01 01 01 00`, flags: ACK, payload: new Uint8Array(10) })
    core.processFrames([pkt], LinkType.Raw, 2)
    const [[, rec]] = drain(core) as [[number, Uint8Array]]
    expect(rec[0]).to.equal(0x45)
    expect((rec[2]! << 8) | rec[3]!).to.equal(pkt.length - 4)
    // the TCP header follows at offset 20, source port 8080
    expect((rec[20]! << 8) | rec[21]!).to.equal(8080)
  })

  it('accepts responses to passlisted destinations without routing them', () => {
    core.routerAdd(KEY, 1, 1)
    core.setPasslist([0x0a000009, CLIENT])
    const verdicts = core.processFrames([eth(V3_SYN_ACK)], LinkType.Ethernet, 2)
    expect(Array.from(verdicts)).to.deep.equal([Verdict.Accept])
    expect(drain(core)).to.have.length(0)
    expect(core.counters().Passed).to.equal(1)
  })

  it('accepts a passlisted response whatever the parser found wrong after the addresses, and drops it otherwise', () => {
    const PASS = [10, 0, 0, 9]
    const OTHER = [10, 0, 0, 8]
    const broken: Array<[string, (dst: number[]) => Uint8Array, string]> = [
      ['tot_len below the IP header', (dst) => ipv4Tcp({ dst, totLen: 12 }), 'Malformed'],
      ['tot_len below the TCP header', (dst) => ipv4Tcp({ dst, totLen: 30 }), 'Malformed'],
      ['doff past tot_len', (dst) => ipv4Tcp({ dst, doffWords: 15 }), 'Malformed'],
      ['doff below 5', (dst) => ipv4Tcp({ dst, doffWords: 3 }), 'Malformed'],
      ['IP options past the bytes', (dst) => ipv4Tcp({ dst, ipOptions: new Uint8Array(40) }).subarray(0, 30), 'Malformed'],
      ['cut inside the TCP header', (dst) => ipv4Tcp({ dst }).subarray(0, 30), 'Malformed'],
      ['a fragment', (dst) => ipv4Tcp({ dst, frag: 0x2000 }), 'Fragments'],
      ['not TCP', (dst) => ipv4Tcp({ dst, protocol: 17 }), 'NotTcp'],
      ['a malformed TCP option', (dst) => ipv4Tcp({ dst, tcpOptions: hex`fe 01 00 00` }), 'BadTcpOptions']
    ]
    core.setPasslist([0x0a000009])
    for (const [name, make, counter] of broken) {
      const before = core.counters()
      const verdicts = core.processFrames([make(PASS), make(OTHER)], LinkType.Raw, 1)
      expect(Array.from(verdicts), name).to.deep.equal([Verdict.Accept, Verdict.Drop])
      const after = core.counters()
      expect(after.Passed - before.Passed, name).to.equal(1)
      expect(after[counter as 'Malformed'] - before[counter as 'Malformed'], `${name}: ${counter}`).to.equal(1)
    }
    // without the addresses there is nothing to match: dropped even when the bytes would name a passlisted address
    const noAddresses = [ipv4Tcp({ dst: PASS }).subarray(0, 19), ipv4Tcp({ dst: PASS }).map((b, i) => i === 0 ? 0x44 : b)]
    expect(Array.from(core.processFrames(noAddresses, LinkType.Raw, 1))).to.deep.equal([Verdict.Drop, Verdict.Drop])
  })

  it('routes a response with a malformed TCP option like any other, options copied as they came', () => {
    core.routerAdd(KEY, 7, 1)
    const bad = ipv4Tcp({ flags: ACK, tcpOptions: hex`02 04 05 b4  fe 01 00 00` })
    const verdicts = core.processFrames([bad], LinkType.Raw, 2)
    expect(Array.from(verdicts)).to.deep.equal([Verdict.Drop])
    const out = drain(core)
    expect(out.map(([c]) => c)).to.deep.equal([7])
    expect(Array.from(out[0]![1].subarray(40, 48))).to.deep.equal([0x02, 0x04, 0x05, 0xb4, 0xfe, 0x01, 0x00, 0x00])
    const c = core.counters()
    expect([c.Routed, c.BadTcpOptions, c.Malformed]).to.deep.equal([1, 1, 0])
  })

  it('delays a SYN-ACK with a malformed TCP option and delivers it on CLIENT_ADD', () => {
    const bad = ipv4Tcp({ flags: SYN | ACK, tcpOptions: hex`03 02 07 00` }) // window scale with length 2
    core.processFrames([bad], LinkType.Raw, 1)
    expect(core.counters().Delayed).to.equal(1)
    core.clientAdd(KEY, 4, 2)
    expect(drain(core).map(([c]) => c)).to.deep.equal([4])
  })

  it('empties the passlist when the core is initialised again', () => {
    core.setPasslist([CLIENT])
    expect(Array.from(core.processFrames([V3_SYN_ACK], LinkType.Raw, 1))).to.deep.equal([Verdict.Accept])
    const [lo, hi] = seedWords(core.raw.hashSeed)
    expect(core.exports.coreInit(64, 64, 0, 0, 64, 4, 64, 30000, lo, hi)).to.equal(Status.Ok)
    // a host preparing its next list writes the addresses before it commits them: not yet in force
    core.view.setUint32(PASSLIST_OFF + 16 + 8, 0xffff0000, true)
    core.view.setUint32(PASSLIST_OFF + 16 + 12, CLIENT, false)
    expect(core.view.getUint32(PASSLIST_OFF, true)).to.equal(0)
    expect(Array.from(core.processFrames([V3_SYN_ACK], LinkType.Raw, 2))).to.deep.equal([Verdict.Drop])
    expect(core.counters().Passed).to.equal(0)
    core.setPasslist([CLIENT])
    expect(Array.from(core.processFrames([V3_SYN_ACK], LinkType.Raw, 3))).to.deep.equal([Verdict.Accept])
  })

  it('does not route an IPv4 response by a family-6 route over the same IPv4-mapped addresses', () => {
    const mapped = (ip: number): Uint8Array => {
      const a = new Uint8Array(16)
      a.set([0xff, 0xff, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255], 10)
      return a
    }
    core.routerAdd({ ...KEY, clientIp: mapped(CLIENT), targetIp: mapped(TARGET) }, 3, 1)
    core.processFrames([V3_SYN_ACK], LinkType.Raw, 2)
    expect(drain(core)).to.have.length(0)
    expect(core.counters().Delayed).to.equal(1)
    core.routerAdd(KEY, 5, 3)
    core.processFrames([V3_SYN_ACK], LinkType.Raw, 4)
    expect(drain(core).map(([c]) => c)).to.deep.equal([5])
  })

  it('looks many keys up in one call through routerLookupMany and routerLookupBatchAt', () => {
    core.routerAdd(KEY, 1, 1)
    core.routerAdd({ ...KEY, clientPort: 40001 }, 2, 1)
    const got = core.routerLookupMany([KEY, { ...KEY, clientPort: 40002 }, { ...KEY, clientPort: 40001 }], 2)
    expect(Array.from(got)).to.deep.equal([1, -1, 2])
    expect(core.counters().RouterHits).to.equal(2)
    expect(() => core.routerLookupBatchAt(FRAMES_OFF, 1, 0, 3)).to.throw().with.property('code', 'TC_ERR_CORE_BAD_REGION')
    expect(() => core.routerLookupBatchAt(FRAMES_OFF, 2, FRAMES_OFF + KEY_SIZE, 3)).to.throw().with.property('code', 'TC_ERR_CORE_BAD_REGION')
  })

  it('accepts a non-TCP packet to a passlisted destination and drops it otherwise', () => {
    const udp = ipv4Tcp({ protocol: 17, dst: [10, 0, 0, 9] })
    const udp2 = ipv4Tcp({ protocol: 17, dst: [10, 0, 0, 8] })
    core.setPasslist([0x0a000009])
    expect(Array.from(core.processFrames([udp, udp2], LinkType.Raw, 1))).to.deep.equal([Verdict.Accept, Verdict.Drop])
    expect(core.counters().NotTcp).to.equal(1)
  })

  it('holds a SYN-ACK that beats its CLIENT_ADD and delivers it after the route is added', () => {
    const verdicts = core.processFrames([V3_SYN_ACK], LinkType.Raw, 1)
    expect(Array.from(verdicts)).to.deep.equal([Verdict.Drop])
    expect(drain(core)).to.have.length(0)
    expect(core.counters().Delayed).to.equal(1)
    core.clientAdd(KEY, 9, 2)
    const out = drain(core)
    expect(out.map(([c]) => c)).to.deep.equal([9])
    expect(Array.from(out[0]![1])).to.deep.equal(Array.from(V3_RECORD_1X))
    // flushed once: a second CLIENT_ADD has nothing more to deliver
    core.clientAdd(KEY, 9, 3)
    expect(drain(core)).to.have.length(0)
  })

  it('delays RSTs too, and counts other unroutable segments', () => {
    const rst = ipv4Tcp({ flags: RST | ACK })
    const data = ipv4Tcp({ flags: PSH | ACK, payload: new Uint8Array(5) })
    core.processFrames([rst, data], LinkType.Raw, 1)
    const c = core.counters()
    expect([c.Delayed, c.Unroutable]).to.deep.equal([1, 1])
  })

  it('routes by the full 4-tuple: another client port or target port is another session', () => {
    core.routerAdd(KEY, 1, 1)
    core.routerAdd({ ...KEY, clientPort: 40001 }, 2, 1)
    const a = ipv4Tcp({ dport: 40001, flags: ACK })
    const b = ipv4Tcp({ sport: 8081, flags: ACK })
    core.processFrames([a, b], LinkType.Raw, 2)
    expect(drain(core).map(([c]) => c)).to.deep.equal([2])
    expect(core.counters().Unroutable).to.equal(1)
  })

  it('ignores the target IP in DNAT mode', () => {
    const dnat = createCore({ hashSize: 64, maxRoutes: 64, dnat: true, debug })
    dnat.routerAdd({ ...KEY, targetIp: 0x0a0a0a0a }, 5, 1)
    dnat.processFrames([V3_SYN_ACK], LinkType.Raw, 2)
    expect(drain(dnat).map(([c]) => c)).to.deep.equal([5])
  })

  it('parses VLAN-tagged frames on the batch path', () => {
    core.routerAdd(KEY, 1, 1)
    core.processFrames([concat(ETH_VLAN_HEADER, V3_SYN_ACK)], LinkType.Ethernet, 2)
    expect(drain(core)).to.have.length(1)
  })

  it('counts malformed frames and keeps processing the rest of the batch', () => {
    core.routerAdd(KEY, 1, 1)
    const frames = [
      V3_SYN_ACK.subarray(0, 30), // truncated TCP header
      hex`60 00 00 00 00 00 06 40`, // IPv6 version nibble
      ipv4Tcp({ frag: 0x2000, flags: ACK }), // first fragment (MF)
      V3_SYN_ACK
    ]
    const verdicts = core.processFrames(frames, LinkType.Raw, 2)
    expect(Array.from(verdicts)).to.deep.equal([0, 0, 0, 0])
    expect(drain(core)).to.have.length(1)
    const c = core.counters()
    expect(c.Malformed).to.equal(2)
    expect(c.Fragments).to.equal(1)
    expect(c.Captured).to.equal(4)
  })

  it('drops a descriptor pointing outside FRAMES without reading it', () => {
    core.view.setUint32(DESC_OFF, FRAMES_OFF + FRAMES_SIZE - 10, true)
    core.view.setUint32(DESC_OFF + 4, 100, true)
    core.view.setUint32(DESC_OFF + 8, 0, true)
    core.view.setUint32(DESC_OFF + 12, 64, true)
    const verdicts = core.processDescribed(2, LinkType.Raw, 1)
    expect(Array.from(verdicts)).to.deep.equal([Verdict.Drop, Verdict.Drop])
    expect(core.counters().Malformed).to.equal(2)
  })

  it('rejects a batch larger than MAX_BATCH and an unknown link type per packet', () => {
    expect(() => core.processDescribed(MAX_BATCH + 1, LinkType.Raw, 1)).to.throw().with.property('code', 'TC_ERR_CORE_BAD_ARGUMENT')
    core.processFrames([V3_SYN_ACK], 77 as LinkType, 1)
    expect(core.counters().Malformed).to.equal(1)
  })

  it('counts records lost to a full output region instead of overwriting it', () => {
    core.setConnFormat(1, '0.9', true) // 208-byte records
    const keys: Uint8Array[] = []
    for (let i = 0; i < MAX_BATCH; i++) {
      core.routerAdd({ ...KEY, clientPort: 1000 + i }, 1, 1)
      keys.push(ipv4Tcp({ dport: 1000 + i, flags: ACK }))
    }
    for (let round = 0; round < 3; round++) core.processFrames(keys, LinkType.Raw, 2)
    const c = core.counters()
    expect(c.OutOverflow).to.be.greaterThan(0)
    expect(c.Routed + c.OutOverflow).to.equal(3 * MAX_BATCH)
    expect(drain(core)).to.have.length(c.Routed)
  })

  it('refuses to classify before the core is initialised', () => {
    const raw = instantiateCoreSync({ debug })
    expect(raw.exports.batchProcess(1, LinkType.Raw, 0)).to.equal(Status.NotInitialised)
    expect(raw.exports.routeClientAdd(1, 0)).to.equal(Status.NotInitialised)
  })
})

import { expect } from 'chai'
import fc from 'fast-check'
import {
  ClientPool, TargetTable, addPort, gradualPercent, ipv4ToU32, keepSession, nextPort, poolKey, rawAddress, rawPort,
  replicaAddition, sampleValue, shiftAddition, u32ToIpv4
} from './filter.js'

describe('sampling (TCPCOPY.md §6)', () => {
  // k = ((v >> 8) + (v & 0xFF)) % 100, v = (P + A) & 0xFFFF, P and A read little-endian (x86).
  const VECTORS: Array<[string, number, number]> = [
    // 10.0.0.1 → A = 0x0100000a; 40000 = 9c 40 → P = 0x409c; v = 0x40a6; 0x40 + 0xa6 = 230 → 30
    ['10.0.0.1', 40000, 30],
    // 192.168.1.10 → A = 0x0a01a8c0; 80 = 00 50 → P = 0x5000; v = 0xf8c0; 0xf8 + 0xc0 = 440 → 40
    ['192.168.1.10', 80, 40],
    ['10.1.0.1', 20000, 21],
    ['172.16.5.4', 65535, 87],
    ['1.2.3.4', 1, 4]
  ]

  it('computes k of the §6 formula for known (ip, port) vectors', () => {
    for (const [ip, port, k] of VECTORS) expect(sampleValue(ipv4ToU32(ip), port), `${ip}:${port}`).to.equal(k)
  })

  it('keeps a session when k < p and drops it when k >= p', () => {
    const ip = ipv4ToU32('10.0.0.1') // k = 30
    expect(keepSession(ip, 40000, 30)).to.equal(false)
    expect(keepSession(ip, 40000, 31)).to.equal(true)
    expect(keepSession(ip, 40000, 100)).to.equal(true)
  })

  it('decides the same way for every packet of one (ip, port)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 100 }), (ip, port, p) => {
      const first = keepSession(ip, port, p)
      for (let i = 0; i < 3; i++) expect(keepSession(ip, port, p)).to.equal(first)
      expect(sampleValue(ip, port)).to.be.within(0, 99)
    }))
  })

  it('keeps roughly p percent of many sessions', () => {
    let kept = 0
    const n = 20000
    for (let i = 0; i < n; i++) if (keepSession(ipv4ToU32('10.1.0.0') + (i >> 8), 20000 + (i & 255), 25)) kept++
    expect(kept / n).to.be.within(0.2, 0.3)
  })

  it('ramps the -g percentage by one per second from the first packet, capped', () => {
    expect(gradualPercent(0, 100)).to.equal(1)
    expect(gradualPercent(999, 100)).to.equal(1)
    expect(gradualPercent(1000, 100)).to.equal(2)
    expect(gradualPercent(250000, 100)).to.equal(100)
    expect(gradualPercent(250000, 40)).to.equal(40)
  })
})

describe('-c client pool (§3.2 step 4)', () => {
  it('reads addresses and ports as the original does on x86', () => {
    expect(rawAddress(ipv4ToU32('10.0.0.1'))).to.equal(0x0100000a)
    expect(rawPort(40000)).to.equal(0x409c)
    expect(poolKey(rawAddress(ipv4ToU32('10.0.0.1')))).to.equal(0x010a)
  })

  it('maps each client to one pool address, round-robin in order of first appearance, stable afterwards', () => {
    const pool = new ClientPool(['10.88.0.1', '10.88.0.2', '10.88.0.3'].map(ipv4ToU32))
    const a = pool.map(ipv4ToU32('192.168.0.10'))
    const b = pool.map(ipv4ToU32('192.168.0.11'))
    const c = pool.map(ipv4ToU32('192.168.0.12'))
    const d = pool.map(ipv4ToU32('192.168.0.13'))
    expect([a, b, c, d].map(u32ToIpv4)).to.deep.equal(['10.88.0.1', '10.88.0.2', '10.88.0.3', '10.88.0.1'])
    expect(pool.map(ipv4ToU32('192.168.0.11'))).to.equal(b)
  })

  it('gives clients whose keys collide the same address (the table is keyed like the original)', () => {
    const pool = new ClientPool(['10.88.0.1', '10.88.0.2'].map(ipv4ToU32))
    // 10.0.0.1 and 9.0.1.1 both have key 0x010a
    expect(poolKey(rawAddress(ipv4ToU32('9.0.1.1')))).to.equal(0x010a)
    expect(pool.map(ipv4ToU32('10.0.0.1'))).to.equal(pool.map(ipv4ToU32('9.0.1.1')))
  })

  it('maps replicas with the key of (A << 1) + addition', () => {
    const pool = new ClientPool(['10.88.0.1', '10.88.0.2', '10.88.0.3', '10.88.0.4'].map(ipv4ToU32))
    const ip = ipv4ToU32('192.168.0.10')
    expect(pool.mapReplica(ip, 40)).to.equal(pool.mapReplica(ip, 40))
  })
})

describe('replica and port-shift ports (§3.3, §3.4)', () => {
  it('adds ((2i − 1) << 5) + R for replica i and (f << 11) + R for -f', () => {
    expect(replicaAddition(1, 7)).to.equal(39)
    expect(replicaAddition(2, 7)).to.equal(103)
    expect(shiftAddition(1, 7)).to.equal(2055)
    expect(addPort(40000, replicaAddition(1, 7))).to.equal(40039)
  })

  it('wraps a port beyond 65535 to 1024 + addition', () => {
    expect(addPort(65500, 100)).to.equal(1124)
    expect(addPort(65535, 1)).to.equal(1025)
  })

  it('always yields a port 1024..65535 when it wraps, even for large -f', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: (1023 << 11) + 511 }), (port, add) => {
      const p = addPort(port, add)
      expect(p).to.be.within(1, 65535)
      if (port + add > 65535) expect(p).to.be.at.least(1024)
    }))
    expect(nextPort(65535)).to.equal(1024)
  })
})

describe('-x target table', () => {
  const t = new TargetTable([
    { onlinePort: 80, targetIp: '10.0.1.2', targetPort: 8080 },
    { onlineIp: '10.0.0.5', onlinePort: 80, targetIp: '10.0.1.3', targetPort: 9090 }
  ])

  it('prefers a mapping with the exact online IP, then one without', () => {
    expect(t.lookup(ipv4ToU32('10.0.0.5'), 80)?.targetPort).to.equal(9090)
    expect(t.lookup(ipv4ToU32('10.0.0.6'), 80)?.targetPort).to.equal(8080)
  })

  it('finds nothing for a port without a mapping', () => {
    expect(t.lookup(ipv4ToU32('10.0.0.5'), 81)).to.equal(undefined)
  })
})

import { expect } from 'chai'
import fc from 'fast-check'
import { FRAMES_OFF, Status, REGION_BASE, ARENA_BASE, TX_OFF } from '@tcpcopy/wasm'
import { instantiateCoreSync, type RawCore } from './loader.js'
import { createCore } from './core.js'
import { TestCore, keyV4, BUILDS } from './router-helpers.js'
import {
  hex, concat, inetChecksum, ipv4Tcp, put, take, refIpChecksum, refTcpChecksum, V3_SYN_ACK, V4_DATA
} from './packet-fixtures.js'

/** Any u32, as the host-order numbers the rewrite calls take. */
const u32 = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([hi, lo]) => hi * 0x10000 + lo)

const VECTORS = [
  { name: 'V3 SYN-ACK', ip: V3_SYN_ACK, ipSum: 0x25ba, tcpSum: 0xfe9d },
  { name: 'V4 record 2 (17-byte payload)', ip: V4_DATA, ipSum: 0x0b92, tcpSum: 0xd56b }
]

function u16 (bytes: Uint8Array, off: number): number {
  return (bytes[off]! << 8) | bytes[off + 1]!
}

describe('checksums', () => {
  let core: RawCore
  before(() => { core = instantiateCoreSync() })

  describe('checksumCompute', () => {
    it('gives the RFC 1071 §3 example sum complemented (0x220D)', () => {
      put(core, hex`00 01 f2 03 f4 f5 f6 f7  // RFC 1071 §3: sum 0xDDF2`)
      expect(core.exports.checksumCompute(FRAMES_OFF, 8)).to.equal(0x220d)
    })

    it('pads an odd length with a zero byte', () => {
      put(core, hex`01 ff ff`)
      expect(core.exports.checksumCompute(FRAMES_OFF, 1)).to.equal(0xfeff)
      // 0x01FF + 0xFF00 = 0x100FF, folded 0x0100
      expect(core.exports.checksumCompute(FRAMES_OFF, 3)).to.equal(0xfeff)
    })

    it('gives 0xFFFF for no bytes', () => {
      expect(core.exports.checksumCompute(FRAMES_OFF, 0)).to.equal(0xffff)
    })

    it('agrees with a byte-at-a-time reference for any bytes, length and alignment', () => {
      fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 1600 }), fc.integer({ min: 0, max: 15 }),
        (bytes, skew) => {
          put(core, bytes, FRAMES_OFF + skew)
          return core.exports.checksumCompute(FRAMES_OFF + skew, bytes.length) === inetChecksum(bytes)
        }), { numRuns: 2000 })
    })

    it('sums a 64 KiB block of 0xFF bytes without losing carries', () => {
      const bytes = new Uint8Array(65536).fill(0xff)
      put(core, bytes)
      expect(core.exports.checksumCompute(FRAMES_OFF, bytes.length)).to.equal(inetChecksum(bytes))
      expect(inetChecksum(bytes)).to.equal(0)
    })

    it('returns 0 for a range outside the memory or a negative length, without trapping', () => {
      const size = core.memory.buffer.byteLength
      expect(core.exports.checksumCompute(size - 1, 2)).to.equal(0)
      expect(core.exports.checksumCompute(0xfffffffe, 4)).to.equal(0)
      expect(core.exports.checksumCompute(FRAMES_OFF, -2)).to.equal(0)
      expect(core.exports.checksumCompute(size - 2, 2)).to.equal(inetChecksum(take(core, size - 2, 2)))
    })
  })

  for (const v of VECTORS) {
    describe(`PROTOCOL.md §8 ${v.name}`, () => {
      it(`computes the IP header checksum 0x${v.ipSum.toString(16).toUpperCase().padStart(4, '0')} and verifies it`, () => {
        const at = put(core, v.ip)
        expect(core.exports.ipChecksumCompute(at, 20)).to.equal(v.ipSum)
        expect(core.exports.ipChecksumVerify(at, 20)).to.equal(1)
      })

      it(`computes the TCP checksum 0x${v.tcpSum.toString(16).toUpperCase().padStart(4, '0')} and verifies it`, () => {
        const at = put(core, v.ip)
        expect(core.exports.tcpChecksumCompute(at, v.ip.length)).to.equal(v.tcpSum)
        expect(core.exports.tcpChecksumVerify(at, v.ip.length)).to.equal(1)
      })

      it('computes the same values when the checksum fields hold garbage', () => {
        const ip = v.ip.slice()
        ip.set([0xde, 0xad], 10)
        ip.set([0xbe, 0xef], 36)
        const at = put(core, ip)
        expect(core.exports.ipChecksumCompute(at, 20)).to.equal(v.ipSum)
        expect(core.exports.tcpChecksumCompute(at, ip.length)).to.equal(v.tcpSum)
        expect(core.exports.ipChecksumVerify(at, 20)).to.equal(0)
        expect(core.exports.tcpChecksumVerify(at, ip.length)).to.equal(0)
      })

      it('fails verification when any one byte is corrupted', () => {
        const missed: string[] = []
        for (let i = 0; i < v.ip.length; i++) {
          for (const flip of [0x01, 0x80, 0xff]) {
            const ip = v.ip.slice()
            ip[i] = ip[i]! ^ flip
            const at = put(core, ip)
            const ipOk = core.exports.ipChecksumVerify(at, 20)
            const tcpOk = core.exports.tcpChecksumVerify(at, ip.length)
            // bytes 0..19 are under the IP checksum; 12..19 and 20.. under the TCP checksum
            if (i < 20 && ipOk !== 0) missed.push(`ip byte ${i} ^ ${flip}`)
            if (i >= 12 && tcpOk !== 0) missed.push(`tcp byte ${i} ^ ${flip}`)
            // bytes 1..11 are outside the pseudo-header (the protocol in it is always 6)
            if (i > 0 && i < 12 && tcpOk !== 1) missed.push(`tcp byte ${i} wrongly failed`)
          }
        }
        expect(missed).to.deep.equal([])
      })
    })
  }

  describe('input checks of the IP and TCP checksum functions', () => {
    it('returns 0 for IHL bytes outside 20..60 or a range outside the memory', () => {
      const at = put(core, V3_SYN_ACK)
      const size = core.memory.buffer.byteLength
      for (const [off, n] of [[at, 19], [at, 61], [at, -20], [size - 10, 20], [0xffffffff, 20]] as const) {
        expect(core.exports.ipChecksumCompute(off, n), `${off}/${n}`).to.equal(0)
        expect(core.exports.ipChecksumVerify(off, n), `${off}/${n}`).to.equal(0)
      }
    })

    it('returns 0 for a TCP segment shorter than 20 bytes, a non-IPv4 header or a bad range', () => {
      const at = put(core, V3_SYN_ACK)
      for (const n of [39, 20, 0, -1]) {
        expect(core.exports.tcpChecksumCompute(at, n), `len ${n}`).to.equal(0)
        expect(core.exports.tcpChecksumVerify(at, n), `len ${n}`).to.equal(0)
      }
      expect(core.exports.tcpChecksumVerify(core.memory.buffer.byteLength - 30, 60)).to.equal(0)
      const v6 = V3_SYN_ACK.slice()
      v6[0] = 0x65
      put(core, v6)
      expect(core.exports.tcpChecksumCompute(at, 60)).to.equal(0)
    })

    it('covers IP options in the IP checksum and skips them in the TCP one', () => {
      const ip = ipv4Tcp({ ipOptions: hex`94 04 00 00  // router alert`, payload: hex`01 02 03` })
      const at = put(core, ip)
      expect(core.exports.ipChecksumCompute(at, 24)).to.equal(u16(ip, 10))
      expect(core.exports.ipChecksumVerify(at, 24)).to.equal(1)
      expect(core.exports.tcpChecksumCompute(at, ip.length)).to.equal(u16(ip, 24 + 16))
      expect(core.exports.tcpChecksumVerify(at, ip.length)).to.equal(1)
    })

    it('agrees with the reference on random packets', () => {
      fc.assert(fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => b.subarray(0, b.length & ~3)),
        fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => b.subarray(0, b.length & ~3)),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 8, maxLength: 8 }),
        (ipOptions, tcpOptions, payload, addrs) => {
          const ip = ipv4Tcp({ ipOptions, tcpOptions, payload, src: addrs.slice(0, 4), dst: addrs.slice(4) })
          const at = put(core, ip, FRAMES_OFF + 3)
          const ihl = 20 + ipOptions.length
          return core.exports.ipChecksumCompute(at, ihl) === refIpChecksum(ip) &&
            core.exports.tcpChecksumCompute(at, ip.length) === refTcpChecksum(ip) &&
            core.exports.tcpChecksumVerify(at, ip.length) === 1 && core.exports.ipChecksumVerify(at, ihl) === 1
        }), { numRuns: 1000 })
    })
  })

  describe('incremental update (RFC 1624)', () => {
    it('gives the RFC 1624 §4 example: 0xDD2F with 0x5555 → 0x3285 becomes 0x0000', () => {
      expect(core.exports.checksumAdjust16(0xdd2f, 0x5555, 0x3285)).to.equal(0x0000)
    })

    it('matches a full recompute for any 16-bit word change', () => {
      fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 64 }).filter((b) => b.length % 2 === 0 && b.some((x) => x !== 0)),
        fc.nat(), fc.integer({ min: 0, max: 0xffff }), (bytes, pick, word) => {
          const i = (pick % (bytes.length / 2)) * 2
          const before = inetChecksum(bytes)
          const old = u16(bytes, i)
          const after = bytes.slice()
          after[i] = word >> 8
          after[i + 1] = word & 0xff
          if (after.every((x) => x === 0)) return true
          return core.exports.checksumAdjust16(before, old, word) === inetChecksum(after)
        }), { numRuns: 2000 })
    })

    it('matches a full recompute for any 32-bit value change, the two words at once', () => {
      fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), u32.filter((x) => x !== 0),
        (bytes, value) => {
          bytes[0] = 0x45 // keep the sum away from zero, as in any real header
          const dv = new DataView(bytes.buffer)
          const before = inetChecksum(bytes)
          const old = dv.getUint32(4)
          dv.setUint32(4, value)
          return core.exports.checksumAdjust32(before, old, value) === inetChecksum(bytes)
        }), { numRuns: 2000 })
    })

    it('returns the checksum unchanged when the value does not change', () => {
      expect(core.exports.checksumAdjust16(0x25ba, 0x0a00, 0x0a00)).to.equal(0x25ba)
      expect(core.exports.checksumAdjust32(0xfe9d, 0x0a000001, 0x0a000001)).to.equal(0xfe9d)
    })
  })

  describe('ipRewriteAddr and tcpRewritePort', () => {
    for (const v of VECTORS) {
      it(`rewrites both addresses of ${v.name} and keeps both checksums right`, () => {
        const at = put(core, v.ip)
        expect(core.exports.ipRewriteAddr(at, v.ip.length, 0, 0xc0a8010a)).to.equal(Status.Ok) // 192.168.1.10
        expect(core.exports.ipRewriteAddr(at, v.ip.length, 1, 0xac100005)).to.equal(Status.Ok) // 172.16.0.5
        const ip = take(core, at, v.ip.length)
        expect(Array.from(ip.subarray(12, 20))).to.deep.equal([192, 168, 1, 10, 172, 16, 0, 5])
        expect(core.exports.ipChecksumVerify(at, 20)).to.equal(1)
        expect(core.exports.tcpChecksumVerify(at, v.ip.length)).to.equal(1)
        expect(u16(ip, 10)).to.equal(core.exports.ipChecksumCompute(at, 20))
        expect(u16(ip, 36)).to.equal(core.exports.tcpChecksumCompute(at, v.ip.length))
      })

      it(`rewrites both ports of ${v.name} and keeps the TCP checksum right`, () => {
        const at = put(core, v.ip)
        expect(core.exports.tcpRewritePort(at, v.ip.length, 0, 80)).to.equal(Status.Ok)
        expect(core.exports.tcpRewritePort(at, v.ip.length, 1, 65535)).to.equal(Status.Ok)
        const ip = take(core, at, v.ip.length)
        expect([u16(ip, 20), u16(ip, 22)]).to.deep.equal([80, 65535])
        expect(core.exports.tcpChecksumVerify(at, v.ip.length)).to.equal(1)
        expect(u16(ip, 36)).to.equal(core.exports.tcpChecksumCompute(at, v.ip.length))
        expect(u16(ip, 10)).to.equal(v.ipSum)
      })
    }

    it('matches a full recompute for random addresses and ports on random packets', () => {
      fc.assert(fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 1 }), u32), { minLength: 1, maxLength: 6 }),
        (payload, edits) => {
          const ip = ipv4Tcp({ payload, ipOptions: payload.length % 2 === 0 ? new Uint8Array(0) : hex`01 01 01 00` })
          const at = put(core, ip)
          for (const [isAddr, which, value] of edits) {
            const st = isAddr
              ? core.exports.ipRewriteAddr(at, ip.length, which, value)
              : core.exports.tcpRewritePort(at, ip.length, which, value & 0xffff)
            if (st !== Status.Ok) return false
          }
          const out = take(core, at, ip.length)
          return core.exports.ipChecksumVerify(at, (ip[0]! & 15) * 4) === 1 &&
            core.exports.tcpChecksumVerify(at, ip.length) === 1 &&
            u16(out, 10) === refIpChecksum(out) && refTcpChecksum(out) === core.exports.tcpChecksumCompute(at, ip.length)
        }), { numRuns: 1000 })
    })

    it('rewrites a truncated snapshot exactly as the whole packet (only the checksum field must be present)', () => {
      const whole = put(core, V4_DATA)
      core.exports.ipRewriteAddr(whole, V4_DATA.length, 1, 0x0a000063)
      core.exports.tcpRewritePort(whole, V4_DATA.length, 1, 12345)
      const want = take(core, whole, 38)
      const cut = put(core, V4_DATA.subarray(0, 38), FRAMES_OFF + 1000)
      expect(core.exports.ipRewriteAddr(cut, 38, 1, 0x0a000063)).to.equal(Status.Ok)
      expect(core.exports.tcpRewritePort(cut, 38, 1, 12345)).to.equal(Status.Ok)
      expect(take(core, cut, 38)).to.deep.equal(want)
    })

    it('changes nothing and answers a status on bad input', () => {
      const at = put(core, V3_SYN_ACK)
      const size = core.memory.buffer.byteLength
      const udp = ipv4Tcp({ protocol: 17 })
      const laterFragment = ipv4Tcp({ frag: 0x0010 })
      const cases: Array<[string, () => number, number]> = [
        ['which 2', () => core.exports.ipRewriteAddr(at, 60, 2, 1), Status.BadArgument],
        ['which -1', () => core.exports.tcpRewritePort(at, 60, -1, 1), Status.BadArgument],
        ['port 65536', () => core.exports.tcpRewritePort(at, 60, 0, 65536), Status.BadArgument],
        ['negative length', () => core.exports.ipRewriteAddr(at, -1, 0, 1), Status.BadRegion],
        ['past the memory', () => core.exports.tcpRewritePort(size - 30, 60, 0, 1), Status.BadRegion],
        ['wrapping range', () => core.exports.ipRewriteAddr(0xfffffff0, 60, 0, 1), Status.BadRegion],
        ['19 bytes', () => core.exports.ipRewriteAddr(at, 19, 0, 1), Status.Truncated],
        ['no TCP checksum field', () => core.exports.ipRewriteAddr(at, 37, 0, 1), Status.Truncated],
        ['port without checksum field', () => core.exports.tcpRewritePort(at, 37, 0, 1), Status.Truncated]
      ]
      for (const [name, call, want] of cases) {
        expect(call(), name).to.equal(want)
        expect(take(core, at, 60), name).to.deep.equal(V3_SYN_ACK)
      }
      const u = put(core, udp)
      expect(core.exports.tcpRewritePort(u, udp.length, 0, 1)).to.equal(Status.NotTcp)
      expect(take(core, u, udp.length)).to.deep.equal(udp)
      const f = put(core, laterFragment)
      expect(core.exports.tcpRewritePort(f, laterFragment.length, 0, 1)).to.equal(Status.Fragment)
      const bad = V3_SYN_ACK.slice()
      bad[0] = 0x44
      const b = put(core, bad)
      expect(core.exports.ipRewriteAddr(b, 60, 0, 1)).to.equal(Status.BadIpHeader)
      expect(take(core, b, 60)).to.deep.equal(bad)
    })

    it('rewrites the address of a non-TCP packet or a later fragment with only the IP checksum', () => {
      for (const ip of [ipv4Tcp({ protocol: 17 }), ipv4Tcp({ frag: 0x0010 })]) {
        const at = put(core, ip)
        expect(core.exports.ipRewriteAddr(at, ip.length, 0, 0x01020304)).to.equal(Status.Ok)
        const out = take(core, at, ip.length)
        expect(core.exports.ipChecksumVerify(at, 20)).to.equal(1)
        expect(Array.from(out.subarray(20))).to.deep.equal(Array.from(ip.subarray(20)))
      }
    })

    it('rewrites the ports of a first fragment (MF set, offset 0)', () => {
      const ip = ipv4Tcp({ frag: 0x2000, payload: concat(hex`aa`, new Uint8Array(9)) })
      const at = put(core, ip)
      expect(core.exports.tcpRewritePort(at, ip.length, 0, 1234)).to.equal(Status.Ok)
      expect(core.exports.tcpChecksumVerify(at, ip.length)).to.equal(1)
    })
  })

  for (const [build, debug] of BUILDS) {
    describe(`ipRewriteAddr and tcpRewritePort on regions the core must not write (${build})`, () => {
      let t: TestCore
      const KEY = keyV4('192.168.1.10', 40000, '10.0.0.2', 8080)
      beforeEach(() => {
        t = new TestCore(debug)
        expect(t.init({ buckets: 16, maxRoutes: 16, delayTotal: 16 })).to.equal(Status.Ok)
        expect(t.add(KEY, 3, 0)).to.equal(Status.Ok)
      })

      /** Puts V3 at `at`, tries both rewrites, checks the bytes are as they were, restores what was there. */
      function refused (at: number): void {
        const saved = t.u8.slice(at, at + 60)
        t.u8.set(V3_SYN_ACK, at)
        expect(t.x.ipRewriteAddr(at, 60, 0, 0x01020304), `address at ${at}`).to.equal(Status.BadRegion)
        expect(t.x.tcpRewritePort(at, 60, 1, 1), `port at ${at}`).to.equal(Status.BadRegion)
        expect(t.u8.slice(at, at + 60), `bytes at ${at}`).to.deep.equal(V3_SYN_ACK)
        t.u8.set(saved, at)
      }

      it('refuses with BadRegion, writing nothing, a packet over the static data', () => {
        refused(0)
        refused(REGION_BASE - 60)
        refused(REGION_BASE - 30) // straddles the end of the static data
      })

      it('refuses with BadRegion, writing nothing, a packet over the router or delay tables', () => {
        const arenaEnd = ARENA_BASE + t.x.coreArenaBytes()
        for (const at of [ARENA_BASE, ARENA_BASE - 30, ARENA_BASE + 4096, arenaEnd - 60, arenaEnd - 30]) refused(at)
        expect(t.lookup(KEY, 1)).to.equal(3)
      })

      it('rewrites a packet in FRAMES, in TX and past the tables', () => {
        const arenaEnd = ARENA_BASE + t.x.coreArenaBytes()
        const spots = [FRAMES_OFF, TX_OFF]
        if (t.raw.memory.buffer.byteLength >= arenaEnd + 60) spots.push(arenaEnd)
        for (const at of spots) {
          t.u8.set(V3_SYN_ACK, at)
          expect(t.x.ipRewriteAddr(at, 60, 0, 0x01020304), `at ${at}`).to.equal(Status.Ok)
          expect(t.x.tcpRewritePort(at, 60, 1, 1), `at ${at}`).to.equal(Status.Ok)
          expect(t.x.tcpChecksumVerify(at, 60), `at ${at}`).to.equal(1)
        }
      })
    })
  }

  describe('Core checksum and rewrite wrappers', () => {
    it('compute, verify and rewrite a packet in place, and throw a CoreError on bad input', () => {
      const c = createCore({ hashSize: 16, maxRoutes: 16, delayTotal: 16 })
      const at = FRAMES_OFF + 100
      c.bytes.set(V4_DATA, at)
      expect(c.ipChecksum(at, 20)).to.equal(0x0b92)
      expect(c.tcpChecksum(at, V4_DATA.length)).to.equal(0xd56b)
      expect([c.ipChecksumOk(at, 20), c.tcpChecksumOk(at, V4_DATA.length)]).to.deep.equal([true, true])
      c.rewriteAddress(at, V4_DATA.length, 'dst', 0xc0a8010a)
      c.rewritePort(at, V4_DATA.length, 'src', 80)
      expect(Array.from(c.bytes.subarray(at + 16, at + 22))).to.deep.equal([192, 168, 1, 10, 0, 80])
      expect([c.ipChecksumOk(at, 20), c.tcpChecksumOk(at, V4_DATA.length)]).to.deep.equal([true, true])
      c.bytes[at + 30] = c.bytes[at + 30]! ^ 1
      expect(c.tcpChecksumOk(at, V4_DATA.length)).to.equal(false)
      expect(() => c.rewriteAddress(0, 60, 'src', 1)).to.throw().with.property('code', 'TC_ERR_CORE_BAD_REGION')
      expect(() => c.rewritePort(at, 30, 'dst', 1)).to.throw().with.property('code', 'TC_ERR_CORE_TRUNCATED')
      expect(() => c.ipChecksum(at, 19)).to.throw().with.property('code', 'TC_ERR_CORE_BAD_ARGUMENT')
      expect(() => c.tcpChecksum(at, 39)).to.throw().with.property('code', 'TC_ERR_CORE_TRUNCATED')
      expect(() => c.tcpChecksum(c.bytes.length - 10, 60)).to.throw().with.property('code', 'TC_ERR_CORE_BAD_REGION')
      c.bytes[at] = 0x65
      expect(() => c.tcpChecksum(at, V4_DATA.length)).to.throw().with.property('code', 'TC_ERR_CORE_BAD_IP_HEADER')
    })
  })
})

import { expect } from 'chai'
import fc from 'fast-check'
import { FRAMES_OFF, LinkType, OptFlag, ParseFlag, Status } from '@tcpcopy/wasm'
import { instantiateCoreSync, type RawCore } from './loader.js'
import {
  concat, hex, ipv4Tcp, put, readParse, V3_SYN_ACK, V4_DATA, type Parsed,
  ETH_HEADER, ETH_VLAN_HEADER, ETH_QINQ_HEADER, SLL_HEADER, SLL2_HEADER
} from './packet-fixtures.js'

const PARSE_STATUSES = new Set<number>([
  Status.Ok, Status.Truncated, Status.BadLinkType, Status.NotIp, Status.BadIpHeader, Status.BadTotalLength,
  Status.Fragment, Status.NotTcp, Status.BadTcpHeader, Status.BadRegion
])
const u32 = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([hi, lo]) => hi * 0x10000 + lo)
const LINK_TYPES = [LinkType.Ethernet, LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2]
const HEADERS: Array<[number, Uint8Array]> = [
  [LinkType.Ethernet, ETH_HEADER], [LinkType.Ethernet, ETH_VLAN_HEADER], [LinkType.Ethernet, ETH_QINQ_HEADER],
  [LinkType.LinuxSll, SLL_HEADER], [LinkType.LinuxSll2, SLL2_HEADER], [LinkType.Raw, new Uint8Array(0)]
]
const PACKETS = [
  V3_SYN_ACK,
  V4_DATA,
  ipv4Tcp({ ipOptions: hex`94 04 00 00  01 01 01 00`, tcpOptions: hex`02 04 05 b4  01 03 03 07`, payload: hex`00 11 22` }),
  ipv4Tcp({ tcpOptions: new Uint8Array(40).fill(1) })
]

/** The frame is placed so that it ends on the last byte of the memory: any load past it traps. */
function parseAtEnd (core: RawCore, frame: Uint8Array, linkType: number): { status: number, off: number } {
  const off = core.memory.buffer.byteLength - frame.length
  put(core, frame, off)
  return { status: core.exports.parsePacket(off, frame.length, linkType), off }
}

/** Why a parse that returned Ok breaks an invariant, or '' when it does not. */
function okInvariantBroken (p: Parsed, frame: Uint8Array): string {
  const len = frame.length
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  if (p.family !== 4 || p.proto !== 6 || (p.frag & 0x3fff) !== 0) return 'not a TCP/IPv4 first fragment'
  if (p.l3Off !== p.linkLen || p.l3Off > len) return 'l3Off'
  if (p.ihl < 20 || p.ihl > 60 || p.ihl % 4 !== 0 || p.l4Off !== p.l3Off + p.ihl) return 'ihl/l4Off'
  if (p.capLen > p.totLen || p.l3Off + p.capLen > len) return 'capLen outside the buffer'
  if (p.doff < 20 || p.doff > 60 || p.payloadOff !== p.l4Off + p.doff) return 'doff/payloadOff'
  if (p.payloadOff > p.l3Off + p.capLen) return 'payloadOff outside the captured bytes'
  if (p.payloadLen !== p.totLen - p.ihl - p.doff) return 'payloadLen'
  if (v.getUint16(p.l4Off) !== p.sport || v.getUint16(p.l4Off + 2) !== p.dport) return 'ports'
  if (v.getUint32(p.l4Off + 4) !== p.seq || v.getUint32(p.l4Off + 8) !== p.ack) return 'seq/ack'
  if (v.getUint16(p.l3Off + 2) !== p.totLen) return 'tot_len'
  return ''
}

describe('parsePacket under fuzzing', function () {
  this.timeout(120_000)

  for (const debug of [false, true]) {
    describe(debug ? 'debug build' : 'release build', () => {
      let core: RawCore
      before(() => { core = instantiateCoreSync({ debug }) })

      it('never traps on random bytes of any link type, and is still usable after 12,000 of them', () => {
        let calls = 0
        fc.assert(fc.property(
          fc.uint8Array({ minLength: 0, maxLength: 200 }),
          fc.oneof(fc.constantFrom(...LINK_TYPES), fc.integer()),
          fc.boolean(),
          (bytes, linkType, atEnd) => {
            calls++
            const st = atEnd
              ? parseAtEnd(core, bytes, linkType).status
              : core.exports.parsePacket(put(core, bytes), bytes.length, linkType)
            return PARSE_STATUSES.has(st) && readParse(core).status === st
          }), { numRuns: debug ? 3000 : 12_000 })
        expect(calls).to.be.at.least(debug ? 3000 : 12_000)
        const p = readParse(core)
        expect(PARSE_STATUSES.has(p.status)).to.equal(true)
        put(core, V3_SYN_ACK)
        expect(core.exports.parsePacket(FRAMES_OFF, 60, LinkType.Raw)).to.equal(Status.Ok)
        expect(readParse(core)).to.include({ seq: 0x11223344, mss: 1460, tsEcr: 0x1234, payloadOff: 60 })
        expect(core.exports.tcpChecksumCompute(FRAMES_OFF, 60)).to.equal(0xfe9d)
      })

      it('never traps on random bytes behind an IPv4 link header or starting with 0x45', () => {
        fc.assert(fc.property(
          fc.constantFrom(...HEADERS),
          fc.uint8Array({ minLength: 0, maxLength: 120 }),
          fc.boolean(),
          ([linkType, header], tail, v4) => {
            if (v4 && tail.length > 0) tail[0] = 0x45
            const frame = concat(header, tail)
            const { status } = parseAtEnd(core, frame, linkType)
            if (!PARSE_STATUSES.has(status)) return false
            return status !== Status.Ok || okInvariantBroken(readParse(core), frame) === ''
          }), { numRuns: debug ? 2000 : 10_000 })
      })

      it('keeps to Ok-or-an-error on mutated valid frames, offsets inside the buffer when Ok', () => {
        const seen = new Set<number>()
        fc.assert(fc.property(
          fc.constantFrom(...HEADERS),
          fc.constantFrom(...PACKETS),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }),
          fc.nat(),
          fc.uint8Array({ maxLength: 16 }),
          ([linkType, header], packet, flips, cutSeed, padding) => {
            const full = concat(header, packet, padding)
            for (const [at, x] of flips) full[at % full.length] = full[at % full.length]! ^ x
            const frame = full.subarray(0, cutSeed % (full.length + 1))
            const { status, off } = parseAtEnd(core, frame, linkType)
            seen.add(status)
            if (!PARSE_STATUSES.has(status)) return false
            const lenient = readParse(core)
            // asked for it, the parser answers BadTcpOption exactly when an option is malformed, nothing else changes
            const strict = core.exports.parsePacket(off, frame.length, linkType, ParseFlag.TcpOptionStatus)
            const malformed = status === Status.Ok && (lenient.optFlags & OptFlag.Malformed) !== 0
            if (strict !== (malformed ? Status.BadTcpOption : status)) throw new Error(`status ${strict} with the flag, ${status} without`)
            expect(readParse(core)).to.deep.equal({ ...lenient, status: strict })
            if (malformed) seen.add(Status.BadTcpOption)
            if (status !== Status.Ok) return true
            const why = okInvariantBroken(lenient, frame)
            if (why !== '') throw new Error(why)
            return true
          }), { numRuns: debug ? 2000 : 10_000 })
        expect(seen.has(Status.Ok)).to.equal(true)
        expect(seen.has(Status.Truncated)).to.equal(true)
        expect(seen.has(Status.BadTcpOption)).to.equal(true)
      })
    })
  }

  describe('round trip with the builder', () => {
    let core: RawCore
    before(() => { core = instantiateCoreSync() })

    const option = fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((mss) => ({ bytes: [2, 4, mss >> 8, mss & 0xff], flag: OptFlag.Mss, mss })),
      fc.integer({ min: 0, max: 14 }).map((ws) => ({ bytes: [3, 3, ws], flag: OptFlag.WScale, ws })),
      fc.constant({ bytes: [4, 2], flag: OptFlag.SackOk }),
      fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([a, b]) => ({
        bytes: [8, 10, a >> 8, a & 0xff, b >> 8, b & 0xff, b >> 8, b & 0xff, a >> 8, a & 0xff],
        flag: OptFlag.Timestamp,
        ts: [(a * 0x10000 + b) >>> 0, (b * 0x10000 + a) >>> 0]
      })),
      fc.constant({ bytes: [1], flag: 0 }),
      fc.integer({ min: 9, max: 253 }).filter((k) => k !== 8).map((kind) => ({ bytes: [kind, 3, 0], flag: 0 }))
    )

    it('reads back every field the builder wrote', () => {
      fc.assert(fc.property(
        fc.record({
          sport: fc.integer({ min: 0, max: 0xffff }),
          dport: fc.integer({ min: 0, max: 0xffff }),
          seq: u32,
          ack: u32,
          flags: fc.integer({ min: 0, max: 255 }),
          window: fc.integer({ min: 0, max: 0xffff }),
          ipId: fc.integer({ min: 0, max: 0xffff }),
          ttl: fc.integer({ min: 0, max: 255 }),
          tos: fc.integer({ min: 0, max: 255 }),
          src: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
          dst: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
        }),
        fc.array(option, { maxLength: 5 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.constantFrom(...HEADERS),
        (spec, options, payload, [linkType, header]) => {
          let optBytes = options.flatMap((o) => o.bytes)
          if (optBytes.length > 40) return true
          optBytes = optBytes.concat(new Array((4 - optBytes.length % 4) % 4).fill(0))
          const ip = ipv4Tcp({ ...spec, frag: 0x4000, tcpOptions: new Uint8Array(optBytes), payload })
          const { status } = parseAtEnd(core, concat(header, ip), linkType)
          const p = readParse(core)
          const want = {
            status: Status.Ok,
            sport: spec.sport,
            dport: spec.dport,
            seq: spec.seq,
            ack: spec.ack,
            flags: spec.flags,
            window: spec.window,
            ipId: spec.ipId,
            ttl: spec.ttl,
            tos: spec.tos,
            src: spec.src.join('.'),
            dst: spec.dst.join('.'),
            doff: 20 + optBytes.length,
            payloadLen: payload.length,
            payloadOff: header.length + 20 + 20 + optBytes.length,
            optFlags: options.reduce((f, o) => f | o.flag, 0)
          }
          expect(status).to.equal(Status.Ok)
          expect(p).to.include(want)
          // the last occurrence of an option wins
          for (const o of options) {
            if ('mss' in o) expect(p.mss).to.equal(options.filter((x) => 'mss' in x).at(-1)!.mss)
            if ('ws' in o) expect(p.wscale).to.equal(options.filter((x) => 'ws' in x).at(-1)!.ws)
            if ('ts' in o) expect([p.tsVal, p.tsEcr]).to.deep.equal(options.filter((x) => 'ts' in x).at(-1)!.ts)
          }
          return true
        }), { numRuns: 3000 })
    })
  })

  describe('checksum and rewrite exports on random arguments', () => {
    let core: RawCore
    before(() => { core = instantiateCoreSync() })

    it('never trap, whatever the offsets, lengths and values', () => {
      const size = (): number => core.memory.buffer.byteLength
      const offset = fc.oneof(
        fc.integer({ min: 0, max: 200 }).map((back) => size() - back),
        fc.integer({ min: FRAMES_OFF, max: FRAMES_OFF + 64 }),
        fc.integer(),
        fc.constant(0xffffffff)
      )
      fc.assert(fc.property(offset, fc.integer({ min: -100, max: 300 }), fc.uint8Array({ maxLength: 200 }),
        fc.integer(), fc.integer(), fc.integer(), (off, len, bytes, a, b, c) => {
          const o = off >>> 0
          if (o + bytes.length <= size()) put(core, bytes, o)
          const e = core.exports
          const results = [
            e.checksumCompute(o, len), e.ipChecksumCompute(o, len), e.ipChecksumVerify(o, len),
            e.tcpChecksumCompute(o, len), e.tcpChecksumVerify(o, len), e.checksumAdjust16(a, b, c),
            e.checksumAdjust32(a, b, c), e.ipRewriteAddr(o, len, a & 3, b), e.tcpRewritePort(o, len, a & 3, c & 0x1ffff)
          ]
          return results.every((r) => Number.isInteger(r) && r >= 0 && r <= 0xffff)
        }), { numRuns: 10_000 })
      put(core, V4_DATA)
      expect(core.exports.tcpChecksumVerify(FRAMES_OFF, V4_DATA.length)).to.equal(1)
    })
  })
})

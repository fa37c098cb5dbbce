import { expect } from 'chai'
import fc from 'fast-check'
import type { Direction, FilterExpr } from './ast.js'
import { formatFilter } from './ast.js'
import { compileFilter } from './compiler.js'
import { matchFilter } from './evaluate.js'
import { FRAMINGS, ip, ipv4Packet, type PacketSpec } from './fixtures.js'
import { runBpf } from './interpreter.js'
import { LinkType } from './link-type.js'
import { parseFilter } from './parser.js'
import { bpfProblems } from './verifier.js'

// Small pools so that random packets hit random filters often.
const HOSTS = ['10.0.0.1', '10.0.0.2', '10.1.2.3', '192.168.1.7', '0.0.0.0', '255.255.255.255'].map(ip)
const PORTS = [0, 80, 443, 8080, 40000, 65535]

const anyU32 = fc.integer({ min: 0, max: 0xffffffff })
const hostArb = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...HOSTS) }, { weight: 1, arbitrary: anyU32 })
const portArb = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PORTS) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) })
const dirArb = fc.constantFrom<Direction>('src', 'dst', 'src or dst', 'src and dst')
const maskArb = fc.oneof(
  fc.integer({ min: 0, max: 32 }).map((bits) => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0)),
  anyU32 // non-contiguous masks: net A mask M
)

const primitiveArb: fc.Arbitrary<FilterExpr> = fc.oneof(
  fc.constant<FilterExpr>({ kind: 'tcp' }),
  fc.constant<FilterExpr>({ kind: 'ip' }),
  fc.record({ dir: dirArb, addr: hostArb }).map(({ dir, addr }): FilterExpr => ({ kind: 'host', dir, addr })),
  fc.record({ dir: dirArb, addr: hostArb, mask: maskArb }).map(({ dir, addr, mask }): FilterExpr =>
    ({ kind: 'net', dir, addr: (addr & mask) >>> 0, mask })),
  fc.record({ dir: dirArb, port: portArb }).map(({ dir, port }): FilterExpr => ({ kind: 'port', dir, port })),
  fc.record({ dir: dirArb, a: portArb, b: portArb }).map(({ dir, a, b }): FilterExpr =>
    ({ kind: 'portrange', dir, low: Math.min(a, b), high: Math.max(a, b) }))
)

const exprArb: fc.Arbitrary<FilterExpr> = fc.letrec<{ expr: FilterExpr }>((tie) => ({
  expr: fc.oneof(
    { maxDepth: 6, depthIdentifier: 'expr' },
    primitiveArb,
    tie('expr').map((operand): FilterExpr => ({ kind: 'not', operand })),
    fc.tuple(tie('expr'), tie('expr')).map(([left, right]): FilterExpr => ({ kind: 'and', left, right })),
    fc.tuple(tie('expr'), tie('expr')).map(([left, right]): FilterExpr => ({ kind: 'or', left, right }))
  )
})).expr

const specArb: fc.Arbitrary<PacketSpec> = fc.record({
  src: hostArb,
  dst: hostArb,
  sport: portArb,
  dport: portArb,
  proto: fc.constantFrom(6, 6, 6, 17, 1),
  fragOffset: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 0x1fff }) }),
  mf: fc.boolean(),
  options: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 10 }) }),
  optionByte: fc.integer({ min: 0, max: 255 })
})

/** A frame of any framing, sometimes not IPv4 (other ethertype, IP version 6). */
const frameArb = fc.record({
  framing: fc.integer({ min: 0, max: FRAMINGS.length - 1 }),
  spec: specArb,
  ethertype: fc.oneof({ weight: 8, arbitrary: fc.constant(0x0800) }, { weight: 1, arbitrary: fc.constantFrom(0x86dd, 0x0806, 0x8100, 0x0000) }),
  version6: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
}).map(({ framing, spec, ethertype, version6 }) => {
  const f = FRAMINGS[framing] as (typeof FRAMINGS)[number]
  const packet = ipv4Packet(spec)
  if (version6) packet[0] = 0x60 | ((packet[0] as number) & 0x0f)
  return { linkType: f.linkType, frame: f.wrap(packet, ethertype) }
})

/** The fields of a complete packet, parsed up front. */
interface Parsed { ipv4: boolean, src: number, dst: number, proto: number, frag: number, sport: number, dport: number }

function parse (frame: Uint8Array, linkType: LinkType, vlan: boolean): Parsed {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  let nh: number | undefined
  if (linkType === LinkType.Ethernet || linkType === LinkType.LinuxSll) {
    const at = linkType === LinkType.Ethernet ? 12 : 14
    const type = v.getUint16(at)
    if (type === 0x0800) nh = at + 2
    else if (type === 0x8100 && vlan && v.getUint16(at + 4) === 0x0800) nh = at + 6
  } else if (v.getUint8(0) >> 4 === 4) {
    nh = 0
  }
  if (nh === undefined) return { ipv4: false, src: 0, dst: 0, proto: 0, frag: 0, sport: 0, dport: 0 }
  const tcp = nh + (v.getUint8(nh) & 0x0f) * 4
  return {
    ipv4: true,
    src: v.getUint32(nh + 12),
    dst: v.getUint32(nh + 16),
    proto: v.getUint8(nh + 9),
    frag: v.getUint16(nh + 6) & 0x1fff,
    sport: v.getUint16(tcp),
    dport: v.getUint16(tcp + 2)
  }
}

/** The meaning of an expression on a parsed packet, straight from pcap-filter(7) restricted to IPv4/TCP. */
function naive (e: FilterExpr, p: Parsed): boolean {
  const sides = (dir: Direction, test: (v: number) => boolean, src: number, dst: number): boolean =>
    dir === 'src' ? test(src) : dir === 'dst' ? test(dst) : dir === 'src or dst' ? test(src) || test(dst) : test(src) && test(dst)
  const hasPorts = p.proto === 6 && p.frag === 0
  switch (e.kind) {
    case 'and': return naive(e.left, p) && naive(e.right, p)
    case 'or': return naive(e.left, p) || naive(e.right, p)
    case 'not': return !naive(e.operand, p)
    case 'ip': return true
    case 'tcp': return p.proto === 6
    case 'host': return sides(e.dir, (a) => a === e.addr, p.src, p.dst)
    case 'net': return sides(e.dir, (a) => ((a & e.mask) >>> 0) === e.addr, p.src, p.dst)
    case 'port': return hasPorts && sides(e.dir, (port) => port === e.port, p.sport, p.dport)
    case 'portrange': return hasPorts && sides(e.dir, (port) => port >= e.low && port <= e.high, p.sport, p.dport)
  }
}

const expected = (e: FilterExpr, p: Parsed): boolean => p.ipv4 && naive(e, p)

describe('compiled programs (property)', () => {
  it('agree with a direct evaluation of the expression on the parsed packet, for random expressions and packets', () => {
    const outcomes = { accepted: 0, rejected: 0 }
    fc.assert(fc.property(
      exprArb, fc.array(frameArb, { minLength: 1, maxLength: 12 }), fc.boolean(), fc.integer({ min: 1, max: 0xffffffff }),
      (expr, frames, vlan, snaplen) => {
        const programs = new Map<LinkType, ReturnType<typeof compileFilter>>()
        for (const { linkType, frame } of frames) {
          let program = programs.get(linkType)
          if (program === undefined) {
            program = compileFilter(expr, { linkType, vlan, snaplen })
            expect(bpfProblems(program)).to.deep.equal([])
            programs.set(linkType, program)
          }
          const want = expected(expr, parse(frame, linkType, vlan))
          expect(runBpf(program, frame), formatFilter(expr)).to.equal(want ? snaplen : 0)
          expect(matchFilter(expr, frame, { linkType, vlan }), formatFilter(expr)).to.equal(want)
          outcomes[want ? 'accepted' : 'rejected']++
        }
      }
    ), { numRuns: 1500 })
    // the pools are small enough that both outcomes are common (not a vacuous agreement)
    const total = outcomes.accepted + outcomes.rejected
    expect(outcomes.accepted / total).to.be.above(0.2)
    expect(outcomes.rejected / total).to.be.above(0.2)
  })

  it('stay correct when the program is long enough to need trampolines for its jumps', () => {
    const leafArb = primitiveArb.filter((e) => e.kind !== 'ip' && e.kind !== 'tcp')
    const bigArb = fc.record({ leaves: fc.array(leafArb, { minLength: 60, maxLength: 160 }), seeds: fc.array(fc.nat(), { minLength: 16, maxLength: 64 }) })
      .map(({ leaves, seeds }) => {
        let n = 0
        const seed = (): number => seeds[n++ % seeds.length] as number
        const build = (lo: number, hi: number): FilterExpr => {
          const s = seed()
          let e: FilterExpr
          if (hi - lo === 1) {
            e = leaves[lo] as FilterExpr
          } else {
            const mid = lo + 1 + (s % (hi - lo - 1))
            e = { kind: (s & 1) === 0 ? 'and' : 'or', left: build(lo, mid), right: build(mid, hi) }
          }
          return (s & 6) === 6 ? { kind: 'not', operand: e } : e
        }
        return build(0, leaves.length)
      })
    let runs = 0
    let long = 0
    fc.assert(fc.property(bigArb, fc.array(frameArb, { minLength: 4, maxLength: 12 }), (expr, frames) => {
      const programs = new Map<LinkType, ReturnType<typeof compileFilter>>()
      runs++
      const ethernet = compileFilter(expr)
      if (ethernet.length > 256) long++
      for (const { linkType, frame } of frames) {
        let program = programs.get(linkType)
        if (program === undefined) {
          program = compileFilter(expr, { linkType })
          expect(bpfProblems(program)).to.deep.equal([])
          programs.set(linkType, program)
        }
        expect(runBpf(program, frame) !== 0).to.equal(expected(expr, parse(frame, linkType, true)))
      }
    }), { numRuns: 60 })
    // most are long (some fold to a constant: "src port 0 and not src portrange 0-65535 and …")
    expect(long / runs).to.be.above(0.5)
  })

  it('agree with the reference evaluator on truncated packets (a read past the end rejects)', () => {
    fc.assert(fc.property(
      exprArb, frameArb, fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
      (expr, { linkType, frame }, cuts) => {
        const program = compileFilter(expr, { linkType })
        for (const cut of cuts) {
          const short = frame.subarray(0, cut % (frame.length + 1))
          expect(runBpf(program, short) !== 0, `${formatFilter(expr)} cut at ${short.length}`).to.equal(matchFilter(expr, short, { linkType }))
        }
      }
    ), { numRuns: 1500 })
  })

  it('reject every packet that does not carry IPv4', () => {
    fc.assert(fc.property(exprArb, specArb, (expr, spec) => {
      const packet = ipv4Packet(spec)
      for (const framing of FRAMINGS) {
        const program = compileFilter(expr, { linkType: framing.linkType })
        for (const ethertype of [0x86dd, 0x0806]) {
          if (framing.linkType === LinkType.Ethernet || framing.linkType === LinkType.LinuxSll) {
            expect(runBpf(program, framing.wrap(packet, ethertype))).to.equal(0)
          }
        }
      }
    }), { numRuns: 200 })
  })

  it('round-trip through text: parseFilter(formatFilter(e)) is e', () => {
    fc.assert(fc.property(exprArb, (expr) => {
      expect(parseFilter(formatFilter(expr))).to.deep.equal(expr)
    }), { numRuns: 1000 })
  })
})

import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import { compileFilter, DEFAULT_SNAPLEN } from './compiler.js'
import { matchFilter } from './evaluate.js'
import { FRAMINGS, LATER_FRAGMENT, SYN, SYN_WITH_OPTIONS, UDP, concat, ethernetHeader, ip, ipv4Packet, sllHeader, vlanHeader, type PacketSpec } from './fixtures.js'
import { runBpf } from './interpreter.js'
import { LinkType } from './link-type.js'
import { BPF_B, BPF_LDX, BPF_MSH } from './opcodes.js'
import { compileChecked } from './test-helpers.js'
import { tcpcopyDefaultFilter } from './filters.js'

const SNAP = 256

/** One expression form with packets it must accept and packets it must reject. */
interface Case {
  readonly filter: string
  readonly match: ReadonlyArray<[string, PacketSpec]>
  readonly miss: ReadonlyArray<[string, PacketSpec]>
}

const A = ip('10.0.0.1')
const B = ip('10.0.0.2')
const C = ip('192.168.1.7')

const CASES: Case[] = [
  { filter: 'tcp', match: [['a TCP packet', {}]], miss: [['a UDP packet', { proto: 17 }], ['an ICMP packet', { proto: 1 }]] },
  { filter: 'ip', match: [['TCP', {}], ['UDP', { proto: 17 }], ['a later fragment', { fragOffset: 10 }]], miss: [] },
  {
    filter: 'host 10.0.0.1',
    match: [['src is the host', { src: A, dst: C }], ['dst is the host', { src: C, dst: A }]],
    miss: [['neither address is the host', { src: B, dst: C }]]
  },
  {
    filter: 'src host 10.0.0.1',
    match: [['src is the host', { src: A, dst: C }]],
    miss: [['only dst is the host', { src: C, dst: A }], ['wrong host', { src: B }]]
  },
  {
    filter: 'dst host 10.0.0.2',
    match: [['dst is the host', { dst: B }]],
    miss: [['only src is the host', { src: B, dst: C }], ['wrong host', { dst: C }]]
  },
  {
    filter: 'src and dst host 10.0.0.1',
    match: [['both are the host', { src: A, dst: A }]],
    miss: [['only src', { src: A, dst: B }], ['only dst', { src: B, dst: A }]]
  },
  {
    filter: 'net 10.1.0.0/16',
    match: [['src in the net', { src: ip('10.1.200.3'), dst: C }], ['dst in the net', { src: C, dst: ip('10.1.0.1') }]],
    miss: [['neither in the net', { src: ip('10.2.0.1'), dst: C }]]
  },
  {
    filter: 'src net 10.1.0.0 mask 255.255.0.0',
    match: [['src in the net', { src: ip('10.1.255.255'), dst: C }]],
    miss: [['only dst in the net', { src: C, dst: ip('10.1.0.1') }], ['src just outside', { src: ip('10.0.255.255') }]]
  },
  {
    filter: 'dst net 192.168',
    match: [['dst in 192.168.0.0/16', { dst: C }]],
    miss: [['src in the net only', { src: C, dst: A }]]
  },
  {
    filter: 'port 80',
    match: [['dst port 80', { sport: 40000, dport: 80 }], ['src port 80', { sport: 80, dport: 40000 }]],
    miss: [['wrong ports', { sport: 40000, dport: 81 }], ['UDP to port 80', { proto: 17 }], ['a later fragment', { fragOffset: 185 }]]
  },
  {
    filter: 'src port 80',
    match: [['src port 80', { sport: 80, dport: 40000 }]],
    miss: [['dst port 80 only', { sport: 40000, dport: 80 }]]
  },
  {
    filter: 'dst port 8080',
    match: [['dst port 8080', { dport: 8080 }]],
    miss: [['src port 8080 only', { sport: 8080, dport: 1 }], ['wrong port', { dport: 8081 }]]
  },
  {
    filter: 'portrange 8000-8100',
    match: [['dst port at the low end', { dport: 8000 }], ['src port at the high end', { sport: 8100, dport: 1 }]],
    miss: [['both below', { sport: 7999, dport: 1 }], ['both above', { sport: 8101, dport: 65535 }], ['UDP in range', { proto: 17, dport: 8050 }]]
  },
  {
    filter: 'src portrange 1-1023',
    match: [['src port 80', { sport: 80, dport: 40000 }]],
    miss: [['src port 0', { sport: 0, dport: 80 }], ['src port 1024', { sport: 1024, dport: 80 }]]
  },
  {
    filter: 'dst portrange 0-65535',
    match: [['any TCP', { dport: 0 }], ['any TCP', { dport: 65535 }]],
    miss: [['UDP', { proto: 17 }], ['a later fragment', { fragOffset: 1 }]]
  },
  {
    filter: 'tcp and src port 80',
    match: [['a response from port 80', { sport: 80, dport: 40000 }]],
    miss: [['a request to port 80', { sport: 40000, dport: 80 }], ['UDP from port 80', { proto: 17, sport: 80 }]]
  },
  {
    filter: 'tcp and ((dst port 80 and dst host 10.0.0.2) or (dst port 8080))',
    match: [['10.0.0.2:80', { dst: B, dport: 80 }], ['any host :8080', { dst: C, dport: 8080 }]],
    miss: [['port 80 on another host', { dst: C, dport: 80 }], ['10.0.0.2 on another port', { dst: B, dport: 81 }], ['UDP to :8080', { proto: 17, dport: 8080 }]]
  },
  {
    filter: 'port 80 or 8080',
    match: [['port 80', { dport: 80 }], ['port 8080', { sport: 8080, dport: 1 }]],
    miss: [['port 81', { sport: 81, dport: 81 }]]
  },
  {
    filter: 'not port 80',
    match: [['port 81', { sport: 81, dport: 81 }], ['UDP to 80 (not a TCP port 80)', { proto: 17 }], ['a later fragment', { fragOffset: 3 }]],
    miss: [['port 80', { dport: 80 }]]
  },
  {
    filter: '! (host 10.0.0.1 || dst port 80) && tcp',
    match: [['other host, other port', { src: C, dst: C, dport: 81 }]],
    miss: [['from 10.0.0.1', { src: A, dst: C, dport: 81 }], ['to port 80', { src: C, dst: C, dport: 80 }], ['UDP', { src: C, dst: C, dport: 81, proto: 17 }]]
  }
]

describe('compileFilter', () => {
  for (const framing of FRAMINGS) {
    describe(`on ${framing.name}`, () => {
      for (const c of CASES) {
        describe(`"${c.filter}"`, () => {
          const program = (): ReturnType<typeof compileChecked> => compileChecked(c.filter, { linkType: framing.linkType, snaplen: SNAP })
          for (const [what, spec] of c.match) {
            it(`accepts ${what} and returns the snaplen`, () => {
              const frame = framing.wrap(ipv4Packet(spec))
              expect(runBpf(program(), frame)).to.equal(SNAP)
              expect(matchFilter(c.filter, frame, { linkType: framing.linkType })).to.equal(true)
            })
          }
          for (const [what, spec] of c.miss) {
            it(`rejects ${what} with 0`, () => {
              const frame = framing.wrap(ipv4Packet(spec))
              expect(runBpf(program(), frame)).to.equal(0)
              expect(matchFilter(c.filter, frame, { linkType: framing.linkType })).to.equal(false)
            })
          }
        })
      }

      it('finds the TCP header after IP options (IHL 7), not at a fixed offset', () => {
        const frame = framing.wrap(SYN_WITH_OPTIONS)
        expect(runBpf(compileChecked('dst port 8080', { linkType: framing.linkType }), frame)).to.equal(DEFAULT_SNAPLEN)
        expect(runBpf(compileChecked('port 80', { linkType: framing.linkType }), frame)).to.equal(0)
      })

      it('finds the TCP header for every IHL from 6 to 15', () => {
        for (let options = 1; options <= 10; options++) {
          const frame = framing.wrap(ipv4Packet({ options, optionByte: 0x50, sport: 1234, dport: 4321 }))
          expect(runBpf(compileChecked('src port 1234 and dst port 4321', { linkType: framing.linkType }), frame), `IHL ${5 + options}`).to.equal(DEFAULT_SNAPLEN)
          expect(runBpf(compileChecked('port 20560', { linkType: framing.linkType }), frame), `IHL ${5 + options}`).to.equal(0)
        }
      })

      it('treats a non-first fragment as having no ports', () => {
        const frame = framing.wrap(LATER_FRAGMENT)
        expect(runBpf(compileChecked('port 80', { linkType: framing.linkType }), frame)).to.equal(0)
        expect(runBpf(compileChecked('src portrange 40000-40000', { linkType: framing.linkType }), frame)).to.equal(0)
        expect(runBpf(compileChecked('not port 80', { linkType: framing.linkType }), frame)).to.equal(DEFAULT_SNAPLEN)
        expect(runBpf(compileChecked('tcp and host 10.0.0.1', { linkType: framing.linkType }), frame)).to.equal(DEFAULT_SNAPLEN)
      })

      it('matches the first fragment (offset 0, MF set) on its ports', () => {
        const frame = framing.wrap(ipv4Packet({ mf: true, dport: 80 }))
        expect(runBpf(compileChecked('dst port 80', { linkType: framing.linkType }), frame)).to.equal(DEFAULT_SNAPLEN)
      })

      it('rejects UDP to a matching port', () => {
        expect(runBpf(compileChecked('dst port 80', { linkType: framing.linkType }), framing.wrap(UDP))).to.equal(0)
      })

      it('rejects a packet cut before the field a test reads, even under not', () => {
        const full = framing.wrap(SYN)
        const l3 = full.length - SYN.length
        const program = (f: string): ReturnType<typeof compileChecked> => compileChecked(f, { linkType: framing.linkType })
        // cut after the src port: src port can be read, dst port cannot
        const cutInTcp = full.subarray(0, l3 + 22)
        expect(runBpf(program('src port 40000'), cutInTcp)).to.equal(DEFAULT_SNAPLEN)
        expect(runBpf(program('dst port 80'), cutInTcp)).to.equal(0)
        expect(runBpf(program('not dst port 80'), cutInTcp)).to.equal(0)
        // short-circuit: src port matches before dst port is read
        expect(runBpf(program('port 40000'), cutInTcp)).to.equal(DEFAULT_SNAPLEN)
        // cut inside the IP header, before dst address
        const cutInIp = full.subarray(0, l3 + 18)
        expect(runBpf(program('src host 10.0.0.1'), cutInIp)).to.equal(DEFAULT_SNAPLEN)
        expect(runBpf(program('dst host 10.0.0.2'), cutInIp)).to.equal(0)
        expect(runBpf(program('not dst host 10.0.0.2'), cutInIp)).to.equal(0)
        expect(runBpf(program('ip'), full.subarray(0, l3 + 1))).to.equal(DEFAULT_SNAPLEN)
        for (const cut of [cutInTcp, cutInIp]) {
          for (const f of ['src port 40000', 'dst port 80', 'not dst port 80', 'port 40000', 'src host 10.0.0.1', 'not dst host 10.0.0.2']) {
            expect(matchFilter(f, cut, { linkType: framing.linkType }), f).to.equal(runBpf(program(f), cut) !== 0)
          }
        }
      })

      it('rejects an empty frame', () => {
        expect(runBpf(compileChecked('ip', { linkType: framing.linkType }), new Uint8Array(0))).to.equal(0)
      })
    })
  }

  describe('link-layer checks', () => {
    const eth = (f: string, frame: Uint8Array, vlan = true): number => runBpf(compileChecked(f, { vlan }), frame)

    it('rejects ARP and IPv6 ethertypes on Ethernet, tagged or not', () => {
      for (const f of ['ip', 'not tcp', 'not port 80']) {
        expect(eth(f, concat(ethernetHeader(0x0806), SYN)), f).to.equal(0)
        expect(eth(f, concat(ethernetHeader(0x86dd), SYN)), f).to.equal(0)
        expect(eth(f, concat(vlanHeader(0x0806), SYN)), f).to.equal(0)
        expect(eth(f, concat(vlanHeader(0x86dd), SYN)), f).to.equal(0)
      }
    })

    it('rejects an 802.1ad outer tag (0x88a8) and double tags: only one 802.1Q tag is skipped', () => {
      expect(eth('ip', concat(vlanHeader(0x0800, 0x88a8), SYN))).to.equal(0)
      expect(eth('ip', concat(vlanHeader(0x8100), hex4(0x0064, 0x0800), SYN))).to.equal(0)
    })

    it('ignores tagged frames when compiled with vlan: false', () => {
      expect(eth('ip', concat(vlanHeader(0x0800), SYN), false)).to.equal(0)
      expect(eth('ip', concat(ethernetHeader(0x0800), SYN), false)).to.equal(DEFAULT_SNAPLEN)
      expect(compileChecked('port 80', { vlan: false }).length).to.be.below(compileChecked('port 80').length)
    })

    it('rejects a frame shorter than the Ethernet header', () => {
      expect(eth('ip', ethernetHeader(0x0800).subarray(0, 13))).to.equal(0)
      expect(eth('ip', concat(vlanHeader(0x0800)).subarray(0, 17))).to.equal(0)
    })

    it('rejects an IPv6 packet on raw IP and Linux SLL', () => {
      const v6 = new Uint8Array(60)
      v6[0] = 0x60
      expect(runBpf(compileChecked('ip', { linkType: LinkType.Raw }), v6)).to.equal(0)
      expect(runBpf(compileChecked('ip', { linkType: LinkType.Raw }), SYN)).to.equal(DEFAULT_SNAPLEN)
      expect(runBpf(compileChecked('ip', { linkType: LinkType.LinuxSll }), concat(sllHeader(0x86dd), v6))).to.equal(0)
    })

    it('refuses a link type it cannot compile for', () => {
      expect(() => compileFilter('ip', { linkType: 105 as LinkType })).to.throw().that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_CONFIG_LINKTYPE'))
    })
  })

  describe('program shape', () => {
    it('prints "tcp and src port 80" like the IPv4 part of tcpdump -d', () => {
      expect(compileChecked('tcp and src port 80', { vlan: false }).toText()).to.equal([
        '(000) ldh      [12]',
        '(001) jeq      #0x800           jt 2\tjf 10',
        '(002) ldb      [23]',
        '(003) jeq      #0x6             jt 4\tjf 10',
        '(004) ldh      [20]',
        '(005) jset     #0x1fff          jt 10\tjf 6',
        '(006) ldxb     4*([14]&0xf)',
        '(007) ldh      [x + 14]',
        '(008) jeq      #0x50            jt 9\tjf 10',
        '(009) ret      #262144',
        '(010) ret      #0',
        ''
      ].join('\n'))
    })

    it('uses ldxb 4*([nh]&0xf) to find the TCP header', () => {
      const msh = BPF_LDX | BPF_B | BPF_MSH
      const program = compileChecked('port 80', { vlan: true })
      expect(program.instructions.filter((i) => i.code === msh).map((i) => i.k)).to.deep.equal([14, 18])
      expect(compileChecked('port 80', { linkType: LinkType.Raw }).instructions.filter((i) => i.code === msh).map((i) => i.k)).to.deep.equal([0])
    })

    it('returns 262144 for an accepted packet unless a snaplen is given', () => {
      const frame = concat(ethernetHeader(0x0800), SYN)
      expect(runBpf(compileChecked('tcp'), frame)).to.equal(262144)
      expect(runBpf(compileChecked('tcp', { snaplen: 134 }), frame)).to.equal(134)
      expect(runBpf(compileChecked('tcp', { snaplen: 0xffffffff }), frame)).to.equal(0xffffffff)
    })

    it('refuses a snaplen that is 0, negative, fractional or above u32', () => {
      for (const snaplen of [0, -1, 1.5, 2 ** 32, NaN]) {
        expect(() => compileFilter('tcp', { snaplen }), String(snaplen)).to.throw().that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_CONFIG_SNAPLEN'))
      }
    })

    it('compiles a parsed expression the same as its text', () => {
      expect(compileChecked({ kind: 'and', left: { kind: 'tcp' }, right: { kind: 'port', dir: 'src', port: 80 } }).toText())
        .to.equal(compileChecked('tcp and src port 80').toText())
    })

    it('refuses a hand-built expression with values the parser would not produce', () => {
      const bad = [
        { kind: 'port', dir: 'src', port: 70000 },
        { kind: 'portrange', dir: 'dst', low: 9, high: 1 },
        { kind: 'host', dir: 'both', addr: 1 },
        { kind: 'net', dir: 'src', addr: 0x0a000001, mask: 0xff000000 },
        { kind: 'not', operand: { kind: 'udp' } }
      ]
      for (const expr of bad) {
        expect(() => compileFilter(expr as never), JSON.stringify(expr)).to.throw().that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_CONFIG_FILTER'))
      }
    })

    it('compiles an empty filter to "every IPv4 packet"', () => {
      expect(compileChecked('  ').toText()).to.equal(compileChecked('ip').toText())
      expect(runBpf(compileChecked(''), concat(ethernetHeader(0x0800), UDP))).to.equal(DEFAULT_SNAPLEN)
    })

    it('skips the protocol test a preceding "tcp and" already made', () => {
      const withTcp = compileChecked('tcp and port 80', { vlan: false }).length
      const alone = compileChecked('port 80', { vlan: false }).length
      expect(withTcp).to.equal(alone)
    })

    it('folds "tcp" under a known protocol and a port test after "not tcp"', () => {
      const frame = concat(ethernetHeader(0x0800), SYN)
      expect(runBpf(compileChecked('tcp and tcp'), frame)).to.equal(DEFAULT_SNAPLEN)
      expect(runBpf(compileChecked('not tcp and port 80'), frame)).to.equal(0)
      expect(runBpf(compileChecked('not tcp and port 80'), concat(ethernetHeader(0x0800), UDP))).to.equal(0)
      const msh = BPF_LDX | BPF_B | BPF_MSH
      expect(compileChecked('not tcp and port 80').instructions.some((i) => i.code === msh)).to.equal(false)
    })
  })

  describe('long filters', () => {
    const mappings = (n: number): Array<{ onlineIp: number, onlinePort: number }> =>
      Array.from({ length: n }, (_, i) => ({ onlineIp: ip('10.0.0.0') + i + 1, onlinePort: 1000 + i }))

    it('keeps every jump within 255 by adding trampolines, and still matches the last alternative', () => {
      const filter = tcpcopyDefaultFilter(mappings(120))
      const program = compileChecked(filter)
      expect(program.length).to.be.above(600)
      for (const i of [0, 59, 119]) {
        const spec = { dst: ip('10.0.0.0') + i + 1, dport: 1000 + i }
        for (const framing of FRAMINGS.slice(0, 2)) {
          const frame = framing.wrap(ipv4Packet(spec))
          expect(runBpf(program, frame), `${framing.name} mapping ${i}`).to.equal(DEFAULT_SNAPLEN)
          expect(runBpf(program, framing.wrap(ipv4Packet({ ...spec, dport: 999 }))), `${framing.name} mapping ${i}`).to.equal(0)
        }
      }
    })

    it('handles a deep right-nested expression whose outer jumps span hundreds of instructions', () => {
      const ports = Array.from({ length: 150 }, (_, i) => `port ${2000 + i}`)
      const filter = ports.reduceRight((acc, p) => `(${p} or ${acc})`)
      const program = compileChecked(`not ${filter} and tcp`)
      const frame = (port: number): Uint8Array => concat(vlanHeader(0x0800), ipv4Packet({ sport: 1, dport: port }))
      expect(runBpf(program, frame(2149))).to.equal(0)
      expect(runBpf(program, frame(2150))).to.equal(DEFAULT_SNAPLEN)
      expect(runBpf(program, frame(2000))).to.equal(0)
    })

    it('refuses a filter that needs more than 4096 instructions with TC_ERR_CONFIG_FILTER_TOO_LARGE', () => {
      const filter = tcpcopyDefaultFilter(mappings(600))
      expect(() => compileFilter(filter)).to.throw(/4096/).that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_CONFIG_FILTER_TOO_LARGE'))
    })
  })
})

function hex4 (a: number, b: number): Uint8Array {
  return new Uint8Array([a >> 8, a & 0xff, b >> 8, b & 0xff])
}

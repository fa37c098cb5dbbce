import { expect } from 'chai'
import { FRAMES_OFF, PARSE_OFF, P_FAMILY, LinkType, OptFlag, ParseFlag, Status, TcpFlag } from '@tcpcopy/wasm'
import { instantiateCoreSync, type RawCore } from './loader.js'
import { createCore, parseUsable } from './core.js'
import {
  hex, concat, ethWith, ipv4Tcp, parseBytes, put, readParse, V3_SYN_ACK, V4_DATA, type Parsed,
  ETH_HEADER, ETH_VLAN_HEADER, ETH_QINQ_HEADER, SLL_HEADER, SLL2_HEADER
} from './packet-fixtures.js'

const MAPPED = '00 00 00 00 00 00 00 00 00 00 ff ff'

const LINKS: Array<{ name: string, linkType: number, header: Uint8Array, vlan: number }> = [
  { name: 'Ethernet', linkType: LinkType.Ethernet, header: ETH_HEADER, vlan: 0 },
  { name: 'Ethernet with one 802.1Q tag', linkType: LinkType.Ethernet, header: ETH_VLAN_HEADER, vlan: 100 },
  { name: 'Ethernet with 802.1ad + 802.1Q tags', linkType: LinkType.Ethernet, header: ETH_QINQ_HEADER, vlan: 10 },
  { name: 'Linux cooked v1 (SLL)', linkType: LinkType.LinuxSll, header: SLL_HEADER, vlan: 0 },
  { name: 'Linux cooked v2 (SLL2)', linkType: LinkType.LinuxSll2, header: SLL2_HEADER, vlan: 0 },
  { name: 'Raw IP', linkType: LinkType.Raw, header: new Uint8Array(0), vlan: 0 }
]

/** TCP options padded with EOL to a multiple of 4 bytes. */
function opts (bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / 4) * 4)
  out.set(bytes)
  return out
}

describe('parsePacket', () => {
  let core: RawCore
  before(() => { core = instantiateCoreSync() })

  describe('link layers', () => {
    for (const link of LINKS) {
      it(`finds the IPv4 header behind ${link.name} (${link.header.length} bytes)`, () => {
        const p = parseBytes(core, concat(link.header, V3_SYN_ACK), link.linkType)
        expect(p.status).to.equal(Status.Ok)
        expect(p.linkLen).to.equal(link.header.length)
        expect(p.l3Off).to.equal(link.header.length)
        expect(p.vlan).to.equal(link.vlan)
        expect(p.l4Off).to.equal(link.header.length + 20)
        expect(p.payloadOff).to.equal(link.header.length + 60)
        expect([p.src, p.dst, p.sport, p.dport]).to.deep.equal(['10.0.1.2', '10.0.0.1', 8080, 40000])
      })
    }

    it('answers BadLinkType for a link type it does not know', () => {
      for (const linkType of [0, 2, 100, 114, 9999, -1]) {
        expect(parseBytes(core, concat(ETH_HEADER, V3_SYN_ACK), linkType).status, `link ${linkType}`)
          .to.equal(Status.BadLinkType)
      }
    })

    it('answers NotIp for an ARP frame', () => {
      const arp = concat(ethWith(hex`08 06  // ethertype ARP`), hex`
        00 01 08 00 06 04 00 01        // Ethernet/IPv4, request
        02 00 00 00 00 02 0a 00 00 01  // sender MAC and IP
        00 00 00 00 00 00 0a 00 01 02  // target MAC and IP
      `)
      const p = parseBytes(core, arp, LinkType.Ethernet)
      expect(p.status).to.equal(Status.NotIp)
      expect(p.family).to.equal(0)
    })

    it('answers NotIp for an IPv6 ethertype, an IPv6 SLL frame and a Raw version-6 packet', () => {
      const ip6 = hex`
        60 00 00 00 00 14 06 40        // IPv6, payload 20, next header TCP, hop limit 64
        20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01  // source 2001:db8::1
        20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02  // destination 2001:db8::2
      `
      expect(parseBytes(core, concat(ethWith(hex`86 dd`), ip6), LinkType.Ethernet).status).to.equal(Status.NotIp)
      const sll = concat(SLL_HEADER.subarray(0, 14), hex`86 dd`, ip6)
      expect(parseBytes(core, sll, LinkType.LinuxSll).status).to.equal(Status.NotIp)
      expect(parseBytes(core, ip6, LinkType.Raw).status).to.equal(Status.NotIp)
    })

    it('answers NotIp behind an ethertype it does not carry even when no byte follows', () => {
      expect(parseBytes(core, ethWith(hex`88 cc  // LLDP`), LinkType.Ethernet).status).to.equal(Status.NotIp)
    })

    it('answers NotIp for ethertype 0x0000 (Ethernet, behind a VLAN tag, SLL, SLL2) even when an IPv4 header follows', () => {
      const zero = hex`00 00`
      const tag = hex`81 00 00 07  // 802.1Q, VLAN 7`
      const frames: Array<[string, Uint8Array, number]> = [
        ['Ethernet', concat(ethWith(zero), V3_SYN_ACK), LinkType.Ethernet],
        ['Ethernet + VLAN', concat(ETH_HEADER.subarray(0, 12), tag, zero, V3_SYN_ACK), LinkType.Ethernet],
        ['SLL', concat(SLL_HEADER.subarray(0, 14), zero, V3_SYN_ACK), LinkType.LinuxSll],
        ['SLL2', concat(zero, SLL2_HEADER.subarray(2), V3_SYN_ACK), LinkType.LinuxSll2]
      ]
      for (const [name, frame, linkType] of frames) expect(parseBytes(core, frame, linkType).status, name).to.equal(Status.NotIp)
      // the same bytes with 0x0800 parse
      expect(parseBytes(core, concat(ETH_HEADER.subarray(0, 12), tag, hex`08 00`, V3_SYN_ACK), LinkType.Ethernet).status).to.equal(Status.Ok)
    })

    it('reads up to four stacked VLAN tags and gives up (NotIp) at a fifth', () => {
      const tag = hex`81 00 00 07  // 802.1Q, VLAN 7`
      const four = concat(ETH_HEADER.subarray(0, 12), tag, tag, tag, tag, hex`08 00`)
      const p = parseBytes(core, concat(four, V3_SYN_ACK), LinkType.Ethernet)
      expect([p.status, p.linkLen, p.vlan]).to.deep.equal([Status.Ok, 30, 7])
      const five = concat(ETH_HEADER.subarray(0, 12), tag, tag, tag, tag, tag, hex`08 00`)
      expect(parseBytes(core, concat(five, V3_SYN_ACK), LinkType.Ethernet).status).to.equal(Status.NotIp)
    })
  })

  describe('IPv4 and TCP fields', () => {
    it('reads every field of the V3 SYN-ACK', () => {
      const p = parseBytes(core, V3_SYN_ACK, LinkType.Raw)
      expect(p).to.deep.equal({
        status: Status.Ok,
        family: 4,
        linkLen: 0,
        vlan: 0,
        l3Off: 0,
        ihl: 20,
        totLen: 60,
        capLen: 60,
        ipId: 0,
        frag: 0x4000,
        ttl: 64,
        proto: 6,
        tos: 0,
        srcBytes: `${MAPPED} 0a 00 01 02`,
        dstBytes: `${MAPPED} 0a 00 00 01`,
        src: '10.0.1.2',
        dst: '10.0.0.1',
        l4Off: 20,
        sport: 8080,
        dport: 40000,
        seq: 0x11223344,
        ack: 0x01020305,
        doff: 40,
        flags: TcpFlag.Syn | TcpFlag.Ack,
        window: 29200,
        payloadOff: 60,
        payloadLen: 0,
        optFlags: OptFlag.Mss | OptFlag.SackOk | OptFlag.Timestamp | OptFlag.WScale,
        mss: 1460,
        wscale: 7,
        tsVal: 0xabcd,
        tsEcr: 0x1234
      })
    })

    it('gives the offset and length of the V4 data segment payload (17 bytes)', () => {
      const p = parseBytes(core, concat(ETH_HEADER, V4_DATA), LinkType.Ethernet)
      expect(p.status).to.equal(Status.Ok)
      expect([p.ipId, p.totLen, p.capLen, p.doff]).to.deep.equal([0x1a2b, 57, 57, 20])
      expect([p.payloadOff, p.payloadLen]).to.deep.equal([14 + 40, 17])
      expect([p.seq, p.ack, p.flags, p.window]).to.deep.equal([0x11223345, 0x01020369, TcpFlag.Psh | TcpFlag.Ack, 229])
      expect(p.optFlags).to.equal(0)
      const payload = new Uint8Array(core.memory.buffer, FRAMES_OFF + p.payloadOff, p.payloadLen)
      expect(new TextDecoder().decode(payload)).to.equal('HTTP/1.1 200 OK\r\n')
    })

    it('reads all flag bits and the TOS byte', () => {
      const p = parseBytes(core, ipv4Tcp({ flags: 0xff, tos: 0xb8, ttl: 1 }), LinkType.Raw)
      expect([p.status, p.flags, p.tos, p.ttl]).to.deep.equal([Status.Ok, 0xff, 0xb8, 1])
    })

    it('skips IP options (IHL 6 and 15) to find the TCP header', () => {
      const ipOpts = hex`94 04 00 00  // router alert`
      const p6 = parseBytes(core, ipv4Tcp({ ipOptions: ipOpts }), LinkType.Raw)
      expect([p6.status, p6.ihl, p6.l4Off, p6.payloadOff, p6.sport]).to.deep.equal([Status.Ok, 24, 24, 44, 8080])
      const p15 = parseBytes(core, ipv4Tcp({ ipOptions: new Uint8Array(40).fill(1), payload: hex`aa bb` }),
        LinkType.Raw)
      expect([p15.status, p15.ihl, p15.l4Off, p15.payloadOff, p15.payloadLen]).to.deep.equal([Status.Ok, 60, 60, 80, 2])
    })

    it('parses a frame that starts at an odd address', () => {
      const p = parseBytes(core, concat(ETH_HEADER, V3_SYN_ACK), LinkType.Ethernet, FRAMES_OFF + 1)
      expect([p.status, p.seq, p.mss, p.tsVal]).to.deep.equal([Status.Ok, 0x11223344, 1460, 0xabcd])
    })

    it('clears every field of the previous parse', () => {
      parseBytes(core, concat(ETH_HEADER, V3_SYN_ACK), LinkType.Ethernet)
      const p = parseBytes(core, ETH_HEADER.subarray(0, 10), LinkType.Ethernet)
      expect(p.status).to.equal(Status.Truncated)
      const raw = new Uint8Array(core.memory.buffer, PARSE_OFF + 4, 124)
      expect(raw.every((b) => b === 0)).to.equal(true)
    })

    it('writes nothing outside the 128-byte PARSE struct', () => {
      const mem = new Uint8Array(core.memory.buffer)
      const saved = mem.slice(PARSE_OFF - 16, PARSE_OFF + 144)
      mem.fill(0xa5, PARSE_OFF - 16, PARSE_OFF)
      mem.fill(0x5a, PARSE_OFF + 128, PARSE_OFF + 144)
      parseBytes(core, concat(ETH_QINQ_HEADER, V3_SYN_ACK), LinkType.Ethernet)
      expect(mem.subarray(PARSE_OFF - 16, PARSE_OFF).every((b) => b === 0xa5)).to.equal(true)
      expect(mem.subarray(PARSE_OFF + 128, PARSE_OFF + 144).every((b) => b === 0x5a)).to.equal(true)
      mem.set(saved, PARSE_OFF - 16)
    })
  })

  describe('captures that are not the whole packet', () => {
    it('accepts a truncated snapshot (tot_len beyond the bytes) and reports the bytes present', () => {
      const frame = concat(ETH_HEADER, V4_DATA).subarray(0, 14 + 45)
      const p = parseBytes(core, frame, LinkType.Ethernet)
      expect(p.status).to.equal(Status.Ok)
      expect([p.totLen, p.capLen, p.payloadOff, p.payloadLen]).to.deep.equal([57, 45, 54, 17])
    })

    it('ignores Ethernet padding after tot_len', () => {
      const ack = ipv4Tcp({ flags: TcpFlag.Ack })
      const frame = concat(ETH_HEADER, ack, new Uint8Array(6).fill(0xee))
      expect(frame.length).to.equal(60)
      const p = parseBytes(core, frame, LinkType.Ethernet)
      expect([p.status, p.totLen, p.capLen, p.payloadLen]).to.deep.equal([Status.Ok, 40, 40, 0])
    })

    for (const link of LINKS) {
      it(`answers Truncated at every cut inside the headers and Ok after them (${link.name})`, () => {
        const frame = concat(link.header, V3_SYN_ACK)
        const headersEnd = link.header.length + 60
        const wrong: string[] = []
        for (let cut = 0; cut < frame.length; cut++) {
          const st = parseBytes(core, frame.subarray(0, cut), link.linkType).status
          const want = cut < headersEnd ? Status.Truncated : Status.Ok
          if (st !== want) wrong.push(`cut ${cut}: ${st}`)
        }
        expect(wrong).to.deep.equal([])
        const data = concat(link.header, V4_DATA)
        for (let cut = link.header.length + 40; cut <= data.length; cut++) {
          const p = parseBytes(core, data.subarray(0, cut), link.linkType)
          if (p.status !== Status.Ok || p.capLen !== cut - link.header.length) wrong.push(`data cut ${cut}`)
        }
        expect(wrong).to.deep.equal([])
      })
    }

    it('keeps the addresses of a packet cut inside the TCP header (P_FAMILY set)', () => {
      const p = parseBytes(core, V3_SYN_ACK.subarray(0, 30), LinkType.Raw)
      expect([p.status, p.family, p.src, p.dst, p.capLen]).to.deep.equal([Status.Truncated, 4, '10.0.1.2', '10.0.0.1', 30])
    })

    it('leaves P_FAMILY 0 while the addresses are not read', () => {
      const p = parseBytes(core, V3_SYN_ACK.subarray(0, 19), LinkType.Raw)
      expect([p.status, p.family, p.ihl]).to.deep.equal([Status.Truncated, 0, 20])
      expect(new Uint8Array(core.memory.buffer, PARSE_OFF + P_FAMILY, 1)[0]).to.equal(0)
    })

    it('answers Truncated for an empty frame of every link type', () => {
      for (const link of LINKS) expect(parseBytes(core, new Uint8Array(0), link.linkType).status).to.equal(Status.Truncated)
    })
  })

  describe('TCP options', () => {
    const cases: Array<{ title: string, options: Uint8Array, flags: number, check?: (p: Parsed) => void }> = [
      {
        title: 'MSS (kind 2, length 4)',
        options: hex`02 04 21 98  // MSS 8600`,
        flags: OptFlag.Mss,
        check: (p) => expect(p.mss).to.equal(8600)
      },
      {
        title: 'window scale (kind 3, length 3)',
        options: opts(hex`03 03 0e  // WS 14`),
        flags: OptFlag.WScale,
        check: (p) => expect(p.wscale).to.equal(14)
      },
      {
        title: 'SACK permitted (kind 4, length 2)',
        options: opts(hex`04 02  // SACK permitted`),
        flags: OptFlag.SackOk
      },
      {
        title: 'timestamps (kind 8, length 10)',
        options: opts(hex`
          01 01                          // NOP NOP
          08 0a fe dc ba 98 76 54 32 10  // TS val 0xFEDCBA98, ecr 0x76543210
        `),
        flags: OptFlag.Timestamp,
        check: (p) => expect([p.tsVal, p.tsEcr]).to.deep.equal([0xfedcba98, 0x76543210])
      },
      {
        title: 'NOP padding and EOL, after which nothing is read',
        options: hex`
          01 01 01 00                    // NOP NOP NOP EOL
          02 04 05 b4                    // MSS after EOL: ignored
        `,
        flags: 0,
        check: (p) => expect(p.mss).to.equal(0)
      },
      {
        title: 'an unknown kind, skipped by its length',
        options: hex`
          fd 06 01 02 03 04              // experimental kind 253, length 6
          05 0a 00 00 00 01 00 00 00 02  // SACK block (kind 5, length 10): skipped too
          02 04 05 b4                    // MSS 1460
        `,
        flags: OptFlag.Mss,
        check: (p) => expect(p.mss).to.equal(1460)
      },
      {
        title: 'an option length < 2: Malformed, the options before it kept',
        options: hex`
          02 04 05 b4                    // MSS 1460
          fe 01 00 00                    // kind 254 with length 1
          03 03 07 00                    // WS after it: not read
        `,
        flags: OptFlag.Mss | OptFlag.Malformed,
        check: (p) => expect([p.mss, p.wscale]).to.deep.equal([1460, 0])
      },
      {
        title: 'an option running past the header: Malformed',
        options: opts(hex`
          04 02                          // SACK permitted
          08 0a 00 00                    // timestamp claims 10 bytes, 4 left (with the EOL pad)
        `),
        flags: OptFlag.SackOk | OptFlag.Malformed,
        check: (p) => expect(p.tsVal).to.equal(0)
      },
      {
        title: 'a kind byte in the last header byte with no room for its length: Malformed',
        options: hex`01 01 01 02  // NOP NOP NOP, then kind 2 cut off`,
        flags: OptFlag.Malformed
      },
      {
        title: 'a known kind with the wrong length: skipped, Malformed, parsing goes on',
        options: hex`
          02 03 05                       // MSS with length 3
          03 03 07                       // WS 7
          01 01                          // NOP NOP
        `,
        flags: OptFlag.Malformed | OptFlag.WScale,
        check: (p) => expect([p.mss, p.wscale]).to.deep.equal([0, 7])
      }
    ]

    for (const c of cases) {
      it(`reads ${c.title}`, () => {
        const pkt = ipv4Tcp({ tcpOptions: c.options, flags: TcpFlag.Syn })
        const p = parseBytes(core, pkt, LinkType.Raw)
        expect(p.status, 'without ParseFlag.TcpOptionStatus').to.equal(Status.Ok)
        expect(p.doff).to.equal(20 + c.options.length)
        expect(p.optFlags).to.equal(c.flags)
        c.check?.(p)
        // asked for it, the status tells a malformed option apart; every field stays the same
        const malformed = (c.flags & OptFlag.Malformed) !== 0
        const st = core.exports.parsePacket(FRAMES_OFF, pkt.length, LinkType.Raw, ParseFlag.TcpOptionStatus)
        expect(st).to.equal(malformed ? Status.BadTcpOption : Status.Ok)
        expect(readParse(core)).to.deep.equal({ ...p, status: st })
      })
    }

    it('answers BadTcpOption through Core.parse, with every field filled, and counts it as usable', () => {
      const c = createCore({ hashSize: 16, maxRoutes: 16, delayTotal: 16 })
      const p = c.parse(ipv4Tcp({ tcpOptions: hex`02 04 05 b4  fe 01 00 00`, payload: new Uint8Array(7) }), LinkType.Raw)
      expect(p.status).to.equal(Status.BadTcpOption)
      expect([p.srcPort, p.dstPort, p.doff, p.payloadLength, p.mss]).to.deep.equal([8080, 40000, 28, 7, 1460])
      expect(p.optionFlags).to.equal(OptFlag.Mss | OptFlag.Malformed)
      expect(parseUsable(p.status)).to.equal(true)
      expect(c.parse(V3_SYN_ACK, LinkType.Raw).status).to.equal(Status.Ok)
      expect(parseUsable(c.parse(V3_SYN_ACK.subarray(0, 30), LinkType.Raw).status)).to.equal(false)
    })

    it('reads 40 bytes of options (doff 15)', () => {
      const options = opts(concat(hex`02 04 05 b4  08 0a 00 00 00 01 00 00 00 00`, new Uint8Array(20).fill(1),
        hex`03 03 02`))
      expect(options.length).to.equal(40)
      const p = parseBytes(core, ipv4Tcp({ tcpOptions: options }), LinkType.Raw)
      expect([p.status, p.doff, p.optFlags, p.wscale]).to.deep.equal(
        [Status.Ok, 60, OptFlag.Mss | OptFlag.Timestamp | OptFlag.WScale, 2])
    })
  })

  describe('error statuses', () => {
    it('answers BadIpHeader for a version other than 4 behind an IPv4 ethertype', () => {
      for (const first of [0x65, 0x55, 0x05]) {
        const ip = V3_SYN_ACK.slice()
        ip[0] = first
        expect(parseBytes(core, concat(ETH_HEADER, ip), LinkType.Ethernet).status, `0x${first.toString(16)}`)
          .to.equal(Status.BadIpHeader)
      }
    })

    it('answers BadIpHeader for a Raw packet whose version is neither 4 nor 6', () => {
      const ip = V3_SYN_ACK.slice()
      ip[0] = 0x75
      expect(parseBytes(core, ip, LinkType.Raw).status).to.equal(Status.BadIpHeader)
    })

    it('answers BadIpHeader for IHL < 5', () => {
      for (const first of [0x40, 0x44]) {
        const ip = V3_SYN_ACK.slice()
        ip[0] = first
        expect(parseBytes(core, ip, LinkType.Raw).status).to.equal(Status.BadIpHeader)
      }
    })

    it('answers Truncated when IP options run past the bytes present', () => {
      const ip = ipv4Tcp({ ipOptions: new Uint8Array(8).fill(1) })
      expect(parseBytes(core, ip.subarray(0, 24), LinkType.Raw).status).to.equal(Status.Truncated)
    })

    it('answers BadTotalLength when tot_len is smaller than the IP header, keeping the addresses', () => {
      const p = parseBytes(core, ipv4Tcp({ totLen: 19 }), LinkType.Raw)
      expect([p.status, p.family, p.src, p.totLen, p.capLen]).to.deep.equal([Status.BadTotalLength, 4, '10.0.1.2', 19, 19])
      const withOpts = parseBytes(core, ipv4Tcp({ ipOptions: new Uint8Array(4).fill(1), totLen: 22 }), LinkType.Raw)
      expect(withOpts.status).to.equal(Status.BadTotalLength)
    })

    it('answers BadTotalLength when tot_len cannot hold the TCP header', () => {
      expect(parseBytes(core, ipv4Tcp({ totLen: 39 }), LinkType.Raw).status).to.equal(Status.BadTotalLength)
      // doff 10 says 40 bytes of TCP header but tot_len leaves room for 30
      const p = parseBytes(core, ipv4Tcp({ tcpOptions: new Uint8Array(20).fill(1), totLen: 50 }), LinkType.Raw)
      expect([p.status, p.doff, p.sport]).to.deep.equal([Status.BadTotalLength, 40, 8080])
    })

    it('answers Fragment for MF or a fragment offset, with the IP fields filled', () => {
      for (const frag of [0x2000, 0x0001, 0x00b9, 0x1fff, 0x2001]) {
        const p = parseBytes(core, ipv4Tcp({ frag }), LinkType.Raw)
        expect([p.status, p.family, p.src, p.dst, p.frag, p.proto]).to.deep.equal(
          [Status.Fragment, 4, '10.0.1.2', '10.0.0.1', frag, 6])
        expect(p.l4Off).to.equal(0)
      }
    })

    it('answers NotTcp for UDP and ICMP, with the addresses filled', () => {
      for (const protocol of [17, 1]) {
        const p = parseBytes(core, concat(ETH_HEADER, ipv4Tcp({ protocol })), LinkType.Ethernet)
        expect([p.status, p.family, p.proto, p.srcBytes]).to.deep.equal(
          [Status.NotTcp, 4, protocol, `${MAPPED} 0a 00 01 02`])
      }
    })

    it('answers BadTcpHeader for doff < 5, with the ports filled', () => {
      for (const doffWords of [0, 4]) {
        const p = parseBytes(core, ipv4Tcp({ doffWords }), LinkType.Raw)
        expect([p.status, p.sport, p.dport, p.doff]).to.deep.equal([Status.BadTcpHeader, 8080, 40000, doffWords * 4])
      }
    })

    it('answers BadRegion for a range outside the memory or a negative length', () => {
      const size = core.memory.buffer.byteLength
      const bad: Array<[number, number]> = [
        [size, 1], [size - 10, 11], [size + 100, 0], [0xfffffff0, 0x20], [0xffffffff, 1], [FRAMES_OFF, -1],
        [FRAMES_OFF, 0x7fffffff], [0, -0x80000000]
      ]
      for (const [off, len] of bad) {
        expect(core.exports.parsePacket(off, len, LinkType.Raw), `${off}+${len}`).to.equal(Status.BadRegion)
        expect(readParse(core).status).to.equal(Status.BadRegion)
      }
    })

    it('parses a frame that ends on the last byte of the memory', () => {
      const off = core.memory.buffer.byteLength - V3_SYN_ACK.length
      put(core, V3_SYN_ACK, off)
      expect(core.exports.parsePacket(off, V3_SYN_ACK.length, LinkType.Raw)).to.equal(Status.Ok)
      expect(readParse(core).tsEcr).to.equal(0x1234)
    })
  })
})

import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import { type Direction, type FilterExpr, formatFilter } from './ast.js'
import { FilterError, parseFilter } from './parser.js'

const ip = (text: string): number => text.split('.').reduce((a, o) => a * 256 + Number(o), 0)
const port = (p: number, dir: Direction = 'src or dst'): FilterExpr => ({ kind: 'port', dir, port: p })

/** Asserts `filter` fails with TC_ERR_CONFIG_FILTER naming `token` at `position`. */
function rejects (filter: string, token: string, position: number): void {
  let caught: unknown
  try {
    parseFilter(filter)
  } catch (err) {
    caught = err
  }
  expect(caught, filter).to.be.instanceOf(FilterError)
  const err = caught as FilterError
  expect(isTcpcopyError(err, 'TC_ERR_CONFIG_FILTER'), filter).to.equal(true)
  expect(err.name).to.equal('FilterError')
  expect({ token: err.token, position: err.position }, filter).to.deep.equal({ token, position })
  if (token !== '') expect(err.message, filter).to.include(`"${token}" at position ${position}`)
  expect(err.message, filter).to.include('supported: tcp, ip, [src|dst] host')
}

describe('parseFilter', () => {
  describe('primitives', () => {
    const cases: Array<[string, FilterExpr]> = [
      ['tcp', { kind: 'tcp' }],
      ['ip', { kind: 'ip' }],
      ['host 10.0.0.2', { kind: 'host', dir: 'src or dst', addr: ip('10.0.0.2') }],
      ['src host 10.0.0.2', { kind: 'host', dir: 'src', addr: ip('10.0.0.2') }],
      ['dst host 255.255.255.255', { kind: 'host', dir: 'dst', addr: 0xffffffff }],
      ['src or dst host 1.2.3.4', { kind: 'host', dir: 'src or dst', addr: ip('1.2.3.4') }],
      ['dst and src host 1.2.3.4', { kind: 'host', dir: 'src and dst', addr: ip('1.2.3.4') }],
      ['net 10.1.0.0/16', { kind: 'net', dir: 'src or dst', addr: ip('10.1.0.0'), mask: 0xffff0000 }],
      ['src net 10.1.0.0 mask 255.255.0.0', { kind: 'net', dir: 'src', addr: ip('10.1.0.0'), mask: 0xffff0000 }],
      ['dst net 10.1', { kind: 'net', dir: 'dst', addr: ip('10.1.0.0'), mask: 0xffff0000 }],
      ['net 10', { kind: 'net', dir: 'src or dst', addr: ip('10.0.0.0'), mask: 0xff000000 }],
      ['net 10/8', { kind: 'net', dir: 'src or dst', addr: ip('10.0.0.0'), mask: 0xff000000 }],
      ['net 0.0.0.0/0', { kind: 'net', dir: 'src or dst', addr: 0, mask: 0 }],
      ['net 10.0.0.0 mask 255.0.255.0', { kind: 'net', dir: 'src or dst', addr: ip('10.0.0.0'), mask: 0xff00ff00 }],
      ['port 80', port(80)],
      ['src port 0', port(0, 'src')],
      ['dst port 65535', port(65535, 'dst')],
      ['portrange 8000-8100', { kind: 'portrange', dir: 'src or dst', low: 8000, high: 8100 }],
      ['src portrange 8100-8000', { kind: 'portrange', dir: 'src', low: 8000, high: 8100 }],
      ['dst portrange 1-1', { kind: 'portrange', dir: 'dst', low: 1, high: 1 }],
      ['tcp port 80', port(80)],
      ['tcp dst portrange 1-2', { kind: 'portrange', dir: 'dst', low: 1, high: 2 }],
      ['ip src host 10.0.0.1', { kind: 'host', dir: 'src', addr: ip('10.0.0.1') }],
      ['src 10.0.0.1', { kind: 'host', dir: 'src', addr: ip('10.0.0.1') }],
      ['dst 10.0.0.0/8', { kind: 'net', dir: 'dst', addr: ip('10.0.0.0'), mask: 0xff000000 }],
      ['src 10.0.0.0 mask 255.0.0.0', { kind: 'net', dir: 'src', addr: ip('10.0.0.0'), mask: 0xff000000 }]
    ]
    for (const [text, expr] of cases) {
      it(`reads "${text}"`, () => {
        expect(parseFilter(text)).to.deep.equal(expr)
      })
    }

    it('reads an empty or blank filter as "ip"', () => {
      expect(parseFilter('')).to.deep.equal({ kind: 'ip' })
      expect(parseFilter(' \t\n')).to.deep.equal({ kind: 'ip' })
    })
  })

  describe('operators and precedence', () => {
    const T: FilterExpr = { kind: 'tcp' }
    const h = (a: string): FilterExpr => ({ kind: 'host', dir: 'src or dst', addr: ip(a) })

    it('binds not tighter than and, and and tighter than or', () => {
      expect(parseFilter('not tcp and port 80 or host 1.1.1.1')).to.deep.equal({
        kind: 'or',
        left: { kind: 'and', left: { kind: 'not', operand: T }, right: port(80) },
        right: h('1.1.1.1')
      })
      expect(parseFilter('tcp or port 80 and host 1.1.1.1')).to.deep.equal({
        kind: 'or', left: T, right: { kind: 'and', left: port(80), right: h('1.1.1.1') }
      })
    })

    it('groups with parentheses', () => {
      expect(parseFilter('(tcp or port 80) and host 1.1.1.1')).to.deep.equal({
        kind: 'and', left: { kind: 'or', left: T, right: port(80) }, right: h('1.1.1.1')
      })
      expect(parseFilter('not (tcp and port 80)')).to.deep.equal({ kind: 'not', operand: { kind: 'and', left: T, right: port(80) } })
      expect(parseFilter('((((tcp))))')).to.deep.equal(T)
    })

    it('associates and/or to the left', () => {
      expect(parseFilter('port 1 or port 2 or port 3')).to.deep.equal({
        kind: 'or', left: { kind: 'or', left: port(1), right: port(2) }, right: port(3)
      })
    })

    it('accepts &&, || and ! as and, or and not, with or without spaces', () => {
      expect(parseFilter('tcp&&!port 80||host 1.1.1.1')).to.deep.equal(parseFilter('tcp and not port 80 or host 1.1.1.1'))
      expect(parseFilter('!(tcp)')).to.deep.equal({ kind: 'not', operand: T })
    })

    it('accepts not not', () => {
      expect(parseFilter('not ! tcp')).to.deep.equal({ kind: 'not', operand: { kind: 'not', operand: T } })
    })
  })

  describe('abbreviations (a bare value repeats the previous qualifiers)', () => {
    const same: Array<[string, string]> = [
      ['port 80 or 8080', 'port 80 or port 8080'],
      ['host 10.0.0.1 or 10.0.0.2', 'host 10.0.0.1 or host 10.0.0.2'],
      ['src port 80 and not 8080', 'src port 80 and not src port 8080'],
      ['not host 10.0.0.1 and 10.0.0.2', 'not host 10.0.0.1 and host 10.0.0.2'],
      ['tcp dst port 80 or 443', 'dst port 80 or dst port 443'],
      ['dst net 10.0.0.0/8 or 192.168.0.0 mask 255.255.0.0', 'dst net 10.0.0.0/8 or dst net 192.168.0.0/16'],
      ['src 10.0.0.1 or 10.0.0.0/8', 'src host 10.0.0.1 or src net 10.0.0.0/8'],
      ['portrange 1-2 or 5-6', 'portrange 1-2 or portrange 5-6'],
      ['port 80 or (8080 or 9090)', 'port 80 or (port 8080 or port 9090)'],
      // pcap: after "( … )" the qualifiers in force before "(" apply again
      ['port 80 or (host 10.0.0.1) or 8080', 'port 80 or host 10.0.0.1 or port 8080']
    ]
    for (const [short, long] of same) {
      it(`reads "${short}" as "${long}"`, () => {
        expect(parseFilter(short)).to.deep.equal(parseFilter(long))
      })
    }

    it('refuses a bare value with nothing to repeat, suggesting the explicit form', () => {
      rejects('80', '80', 0)
      rejects('tcp or 80', '80', 7)
      rejects('(port 80) or 8080', '8080', 13)
      rejects('not 80', '80', 4)
      expect(() => parseFilter('80')).to.throw(/port 80/)
    })

    it('refuses a bare port after host, pointing at "port"', () => {
      rejects('host 10.0.0.1 or 80', '80', 17)
      expect(() => parseFilter('host 10.0.0.1 or 80')).to.throw(/write "port 80"/)
    })
  })

  describe('formatFilter', () => {
    it('writes canonical text that parses back to the same expression', () => {
      for (const text of [
        'tcp and ((dst port 80 and dst host 10.0.0.2) or dst port 8080)',
        'not (port 1 or port 2) and not not tcp',
        'port 1 or (port 2 or port 3)',
        'port 1 and (port 2 and port 3)',
        'src and dst net 10.0.0.0 mask 255.0.255.0 or portrange 1-2'
      ]) {
        const expr = parseFilter(text)
        expect(parseFilter(formatFilter(expr))).to.deep.equal(expr)
      }
      expect(formatFilter(parseFilter('tcp and ((dst port 80 and dst host 10.0.0.2) or (dst port 8080))')))
        .to.equal('tcp and (dst port 80 and dst host 10.0.0.2 or dst port 8080)')
      expect(formatFilter(parseFilter('src or dst port 80'))).to.equal('port 80')
    })
  })

  describe('errors', () => {
    const cases: Array<[string, string, string, number]> = [
      ['udp', 'udp', 'udp', 0],
      ['UDP to a port', 'udp port 53', 'udp', 0],
      ['sctp', 'sctp', 'sctp', 0],
      ['icmp', 'tcp or icmp', 'icmp', 7],
      ['ether host', 'ether host 00:11:22:33:44:55', 'ether', 0],
      ['byte offsets', 'tcp[13] & 2 != 0', '[', 3],
      ['tcpflags', 'tcp[tcpflags] & tcp-syn != 0', '[', 3],
      ['ip byte offsets', 'ip[8] > 64', '[', 2],
      ['vlan', 'vlan 100 and tcp', 'vlan', 0],
      ['ip6', 'ip6', 'ip6', 0],
      ['an IPv6 address', 'host fe80::1', 'fe80::1', 5],
      ['arp', 'not arp', 'arp', 4],
      ['proto', 'ip proto 6', 'proto', 3],
      ['length tests', 'greater 100', 'greater', 0],
      ['broadcast', 'broadcast', 'broadcast', 0],
      ['an unknown word', 'tcp and foo', 'foo', 8],
      ['a host name', 'host example.com', 'example.com', 5],
      ['upper-case keywords', 'TCP', 'TCP', 0],
      ['a service name', 'port http', 'http', 5],
      ['a port above 65535', 'port 65536', '65536', 5],
      ['a port with leading zeros', 'port 010', '010', 5],
      ['a negative port', 'port -1', '-1', 5],
      ['a range with spaces', 'portrange 1 - 2', '1', 10],
      ['a range with a bad end', 'portrange 1-70000', '1-70000', 10],
      ['a short host address', 'host 10.0.0', '10.0.0', 5],
      ['an octet above 255', 'host 10.0.0.256', '10.0.0.256', 5],
      ['a host with a prefix', 'host 10.0.0.0/8', '10.0.0.0/8', 5],
      ['host bits in a net', 'net 10.1.2.3/16', '10.1.2.3/16', 4],
      ['host bits under a mask', 'net 10.1.2.3 mask 255.255.0.0', '10.1.2.3', 4],
      ['a prefix above 32', 'net 10.0.0.0/33', '10.0.0.0/33', 4],
      ['a bad mask', 'net 10.0.0.0 mask 255.255', '255.255', 18],
      ['a missing mask', 'net 10.0.0.0 mask', 'mask', 13],
      ['mask alone', 'mask 255.0.0.0', 'mask', 0],
      ['tcp qualifying host', 'tcp host 10.0.0.1', 'host', 4],
      ['tcp with a direction and no type', 'tcp src 80', '80', 8],
      ['ip qualifying port', 'ip port 80', 'port', 3],
      ['two values', 'port 80 80', '80', 8],
      ['an unclosed parenthesis', '(port 80', '(', 0],
      ['an unopened parenthesis', 'port 80)', ')', 7],
      ['empty parentheses', '()', ')', 1],
      ['and without a left side', 'and port 80', 'and', 0],
      ['or at the end', 'port 80 or', '', 10],
      ['not at the end', 'not', '', 3],
      ['a missing value', 'port', '', 4],
      ['a missing value before and', 'src host and tcp', 'and', 9],
      ['a lone direction', 'src', '', 3],
      ['a single &', 'port 80 & port 81', '&', 8],
      ['a single |', 'port 80 | port 81', '|', 8],
      ['a comparison', 'len >= 100', 'len', 0],
      ['a stray character', 'port 80 ; tcp', ';', 8]
    ]
    for (const [what, filter, token, position] of cases) {
      it(`refuses ${what} naming "${token}" at ${position}`, () => {
        rejects(filter, token, position)
      })
    }

    it('refuses nesting deeper than 200 levels', () => {
      rejects('('.repeat(300) + 'tcp' + ')'.repeat(300), '(', 200)
      rejects('not '.repeat(300) + 'tcp', 'not', 800)
    })

    it('refuses a filter longer than 65536 characters', () => {
      expect(() => parseFilter('tcp or '.repeat(10000) + 'tcp')).to.throw().that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_CONFIG_FILTER'))
    })
  })
})

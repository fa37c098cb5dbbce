import { expect } from 'chai'
import fc from 'fast-check'
import {
  ValueError,
  cidrContains,
  parseCaptureInput,
  parseCidr,
  parseClientPool,
  parseInteger,
  parseInterceptList,
  parseIpv4,
  parseSwitch,
  parseTargetMapping,
  parseTargetMappings,
  splitList
} from './values.js'

function detailOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof ValueError) return err.detail
    throw err
  }
  throw new Error('expected a ValueError, nothing was thrown')
}

describe('value parsers', () => {
  describe('IPv4 addresses', () => {
    it('accepts dotted quads 0-255 and returns them unchanged', () => {
      for (const ip of ['0.0.0.0', '10.0.0.1', '255.255.255.255', '192.168.100.9']) expect(parseIpv4(ip)).to.equal(ip)
    })

    it('refuses the short and octal forms inet_aton would accept', () => {
      expect(detailOf(() => parseIpv4('10.1'))).to.include('not a dotted-quad')
      expect(detailOf(() => parseIpv4('010.0.0.1'))).to.include('leading zero')
      expect(detailOf(() => parseIpv4('10.0.0.256'))).to.include('above 255')
      expect(detailOf(() => parseIpv4('localhost'))).to.include('not a dotted-quad')
      expect(detailOf(() => parseIpv4(' 10.0.0.1'))).to.include('not a dotted-quad')
    })

    it('accepts every address written as four decimal octets', () => {
      fc.assert(fc.property(fc.ipV4(), (ip) => parseIpv4(ip) === ip))
    })
  })

  describe('integers', () => {
    it('accepts plain decimals in range', () => {
      expect(parseInteger('0', 0, 10)).to.equal(0)
      expect(parseInteger('10', 0, 10)).to.equal(10)
    })

    it('refuses signs, exponents, hex, fractions, spaces and out-of-range values', () => {
      for (const bad of ['-1', '+1', '1e3', '0x10', '1.5', ' 1', '', '11']) {
        expect(() => parseInteger(bad, 0, 10), bad).to.throw(ValueError)
      }
    })
  })

  it('reads switches as true/false, 1/0, yes/no, on/off in any case', () => {
    expect(['true', '1', 'YES', 'On'].map(parseSwitch)).to.deep.equal([true, true, true, true])
    expect(['false', '0', 'no', 'OFF'].map(parseSwitch)).to.deep.equal([false, false, false, false])
    expect(() => parseSwitch('maybe')).to.throw(ValueError)
  })

  it('splits lists on commas, trims entries, and refuses empty entries and long lists', () => {
    expect(splitList('a, b ,c', 3)).to.deep.equal(['a', 'b', 'c'])
    expect(detailOf(() => splitList('a,,b', 3))).to.include('empty entry')
    expect(detailOf(() => splitList('a,b,', 3))).to.include('empty entry')
    expect(detailOf(() => splitList('a,b,c,d', 3))).to.include('4 entries, at most 3')
    expect(detailOf(() => splitList('', 3))).to.include('empty')
  })

  describe('tcpcopy -x mappings', () => {
    it('parses onPort-tgtIP:tgtPort with the online IP omitted', () => {
      expect(parseTargetMapping('80-10.0.0.2:8080')).to.deep.equal({ onlinePort: 80, targetIp: '10.0.0.2', targetPort: 8080 })
    })

    it('parses onIP:onPort-tgtIP:tgtPort', () => {
      expect(parseTargetMapping('192.168.0.1:80-10.0.0.2:8080')).to.deep.equal({ onlineIp: '192.168.0.1', onlinePort: 80, targetIp: '10.0.0.2', targetPort: 8080 })
    })

    it('parses the pcap-send form with MAC addresses, in lower case', () => {
      expect(parseTargetMapping('80@00:11:22:33:44:AA-10.0.0.2:8080@66:77:88:99:aa:bb')).to.deep.equal({
        onlinePort: 80, targetIp: '10.0.0.2', targetPort: 8080, sourceMac: '00:11:22:33:44:aa', nextHopMac: '66:77:88:99:aa:bb'
      })
    })

    it('parses a list and refuses an online address mapped twice', () => {
      expect(parseTargetMappings(8)('80-10.0.0.2:8080,10.0.0.1:443-10.0.0.3:443')).to.have.length(2)
      expect(detailOf(() => parseTargetMappings(8)('80-10.0.0.2:8080,80-10.0.0.3:8080'))).to.include('mapped twice')
    })

    it('says which part of a bad entry is wrong', () => {
      expect(detailOf(() => parseTargetMapping('80'))).to.include('no "-tgtIP:tgtPort"')
      expect(detailOf(() => parseTargetMapping('80-10.0.0.2'))).to.include('no ":port"')
      expect(detailOf(() => parseTargetMapping('80-10.0.0.2:0'))).to.include('target port "0"')
      expect(detailOf(() => parseTargetMapping('70000-10.0.0.2:80'))).to.include('online port "70000"')
      expect(detailOf(() => parseTargetMapping('x:80-10.0.0.2:80'))).to.include('"x" is not a dotted-quad')
      expect(detailOf(() => parseTargetMapping('80-10.0.0.2:80-1'))).to.include('more than one "-"')
      expect(detailOf(() => parseTargetMapping('80@zz-10.0.0.2:80'))).to.include('not a MAC address')
    })
  })

  describe('tcpcopy -c client pool', () => {
    const pool = parseClientPool(4096)

    it('expands a.b.c.x to a.b.c.1 - a.b.c.254', () => {
      const ips = pool('10.88.0.x')
      expect(ips).to.have.length(254)
      expect(ips[0]).to.equal('10.88.0.1')
      expect(ips[253]).to.equal('10.88.0.254')
      expect(ips).to.not.include('10.88.0.0')
      expect(ips).to.not.include('10.88.0.255')
    })

    it('mixes ranges and addresses, dropping duplicates and keeping order', () => {
      const ips = pool('10.0.0.9,10.88.0.X,10.88.0.7')
      expect(ips[0]).to.equal('10.0.0.9')
      expect(ips[1]).to.equal('10.88.0.1')
      expect(ips).to.have.length(255)
    })

    it('refuses "*", bad ranges and pools above the cap', () => {
      expect(detailOf(() => pool('10.0.0.*'))).to.include('"*" is not accepted')
      expect(detailOf(() => pool('*'))).to.include('"*" is not accepted')
      expect(detailOf(() => pool('10.0.x'))).to.include('three octets')
      expect(detailOf(() => pool('10.0.256.x'))).to.include('three octets 0-255')
      expect(detailOf(() => parseClientPool(300)('10.0.0.x,10.0.1.x'))).to.include('508 addresses')
    })
  })

  it('parses -s entries, marking a missing port as 0 and refusing ":0"', () => {
    expect(parseInterceptList(32)('10.0.0.30,10.0.0.31:4000')).to.deep.equal([{ ip: '10.0.0.30', port: 0 }, { ip: '10.0.0.31', port: 4000 }])
    expect(() => parseInterceptList(32)('10.0.0.30:0')).to.throw(ValueError)
  })

  describe('networks', () => {
    it('parses a.b.c.d/n and a bare address as /32', () => {
      expect(parseCidr('10.77.0.0/24')).to.deep.equal({ address: '10.77.0.0', prefixLength: 24 })
      expect(parseCidr('10.77.0.5')).to.deep.equal({ address: '10.77.0.5', prefixLength: 32 })
      expect(parseCidr('0.0.0.0/0')).to.deep.equal({ address: '0.0.0.0', prefixLength: 0 })
    })

    it('refuses host bits and suggests the network', () => {
      expect(detailOf(() => parseCidr('10.0.0.1/8'))).to.include('did you mean 10.0.0.0/8')
      expect(() => parseCidr('10.0.0.0/33')).to.throw(ValueError)
      expect(() => parseCidr('10.0.0.0/')).to.throw(ValueError)
    })

    it('matches addresses inside the networks; an empty list allows all', () => {
      const nets = [parseCidr('10.77.0.0/24'), parseCidr('192.168.1.7')]
      expect(cidrContains(nets, '10.77.0.200')).to.equal(true)
      expect(cidrContains(nets, '192.168.1.7')).to.equal(true)
      expect(cidrContains(nets, '10.77.1.1')).to.equal(false)
      expect(cidrContains([], '1.2.3.4')).to.equal(true)
      expect(cidrContains([parseCidr('0.0.0.0/0')], '255.1.2.3')).to.equal(true)
    })
  })

  describe('tcpcopy -i', () => {
    const input = parseCaptureInput(32)

    it('reads interface names as pcap capture, "any" as all interfaces', () => {
      expect(input('eth0,eth1')).to.deep.equal({ kind: 'pcap', devices: ['eth0', 'eth1'] })
      expect(input('any')).to.deep.equal({ kind: 'pcap', devices: [] })
    })

    it('reads a path or a .pcap name as an offline file', () => {
      expect(input('./capture.pcap')).to.deep.equal({ kind: 'offline', file: './capture.pcap' })
      expect(input('/tmp/a,b')).to.deep.equal({ kind: 'offline', file: '/tmp/a,b' })
      expect(input('trace.PCAPNG')).to.deep.equal({ kind: 'offline', file: 'trace.PCAPNG' })
    })

    it('refuses names Linux would refuse', () => {
      expect(() => input('eth 0')).to.throw(ValueError)
      expect(() => input('averyveryverylongname')).to.throw(ValueError)
      expect(() => input('eth0:1')).to.throw(ValueError)
    })
  })
})

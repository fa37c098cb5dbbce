import { expect } from 'chai'
import fc from 'fast-check'
import { isTcpcopyError } from '@tcpcopy/interface'
import { ipv4ToString, parseIpv4, tryParseIpv4 } from './ipv4.js'

describe('ipv4', () => {
  it('maps a dotted quad to a host-order u32 and back', () => {
    expect(parseIpv4('10.0.0.1')).to.equal(0x0a000001)
    expect(parseIpv4('255.255.255.255')).to.equal(0xffffffff)
    expect(parseIpv4('0.0.0.0')).to.equal(0)
    expect(ipv4ToString(0x0a000102)).to.equal('10.0.1.2')
    expect(ipv4ToString(0xffffffff)).to.equal('255.255.255.255')
  })

  it('round-trips every u32', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (ip) => parseIpv4(ipv4ToString(ip)) === ip))
  })

  it('rejects anything but a strict dotted quad with TC_ERR_PROTO_IPV4', () => {
    const bad = ['', '10.0.0', '10.0.0.1.2', '256.0.0.1', '010.0.0.1', '10.0.0.01', ' 10.0.0.1', '10.0.0.1 ',
      '10..0.1', '+1.0.0.1', '-1.0.0.1', '0x0a.0.0.1', '1e1.0.0.1', '10.0.0.1/8', '1000.0.0.1', '１.0.0.1']
    for (const text of bad) {
      expect(tryParseIpv4(text), text).to.equal(undefined)
      expect(() => parseIpv4(text), text).to.throw().that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_PROTO_IPV4'))
    }
  })

  it('refuses to format a number that is not a u32', () => {
    for (const ip of [-1, 2 ** 32, 1.5, NaN]) {
      expect(() => ipv4ToString(ip)).to.throw().that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_PROTO_IPV4'))
    }
  })
})

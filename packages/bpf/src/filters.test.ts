import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import { DEFAULT_SNAPLEN } from './compiler.js'
import { interceptFilterForTargets, tcpcopyDefaultFilter } from './filters.js'
import { concat, ethernetHeader, ip, ipv4Packet } from './fixtures.js'
import { runBpf } from './interpreter.js'
import { compileChecked } from './test-helpers.js'

const configError = (err: unknown): boolean => isTcpcopyError(err, 'TC_ERR_CONFIG_FILTER')
const eth = (spec: Parameters<typeof ipv4Packet>[0]): Uint8Array => concat(ethernetHeader(0x0800), ipv4Packet(spec))

describe('tcpcopyDefaultFilter', () => {
  it('builds "tcp and ((dst port P and dst host H) or …)" from the -x online addresses', () => {
    expect(tcpcopyDefaultFilter([
      { onlineIp: ip('10.0.0.2'), onlinePort: 80 },
      { onlinePort: 8080 },
      { onlineIp: '192.168.1.1', onlinePort: 3306 }
    ])).to.equal('tcp and ((dst port 80 and dst host 10.0.0.2) or (dst port 8080) or (dst port 3306 and dst host 192.168.1.1))')
  })

  it('treats online IP 0 and "0.0.0.0" as any local address', () => {
    expect(tcpcopyDefaultFilter([{ onlineIp: 0, onlinePort: 80 }, { onlineIp: '0.0.0.0', onlinePort: 81 }]))
      .to.equal('tcp and ((dst port 80) or (dst port 81))')
  })

  it('compiles to a program that takes requests to the online addresses only', () => {
    const program = compileChecked(tcpcopyDefaultFilter([{ onlineIp: ip('10.0.0.2'), onlinePort: 80 }, { onlinePort: 8080 }]))
    expect(runBpf(program, eth({ dst: ip('10.0.0.2'), dport: 80 }))).to.equal(DEFAULT_SNAPLEN)
    expect(runBpf(program, eth({ dst: ip('10.9.9.9'), dport: 8080 }))).to.equal(DEFAULT_SNAPLEN)
    expect(runBpf(program, eth({ dst: ip('10.9.9.9'), dport: 80 }))).to.equal(0)
    // the server's own response (src port 80) is not a request
    expect(runBpf(program, eth({ src: ip('10.0.0.2'), sport: 80, dst: ip('10.0.0.1'), dport: 40000 }))).to.equal(0)
  })

  it('refuses no mappings, a bad port and a bad address', () => {
    expect(() => tcpcopyDefaultFilter([])).to.throw().that.satisfies(configError)
    expect(() => tcpcopyDefaultFilter([{ onlinePort: 0 }])).to.throw().that.satisfies(configError)
    expect(() => tcpcopyDefaultFilter([{ onlinePort: 65536 }])).to.throw().that.satisfies(configError)
    expect(() => tcpcopyDefaultFilter([{ onlineIp: 'example.com', onlinePort: 80 }])).to.throw(/example\.com/).that.satisfies(configError)
    expect(() => tcpcopyDefaultFilter([{ onlineIp: -1, onlinePort: 80 }])).to.throw().that.satisfies(configError)
  })
})

describe('interceptFilterForTargets', () => {
  it('builds "tcp and ((src port P and src host H) or …)" from the -o targets', () => {
    expect(interceptFilterForTargets([{ ip: '10.0.1.2', port: 8080 }, { port: 80 }]))
      .to.equal('tcp and ((src port 8080 and src host 10.0.1.2) or (src port 80))')
  })

  it('compiles to a program that takes the targets\' responses only', () => {
    const program = compileChecked(interceptFilterForTargets([{ ip: ip('10.0.1.2'), port: 8080 }]), { snaplen: 134 })
    expect(runBpf(program, eth({ src: ip('10.0.1.2'), sport: 8080, dport: 40000 }))).to.equal(134)
    expect(runBpf(program, eth({ dst: ip('10.0.1.2'), dport: 8080, sport: 40000 }))).to.equal(0)
    expect(runBpf(program, eth({ src: ip('10.0.1.3'), sport: 8080 }))).to.equal(0)
  })

  it('refuses no targets', () => {
    expect(() => interceptFilterForTargets([])).to.throw().that.satisfies(configError)
  })
})

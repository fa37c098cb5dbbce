import { ConfigError } from '@tcpcopy/interface'
import { expect } from 'chai'
import { type ConfigSources, resolveConfig } from './resolve.js'
import { optionName } from './table.js'
import { type TcpcopyConfig, tcpcopyOptions } from './tcpcopy-options.js'

function errorOf (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError, nothing was thrown')
}

/** The two options tcpcopy 1.x cannot run without. */
const REQUIRED = { targets: '80-10.0.0.2:8080', intercepts: '10.0.0.30' }

function resolve (flags: Record<string, unknown> = {}, rest: Omit<ConfigSources, 'flags'> = {}): TcpcopyConfig {
  return resolveConfig(tcpcopyOptions, { flags: { ...REQUIRED, ...flags }, ...rest })
}

const DEFAULTS: Omit<TcpcopyConfig, 'targets' | 'intercepts'> = {
  clients: [],
  replaceLocalhost: undefined,
  port: 36524,
  connections: 2,
  copies: 1,
  portShift: 0,
  percentage: 100,
  gradual: false,
  onlyComplete: false,
  wait: true,
  sessionTimeout: 600,
  keepaliveTimeout: 720,
  mtu: 1500,
  mss: 1460,
  snaplen: 65535,
  rtt: 0,
  poolSize: 1,
  maxMemory: 1024,
  input: { kind: 'raw-socket' },
  filter: undefined,
  captureRing: false,
  bufferSize: 16,
  wakeInterval: 2,
  outputDevice: undefined,
  accelerate: 1,
  idleGap: 0,
  replays: 1,
  eofWait: 120,
  lonely: false,
  logFile: 'error_tcpcopy.log',
  pidfile: undefined,
  daemon: false,
  protocol: '1.x',
  combined: true,
  payload: false
}

const BAD: Record<keyof TcpcopyConfig, readonly string[]> = {
  targets: ['80', '80-10.0.0.2', '80-10.0.0.2:0', '70000-10.0.0.2:80', 'x:80-10.0.0.2:80', '80-10.0.0.2:80,80-10.0.0.3:80', '80@zz-10.0.0.2:80', ''],
  clients: ['*', '10.0.0.*', '10.0.x', '10.0.256.x', Array.from({ length: 17 }, (_, i) => `10.0.${i}.x`).join(',')],
  replaceLocalhost: ['localhost'],
  intercepts: ['10.0.0.1:0', '10.0.0', Array.from({ length: 33 }, (_, i) => `10.0.0.${i}`).join(',')],
  port: ['x', '0', '65536'],
  connections: ['17', 'x', '-'],
  copies: ['0', '1024'],
  portShift: ['1024', '-1'],
  percentage: ['101', '127'],
  gradual: ['sometimes'],
  onlyComplete: ['2'],
  wait: ['later'],
  sessionTimeout: ['0', '2147484'],
  keepaliveTimeout: ['0'],
  mtu: ['67', '65536'],
  mss: ['0', '65496'],
  snaplen: ['63', '65536'],
  rtt: ['60001', '-5'],
  poolSize: ['0', '1025'],
  maxMemory: ['0', '1048577'],
  input: ['eth 0', 'eth0,,eth1', ''],
  filter: ['', 'x'.repeat(4096)],
  captureRing: ['maybe'],
  bufferSize: ['0', '2048'],
  wakeInterval: ['-1', '101', '1.5', 'x'],
  outputDevice: ['eth0,eth1', ''],
  accelerate: ['0', '10001'],
  idleGap: ['86400001'],
  replays: ['0'],
  eofWait: ['-1', '3601', 'x'],
  lonely: ['x'],
  logFile: [''],
  pidfile: [''],
  daemon: ['x'],
  protocol: ['1.0', '2', '0.9.x'],
  combined: ['x'],
  payload: ['x']
}

describe('tcpcopy options', () => {
  it('declares one option per config field, plus --config, -h and -v', () => {
    const fields = tcpcopyOptions.options.filter((o) => o.kind === 'value' || o.kind === 'switch').map((o) => o.field)
    expect(fields).to.have.members(Object.keys(BAD))
  })

  it('follows tcpcopy 1.x short flags: -S is the snaplen, -D the MSS, and there is no -u', () => {
    const byShort = new Map(tcpcopyOptions.options.map((o) => [o.short, o.field]))
    expect([byShort.get('S'), byShort.get('D'), byShort.has('u')]).to.deep.equal(['snaplen', 'mss', false])
  })

  describe('defaults', () => {
    let config: TcpcopyConfig
    before(() => { config = resolve() })
    for (const [field, value] of Object.entries(DEFAULTS)) {
      it(`defaults ${field} to ${JSON.stringify(value) ?? 'undefined'}`, () => {
        expect(config[field as keyof TcpcopyConfig]).to.deep.equal(value)
      })
    }

    it('computes -k as -t + 120 unless -k is given', () => {
      expect(resolve({ sessionTimeout: '30' }).keepaliveTimeout).to.equal(150)
      expect(resolve({ sessionTimeout: '30', keepaliveTimeout: '40' }).keepaliveTimeout).to.equal(40)
    })

    it('fills -p into -s entries without a port', () => {
      expect(resolve({ intercepts: '10.0.0.30,10.0.0.31:4000', port: '5000' }).intercepts).to.deep.equal([
        { ip: '10.0.0.30', port: 5000 }, { ip: '10.0.0.31', port: 4000 }
      ])
    })
  })

  describe('validation', () => {
    for (const spec of tcpcopyOptions.options.filter((o) => o.kind === 'value' || o.kind === 'switch')) {
      for (const value of BAD[spec.field as keyof TcpcopyConfig]) {
        const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value
        it(`refuses ${optionName(spec)} ${JSON.stringify(shown)} with ${spec.code}`, () => {
          const sources: ConfigSources = spec.kind === 'switch' ? { env: { [spec.env ?? '']: value } } : { flags: { [spec.field]: value } }
          expect(errorOf(() => resolveConfig(tcpcopyOptions, { ...sources, flags: { ...REQUIRED, ...sources.flags } })).code).to.equal(spec.code)
        })
      }
    }

    it('accepts the example of every option', () => {
      for (const spec of tcpcopyOptions.options.filter((o) => o.kind === 'value')) {
        expect(() => spec.parse(spec.example), spec.long).to.not.throw()
      }
    })

    it('explains a mapping without a target port, naming option, value and source', () => {
      const err = errorOf(() => resolve({ targets: '80-10.0.0.2' }))
      expect(err.code).to.equal('TC_ERR_CONFIG_TARGETS')
      expect(err.message).to.equal('-x/--targets must be a comma-separated list of up to 256 mappings [onIP:]onPort-tgtIP:tgtPort, got "80-10.0.0.2" (from flag): entry "80-10.0.0.2": target "10.0.0.2" has no ":port"; example: -x 80-10.0.0.2:8080')
    })

    it('reads 0 and 100 as "all sessions", stored as 100', () => {
      expect(resolve({ percentage: '0' }).percentage).to.equal(100)
      expect(resolve({ percentage: '100' }).percentage).to.equal(100)
      expect(resolve({ percentage: '25' }).percentage).to.equal(25)
    })

    it('accepts -f up to 1023 without the original 8-bit wrap', () => {
      expect(resolve({ portShift: '1023' }).portShift).to.equal(1023)
    })

    it('turns -W into wait: false', () => {
      expect(resolve({ wait: false }).wait).to.equal(false)
    })
  })

  describe('-x mappings', () => {
    it('parses several mappings, with and without the online IP', () => {
      expect(resolve({ targets: '80-10.0.0.2:8080,192.168.0.1:443-10.0.0.3:8443' }).targets).to.deep.equal([
        { onlinePort: 80, targetIp: '10.0.0.2', targetPort: 8080 },
        { onlineIp: '192.168.0.1', onlinePort: 443, targetIp: '10.0.0.3', targetPort: 8443 }
      ])
    })

    it('is required', () => {
      const err = errorOf(() => resolveConfig(tcpcopyOptions, { flags: { intercepts: '10.0.0.30' } }))
      expect(err.code).to.equal('TC_ERR_CONFIG_REQUIRED')
      expect(err.message).to.include('-x/--targets is required').and.include('TCPCOPY_TARGETS=')
    })
  })

  describe('-s intercepts', () => {
    it('is required with the 1.x protocol, offline replay included', () => {
      expect(errorOf(() => resolveConfig(tcpcopyOptions, { flags: { targets: '80-10.0.0.2:8080' } })).code).to.equal('TC_ERR_CONFIG_REQUIRED')
      expect(errorOf(() => resolveConfig(tcpcopyOptions, { flags: { targets: '80-10.0.0.2:8080', input: './a.pcap' } })).code).to.equal('TC_ERR_CONFIG_REQUIRED')
    })

    it('defaults to the intercept on each target with the 0.9 protocol', () => {
      const config = resolveConfig(tcpcopyOptions, { flags: { targets: '80-10.0.0.2:8080,81-10.0.0.2:8081,82-10.0.0.3:80', protocol: '0.9', port: '4000' } })
      expect(config.intercepts).to.deep.equal([{ ip: '10.0.0.2', port: 4000 }, { ip: '10.0.0.3', port: 4000 }])
    })

    it('drops duplicates once the port is filled in', () => {
      expect(resolve({ intercepts: '10.0.0.30,10.0.0.30:36524' }).intercepts).to.deep.equal([{ ip: '10.0.0.30', port: 36524 }])
    })
  })

  describe('-C connections', () => {
    it('takes 0 or less as 1, with a warning (as the originals do)', () => {
      for (const text of ['0', '-3']) {
        const warnings: string[] = []
        expect(resolve({ connections: text }, { warn: (m) => warnings.push(m) }).connections, text).to.equal(1)
        expect(warnings).to.have.length(1)
        expect(warnings[0]).to.include(`-C/--connections (from flag) is ${text}: taken as 1`)
      }
      const warnings: string[] = []
      expect(resolve({ connections: '16' }, { warn: (m) => warnings.push(m) }).connections).to.equal(16)
      expect(warnings).to.deep.equal([])
    })
  })

  describe('-U pool size', () => {
    it('is accepted and has no effect: a warning says so', () => {
      const warnings: string[] = []
      expect(resolve({ poolSize: '64' }, { warn: (m) => warnings.push(m) }).poolSize).to.equal(64)
      expect(warnings).to.have.length(1)
      expect(warnings[0]).to.match(/^-U\/--pool-size \(from flag\) has no effect: .*drop -U/)
      const none: string[] = []
      resolve({}, { warn: (m) => none.push(m) })
      expect(none).to.deep.equal([])
    })
  })

  describe('-c client pool', () => {
    it('expands a.b.c.x', () => {
      const { clients } = resolve({ clients: '10.88.0.x' })
      expect(clients).to.have.length(254)
      expect([clients[0], clients[253]]).to.deep.equal(['10.88.0.1', '10.88.0.254'])
    })

    it('drops a target IP produced by a range, with a warning', () => {
      const warnings: string[] = []
      const { clients } = resolve({ targets: '80-10.88.0.5:8080', clients: '10.88.0.x' }, { warn: (m) => warnings.push(m) })
      expect(clients).to.have.length(253)
      expect(clients).to.not.include('10.88.0.5')
      expect(warnings).to.have.length(1)
      expect(warnings[0]).to.include('10.88.0.5')
    })

    it('refuses a target IP listed explicitly, with an accepted example (the list without it)', () => {
      const err = errorOf(() => resolve({ targets: '80-10.0.0.2:8080', clients: '10.0.0.9,10.0.0.2' }))
      expect(err.code).to.equal('TC_ERR_CONFIG_CLIENTS')
      expect(err.message).to.include('10.0.0.2').and.include('-c/--clients (from flag)').and.match(/example: -c 10\.0\.0\.9$/)
      expect(resolve({ targets: '80-10.0.0.2:8080', clients: '10.0.0.9' }).clients).to.deep.equal(['10.0.0.9'])
      const only = errorOf(() => resolve({ targets: '80-10.0.0.2:8080', clients: '10.0.0.2' }))
      expect(only.message).to.match(/example: -c 10\.88\.0\.x$/)
    })
  })

  describe('capture input and the options that depend on it', () => {
    it('reads -i interfaces as pcap capture and -i file as offline replay', () => {
      expect(resolve({ input: 'eth0', filter: 'tcp dst port 80' }).input).to.deep.equal({ kind: 'pcap', devices: ['eth0'] })
      expect(resolve({ input: '/var/tmp/x.pcap' }).input).to.deep.equal({ kind: 'offline', file: '/var/tmp/x.pcap' })
    })

    it('accepts the offline options with a file and refuses them without one', () => {
      const config = resolve({ input: './x.pcap', accelerate: '4', idleGap: '1000', replays: '2' })
      expect([config.accelerate, config.idleGap, config.replays]).to.deep.equal([4, 1000, 2])
      for (const field of ['accelerate', 'idleGap', 'replays']) {
        expect(errorOf(() => resolve({ [field]: '2' })).code, field).to.equal('TC_ERR_CONFIG_CONFLICT')
        expect(errorOf(() => resolve({ [field]: '2', input: 'eth0', filter: 'tcp' })).code, field).to.equal('TC_ERR_CONFIG_CONFLICT')
      }
    })

    it('refuses the pcap options with the raw socket', () => {
      for (const [field, value] of [['filter', 'tcp'], ['snaplen', '1500'], ['bufferSize', '32']]) {
        expect(errorOf(() => resolve({ [field ?? '']: value })).code, field).to.equal('TC_ERR_CONFIG_CONFLICT')
      }
      expect(resolve({ input: 'eth0', snaplen: '1500', bufferSize: '32', filter: 'tcp' }).snaplen).to.equal(1500)
    })

    it('asks for -F when pcap capture would see its own output', () => {
      const err = errorOf(() => resolve({ targets: '80-10.0.0.2:80', input: 'eth0' }))
      expect(err.code).to.equal('TC_ERR_CONFIG_REQUIRED')
      expect(err.message).to.include('-F/--filter')
      expect(resolve({ targets: '10.0.0.1:80-10.0.0.2:80', input: 'eth0' }).targets).to.have.length(1)
      expect(resolve({ targets: '80-10.0.0.2:80' }).input.kind).to.equal('raw-socket')
    })
  })

  describe('pcap-send', () => {
    const withMacs = '80@00:11:22:33:44:55-10.0.0.2:8080@66:77:88:99:aa:bb'

    it('accepts -o with MAC addresses in every mapping', () => {
      const config = resolve({ targets: withMacs, outputDevice: 'eth1' })
      expect(config.outputDevice).to.equal('eth1')
      expect(config.targets[0]?.nextHopMac).to.equal('66:77:88:99:aa:bb')
    })

    it('refuses -o when a mapping has no MAC addresses', () => {
      expect(errorOf(() => resolve({ targets: `${withMacs},81-10.0.0.2:8081`, outputDevice: 'eth1' })).code).to.equal('TC_ERR_CONFIG_TARGETS')
    })

    it('refuses MAC addresses without -o', () => {
      expect(errorOf(() => resolve({ targets: withMacs })).code).to.equal('TC_ERR_CONFIG_CONFLICT')
    })
  })
})

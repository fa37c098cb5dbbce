import { ConfigError } from '@tcpcopy/interface'
import { expect } from 'chai'
import { type InterceptConfig, interceptOptions } from './intercept-options.js'
import { type ConfigSources, resolveConfig } from './resolve.js'
import { tcpcopyOptions } from './tcpcopy-options.js'
import { optionName } from './table.js'

function errorOf (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError, nothing was thrown')
}

const resolve = (sources: ConfigSources): InterceptConfig => resolveConfig(interceptOptions, sources)

const DEFAULTS: InterceptConfig = {
  passlist: [],
  bind: '0.0.0.0',
  daemon: false,
  logFile: 'error_intercept.log',
  port: 36524,
  pidfile: undefined,
  hashSize: 65536,
  timeout: 120,
  devices: [],
  filter: undefined,
  captureRing: true,
  queueMaxlen: undefined,
  batchSize: 16,
  mode: 'traditional',
  queueNum: 0,
  dnat: false,
  combined: true,
  payload: false,
  allow: [],
  maxRoutes: 1048576
}

/** Values each option must refuse, given as flags; the error code is the option's. */
const BAD: Record<keyof InterceptConfig, readonly string[]> = {
  passlist: ['10.0.0.256', '10.0.0', '010.0.0.1', '10.0.0.1,,10.0.0.2', Array.from({ length: 257 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(',')],
  bind: ['1.2.3', 'localhost', ''],
  daemon: ['maybe'],
  logFile: [''],
  port: ['x', '0', '65536', '-1', '80.5', ' 80'],
  pidfile: [''],
  hashSize: ['0', '16777217', 'abc'],
  timeout: ['0', '2147484'],
  devices: ['eth0/1', 'averyveryverylongname', Array.from({ length: 33 }, (_, i) => `eth${i}`).join(',')],
  filter: [' ', 'x'.repeat(4096)],
  captureRing: ['maybe'],
  queueMaxlen: ['0', '4294967296'],
  batchSize: ['17', '-1', 'many'],
  mode: ['nfqueue', 'Advanced'],
  queueNum: ['65536'],
  dnat: ['2'],
  combined: ['nope'],
  payload: ['y'],
  allow: ['10.0.0.1/8', '10.0.0.0/33', '10.0.0.0/', 'x'],
  maxRoutes: ['0', '16777217']
}

describe('intercept options', () => {
  it('declares one option per config field, plus --config, -h and -v', () => {
    const fields = interceptOptions.options.filter((o) => o.kind === 'value' || o.kind === 'switch').map((o) => o.field)
    expect(fields).to.have.members(Object.keys(DEFAULTS))
    expect(interceptOptions.options.map((o) => o.long)).to.include.members(['config', 'help', 'version'])
  })

  it('keeps the original short flags', () => {
    const short = Object.fromEntries(interceptOptions.options.filter((o) => o.short !== undefined).map((o) => [o.short, o.long]))
    expect(short).to.deep.equal({
      x: 'passlist', b: 'bind', d: 'daemon', l: 'log-file', p: 'port', P: 'pidfile', s: 'hash-size', t: 'timeout',
      i: 'devices', F: 'filter', q: 'queue-maxlen', n: 'batch-size', h: 'help', v: 'version'
    })
  })

  describe('defaults', () => {
    let config: InterceptConfig
    before(() => { config = resolve({}) })
    for (const [field, value] of Object.entries(DEFAULTS)) {
      it(`defaults ${field} to ${JSON.stringify(value) ?? 'undefined'}`, () => {
        expect(config[field as keyof InterceptConfig]).to.deep.equal(value)
      })
    }

    it('has no other fields', () => {
      expect(config).to.deep.equal(DEFAULTS)
    })

    it('starts the batch at 6 with --payload', () => {
      expect(resolve({ flags: { payload: true } }).batchSize).to.equal(6)
    })
  })

  describe('validation', () => {
    for (const spec of interceptOptions.options.filter((o) => o.kind === 'value' || o.kind === 'switch')) {
      const bad = BAD[spec.field as keyof InterceptConfig]
      for (const value of bad) {
        const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value
        it(`refuses ${optionName(spec)} ${JSON.stringify(shown)} with ${spec.code}`, () => {
          // switches cannot carry a value as a flag; their bad values come from the environment
          const sources: ConfigSources = spec.kind === 'switch' ? { env: { [spec.env ?? '']: value } } : { flags: { [spec.field]: value } }
          expect(errorOf(() => resolve(sources)).code).to.equal(spec.code)
        })
      }
    }

    it('accepts the example of every option', () => {
      for (const spec of interceptOptions.options.filter((o) => o.kind === 'value')) {
        expect(() => spec.parse(spec.example), spec.long).to.not.throw()
      }
    })

    it('names the option, the value, the source and an example in the message', () => {
      const err = errorOf(() => resolve({ flags: { port: 'x' } }))
      expect(err.message).to.equal('-p/--port must be a port number 1-65535, got "x" (from flag); example: -p 36524')
      expect(err.code).to.equal('TC_ERR_CONFIG_PORT')
    })

    it('says which entry of a list is wrong', () => {
      const err = errorOf(() => resolve({ flags: { passlist: '10.0.0.1,10.0.0.300' } }))
      expect(err.message).to.include('-x/--passlist').and.include('"10.0.0.1,10.0.0.300"').and.include('"10.0.0.300" has an octet above 255')
    })

    it('drops duplicate passlist entries and treats "any" as every interface', () => {
      expect(resolve({ flags: { passlist: '10.0.0.1,10.0.0.1' } }).passlist).to.deep.equal(['10.0.0.1'])
      expect(resolve({ flags: { devices: 'any', filter: 'tcp' } }).devices).to.deep.equal([])
    })
  })

  describe('mode and the options that depend on it', () => {
    it('selects advanced mode when -i is given', () => {
      const config = resolve({ flags: { devices: 'eth0,eth1', filter: 'tcp and src port 8080' } })
      expect(config.mode).to.equal('advanced')
      expect(config.devices).to.deep.equal(['eth0', 'eth1'])
    })

    it('selects advanced mode with --mode advanced and captures on every interface', () => {
      const config = resolve({ flags: { mode: 'advanced', filter: 'tcp' } })
      expect([config.mode, config.devices]).to.deep.equal(['advanced', []])
    })

    it('refuses -i with --mode traditional', () => {
      expect(errorOf(() => resolve({ flags: { devices: 'eth0', mode: 'traditional' } })).code).to.equal('TC_ERR_CONFIG_CONFLICT')
    })

    it('refuses -x in advanced mode and names both options', () => {
      const err = errorOf(() => resolve({ flags: { passlist: '10.0.0.1', devices: 'eth0', filter: 'tcp' } }))
      expect(err.code).to.equal('TC_ERR_CONFIG_CONFLICT')
      expect(err.message).to.include('-x/--passlist (from flag)').and.include('-i/--devices (from flag)')
    })

    it('refuses -q and --queue-num in advanced mode', () => {
      expect(errorOf(() => resolve({ flags: { queueMaxlen: '4096', devices: 'eth0', filter: 'tcp' } })).code).to.equal('TC_ERR_CONFIG_CONFLICT')
      expect(errorOf(() => resolve({ flags: { queueNum: '1', mode: 'advanced', filter: 'tcp' } })).code).to.equal('TC_ERR_CONFIG_CONFLICT')
    })

    it('refuses -F without -i (traditional mode)', () => {
      const err = errorOf(() => resolve({ flags: { filter: 'tcp' } }))
      expect(err.code).to.equal('TC_ERR_CONFIG_CONFLICT')
      expect(err.message).to.include('-F/--filter').and.include('-i <device>')
    })

    it('requires -F in advanced mode', () => {
      expect(errorOf(() => resolve({ flags: { devices: 'eth0' } })).code).to.equal('TC_ERR_CONFIG_REQUIRED')
    })

    it('accepts the traditional-mode options in traditional mode', () => {
      const config = resolve({ flags: { passlist: '10.0.0.1,10.0.0.2', queueMaxlen: '2048', queueNum: '3' } })
      expect([config.passlist, config.queueMaxlen, config.queueNum]).to.deep.equal([['10.0.0.1', '10.0.0.2'], 2048, 3])
    })
  })

  describe('combined batches', () => {
    it('accepts 0 to 16, the default included', () => {
      expect(resolve({ flags: { batchSize: '0' } }).batchSize).to.equal(0)
      expect(resolve({ flags: { batchSize: '16' } }).batchSize).to.equal(16)
    })

    it('refuses more than 6 with --payload', () => {
      expect(resolve({ flags: { batchSize: '6', payload: true } }).batchSize).to.equal(6)
      expect(errorOf(() => resolve({ flags: { batchSize: '7', payload: true } })).code).to.equal('TC_ERR_CONFIG_BATCH_SIZE')
    })

    it('refuses -n with --no-combined', () => {
      expect(resolve({ flags: { combined: false } }).combined).to.equal(false)
      expect(errorOf(() => resolve({ flags: { batchSize: '4', combined: false } })).code).to.equal('TC_ERR_CONFIG_CONFLICT')
    })
  })

  describe('the capture ring (advanced mode)', () => {
    const ADV = { devices: 'eth0', filter: 'tcp' }
    const spec = interceptOptions.options.find((o) => o.field === 'captureRing')!

    it('is on by default, and the flag is the negated switch --no-capture-ring', () => {
      expect(resolve({ flags: ADV }).captureRing).to.equal(true)
      expect([spec.negate, optionName(spec), spec.env, spec.fileKey]).to.deep.equal([true, '--no-capture-ring', 'INTERCEPT_CAPTURE_RING', 'capture-ring'])
      expect(spec.defaultText).to.match(/TPACKET_V3 ring/)
    })

    it('--no-capture-ring turns it off', () => {
      expect(resolve({ flags: { ...ADV, captureRing: false } }).captureRing).to.equal(false)
    })

    it('INTERCEPT_CAPTURE_RING=0 turns it off, =1 keeps it on', () => {
      expect(resolve({ flags: ADV, env: { INTERCEPT_CAPTURE_RING: '0' } }).captureRing).to.equal(false)
      expect(resolve({ flags: ADV, env: { INTERCEPT_CAPTURE_RING: 'off' } }).captureRing).to.equal(false)
      expect(resolve({ flags: ADV, env: { INTERCEPT_CAPTURE_RING: '1' } }).captureRing).to.equal(true)
    })

    it('"capture-ring: false" in the config file turns it off; the flag still wins over the file', () => {
      const file = { path: 'i.yaml', text: 'devices: eth0\nfilter: tcp\ncapture-ring: false\n' }
      expect(resolve({ file }).captureRing).to.equal(false)
      expect(resolve({ file: { path: 'i.yaml', text: 'devices: eth0\nfilter: tcp\ncapture-ring: true\n' }, flags: { captureRing: false } }).captureRing).to.equal(false)
    })

    it('names the kebab-case key when the file says captureRing', () => {
      const err = errorOf(() => resolve({ file: { path: 'i.yaml', text: 'devices: eth0\nfilter: tcp\ncaptureRing: false\n' } }))
      expect(err.code).to.equal('TC_ERR_CONFIG_FILE_KEY')
      expect(err.message).to.include('"capture-ring"')
    })

    it('is accepted in traditional mode, which ignores it', () => {
      const config = resolve({ flags: { captureRing: false } })
      expect([config.mode, config.captureRing]).to.deep.equal(['traditional', false])
    })

    it('states its own default in its notes and help: on for intercept, and what --no-capture-ring trades', () => {
      expect(spec.notes).to.match(/by default/).and.match(/npm run bench -w @tcpcopy\/cli/).and.match(/32 MiB socket buffer/)
        .and.match(/16 MiB \(128 blocks of 128 KiB\) per capture socket/).and.match(/1 ms/).and.not.match(/off by default/)
      expect(spec.help).to.match(/traditional mode ignores it/)
    })

    it('leaves tcpcopy\'s --capture-ring opt-in, with notes that say it is off by default', () => {
      const copy = tcpcopyOptions.options.find((o) => o.field === 'captureRing')!
      expect([copy.negate, optionName(copy), copy.defaultText]).to.deep.equal([false, '--capture-ring', 'off'])
      expect(copy.notes).to.match(/off by default/)
      expect(copy.notes).to.not.equal(spec.notes)
    })
  })
})

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '@tcpcopy/interface'
import { expect } from 'chai'
import { interceptOptions } from './intercept-options.js'
import { parseConfigFile, resolveConfig } from './resolve.js'
import { tcpcopyOptions } from './tcpcopy-options.js'

function errorOf (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError, nothing was thrown')
}

const yaml = (text: string): { path: string, text: string } => ({ path: 'test.yaml', text })

describe('resolving options', () => {
  describe('precedence: flag > environment > config file > default', () => {
    const file = yaml('port: 3\ndaemon: false\npasslist: [10.0.0.3]\n')

    it('takes the flag over everything', () => {
      const config = resolveConfig(interceptOptions, { flags: { port: '1' }, env: { INTERCEPT_PORT: '2' }, file })
      expect(config.port).to.equal(1)
    })

    it('takes the environment over the file', () => {
      const config = resolveConfig(interceptOptions, { env: { INTERCEPT_PORT: '2', INTERCEPT_DAEMON: 'yes', INTERCEPT_PASSLIST: '10.0.0.2' }, file })
      expect([config.port, config.daemon, config.passlist]).to.deep.equal([2, true, ['10.0.0.2']])
    })

    it('takes the file over the default', () => {
      const config = resolveConfig(interceptOptions, { file })
      expect([config.port, config.daemon, config.passlist]).to.deep.equal([3, false, ['10.0.0.3']])
    })

    it('falls back to the default', () => {
      expect(resolveConfig(interceptOptions, { file: yaml('') }).port).to.equal(36524)
    })

    it('lets the environment turn a negated switch off and a flag win over it', () => {
      expect(resolveConfig(interceptOptions, { env: { INTERCEPT_COMBINED: '0' } }).combined).to.equal(false)
      expect(resolveConfig(interceptOptions, { flags: { combined: true }, env: { INTERCEPT_COMBINED: '0' } }).combined).to.equal(true)
    })

    it('treats an empty environment variable and an undefined flag as not given', () => {
      const config = resolveConfig(interceptOptions, { flags: { port: undefined }, env: { INTERCEPT_PORT: '' }, file })
      expect(config.port).to.equal(3)
    })

    it('computes a dependent default from the winning source', () => {
      const config = resolveConfig(tcpcopyOptions, { flags: { targets: '80-10.0.0.2:8080' }, env: { TCPCOPY_INTERCEPTS: '10.0.0.30' }, file: yaml('session-timeout: 60\n') })
      expect([config.sessionTimeout, config.keepaliveTimeout]).to.deep.equal([60, 180])
    })

    it('accepts typed flag values as well as text', () => {
      const config = resolveConfig(interceptOptions, { flags: { port: 8000, passlist: ['10.0.0.1', '10.0.0.2'], daemon: true } })
      expect([config.port, config.passlist, config.daemon]).to.deep.equal([8000, ['10.0.0.1', '10.0.0.2'], true])
    })

    it('ignores flags that are not options (commander attributes of the cli)', () => {
      expect(resolveConfig(interceptOptions, { flags: { verbose: true, version: true } }).port).to.equal(36524)
    })
  })

  describe('messages name where the value came from', () => {
    it('names the environment variable and gives an example in its form', () => {
      const err = errorOf(() => resolveConfig(interceptOptions, { env: { INTERCEPT_HASH_SIZE: 'big' } }))
      expect(err.code).to.equal('TC_ERR_CONFIG_HASH_SIZE')
      expect(err.message).to.equal('-s/--hash-size must be an integer 1-16777216, got "big" (from env INTERCEPT_HASH_SIZE); example: INTERCEPT_HASH_SIZE=65536')
    })

    it('names the file and key and gives an example in YAML', () => {
      const err = errorOf(() => resolveConfig(interceptOptions, { file: yaml('port: 0\n') }))
      expect(err.code).to.equal('TC_ERR_CONFIG_PORT')
      expect(err.message).to.equal('-p/--port must be a port number 1-65535, got "0" (from config file "test.yaml", key "port"): 0 is out of range; example: port: 36524')
    })

    it('explains a switch with a bad value', () => {
      const err = errorOf(() => resolveConfig(interceptOptions, { env: { INTERCEPT_DAEMON: 'maybe' } }))
      expect(err.code).to.equal('TC_ERR_CONFIG_DAEMON')
      expect(err.message).to.include('-d/--daemon must be a switch').and.include('"maybe"').and.include('INTERCEPT_DAEMON=1')
    })
  })

  describe('the YAML config file', () => {
    let dir = ''
    before(() => { dir = mkdtempSync(join(tmpdir(), 'tcpcopy-config-')) })
    after(() => { rmSync(dir, { recursive: true, force: true }) })

    it('is read from the path given by --config', () => {
      const path = join(dir, 'intercept.yaml')
      writeFileSync(path, 'hash-size: 1024\nallow:\n  - 10.77.0.0/24\n  - 192.168.1.1\n')
      const config = resolveConfig(interceptOptions, { flags: { config: path } })
      expect(config.hashSize).to.equal(1024)
      expect(config.allow).to.deep.equal([{ address: '10.77.0.0', prefixLength: 24 }, { address: '192.168.1.1', prefixLength: 32 }])
    })

    it('is read from the path in <PROGRAM>_CONFIG when there is no flag', () => {
      const path = join(dir, 'tcpcopy.yaml')
      writeFileSync(path, 'targets:\n  - 80-10.0.0.2:8080\n  - 10.0.0.1:443-10.0.0.2:8443\nintercepts: 10.0.0.30:4000\nwait: false\n')
      const config = resolveConfig(tcpcopyOptions, { env: { TCPCOPY_CONFIG: path } })
      expect(config.targets).to.have.length(2)
      expect(config.intercepts).to.deep.equal([{ ip: '10.0.0.30', port: 4000 }])
      expect(config.wait).to.equal(false)
    })

    it('is read from a path given to resolveConfig', () => {
      const path = join(dir, 'plain.yaml')
      writeFileSync(path, 'port: 4242\n')
      expect(resolveConfig(interceptOptions, { file: path }).port).to.equal(4242)
    })

    it('reports a missing file, naming the file, its source and the fix', () => {
      const path = join(dir, 'nope.yaml')
      const err = errorOf(() => resolveConfig(interceptOptions, { flags: { config: path } }))
      expect(err.code).to.equal('TC_ERR_CONFIG_FILE')
      expect(err.message).to.include(path).and.include('does not exist').and.include('--config')
    })

    it('reports a directory given as the file', () => {
      const err = errorOf(() => resolveConfig(interceptOptions, { env: { INTERCEPT_CONFIG: dir } }))
      expect(err.code).to.equal('TC_ERR_CONFIG_FILE')
      expect(err.message).to.include('is a directory').and.include('INTERCEPT_CONFIG')
    })

    it('reports invalid YAML with its line', () => {
      const err = errorOf(() => resolveConfig(interceptOptions, { file: yaml('port: 1\nport: 2\n') }))
      expect(err.code).to.equal('TC_ERR_CONFIG_FILE_YAML')
      expect(err.message).to.include('test.yaml').and.include('line 2')
      expect(errorOf(() => resolveConfig(interceptOptions, { file: yaml('passlist: [10.0.0.1\n') })).code).to.equal('TC_ERR_CONFIG_FILE_YAML')
    })

    it('refuses a file that is not a mapping', () => {
      expect(errorOf(() => resolveConfig(interceptOptions, { file: yaml('- port\n- 1\n') })).code).to.equal('TC_ERR_CONFIG_FILE_YAML')
      expect(errorOf(() => resolveConfig(interceptOptions, { file: yaml('36524\n') })).code).to.equal('TC_ERR_CONFIG_FILE_YAML')
    })

    it('refuses an unknown key and names the closest valid one', () => {
      const err = errorOf(() => resolveConfig(interceptOptions, { file: yaml('prot: 1\n') }))
      expect(err.code).to.equal('TC_ERR_CONFIG_FILE_KEY')
      expect(err.message).to.include('"prot"').and.include('the closest valid key is "port"')
    })

    it('refuses camelCase keys and points to the kebab-case one', () => {
      const err = errorOf(() => resolveConfig(interceptOptions, { file: yaml('hashSize: 1024\n') }))
      expect(err.code).to.equal('TC_ERR_CONFIG_FILE_KEY')
      expect(err.message).to.include('"hash-size"')
    })

    it('refuses a negated flag name as a key and points to the positive one', () => {
      expect(errorOf(() => resolveConfig(interceptOptions, { file: yaml('no-combined: true\n') })).message).to.include('"combined"')
    })

    it('refuses a key of the other program, and a nested config file', () => {
      expect(errorOf(() => resolveConfig(interceptOptions, { file: yaml('targets: 80-10.0.0.2:8080\n') })).code).to.equal('TC_ERR_CONFIG_FILE_KEY')
      expect(errorOf(() => resolveConfig(interceptOptions, { file: yaml('config: other.yaml\n') })).code).to.equal('TC_ERR_CONFIG_FILE_KEY')
    })

    it('refuses a key without a value and a nested mapping, with the option\'s code', () => {
      const err = errorOf(() => resolveConfig(interceptOptions, { file: yaml('port:\n') }))
      expect(err.code).to.equal('TC_ERR_CONFIG_PORT')
      expect(err.message).to.include('has no value')
      expect(errorOf(() => resolveConfig(interceptOptions, { file: yaml('bind: { ip: 10.0.0.1 }\n') })).code).to.equal('TC_ERR_CONFIG_BIND')
      expect(errorOf(() => resolveConfig(interceptOptions, { file: yaml('passlist: [[10.0.0.1]]\n') })).code).to.equal('TC_ERR_CONFIG_PASSLIST')
    })

    it('reads YAML numbers and switches', () => {
      const config = resolveConfig(tcpcopyOptions, { file: yaml('targets: 80-10.0.0.2:8080\nintercepts: 10.0.0.30\nprotocol: 0.9\ngradual: true\nmtu: 9000\n') })
      expect([config.protocol, config.gradual, config.mtu]).to.deep.equal(['0.9', true, 9000])
    })

    it('parses into a key → value map', () => {
      const values = parseConfigFile(interceptOptions, yaml('port: 1\nfilter: tcp\n'))
      expect([...values.entries()]).to.deep.equal([['port', 1], ['filter', 'tcp']])
    })
  })

  describe('the environment', () => {
    it('warns about an unknown variable with the program prefix', () => {
      const warnings: string[] = []
      resolveConfig(interceptOptions, { env: { INTERCEPT_PROT: '1', TCPCOPY_PORT: '2', HOME: '/root' }, warn: (m) => warnings.push(m) })
      expect(warnings).to.deep.equal(['environment variable INTERCEPT_PROT is not an option of intercept and is ignored; did you mean INTERCEPT_PORT?'])
    })

    it('uses <PROGRAM>_<LONG_NAME> for every option', () => {
      for (const table of [interceptOptions, tcpcopyOptions]) {
        for (const spec of table.options.filter((o) => o.env !== undefined)) {
          expect(spec.env).to.equal(`${table.program.toUpperCase()}_${spec.long.toUpperCase().replace(/-/g, '_')}`)
        }
      }
    })
  })
})

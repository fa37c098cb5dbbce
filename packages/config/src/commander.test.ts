import { expect } from 'chai'
import { Command, CommanderError } from 'commander'
import { addOptions } from './commander.js'
import { interceptOptions } from './intercept-options.js'
import { resolveConfig } from './resolve.js'
import { tcpcopyOptions } from './tcpcopy-options.js'

interface Program {
  command: Command
  out: string[]
  err: string[]
}

function program (name: string, table: typeof interceptOptions | typeof tcpcopyOptions, version?: string): Program {
  const out: string[] = []
  const err: string[] = []
  const command = new Command(name)
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) })
  if (table === interceptOptions) addOptions(command, interceptOptions, version === undefined ? {} : { version })
  else addOptions(command, tcpcopyOptions, version === undefined ? {} : { version })
  return { command, out, err }
}

async function rejection (promise: Promise<unknown>): Promise<CommanderError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof CommanderError) return err
    throw err
  }
  throw new Error('expected a CommanderError, the parse succeeded')
}

describe('commander integration', () => {
  it('rejects an invalid value with commander\'s invalid-argument error', async () => {
    const { command, err } = program('intercept', interceptOptions)
    const error = await rejection(command.parseAsync(['node', 'intercept', '-p', 'x']))
    expect(error.code).to.equal('commander.invalidArgument')
    expect(error.message).to.include("'x' is invalid").and.include('It must be a port number 1-65535; example: -p 36524')
    expect(err.join('')).to.include('-p, --port <port>')
  })

  it('says which list entry is wrong', async () => {
    const { command } = program('tcpcopy', tcpcopyOptions)
    const error = await rejection(command.parseAsync(['node', 'tcpcopy', '-x', '80-10.0.0.2']))
    expect(error.code).to.equal('commander.invalidArgument')
    expect(error.message).to.include('has no ":port"').and.include('example: -x 80-10.0.0.2:8080')
  })

  it('hands opts() to resolveConfig: flags parsed, absent options left to env and defaults', async () => {
    const { command } = program('intercept', interceptOptions)
    await command.parseAsync(['node', 'intercept', '-p', '4000', '--log-file', '/tmp/ic.log', '-d', '-x', '10.0.0.1,10.0.0.2'])
    const config = resolveConfig(interceptOptions, { flags: command.opts(), env: { INTERCEPT_PORT: '5000', INTERCEPT_HASH_SIZE: '128' } })
    expect([config.port, config.logFile, config.daemon, config.passlist, config.hashSize, config.timeout])
      .to.deep.equal([4000, '/tmp/ic.log', true, ['10.0.0.1', '10.0.0.2'], 128, 120])
  })

  it('leaves a negated switch unset until its flag is given', async () => {
    const quiet = program('intercept', interceptOptions)
    await quiet.command.parseAsync(['node', 'intercept'])
    expect(quiet.command.opts().combined).to.equal(undefined)
    expect(resolveConfig(interceptOptions, { flags: quiet.command.opts(), env: { INTERCEPT_COMBINED: 'off' } }).combined).to.equal(false)

    const given = program('intercept', interceptOptions)
    await given.command.parseAsync(['node', 'intercept', '--no-combined'])
    expect(resolveConfig(interceptOptions, { flags: given.command.opts() }).combined).to.equal(false)
  })

  it('parses a full tcpcopy command line', async () => {
    const { command } = program('tcpcopy', tcpcopyOptions)
    await command.parseAsync(['node', 'tcpcopy', '-x', '80-10.0.0.2:8080', '-s', '10.0.0.30', '-c', '10.88.0.x', '-W', '-n', '2', '-t', '60', '--protocol', '0.9'])
    const config = resolveConfig(tcpcopyOptions, { flags: command.opts() })
    expect([config.targets.length, config.clients.length, config.wait, config.copies, config.keepaliveTimeout, config.protocol])
      .to.deep.equal([1, 254, false, 2, 180, '0.9'])
  })

  it('refuses an unknown flag', async () => {
    const { command } = program('intercept', interceptOptions)
    expect((await rejection(command.parseAsync(['node', 'intercept', '--prot', '1']))).code).to.equal('commander.unknownOption')
  })

  it('lists every option, its default and its variable in the help', async () => {
    const { command, out } = program('tcpcopy', tcpcopyOptions)
    const error = await rejection(command.parseAsync(['node', 'tcpcopy', '-h']))
    expect(error.code).to.equal('commander.helpDisplayed')
    const help = out.join('').replace(/\s+/g, ' ')
    for (const spec of tcpcopyOptions.options) expect(help, spec.long).to.include(`--${spec.negate ? 'no-' : ''}${spec.long}`)
    expect(help).to.include('(default: 600; env TCPCOPY_SESSION_TIMEOUT)').and.include('(required; env TCPCOPY_TARGETS)')
  })

  it('prints the version with -v when one is given', async () => {
    const { command, out } = program('intercept', interceptOptions, '1.2.3')
    const error = await rejection(command.parseAsync(['node', 'intercept', '-v']))
    expect(error.code).to.equal('commander.version')
    expect(out.join('')).to.equal('1.2.3\n')
  })

  it('makes -v a plain switch when no version is given', async () => {
    const { command } = program('intercept', interceptOptions)
    await command.parseAsync(['node', 'intercept', '-v'])
    expect(command.opts().version).to.equal(true)
  })
})

import { expect } from 'chai'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { IoError } from '@tcpcopy/interface'
import type { InterceptConfig } from '@tcpcopy/config'
import type { Intercept } from '@tcpcopy/intercept'
import { runInterceptCli, type InterceptCliDeps } from './intercept-main.js'
import { useTestIo } from './test-io.js'
import { EXIT_OK, EXIT_USAGE, EXIT_SYSTEM } from './exit-codes.js'

interface FakeEngine { calls: string[], config?: InterceptConfig }

function fakeEngine (record: FakeEngine, startError?: Error): InterceptCliDeps['createEngine'] {
  return (config) => {
    record.config = config
    const engine = {
      config,
      start: async () => { record.calls.push('start'); if (startError !== undefined) throw startError; return { address: '127.0.0.1', port: 36524 } },
      stop: async () => { record.calls.push('stop') },
      reportStats: () => { record.calls.push('stats'); return 'stats line' },
      stats: () => ({}),
      statsLine: () => ''
    }
    return engine as unknown as Intercept
  }
}

describe('intercept command line', () => {
  const io = useTestIo('cli')

  const run = async (args: string[], extra: Partial<InterceptCliDeps> = {}): Promise<number> =>
    await runInterceptCli(['node', 'intercept', ...args], { stdout: io.stdout, stderr: io.stderr, signals: io.signals, env: {}, ...extra })

  it('prints the options with -h and exits 0', async () => {
    expect(await run(['-h'])).to.equal(EXIT_OK)
    expect(io.stdout.text).to.contain('--passlist').and.to.contain('--timeout').and.to.contain('--queue-num')
  })

  it('prints the version with -v in the original form', async () => {
    expect(await run(['-v'])).to.equal(EXIT_OK)
    expect(io.stdout.text.trim()).to.equal('intercept version:0.1.0')
  })

  it('rejects a bad port with one line naming the option, and exit status 2', async () => {
    expect(await run(['-p', 'x'])).to.equal(EXIT_USAGE)
    expect(io.stderr.text).to.contain('--port').and.to.contain("'x'")
  })

  it('rejects advanced mode without a filter, naming the fix', async () => {
    expect(await run(['-i', 'eth0', '-l', join(io.dir, 'l.log')])).to.equal(EXIT_USAGE)
    expect(io.stderr.text).to.match(/-F/)
  })

  it('runs the engine, writes the pidfile and the log, and stops in order on SIGTERM', async () => {
    const rec: FakeEngine = { calls: [] }
    const pid = join(io.dir, 'intercept.pid')
    const logPath = join(io.dir, 'intercept.log')
    const done = run(['-P', pid, '-l', logPath, '-x', '10.0.0.9', '-t', '30'], { createEngine: fakeEngine(rec) })
    while (!existsSync(pid)) await new Promise(r => setTimeout(r, 5))
    expect(readFileSync(pid, 'utf8')).to.equal(`${process.pid}\n`)
    io.signals.emit('SIGUSR1')
    io.signals.emit('SIGTERM')
    expect(await done).to.equal(EXIT_OK)
    expect(rec.calls).to.deep.equal(['start', 'stats', 'stop'])
    expect(rec.config?.timeout).to.equal(30)
    expect(rec.config?.passlist).to.have.length(1)
    expect(existsSync(pid)).to.equal(false)
    const log = readFileSync(logPath, 'utf8')
    expect(log).to.match(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \+\d{3} \[notice\] intercept version:0\.1\.0/)
    expect(log).to.contain('-j NFQUEUE --queue-num 0')
    expect(log).to.contain('SIGTERM received, stopping')
    expect(io.signals.listenerCount('SIGTERM')).to.equal(0)
  })

  it('reports a start failure in one line with the system exit status', async () => {
    const rec: FakeEngine = { calls: [] }
    const err = new IoError('nfqueue queue 0 is already bound by another process', 'TC_ERR_NFQ_BUSY', 1, 'nfnetlink_queue bind')
    const code = await run(['-l', join(io.dir, 'x.log')], { createEngine: fakeEngine(rec, err) })
    expect(code).to.equal(EXIT_SYSTEM)
    expect(io.stderr.text).to.equal('intercept: nfqueue queue 0 is already bound by another process\n')
    expect(rec.calls).to.deep.equal(['start', 'stop'])
  })
})

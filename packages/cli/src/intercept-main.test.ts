import { expect } from 'chai'
import { spawn, execFileSync } from 'node:child_process'
import { readFileSync, existsSync, mkdirSync, renameSync, createReadStream } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CanceledError, IoError, type Logger } from '@tcpcopy/interface'
import type { InterceptConfig } from '@tcpcopy/config'
import type { Intercept } from '@tcpcopy/intercept'
import { interceptEngineOptions, runInterceptCli, type InterceptCliDeps } from './intercept-main.js'
import { FileLog } from './log.js'
import { useTestIo } from './test-io.js'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, EXIT_SYSTEM } from './exit-codes.js'

interface FakeEngine {
  calls: string[]
  config?: InterceptConfig
  log?: Logger
  /** Set while start() waits (with holdStart): resolves it. */
  release?: () => void
}

interface FakeOptions {
  startError?: Error
  /** start() waits until release() or stop(); stop() makes it fail as the engine does (CanceledError). */
  holdStart?: boolean
  /** Called inside start(), with the log the engine got. */
  onStart?: (log: Logger) => void
}

function fakeEngine (record: FakeEngine, options: FakeOptions | Error = {}): InterceptCliDeps['createEngine'] {
  const opts: FakeOptions = options instanceof Error ? { startError: options } : options
  return (config, log) => {
    record.config = config
    record.log = log
    let cancel: ((err: Error) => void) | undefined
    const engine = {
      config,
      start: async () => {
        record.calls.push('start')
        opts.onStart?.(log)
        if (opts.startError !== undefined) throw opts.startError
        if (opts.holdStart === true) {
          await new Promise<void>((resolve, reject) => { record.release = resolve; cancel = reject })
        }
        return { address: '127.0.0.1', port: 36524 }
      },
      stop: async () => {
        // idempotent, as the engine's stop()
        if (!record.calls.includes('stop')) record.calls.push('stop')
        cancel?.(new CanceledError('stop() was called while start() was running'))
      },
      reportStats: () => { record.calls.push('stats'); log.warn('a warning while running'); return 'stats line' },
      stats: () => ({}),
      statsLine: () => ''
    }
    return engine as unknown as Intercept
  }
}

async function until (cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
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
    const lines = io.stderr.text.trimEnd().split('\n')
    expect(lines.filter((l) => !l.startsWith('intercept: note:') && !l.startsWith('intercept: warning:')))
      .to.deep.equal(['intercept: nfqueue queue 0 is already bound by another process'])
    expect(lines[lines.length - 1]).to.equal('intercept: nfqueue queue 0 is already bound by another process')
    expect(rec.calls).to.deep.equal(['start', 'stop'])
  })

  it('maps the config onto the engine\'s plain options', () => {
    const rec: FakeEngine = { calls: [] }
    return run(['-x', '10.0.0.9', '--allow', '10.1.0.0/16', '-n', '0', '-l', join(io.dir, 'm.log')], { createEngine: fakeEngine(rec, new Error('stop here')) })
      .then(() => {
        const o = interceptEngineOptions(rec.config!)
        expect(o).to.deep.include({ mode: 'traditional', port: 36524, batchSize: 0, combined: true, queueNum: 0, timeout: 120 })
        expect(o.passlist).to.deep.equal(['10.0.0.9'])
        expect(o.allow).to.deep.equal([{ address: '10.1.0.0', prefixLength: 16 }])
      })
  })

  describe('the capture path of advanced mode', () => {
    const advanced = async (args: string[], env: Record<string, string> = {}): Promise<{ config: InterceptConfig, log: string }> => {
      const rec: FakeEngine = { calls: [] }
      const logPath = join(io.dir, `ring-${args.join('_').replace(/\W+/g, '')}-${Object.keys(env).length}.log`)
      await run(['-i', 'eth0', '-F', 'tcp and src port 8080', '-l', logPath, ...args], { createEngine: fakeEngine(rec, new Error('stop here')), env })
      return { config: rec.config!, log: readFileSync(logPath, 'utf8') }
    }

    it('is the TPACKET_V3 ring by default: the config, the engine options and the start-up line say so', async () => {
      const { config, log } = await advanced([])
      expect(config.captureRing).to.equal(true)
      expect(interceptEngineOptions(config).captureRing).to.equal(true)
      expect(log).to.match(/\[notice\] mode: advanced on eth0, filter "tcp and src port 8080", capture: TPACKET_V3 ring \(16 MiB per socket, 128 blocks, each handed over after 1 ms at most\)/)
    })

    it('is recvmmsg with --no-capture-ring, and the start-up line says so', async () => {
      const { config, log } = await advanced(['--no-capture-ring'])
      expect(config.captureRing).to.equal(false)
      expect(interceptEngineOptions(config).captureRing).to.equal(false)
      expect(log).to.match(/\[notice\] mode: advanced on eth0, filter "tcp and src port 8080", capture: recvmmsg from the socket buffer \(--no-capture-ring\)/)
      expect(log).to.not.contain('TPACKET_V3')
    })

    it('is recvmmsg with INTERCEPT_CAPTURE_RING=0', async () => {
      const { config, log } = await advanced([], { INTERCEPT_CAPTURE_RING: '0' })
      expect(config.captureRing).to.equal(false)
      expect(log).to.contain('capture: recvmmsg from the socket buffer')
    })

    it('refuses --capture-ring (the switch is --no-capture-ring now) with a usage error', async () => {
      expect(await run(['-i', 'eth0', '-F', 'tcp', '--capture-ring', '-l', join(io.dir, 'cr.log')])).to.equal(EXIT_USAGE)
      expect(io.stderr.text).to.contain("unknown option '--capture-ring'").and.contain('Did you mean --no-capture-ring?')
    })

    it('documents --no-capture-ring in -h, with the default and that traditional mode ignores it', async () => {
      expect(await run(['-h'])).to.equal(EXIT_OK)
      const help = io.stdout.text.replace(/\s+/g, ' ')
      expect(help).to.match(/--no-capture-ring advanced mode: receive with recvmmsg from the socket buffer instead of through the mmap'ed TPACKET_V3 ring \(traditional mode ignores it\) \(default: an mmap'ed TPACKET_V3 ring \(advanced mode\); env INTERCEPT_CAPTURE_RING\)/)
    })

    it('does not name a capture path in traditional mode', async () => {
      const rec: FakeEngine = { calls: [] }
      const logPath = join(io.dir, 'trad-ring.log')
      await run(['-l', logPath], { createEngine: fakeEngine(rec, new Error('stop here')) })
      expect(readFileSync(logPath, 'utf8')).to.match(/\[notice\] mode: traditional\n/)
    })
  })

  describe('standard error in the foreground', () => {
    it('shows the NFQUEUE rule and the start-up warnings, but not the warnings once it runs', async () => {
      const rec: FakeEngine = { calls: [] }
      const pid = join(io.dir, 'i.pid')
      const done = run(['-P', pid, '-l', join(io.dir, 'w.log')], {
        createEngine: fakeEngine(rec, { onStart: (log) => { log.warn('no --allow given: anyone may register routes') } })
      })
      await until(() => existsSync(pid), 'the pidfile')
      io.signals.emit('SIGUSR1') // the fake engine warns from reportStats
      io.signals.emit('SIGTERM')
      expect(await done).to.equal(EXIT_OK)
      expect(io.stderr.text).to.contain('intercept: note: responses are read from NFQUEUE queue 0; queue the test application\'s responses with ' +
        '"iptables -I OUTPUT -p tcp --sport <app port> -j NFQUEUE --queue-num 0"')
      expect(io.stderr.text).to.contain('intercept: warning: no --allow given: anyone may register routes\n')
      expect(io.stderr.text).to.not.contain('a warning while running')
      expect(readFileSync(join(io.dir, 'w.log'), 'utf8')).to.contain('[warn] a warning while running')
    })

    it('writes nothing extra to standard error with -l - (the log is standard error already)', async () => {
      const rec: FakeEngine = { calls: [] }
      const err = new IoError('queue busy', 'TC_ERR_NFQ_BUSY', 16, 'bind')
      await run(['-l', '-'], { createEngine: fakeEngine(rec, { startError: err, onStart: (log) => { log.warn('w') } }), openLog: () => silentProgramLog() })
      expect(io.stderr.text).to.equal('intercept: queue busy\n')
    })
  })

  describe('signals during start-up', () => {
    it('has its handlers in place while the engine starts: SIGUSR1 and SIGHUP are logged, SIGTERM cancels the start cleanly', async () => {
      const rec: FakeEngine = { calls: [] }
      const pid = join(io.dir, 's.pid')
      const logPath = join(io.dir, 's.log')
      const done = run(['-P', pid, '-l', logPath], { createEngine: fakeEngine(rec, { holdStart: true }) })
      await until(() => rec.release !== undefined, 'the start')
      for (const sig of ['SIGUSR1', 'SIGHUP', 'SIGTERM', 'SIGINT', 'SIGPIPE']) expect(io.signals.listenerCount(sig), sig).to.equal(1)
      io.signals.emit('SIGUSR1')
      io.signals.emit('SIGHUP')
      io.signals.emit('SIGTERM')
      expect(await done).to.equal(EXIT_OK)
      expect(rec.calls).to.deep.equal(['start', 'stop']) // no stats: the engine never ran
      expect(existsSync(pid), 'no pidfile').to.equal(false)
      const log = readFileSync(logPath, 'utf8')
      expect(log).to.contain('[notice] SIGUSR1 received during start-up: no statistics yet')
      expect(log).to.contain('[notice] log file reopened')
      expect(log).to.contain('[notice] SIGTERM received during start-up, stopping')
      expect(log.trimEnd().split('\n').pop()).to.match(/\[notice\] stopped \(SIGTERM received during start-up\)$/)
      expect(io.stderr.text).to.contain('intercept: SIGTERM received during start-up; stopped\n')
      for (const sig of ['SIGUSR1', 'SIGHUP', 'SIGTERM', 'uncaughtException']) expect(io.signals.listenerCount(sig), sig).to.equal(0)
    })

    it('a SIGTERM that comes after start() returned but before the run still stops in order', async () => {
      const rec: FakeEngine = { calls: [] }
      const logPath = join(io.dir, 'r.log')
      const done = run(['-l', logPath], { createEngine: fakeEngine(rec, { holdStart: true }) })
      await until(() => rec.release !== undefined, 'the start')
      rec.release!() // start() resolves on the next tick; the signal comes first
      io.signals.emit('SIGINT')
      expect(await done).to.equal(EXIT_OK)
      expect(rec.calls).to.deep.equal(['start', 'stop'])
      expect(readFileSync(logPath, 'utf8')).to.contain('SIGINT received during start-up, stopping')
    })

    it('spawned: SIGUSR1 while the program is still starting opens no inspector, and SIGTERM then ends it cleanly', async function () {
      this.timeout(15000)
      const fifo = join(io.dir, 'log.fifo')
      execFileSync('mkfifo', [fifo])
      const bin = fileURLToPath(new URL('../bin/intercept.js', import.meta.url))
      // Opening a FIFO for writing blocks until a reader comes: the program is held inside its start-up.
      // Should it go on anyway, it listens on loopback only and its capture fails (no such device).
      const child = spawn(process.execPath, [bin, '-l', fifo, '-b', '127.0.0.1', '-p', '39999', '-i', 'nosuch0', '-F', 'tcp'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      const exited = new Promise<{ code: number | null, signal: string | null }>((resolve) => {
        child.once('exit', (code, signal) => { resolve({ code, signal }) })
      })
      try {
        const wchan = (): string => { try { return readFileSync(`/proc/${child.pid!}/wchan`, 'utf8') } catch { return '' } }
        await until(() => wchan() === 'wait_for_partner', 'the program to block opening its log', 10000)
        process.kill(child.pid!, 'SIGUSR1')
        process.kill(child.pid!, 'SIGTERM')
        let log = ''
        const reader = createReadStream(fifo, { encoding: 'utf8' })
        reader.on('data', (d) => { log += String(d) })
        const read = new Promise<void>((resolve) => reader.once('close', () => { resolve() }))
        const r = await exited
        await read
        expect(stderr, 'Node\'s inspector did not start').to.not.contain('Debugger listening')
        expect(r).to.deep.equal({ code: 0, signal: null })
        expect(log).to.contain('SIGTERM received during start-up, stopping')
        expect(log).to.contain('SIGUSR1 received during start-up')
        expect(stderr).to.contain('intercept: SIGTERM received during start-up; stopped')
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
    })
  })

  describe('log file', () => {
    it('SIGHUP after logrotate moved the file: the next lines go to a new file at the path', async () => {
      const rec: FakeEngine = { calls: [] }
      const pid = join(io.dir, 'h.pid')
      const logPath = join(io.dir, 'h.log')
      const done = run(['-P', pid, '-l', logPath], { createEngine: fakeEngine(rec) })
      await until(() => existsSync(pid), 'the pidfile')
      renameSync(logPath, `${logPath}.1`)
      io.signals.emit('SIGHUP')
      io.signals.emit('SIGTERM')
      expect(await done).to.equal(EXIT_OK)
      const old = readFileSync(`${logPath}.1`, 'utf8')
      const fresh = readFileSync(logPath, 'utf8')
      expect(old).to.contain('intercept version:').and.to.contain('listening for tcpcopy')
      expect(old).to.not.contain('SIGTERM')
      expect(fresh.split('\n')[0]).to.match(/\[notice\] log file reopened$/)
      expect(fresh).to.contain('[notice] SIGTERM received, stopping').and.to.match(/\[notice\] stopped\n$/)
    })

    it('SIGHUP when the file cannot be reopened: one error line, the old file stays in use, the program keeps running', async () => {
      const rec: FakeEngine = { calls: [] }
      const pid = join(io.dir, 'f.pid')
      const logPath = join(io.dir, 'f.log')
      const done = run(['-P', pid, '-l', logPath], {
        createEngine: fakeEngine(rec),
        openLog: (c) => new FileLog({ path: c.logFile, stderr: (t) => { io.stderr.write(t) } })
      })
      await until(() => existsSync(pid), 'the pidfile')
      renameSync(logPath, `${logPath}.1`)
      mkdirSync(logPath) // the path is a directory now: open() fails even for root
      io.signals.emit('SIGHUP')
      io.signals.emit('SIGUSR1')
      expect(rec.calls).to.deep.equal(['start', 'stats']) // still running
      io.signals.emit('SIGTERM')
      expect(await done).to.equal(EXIT_OK)
      expect(existsSync(pid), 'the pidfile was removed').to.equal(false)
      const old = readFileSync(`${logPath}.1`, 'utf8')
      expect(old).to.match(/\[error\] SIGHUP: cannot open the log file .*f\.log: EISDIR.*still writing to the file opened before/)
      expect(old).to.not.contain('log file reopened')
      expect(old).to.contain('SIGTERM received, stopping')
      expect(io.stderr.text).to.match(/\[error\] SIGHUP: cannot open the log file .*EISDIR/)
    })
  })

  describe('fatal errors', () => {
    for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
      it(`${event}: logs it, stops in order (engine, pidfile) and exits ${EXIT_FAILURE}`, async () => {
        const rec: FakeEngine = { calls: [] }
        const pid = join(io.dir, 'x.pid')
        const logPath = join(io.dir, 'x.log')
        const exits: number[] = []
        const done = run(['-P', pid, '-l', logPath], { createEngine: fakeEngine(rec), exit: (code) => { exits.push(code) } })
        await until(() => existsSync(pid), 'the pidfile')
        io.signals.emit(event, new Error('boom in a callback'))
        expect(await done).to.equal(EXIT_FAILURE)
        expect(rec.calls).to.deep.equal(['start', 'stop'])
        expect(existsSync(pid), 'the pidfile was removed').to.equal(false)
        const log = readFileSync(logPath, 'utf8')
        expect(log).to.match(/\[error\] fatal: (uncaught exception|unhandled promise rejection): Error: boom in a callback/)
        expect(log.trimEnd().split('\n').pop()).to.match(/\[notice\] stopped$/)
        expect(io.stderr.text).to.contain('fatal: ').and.to.contain('boom in a callback')
        expect(exits, 'the ordered stop ended the run; no forced exit').to.deep.equal([])
        expect(io.signals.listenerCount(event)).to.equal(0)
      })
    }
  })
})

function silentProgramLog (): Logger & { close: () => void } {
  const nop = (): void => {}
  return { error: nop, warn: nop, notice: nop, info: nop, debug: nop, close: nop }
}

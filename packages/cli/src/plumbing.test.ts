import { expect } from 'chai'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, renameSync, writeFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, IoError, CoreError } from '@tcpcopy/interface'
import { formatLogLine, FileLog } from './log.js'
import { PidFile } from './pidfile.js'
import { exitCodeFor, EXIT_USAGE, EXIT_SYSTEM, EXIT_CORE, EXIT_FAILURE } from './exit-codes.js'
import { parseNfqueueProc } from './proc-nfqueue.js'
import { startDaemon } from './daemon.js'

describe('log', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tc-log-')) })
  afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

  it('writes lines in the original format: date, time, milliseconds, level, text', () => {
    const line = formatLogLine('notice', 'it adds fd:7', new Date(2026, 10, 25, 2, 3, 4, 56))
    expect(line).to.equal('2026/11/25 02:03:04 +056 [notice] it adds fd:7\n')
  })

  it('keeps one record per line even when the text has newlines', () => {
    expect(formatLogLine('warn', 'a\nb').split('\n')).to.have.length(2)
  })

  it('appends to the file and reopens it after logrotate moved it', () => {
    const path = join(dir, 'intercept.log')
    const log = new FileLog({ path })
    log.notice('first')
    renameSync(path, path + '.1')
    log.notice('second, still into the moved file')
    log.reopen()
    log.notice('third, into a new file')
    log.close()
    expect(readFileSync(path + '.1', 'utf8')).to.match(/first\n.*second/s)
    expect(readFileSync(path, 'utf8')).to.match(/\[notice\] third/)
  })

  it('keeps writing to the old file when the reopen fails, with one error line there and on stderr', () => {
    const path = join(dir, 'intercept.log')
    const errs: string[] = []
    const log = new FileLog({ path, stderr: (t) => { errs.push(t) } })
    log.notice('first')
    renameSync(path, path + '.1')
    mkdirSync(path) // the path is a directory now: open() fails even for root
    expect(log.reopen()).to.equal(false)
    log.notice('after the failed reopen')
    rmSync(path, { recursive: true })
    expect(log.reopen()).to.equal(true) // fixed: the next SIGHUP works
    log.notice('in the new file')
    log.close()
    const old = readFileSync(path + '.1', 'utf8').split('\n')
    expect(old[0]).to.match(/\[notice\] first$/)
    expect(old[1]).to.match(/\[error\] SIGHUP: cannot open the log file .*intercept\.log: EISDIR; .*still writing to the file opened before/)
    expect(old[2]).to.match(/\[notice\] after the failed reopen$/)
    expect(errs).to.have.length(1)
    expect(errs[0]).to.equal(old[1] + '\n')
    expect(readFileSync(path, 'utf8')).to.match(/^[^\n]*\[notice\] in the new file\n$/)
  })

  it('copies warnings and errors to stderr while echoErrors is on', () => {
    const errs: string[] = []
    const log = new FileLog({ path: join(dir, 'e.log'), echoErrors: true, stderr: (t) => { errs.push(t) } })
    log.warn('shown')
    log.notice('not shown')
    log.echoErrors = false
    log.warn('not shown either')
    log.close()
    expect(errs.map((e) => e.replace(/^.*\] /, ''))).to.deep.equal(['shown\n'])
  })

  it('writes debug lines only when asked', () => {
    const path = join(dir, 'd.log')
    const log = new FileLog({ path })
    log.debug('hidden')
    log.close()
    const log2 = new FileLog({ path, debug: true })
    log2.debug('shown')
    log2.close()
    const text = readFileSync(path, 'utf8')
    expect(text).not.to.contain('hidden')
    expect(text).to.contain('[debug] shown')
  })

  it('names the file and the fix when it cannot be opened', () => {
    const err = (() => { try { new FileLog({ path: join(dir, 'no', 'such', 'dir.log') }); return undefined } catch (e) { return e } })()
    expect(err).to.be.instanceOf(ConfigError)
    expect((err as ConfigError).code).to.equal('TC_ERR_CONFIG_LOG_FILE')
    expect((err as Error).message).to.contain('-l/--log-file')
  })
})

describe('pidfile', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tc-pid-')) })
  afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

  it('writes the pid and removes the file at the end', () => {
    const path = join(dir, 'intercept.pid')
    const pf = new PidFile(path, 4242)
    expect(readFileSync(path, 'utf8')).to.equal('4242\n')
    pf.remove()
    expect(existsSync(path)).to.equal(false)
  })

  it('refuses when the file names a running copy of the program, and replaces a dead one', () => {
    const path = join(dir, 'x.pid')
    writeFileSync(path, `${process.pid}\n`) // this test runner: "node …/mocha …"
    expect(() => new PidFile(path, process.pid + 1, { program: 'mocha' })).to.throw().with.property('code', 'TC_ERR_CONFIG_PIDFILE')
    writeFileSync(path, '999999999\n') // no such process
    const pf = new PidFile(path, 77)
    expect(readFileSync(path, 'utf8')).to.equal('77\n')
    pf.remove()
  })

  describe('a pid that now belongs to another process', () => {
    let child: ChildProcess | undefined
    afterEach(() => { if (child?.exitCode === null) child.kill('SIGKILL') })

    it('is taken over with a warning when that process is not this program', async () => {
      child = spawn('sleep', ['30'], { stdio: 'ignore' })
      const path = join(dir, 'stale.pid')
      writeFileSync(path, `${child.pid!}\n`)
      const warnings: string[] = []
      const pf = new PidFile(path, 77, { program: 'intercept', warn: (m) => { warnings.push(m) } })
      expect(readFileSync(path, 'utf8')).to.equal('77\n')
      expect(warnings).to.have.length(1)
      expect(warnings[0]).to.match(new RegExp(`names process ${child.pid!}, which is now "sleep 30", not intercept: .*taking it over`))
      pf.remove()
    })

    it('is refused when that process looks like this program (an argument named like it)', async () => {
      const fake = join(dir, 'intercept.js')
      writeFileSync(fake, 'setTimeout(() => {}, 30000)\n')
      child = spawn(process.execPath, [fake, '-p', '36524'], { stdio: 'ignore' })
      await new Promise((resolve) => setTimeout(resolve, 100))
      const path = join(dir, 'running.pid')
      writeFileSync(path, `${child.pid!}\n`)
      expect(() => new PidFile(path, 77, { program: 'intercept' })).to.throw(/which is running intercept/).with.property('code', 'TC_ERR_CONFIG_PIDFILE')
      expect(readFileSync(path, 'utf8')).to.equal(`${child.pid!}\n`)
    })
  })

  it('leaves a file that another process has rewritten', () => {
    const path = join(dir, 'y.pid')
    const pf = new PidFile(path, 1234)
    writeFileSync(path, '5678\n')
    pf.remove()
    expect(readFileSync(path, 'utf8')).to.equal('5678\n')
  })
})

describe('exit codes', () => {
  it('maps each error family to one code', () => {
    expect(exitCodeFor(new ConfigError('x', 'TC_ERR_CONFIG_PORT'))).to.equal(EXIT_USAGE)
    expect(exitCodeFor(new IoError('x', 'TC_ERR_IO_PERMISSION', 1, 'socket'))).to.equal(EXIT_SYSTEM)
    expect(exitCodeFor(new CoreError('x', 'TC_ERR_CORE_NO_MEMORY', 12))).to.equal(EXIT_CORE)
    expect(exitCodeFor(Object.assign(new Error('in use'), { code: 'EADDRINUSE' }))).to.equal(EXIT_SYSTEM)
    expect(exitCodeFor({ code: 'commander.invalidArgument' })).to.equal(EXIT_USAGE)
    expect(exitCodeFor(new Error('boom'))).to.equal(EXIT_FAILURE)
  })
})

describe('/proc/net/netfilter/nfnetlink_queue', () => {
  it('reads the counters of the asked queue', () => {
    const text = '    0  31337     0 2    64     0     0       10  1\n    5  4242     3 2   248    17    42     9001  1\n'
    expect(parseNfqueueProc(text, 5)).to.deep.equal({ queueNum: 5, portId: 4242, length: 3, copyMode: 2, copyRange: 248, queueDropped: 17, userDropped: 42 })
    expect(parseNfqueueProc(text, 1)).to.equal(undefined)
    expect(parseNfqueueProc('garbage\n', 0)).to.equal(undefined)
  })
})

describe('daemon', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tc-daemon-')) })
  afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

  const daemonModule = fileURLToPath(new URL('./daemon.js', import.meta.url))

  function script (body: string): string {
    const path = join(dir, 'child.mjs')
    writeFileSync(path, `import { reportToParent } from ${JSON.stringify(daemonModule)}\n${body}\n`)
    return path
  }

  it('returns 0 once the detached copy reports it is running, in a new session', async () => {
    const out = join(dir, 'sid')
    const path = script(`import { writeFileSync } from 'node:fs'
      import { execFileSync } from 'node:child_process'
      const sid = execFileSync('ps', ['-o', 'sid=', '-p', String(process.pid)]).toString().trim()
      writeFileSync(${JSON.stringify(out)}, sid + ' ' + process.pid)
      reportToParent({ ready: true })`)
    const r = await startDaemon(path, [], 10_000)
    expect(r.code).to.equal(0)
    const [sid, pid] = readFileSync(out, 'utf8').split(' ')
    expect(sid).to.equal(pid) // session leader: setsid() happened
  })

  it('passes on the copy\'s start-up error and exit code', async () => {
    const path = script("reportToParent({ ready: false, code: 3, message: 'queue 0 is already bound by another process' })")
    const r = await startDaemon(path, [], 10_000)
    expect(r.code).to.equal(3)
    expect(r.message).to.equal('queue 0 is already bound by another process')
  })

  it('fails when the copy exits without a report', async () => {
    const path = script('process.exit(0)')
    const r = await startDaemon(path, [], 10_000)
    expect(r.code).to.equal(1)
    expect(r.message).to.contain('before it was ready')
  })

  /** Polls until `pid` is gone (reaped), at most `ms`. */
  async function gone (pid: number, ms = 5000): Promise<boolean> {
    const end = Date.now() + ms
    for (;;) {
      try {
        process.kill(pid, 0)
      } catch {
        return true
      }
      if (Date.now() > end) return false
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  it('stops (by its pid) a copy that does not report in time, and says so', async () => {
    const path = script('setInterval(() => {}, 1000)')
    const r = await startDaemon(path, [], 300)
    expect(r.code).to.equal(1)
    expect(r.message).to.equal(`the daemon (pid ${r.pid!}) did not report within 0.3 s; it was stopped with SIGTERM; see its log file`)
    expect(await gone(r.pid!), 'the copy is gone').to.equal(true)
  })

  it('uses SIGKILL on a copy that ignores SIGTERM', async function () {
    this.timeout(10_000)
    // 3 s: time enough for the copy to start and install its handler, even on a busy machine
    const path = script("process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)")
    const r = await startDaemon(path, [], 3000, { killGraceMs: 200 })
    expect(r.message).to.match(/did not report within 3 s; it was stopped with SIGKILL/)
    expect(await gone(r.pid!)).to.equal(true)
  })

  it('stops the copy when the parent is told to stop while it waits', async () => {
    const path = script('setInterval(() => {}, 1000)')
    const abort = new AbortController()
    setTimeout(() => { abort.abort('SIGINT') }, 200)
    const r = await startDaemon(path, [], 10_000, { signal: abort.signal })
    expect(r.code).to.equal(1)
    expect(r.message).to.match(/^SIGINT received before the daemon \(pid \d+\) reported; it was stopped with SIGTERM/)
    expect(await gone(r.pid!)).to.equal(true)
  })
})

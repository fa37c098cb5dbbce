// The tcpcopy program: flags → config → engine, live capture or offline
// replay, with logging, daemon mode, pidfile and signals. The only place
// tcpcopy writes to stdout/stderr.
import { fileURLToPath } from 'node:url'
import { tcpcopyOptions, type TcpcopyConfig } from '@tcpcopy/config'
import { createCopy, createCopyCore, type Copy, type CopyExit } from '@tcpcopy/copy'
import { IoError, type Logger, type PacketIoOptions } from '@tcpcopy/interface'
import { FileLog } from './log.js'
import { PidFile } from './pidfile.js'
import { isDaemonChild } from './daemon.js'
import { exitCodeFor, EXIT_OK, EXIT_USAGE, EXIT_FAILURE, EXIT_SYSTEM } from './exit-codes.js'
import { openCopyCapture, openCopySend, copyFilterText, liveTimers, turnSleep } from './tcpcopy-capture.js'
import { runOfflineReplay, type OfflineDeps, type OfflineResult } from './offline.js'
import {
  ProgramSignals, daemonParent, failWith, openProgramLog, parseProgram, startFailed, startSucceeded,
  type Output, type ProgramIo, type ProgramLog
} from './program.js'

/** What the program touches outside itself; tests pass fakes. */
export interface TcpcopyCliDeps extends ProgramIo {
  stderr: Output & { isTTY?: boolean }
  /** Builds the engine; the default opens the native capture and send sockets. */
  createEngine: (config: TcpcopyConfig, log: Logger) => Copy
  /** Opens the log (the default: a FileLog). */
  openLog: (config: TcpcopyConfig) => ProgramLog
  /** Offline replay hooks (file reading, clock); tests shrink them. */
  offline?: Partial<Omit<OfflineDeps, 'copy' | 'log' | 'signal'>>
}

export function defaultCopyEngine (config: TcpcopyConfig, log: Logger): Copy {
  const core = createCopyCore()
  return createCopy(config, {
    core,
    capture: config.input.kind === 'offline' ? undefined : (opts: PacketIoOptions) => openCopyCapture(config, opts),
    send: (opts: PacketIoOptions) => openCopySend(config, opts),
    sleep: config.input.kind === 'offline' || config.wakeInterval === 0 ? undefined : turnSleep(),
    timers: config.input.kind === 'offline' ? undefined : liveTimers(),
    log
  })
}

const DEFAULTS: TcpcopyCliDeps = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signals: process,
  createEngine: defaultCopyEngine,
  openLog: (config) => new FileLog({ path: config.logFile, debug: process.env.TCPCOPY_DEBUG === '1' }),
  script: fileURLToPath(new URL('../bin/tcpcopy.js', import.meta.url))
}

/** The exit code for the reason the engine stopped. */
export function exitCodeForCopy (exit: CopyExit): number {
  switch (exit.reason) {
    case 'stopped': return EXIT_OK
    case 'no-intercept': return EXIT_SYSTEM
    case 'send-failed': return exit.error !== undefined ? exitCodeFor(exit.error) : EXIT_SYSTEM
    default: return exit.error !== undefined ? exitCodeFor(exit.error) : EXIT_FAILURE
  }
}

function captureText (config: TcpcopyConfig): string {
  if (config.input.kind === 'offline') return `offline replay of ${config.input.file}`
  const where = config.input.kind === 'pcap' && config.input.devices.length > 0 ? config.input.devices.join(',') : 'all interfaces'
  return `capturing inbound packets on ${where} with the filter "${copyFilterText(config)}"; ` +
    `sending with ${config.outputDevice !== undefined ? `Ethernet frames on ${config.outputDevice}` : 'a raw IPv4 socket'}; ` +
    (config.wakeInterval > 0 ? `busy turns at least ${config.wakeInterval} ms apart (--wake-interval)` : 'every wake-up handled at once (--wake-interval 0)')
}

/** Runs tcpcopy; resolves with the exit code once it has stopped (or failed to start). */
export async function runTcpcopyCli (argv: string[], overrides: Partial<TcpcopyCliDeps> = {}): Promise<number> {
  const deps: TcpcopyCliDeps = { ...DEFAULTS, ...overrides }
  // 0. signal handlers before anything else (see ProgramSignals)
  return await ProgramSignals.run(deps, 'tcpcopy', async (signals) => await run(argv, deps, signals))
}

async function run (argv: string[], deps: TcpcopyCliDeps, signals: ProgramSignals): Promise<number> {
  const fail = (err: unknown): number => failWith('tcpcopy', deps, err)

  // 1. flags, environment, config file; a -x that yields no filter is a usage error now, not after the daemon started
  const parsed = await parseProgram(tcpcopyOptions, argv, deps, (c) => { copyFilterText(c) })
  if ('code' in parsed) return parsed.code
  const config = parsed.config
  const offline = config.input.kind === 'offline'
  const child = isDaemonChild(deps.env)

  // 2. daemon: the parent waits for the detached copy to run, then exits
  const parentCode = await daemonParent('tcpcopy', config.daemon, argv, deps)
  if (parentCode !== undefined) return parentCode

  // 3. log, engine, pidfile
  const log = openProgramLog('tcpcopy', config, deps.openLog, deps)
  if ('code' in log) return log.code
  log.notice(captureText(config))

  /** A stop asked for during start-up: nothing was left running; exit 0 (1 after a fatal error). */
  const stopped = (): number => {
    const why = `${signals.stopSignal ?? 'a stop request'} received during start-up`
    if (isDaemonChild(deps.env)) startFailed('tcpcopy', new Error(`${why}; the daemon stopped`), deps)
    else deps.stderr.write(`tcpcopy: ${why}; stopped\n`)
    log.notice(`stopped (${why})`)
    log.close?.()
    return signals.fatalError !== undefined ? EXIT_FAILURE : EXIT_OK
  }
  if (signals.stopSignal !== undefined) return stopped()

  let engine: Copy | undefined
  let pidfile: PidFile | undefined
  try {
    engine = deps.createEngine(config, log)
    const starting = engine
    // SIGTERM/SIGINT now cancel the start: the engine closes what it opened.
    signals.whileStarting(() => { starting.stop().catch(() => {}) })
    await engine.start()
    if (signals.stopSignal !== undefined) throw new Error(`${signals.stopSignal} received during start-up`)
    if (config.pidfile !== undefined) pidfile = new PidFile(config.pidfile, process.pid, { program: 'tcpcopy', warn: (m) => { log.warn(m) } })
  } catch (err) {
    if (engine !== undefined) await engine.stop().catch(() => {})
    if (signals.stopSignal !== undefined) return stopped() // asked to stop: not a failure of the start
    // Not reaching intercept is a system failure (exit 3); the engine's message already names the addresses and the fix.
    const error = err instanceof Error && (err as { code?: string }).code === 'TC_ERR_COPY_NO_INTERCEPT'
      ? new IoError(err.message, 'TC_ERR_COPY_NO_INTERCEPT', 0, 'connect', { cause: err })
      : err
    const code = startFailed('tcpcopy', error, deps)
    log.close?.()
    return code
  }
  startSucceeded(deps)

  // 4. run until a signal, the engine stops by itself, or the replay ends
  const running = engine
  const abort = new AbortController()
  const removeSignals = signals.run(log, {
    stats: () => { running.reportStats() },
    stop: () => {
      abort.abort()
      running.stop().catch((err: unknown) => { log.error(`stop failed: ${(err as Error).message}`) })
    }
  })

  let code: number
  try {
    if (offline) {
      const progressToTty = deps.stderr.isTTY === true && !child
      const replay: OfflineResult = await runOfflineReplay(config, {
        ...deps.offline,
        copy: running,
        log,
        signal: abort.signal,
        progress: deps.offline?.progress ?? ((line, final) => {
          if (progressToTty) deps.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`)
          else if (final) log.notice(line)
        })
      })
      log.notice(replay.line)
      if (!child) deps.stdout.write(`tcpcopy: ${replay.line}\n`)
      await running.stop()
      const exit = await running.done
      if (replay.error !== undefined && exit.reason === 'stopped') {
        log.error(replay.error.message)
        code = fail(replay.error)
        if (code === EXIT_USAGE) code = EXIT_FAILURE // the flags were fine; the file or the run was not
      } else {
        code = exitCodeForCopy(exit)
        if (exit.error !== undefined && code !== EXIT_OK) deps.stderr.write(`tcpcopy: ${exit.error.message}\n`)
      }
    } else {
      const exit = await running.done
      code = exitCodeForCopy(exit)
      if (exit.error !== undefined && code !== EXIT_OK && !child) deps.stderr.write(`tcpcopy: ${exit.error.message}\n`)
    }
  } finally {
    removeSignals()
  }
  if (signals.fatalError !== undefined) code = EXIT_FAILURE
  pidfile?.remove()
  log.notice('stopped')
  log.close?.()
  return code
}

// The intercept program: flags → config → engine, with logging, daemon mode,
// pidfile and signals. The only place intercept writes to stdout/stderr.
import { fileURLToPath } from 'node:url'
import { interceptOptions, type InterceptConfig } from '@tcpcopy/config'
import { createIntercept, type Intercept, type InterceptOptions } from '@tcpcopy/intercept'
import type { PacketIoOptions } from '@tcpcopy/interface'
import type { Logger } from '@tcpcopy/interface'
import { HELLO_VERSION_1X, KNOWN_HELLO_VERSIONS, formatVersion } from '@tcpcopy/protocol'
import { FileLog } from './log.js'
import { PidFile } from './pidfile.js'
import { isDaemonChild } from './daemon.js'
import { exitCodeFor, EXIT_FAILURE, EXIT_OK } from './exit-codes.js'
import { readNfqueueProc } from './proc-nfqueue.js'
import { capturePathText, openInterceptCapture } from './capture.js'
import { VERSION, INTERNAL_VERSION } from './version.js'
import {
  ProgramSignals, daemonParent, openProgramLog, parseProgram, startFailed, startSucceeded, type ProgramIo, type ProgramLog
} from './program.js'

export type { Output } from './program.js'

/** What the program touches outside itself; tests pass fakes. */
export interface InterceptCliDeps extends ProgramIo {
  /** Builds the engine; the default opens the native capture. */
  createEngine: (config: InterceptConfig, log: Logger) => Intercept
  /** Opens the log (the default: a FileLog). */
  openLog: (config: InterceptConfig) => ProgramLog
}

/** The engine's options from the program's config (the engine does not know the option table). */
export function interceptEngineOptions (config: InterceptConfig): InterceptOptions {
  return {
    mode: config.mode,
    bind: config.bind,
    port: config.port,
    passlist: config.passlist,
    allow: config.allow.map((c) => ({ address: c.address, prefixLength: c.prefixLength })),
    hashSize: config.hashSize,
    maxRoutes: config.maxRoutes,
    timeout: config.timeout,
    dnat: config.dnat,
    queueNum: config.queueNum,
    queueMaxlen: config.queueMaxlen,
    combined: config.combined,
    batchSize: config.batchSize,
    payload: config.payload,
    captureRing: config.captureRing
  }
}

export function defaultEngine (config: InterceptConfig, log: Logger): Intercept {
  return createIntercept(interceptEngineOptions(config), {
    // Each native capture reports its own link type; the engine reads it.
    capture: (opts: PacketIoOptions) => openInterceptCapture(config, opts),
    log,
    kernelQueueStats: config.mode === 'traditional' ? () => readNfqueueProc(config.queueNum) : undefined
  })
}

const DEFAULTS: InterceptCliDeps = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signals: process,
  createEngine: defaultEngine,
  openLog: (config) => new FileLog({ path: config.logFile, debug: process.env.TCPCOPY_DEBUG === '1' }),
  script: fileURLToPath(new URL('../bin/intercept.js', import.meta.url))
}

function ruleHint (config: InterceptConfig): string {
  return `responses are read from NFQUEUE queue ${config.queueNum}; queue the test application's responses with ` +
    `"iptables -I OUTPUT -p tcp --sport <app port> -j NFQUEUE --queue-num ${config.queueNum}" ` +
    '(the original "-j QUEUE" rule works only with iptables-legacy on this kind of kernel)'
}

/** The hello versions, as the start-up line names them. */
function versionsText (): string {
  const old = KNOWN_HELLO_VERSIONS.filter((v) => v !== HELLO_VERSION_1X).map(formatVersion)
  return `0.9: ${old.join(', ')}; 1.x: ${HELLO_VERSION_1X}`
}

/**
 * The log as the engine sees it during start-up: in the foreground, warnings
 * also go to standard error ("intercept: warning: ..."), so the operator sees
 * them without opening the log. Errors are not copied: a failed start prints
 * its own line.
 */
class StartupEcho implements Logger {
  on: boolean
  constructor (readonly log: Logger, readonly out: ProgramIo['stderr'], on: boolean) { this.on = on }
  error (m: string): void { this.log.error(m) }
  warn (m: string): void {
    this.log.warn(m)
    if (this.on) this.out.write(`intercept: warning: ${m}\n`)
  }

  notice (m: string): void { this.log.notice(m) }
  info (m: string): void { this.log.info(m) }
  debug (m: string): void { this.log.debug(m) }
}

/** Runs intercept; resolves with the exit code once it has stopped (or failed to start). */
export async function runInterceptCli (argv: string[], overrides: Partial<InterceptCliDeps> = {}): Promise<number> {
  const deps: InterceptCliDeps = { ...DEFAULTS, ...overrides }
  // 0. signal handlers before anything else (see ProgramSignals)
  return await ProgramSignals.run(deps, 'intercept', async (signals) => await run(argv, deps, signals))
}

async function run (argv: string[], deps: InterceptCliDeps, signals: ProgramSignals): Promise<number> {
  // 1. flags, environment, config file
  const parsed = await parseProgram(interceptOptions, argv, deps)
  if ('code' in parsed) return parsed.code
  const config = parsed.config

  // 2. daemon: the parent waits for the detached copy to run, then exits
  const parentCode = await daemonParent('intercept', config.daemon, argv, deps)
  if (parentCode !== undefined) return parentCode

  // 3. log, engine, pidfile
  const log = openProgramLog('intercept', config, deps.openLog, deps)
  if ('code' in log) return log.code
  const foreground = !isDaemonChild(deps.env) && config.logFile !== '-'
  const startupLog = new StartupEcho(log, deps.stderr, foreground)
  log.notice(`intercept version:${VERSION}, internal version:${INTERNAL_VERSION} (hello versions it speaks: ${versionsText()})`)
  log.notice(`mode: ${config.mode}${config.mode === 'advanced'
    ? ` on ${config.devices.length === 0 ? 'all interfaces' : config.devices.join(',')}, filter "${config.filter ?? ''}", capture: ${capturePathText(config)}`
    : ''}`)
  if (config.mode === 'traditional') {
    log.notice(ruleHint(config))
    if (foreground) deps.stderr.write(`intercept: note: ${ruleHint(config)}\n`)
  }

  /** A stop asked for during start-up: nothing was left running; exit 0 (1 after a fatal error). */
  const stopped = (): number => {
    const why = `${signals.stopSignal ?? 'a stop request'} received during start-up`
    const code = signals.fatalError !== undefined ? EXIT_FAILURE : EXIT_OK
    if (isDaemonChild(deps.env)) startFailed('intercept', new Error(`${why}; the daemon stopped`), deps)
    else deps.stderr.write(`intercept: ${why}; stopped\n`)
    log.notice(`stopped (${why})`)
    log.close?.()
    return code
  }
  // Signals that came while the steps above blocked the event loop (opening
  // the log can: a FIFO, a hung NFS mount) wait in libuv's signal pipe, which
  // the loop reads within two turns: take them before the engine touches the
  // kernel.
  for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => { setImmediate(resolve) })
  if (signals.stopSignal !== undefined) return stopped()

  let engine: Intercept | undefined
  let pidfile: PidFile | undefined
  try {
    engine = deps.createEngine(config, startupLog)
    const starting = engine
    // SIGTERM/SIGINT now cancel the start: the engine closes what it opened.
    signals.whileStarting(() => { starting.stop().catch(() => {}) })
    const at = await engine.start()
    if (signals.stopSignal !== undefined) throw new Error(`${signals.stopSignal} received during start-up`)
    log.notice(`listening for tcpcopy on ${at.address}:${at.port}`)
    if (config.pidfile !== undefined) pidfile = new PidFile(config.pidfile, process.pid, { program: 'intercept', warn: (m) => { startupLog.warn(m) } })
  } catch (err) {
    if (engine !== undefined) await engine.stop().catch(() => {})
    if (signals.stopSignal !== undefined) return stopped() // asked to stop: not a failure of the start
    const code = startFailed('intercept', err, deps)
    log.close?.()
    return code
  }
  startupLog.on = false
  startSucceeded(deps)

  // 4. run until SIGTERM/SIGINT (or a fatal error)
  const running = engine
  const code = await new Promise<number>((resolve) => {
    signals.run(log, {
      stats: () => { running.reportStats() },
      stop: () => {
        running.stop().then(() => { resolve(signals.fatalError !== undefined ? EXIT_FAILURE : EXIT_OK) }, (err: unknown) => {
          log.error(`stop failed: ${(err as Error).message}`)
          resolve(signals.fatalError !== undefined ? EXIT_FAILURE : exitCodeFor(err))
        })
      }
    })
  })
  pidfile?.remove()
  log.notice('stopped')
  log.close?.()
  return code
}

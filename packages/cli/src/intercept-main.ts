// The intercept program: flags → config → engine, with logging, daemon mode,
// pidfile and signals. The only place intercept writes to stdout/stderr.
import { Command, CommanderError } from 'commander'
import { fileURLToPath } from 'node:url'
import { interceptOptions, addOptions, resolveConfig, type InterceptConfig } from '@tcpcopy/config'
import { createIntercept, type Intercept } from '@tcpcopy/intercept'
import type { PacketIoOptions } from '@tcpcopy/interface'
import type { Logger } from '@tcpcopy/interface'
import { FileLog } from './log.js'
import { PidFile } from './pidfile.js'
import { startDaemon, isDaemonChild, reportToParent } from './daemon.js'
import { exitCodeFor, EXIT_OK, EXIT_USAGE } from './exit-codes.js'
import { readNfqueueProc } from './proc-nfqueue.js'
import { openInterceptCapture } from './capture.js'
import { VERSION, INTERNAL_VERSION } from './version.js'

export interface Output {
  write (text: string): void
}

/** What the program touches outside itself; tests pass fakes. */
export interface InterceptCliDeps {
  stdout: Output
  stderr: Output
  env: NodeJS.ProcessEnv
  /** Where signals come from (process by default). */
  signals: Pick<NodeJS.EventEmitter, 'on' | 'off'>
  /** Builds the engine; the default opens the native capture. */
  createEngine: (config: InterceptConfig, log: Logger) => Intercept
  /** Opens the log (the default: a FileLog). */
  openLog: (config: InterceptConfig) => Logger & { reopen?: () => void, close?: () => void }
  /** The script to run for -d (the program's own entry). */
  script: string
}

export function defaultEngine (config: InterceptConfig, log: Logger): Intercept {
  return createIntercept(config, {
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

export function buildInterceptCommand (deps: Pick<InterceptCliDeps, 'stdout' | 'stderr'>): Command {
  const cmd = new Command('intercept')
    .description(interceptOptions.summary)
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.stdout.write(s), writeErr: (s) => deps.stderr.write(s) })
    .allowExcessArguments(false)
  addOptions(cmd, interceptOptions, { version: `intercept version:${VERSION}` })
  return cmd
}

function ruleHint (config: InterceptConfig): string {
  return `responses are read from NFQUEUE queue ${config.queueNum}; queue the test application's responses with ` +
    `"iptables -I OUTPUT -p tcp --sport <app port> -j NFQUEUE --queue-num ${config.queueNum}" ` +
    '(the original "-j QUEUE" rule works only with iptables-legacy on this kind of kernel)'
}

/** Runs intercept; resolves with the exit code once it has stopped (or failed to start). */
export async function runInterceptCli (argv: string[], overrides: Partial<InterceptCliDeps> = {}): Promise<number> {
  const deps: InterceptCliDeps = { ...DEFAULTS, ...overrides }
  const fail = (err: unknown): number => {
    deps.stderr.write(`intercept: ${err instanceof Error ? err.message : String(err)}\n`)
    return exitCodeFor(err)
  }

  // 1. flags, environment, config file
  const cmd = buildInterceptCommand(deps)
  try {
    await cmd.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT_OK : EXIT_USAGE
    }
    return fail(err)
  }
  let config: InterceptConfig
  try {
    config = resolveConfig(interceptOptions, { flags: cmd.opts(), env: deps.env, warn: (m) => deps.stderr.write(`intercept: warning: ${m}\n`) })
  } catch (err) {
    return fail(err)
  }

  // 2. daemon: the parent waits for the detached copy to run, then exits
  const child = isDaemonChild(deps.env)
  if (config.daemon && !child) {
    const r = await startDaemon(deps.script, argv.slice(2))
    if (r.code !== EXIT_OK) deps.stderr.write(`intercept: ${r.message ?? 'the daemon failed to start'}\n`)
    return r.code
  }

  // 3. log, engine, pidfile
  let log: ReturnType<InterceptCliDeps['openLog']>
  try {
    log = deps.openLog(config)
  } catch (err) {
    const code = fail(err)
    if (child) reportToParent({ ready: false, code, message: (err as Error).message }, deps.env)
    return code
  }
  log.notice(`intercept version:${VERSION}, internal version:${INTERNAL_VERSION} (speaks 5, 0x8005 and 6)`)
  log.notice(`mode: ${config.mode}${config.mode === 'advanced' ? ` on ${config.devices.length === 0 ? 'all interfaces' : config.devices.join(',')}, filter "${config.filter ?? ''}"` : ''}`)
  if (config.mode === 'traditional') log.notice(ruleHint(config))

  let engine: Intercept | undefined
  let pidfile: PidFile | undefined
  try {
    engine = deps.createEngine(config, log)
    const at = await engine.start()
    log.notice(`listening for tcpcopy on ${at.address}:${at.port}`)
    if (config.pidfile !== undefined) pidfile = new PidFile(config.pidfile)
  } catch (err) {
    if (engine !== undefined) await engine.stop().catch(() => {})
    const code = child ? exitCodeFor(err) : fail(err)
    if (child) reportToParent({ ready: false, code, message: (err as Error).message }, deps.env)
    log.close?.()
    return code
  }
  if (child) reportToParent({ ready: true }, deps.env)

  // 4. run until SIGTERM/SIGINT
  const running = engine
  const code = await new Promise<number>((resolve) => {
    let stopping = false
    const handlers: Record<string, () => void> = {
      SIGTERM: () => stop('SIGTERM'),
      SIGINT: () => stop('SIGINT'),
      SIGUSR1: () => { running.reportStats() },
      SIGHUP: () => { log.reopen?.(); log.notice('log file reopened') },
      SIGPIPE: () => {}
    }
    const finish = (c: number): void => {
      for (const [sig, fn] of Object.entries(handlers)) deps.signals.off(sig, fn)
      resolve(c)
    }
    function stop (signal: string): void {
      if (stopping) return
      stopping = true
      log.notice(`${signal} received, stopping`)
      running.stop().then(() => finish(EXIT_OK), (err: unknown) => {
        log.error(`stop failed: ${(err as Error).message}`)
        finish(exitCodeFor(err))
      })
    }
    for (const [sig, fn] of Object.entries(handlers)) deps.signals.on(sig, fn)
  })
  pidfile?.remove()
  log.notice('stopped')
  log.close?.()
  return code
}

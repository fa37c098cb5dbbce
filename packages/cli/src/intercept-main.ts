// The intercept program: flags → config → engine, with logging, daemon mode,
// pidfile and signals. The only place intercept writes to stdout/stderr.
import { fileURLToPath } from 'node:url'
import { interceptOptions, type InterceptConfig } from '@tcpcopy/config'
import { createIntercept, type Intercept } from '@tcpcopy/intercept'
import type { PacketIoOptions } from '@tcpcopy/interface'
import type { Logger } from '@tcpcopy/interface'
import { FileLog } from './log.js'
import { PidFile } from './pidfile.js'
import { exitCodeFor, EXIT_OK } from './exit-codes.js'
import { readNfqueueProc } from './proc-nfqueue.js'
import { openInterceptCapture } from './capture.js'
import { VERSION, INTERNAL_VERSION } from './version.js'
import {
  daemonParent, installSignals, openProgramLog, parseProgram, startFailed, startSucceeded, type ProgramIo, type ProgramLog
} from './program.js'

export type { Output } from './program.js'

/** What the program touches outside itself; tests pass fakes. */
export interface InterceptCliDeps extends ProgramIo {
  /** Builds the engine; the default opens the native capture. */
  createEngine: (config: InterceptConfig, log: Logger) => Intercept
  /** Opens the log (the default: a FileLog). */
  openLog: (config: InterceptConfig) => ProgramLog
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

function ruleHint (config: InterceptConfig): string {
  return `responses are read from NFQUEUE queue ${config.queueNum}; queue the test application's responses with ` +
    `"iptables -I OUTPUT -p tcp --sport <app port> -j NFQUEUE --queue-num ${config.queueNum}" ` +
    '(the original "-j QUEUE" rule works only with iptables-legacy on this kind of kernel)'
}

/** Runs intercept; resolves with the exit code once it has stopped (or failed to start). */
export async function runInterceptCli (argv: string[], overrides: Partial<InterceptCliDeps> = {}): Promise<number> {
  const deps: InterceptCliDeps = { ...DEFAULTS, ...overrides }

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
    const code = startFailed('intercept', err, deps)
    log.close?.()
    return code
  }
  startSucceeded(deps)

  // 4. run until SIGTERM/SIGINT
  const running = engine
  const code = await new Promise<number>((resolve) => {
    const remove = installSignals(deps, log, {
      stats: () => { running.reportStats() },
      stop: () => {
        running.stop().then(() => { remove(); resolve(EXIT_OK) }, (err: unknown) => {
          log.error(`stop failed: ${(err as Error).message}`)
          remove()
          resolve(exitCodeFor(err))
        })
      }
    })
  })
  pidfile?.remove()
  log.notice('stopped')
  log.close?.()
  return code
}

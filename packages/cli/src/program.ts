// What intercept and tcpcopy do alike before and around their engines:
// flags → config (flag > env > file > default), -d (the parent waits for the
// daemon to report), the log, and the signal handlers, which are in place
// from the first step (parseProgram) to the last: SIGUSR1 would otherwise
// start Node's inspector, and SIGTERM/SIGHUP would end the process without
// its cleanup.
import { Command, CommanderError } from 'commander'
import { addOptions, resolveConfig, type OptionTable } from '@tcpcopy/config'
import type { Logger } from '@tcpcopy/interface'
import { startDaemon, isDaemonChild, reportToParent } from './daemon.js'
import { exitCodeFor, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.js'
import { VERSION } from './version.js'

export interface Output {
  write (text: string): void
}

/** The outside world of a program; tests pass fakes. */
export interface ProgramIo {
  stdout: Output
  stderr: Output
  env: NodeJS.ProcessEnv
  /** Where signals (and uncaughtException / unhandledRejection) come from (process by default). */
  signals: Pick<NodeJS.EventEmitter, 'on' | 'off'>
  /** The script to run for -d (the program's own entry). */
  script: string
  /** Ends the process at once: the last resort after a fatal error (default process.exit). */
  exit?: (code: number) => void
}

/** A program's log; reopen() returns false when the file could not be reopened (the old one stays in use). */
export type ProgramLog = Logger & { reopen?: () => boolean | undefined, close?: () => void }

/** The commander program of an option table; `name -v` prints "name version:X" as the originals do. */
export function buildProgramCommand (table: OptionTable<any>, io: Pick<ProgramIo, 'stdout' | 'stderr'>): Command {
  const name = table.program
  const cmd = new Command(name)
    .description(table.summary)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .allowExcessArguments(false)
  addOptions(cmd, table, { version: `${name} version:${VERSION}` })
  return cmd
}

/** Writes "name: message" to stderr and returns the exit code for the error. */
export function failWith (name: string, io: Pick<ProgramIo, 'stderr'>, err: unknown): number {
  io.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`)
  return exitCodeFor(err)
}

/**
 * Parses argv and resolves the config; `check` may reject it (a usage
 * error). Returns the config, or the exit code when the program ends here
 * (-h, -v, or an error already printed).
 */
export async function parseProgram<T> (table: OptionTable<T>, argv: string[], io: ProgramIo,
  check?: (config: T) => void): Promise<{ config: T } | { code: number }> {
  const name = table.program
  const signals = ProgramSignals.install(io, name)
  const end = (code: number): { code: number } => {
    signals.dispose()
    return { code }
  }
  const cmd = buildProgramCommand(table, io)
  try {
    await cmd.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      return end(err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT_OK : EXIT_USAGE)
    }
    return end(failWith(name, io, err))
  }
  try {
    const config = resolveConfig(table, { flags: cmd.opts(), env: io.env, warn: (m) => io.stderr.write(`${name}: warning: ${m}\n`) })
    check?.(config)
    return { config }
  } catch (err) {
    return end(failWith(name, io, err))
  }
}

/**
 * -d: in the parent, starts the detached copy and returns its exit code once
 * it reported (the parent then exits with it); in the copy (or without -d),
 * undefined.
 */
export async function daemonParent (name: string, daemon: boolean, argv: string[], io: ProgramIo): Promise<number | undefined> {
  if (!daemon || isDaemonChild(io.env)) return undefined
  const signals = ProgramSignals.install(io, name)
  // SIGTERM/SIGINT while the parent waits: stop the copy it started, then exit.
  const abort = new AbortController()
  signals.whileStarting((signal) => { abort.abort(signal) })
  const r = await startDaemon(io.script, argv.slice(2), undefined, { signal: abort.signal })
  if (r.code !== EXIT_OK) io.stderr.write(`${name}: ${r.message ?? 'the daemon failed to start'}\n`)
  signals.dispose()
  return r.code
}

/** Opens the log; a failure is printed (or reported to the daemon parent) and its exit code returned. */
export function openProgramLog<T> (name: string, config: T, open: (config: T) => ProgramLog, io: ProgramIo): ProgramLog | { code: number } {
  const signals = ProgramSignals.install(io, name)
  try {
    const log = open(config)
    signals.log = log
    return log
  } catch (err) {
    const code = failWith(name, io, err)
    if (isDaemonChild(io.env)) reportToParent({ ready: false, code, message: (err as Error).message }, io.env)
    signals.dispose()
    return { code }
  }
}

/**
 * A failed start-up: the daemon copy reports it to its parent (which prints
 * it), a foreground program prints it. Returns the exit code.
 */
export function startFailed (name: string, err: unknown, io: ProgramIo): number {
  ProgramSignals.of(io)?.dispose()
  if (!isDaemonChild(io.env)) return failWith(name, io, err)
  const code = exitCodeFor(err)
  reportToParent({ ready: false, code, message: (err as Error).message }, io.env)
  return code
}

/** Tells the daemon parent (if any) that the program runs. */
export function startSucceeded (io: ProgramIo): void {
  if (isDaemonChild(io.env)) reportToParent({ ready: true }, io.env)
}

/** How long a program may take to shut down after a fatal error before it is ended at once. */
export const FATAL_EXIT_MS = 10_000

const EVENTS = ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGHUP', 'SIGPIPE', 'uncaughtException', 'unhandledRejection'] as const

const installed = new WeakMap<object, ProgramSignals>()

/**
 * The signal handlers of a program, from its first step to its end:
 *
 * - SIGTERM/SIGINT: while starting, the abort given to whileStarting() (or,
 *   when there is none, a stop right after the start); while running, stop;
 *   a second one is ignored.
 * - SIGUSR1: the statistics while running; before that a log line only.
 *   Having a listener keeps Node from opening its inspector on 127.0.0.1:9229.
 * - SIGHUP: reopens the log (logrotate); a failure keeps the old file.
 * - SIGPIPE: ignored.
 * - uncaughtException / unhandledRejection: logged, then the same ordered
 *   stop as SIGTERM; fatalError tells the program to exit non-zero, and if it
 *   has not ended FATAL_EXIT_MS later, exit(1) ends it.
 */
export class ProgramSignals {
  readonly #io: Pick<ProgramIo, 'signals' | 'stderr' | 'exit'>
  readonly #name: string
  readonly #handlers: Record<(typeof EVENTS)[number], (arg?: unknown) => void>
  #log: ProgramLog | undefined
  #onStop: ((signal: string) => void) | undefined
  #onStats: (() => void) | undefined
  #running = false
  #stopSignal: string | undefined
  #fatal: { error: unknown } | undefined
  #disposed = false

  private constructor (io: Pick<ProgramIo, 'signals' | 'stderr' | 'exit'>, name: string) {
    this.#io = io
    this.#name = name
    this.#handlers = {
      SIGTERM: () => { this.#stop('SIGTERM') },
      SIGINT: () => { this.#stop('SIGINT') },
      SIGUSR1: () => { this.#stats() },
      SIGHUP: () => { this.#reopen() },
      SIGPIPE: () => {},
      uncaughtException: (err) => { this.#fatalError('uncaught exception', err) },
      unhandledRejection: (reason) => { this.#fatalError('unhandled promise rejection', reason) }
    }
    for (const event of EVENTS) io.signals.on(event, this.#handlers[event])
  }

  /** The handlers of `io.signals`, installed now if they are not yet. */
  static install (io: Pick<ProgramIo, 'signals' | 'stderr' | 'exit'>, name: string): ProgramSignals {
    const have = installed.get(io.signals)
    if (have !== undefined && !have.#disposed) return have
    const s = new ProgramSignals(io, name)
    installed.set(io.signals, s)
    return s
  }

  /**
   * A program's whole run: installs the handlers before anything else (so a
   * signal during start-up is handled), runs `body`, and disposes of them
   * however it ends. Resolves with body's exit code.
   */
  static async run (io: Pick<ProgramIo, 'signals' | 'stderr' | 'exit'>, name: string,
    body: (signals: ProgramSignals) => Promise<number>): Promise<number> {
    const signals = ProgramSignals.install(io, name)
    try {
      return await body(signals)
    } finally {
      signals.dispose()
    }
  }

  /** The handlers installed on `io.signals`, if any. */
  static of (io: Pick<ProgramIo, 'signals'>): ProgramSignals | undefined {
    const s = installed.get(io.signals)
    return s === undefined || s.#disposed ? undefined : s
  }

  /** The log to write to (and reopen on SIGHUP) once it is open. */
  set log (log: ProgramLog | undefined) { this.#log = log }

  /** The signal (or fatal error kind) that asked the program to stop, if any. */
  get stopSignal (): string | undefined { return this.#stopSignal }

  /** Set after an uncaught exception or unhandled rejection: the program must exit non-zero. */
  get fatalError (): { error: unknown } | undefined { return this.#fatal }

  /** While starting, a stop request calls `abort` (at once when one came already). */
  whileStarting (abort: (signal: string) => void): void {
    this.#onStop = abort
    if (this.#stopSignal !== undefined) abort(this.#stopSignal)
  }

  /**
   * Running: SIGTERM/SIGINT call `stop(signal)` once, SIGUSR1 `stats()`. A
   * stop asked for during start-up is carried out now (on the next tick).
   * Returns the function that removes the handlers.
   */
  run (log: ProgramLog, on: { stop: (signal: string) => void, stats: () => void }): () => void {
    this.#log = log
    this.#running = true
    this.#onStats = on.stats
    this.#onStop = on.stop
    const pending = this.#stopSignal
    if (pending !== undefined) queueMicrotask(() => { on.stop(pending) })
    return () => { this.dispose() }
  }

  /** Removes every handler; idempotent. */
  dispose (): void {
    if (this.#disposed) return
    this.#disposed = true
    for (const event of EVENTS) this.#io.signals.off(event, this.#handlers[event])
    if (installed.get(this.#io.signals) === this) installed.delete(this.#io.signals)
  }

  #stop (signal: string): void {
    if (this.#stopSignal !== undefined) return
    this.#stopSignal = signal
    this.#log?.notice(this.#running ? `${signal} received, stopping` : `${signal} received during start-up, stopping`)
    this.#onStop?.(signal)
  }

  #stats (): void {
    if (this.#running && this.#onStats !== undefined) {
      try {
        this.#onStats()
      } catch (err) {
        this.#log?.error(`statistics failed: ${errorText(err)}`)
      }
      return
    }
    this.#log?.notice('SIGUSR1 received during start-up: no statistics yet')
  }

  #reopen (): void {
    const log = this.#log
    if (log === undefined) return
    let ok: boolean | undefined
    try {
      ok = log.reopen?.()
    } catch (err) {
      ok = false
      const line = `SIGHUP: reopening the log failed: ${errorText(err)}; still writing to the file opened before`
      log.error(line)
      this.#io.stderr.write(`${this.#name}: ${line}\n`)
    }
    if (ok !== false) log.notice('log file reopened')
  }

  #fatalError (kind: string, error: unknown): void {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
    if (this.#fatal !== undefined) {
      // a second one while stopping: say it, the stop already runs
      this.#log?.error(`fatal: another ${kind} while stopping: ${text}`)
      return
    }
    this.#fatal = { error }
    const line = `fatal: ${kind}: ${text}; stopping in order (capture, connections, pidfile) and exiting with status ${EXIT_FAILURE}`
    this.#log?.error(line)
    try { this.#io.stderr.write(`${this.#name}: ${line}\n`) } catch { /* no stderr */ }
    const exit = this.#io.exit ?? ((code: number) => process.exit(code))
    if (this.#onStop === undefined) {
      // nothing to stop yet (parsing, opening the log): end now
      exit(EXIT_FAILURE)
      return
    }
    const timer = setTimeout(() => { exit(EXIT_FAILURE) }, FATAL_EXIT_MS)
    timer.unref()
    if (this.#stopSignal === undefined) {
      this.#stopSignal = kind
      this.#onStop(kind)
    }
  }
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

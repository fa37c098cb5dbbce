// What intercept and tcpcopy do alike before and around their engines:
// flags → config (flag > env > file > default), -d (the parent waits for the
// daemon to report), the log, and the signal handlers.
import { Command, CommanderError } from 'commander'
import { addOptions, resolveConfig, type OptionTable } from '@tcpcopy/config'
import type { Logger } from '@tcpcopy/interface'
import { startDaemon, isDaemonChild, reportToParent } from './daemon.js'
import { exitCodeFor, EXIT_OK, EXIT_USAGE } from './exit-codes.js'
import { VERSION } from './version.js'

export interface Output {
  write (text: string): void
}

/** The outside world of a program; tests pass fakes. */
export interface ProgramIo {
  stdout: Output
  stderr: Output
  env: NodeJS.ProcessEnv
  /** Where signals come from (process by default). */
  signals: Pick<NodeJS.EventEmitter, 'on' | 'off'>
  /** The script to run for -d (the program's own entry). */
  script: string
}

export type ProgramLog = Logger & { reopen?: () => void, close?: () => void }

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
  const cmd = buildProgramCommand(table, io)
  try {
    await cmd.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      return { code: err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT_OK : EXIT_USAGE }
    }
    return { code: failWith(name, io, err) }
  }
  try {
    const config = resolveConfig(table, { flags: cmd.opts(), env: io.env, warn: (m) => io.stderr.write(`${name}: warning: ${m}\n`) })
    check?.(config)
    return { config }
  } catch (err) {
    return { code: failWith(name, io, err) }
  }
}

/**
 * -d: in the parent, starts the detached copy and returns its exit code once
 * it reported (the parent then exits with it); in the copy (or without -d),
 * undefined.
 */
export async function daemonParent (name: string, daemon: boolean, argv: string[], io: ProgramIo): Promise<number | undefined> {
  if (!daemon || isDaemonChild(io.env)) return undefined
  const r = await startDaemon(io.script, argv.slice(2))
  if (r.code !== EXIT_OK) io.stderr.write(`${name}: ${r.message ?? 'the daemon failed to start'}\n`)
  return r.code
}

/** Opens the log; a failure is printed (or reported to the daemon parent) and its exit code returned. */
export function openProgramLog<T> (name: string, config: T, open: (config: T) => ProgramLog, io: ProgramIo): ProgramLog | { code: number } {
  try {
    return open(config)
  } catch (err) {
    const code = failWith(name, io, err)
    if (isDaemonChild(io.env)) reportToParent({ ready: false, code, message: (err as Error).message }, io.env)
    return { code }
  }
}

/**
 * A failed start-up: the daemon copy reports it to its parent (which prints
 * it), a foreground program prints it. Returns the exit code.
 */
export function startFailed (name: string, err: unknown, io: ProgramIo): number {
  if (!isDaemonChild(io.env)) return failWith(name, io, err)
  const code = exitCodeFor(err)
  reportToParent({ ready: false, code, message: (err as Error).message }, io.env)
  return code
}

/** Tells the daemon parent (if any) that the program runs. */
export function startSucceeded (io: ProgramIo): void {
  if (isDaemonChild(io.env)) reportToParent({ ready: true }, io.env)
}

/**
 * The signals of both programs: SIGTERM/SIGINT call `stop(signal)` once,
 * SIGUSR1 `stats()`, SIGHUP reopens the log, SIGPIPE is ignored. Returns
 * the function that removes the handlers.
 */
export function installSignals (io: Pick<ProgramIo, 'signals'>, log: ProgramLog,
  on: { stop: (signal: string) => void, stats: () => void }): () => void {
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.notice(`${signal} received, stopping`)
    on.stop(signal)
  }
  const handlers: Record<string, () => void> = {
    SIGTERM: () => { stop('SIGTERM') },
    SIGINT: () => { stop('SIGINT') },
    SIGUSR1: () => { on.stats() },
    SIGHUP: () => { log.reopen?.(); log.notice('log file reopened') },
    SIGPIPE: () => {}
  }
  for (const [sig, fn] of Object.entries(handlers)) io.signals.on(sig, fn)
  return () => { for (const [sig, fn] of Object.entries(handlers)) io.signals.off(sig, fn) }
}

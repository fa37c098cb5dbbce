// The log of intercept and tcpcopy, in the original's line format
// (INTERCEPT.md §9): `YYYY/MM/DD HH:MM:SS +mmm [level] text`, local time,
// one write() per line. The file is opened for append and reopened on
// request (SIGHUP, for logrotate); a reopen that fails keeps the old file.
import { openSync, writeSync, closeSync } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigError } from '@tcpcopy/interface'

import type { Logger } from '@tcpcopy/interface'

/** The original's levels; the engines use the last five (Logger). */
export type LogLevel = 'emerg' | 'alert' | 'crit' | 'error' | 'warn' | 'notice' | 'info' | 'debug'

const MAX_LINE = 4096

function pad (n: number, width = 2): string { return String(n).padStart(width, '0') }

/** `2026/11/25 02:11:56 +123 [notice] text` */
export function formatLogLine (level: LogLevel, message: string, at: Date = new Date()): string {
  const stamp = `${at.getFullYear()}/${pad(at.getMonth() + 1)}/${pad(at.getDate())} ` +
    `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())} +${pad(at.getMilliseconds(), 3)}`
  let text = message.replace(/\n/g, ' ')
  if (text.length > MAX_LINE) text = text.slice(0, MAX_LINE) + '…'
  return `${stamp} [${level}] ${text}\n`
}

export interface FileLogOptions {
  /** A path, or '-' for standard error. */
  path: string
  /** Also copy warnings and errors to standard error (foreground runs). */
  echoErrors?: boolean
  /** Write debug lines too. */
  debug?: boolean
  /** Where the echo and reopen failures go (default: file descriptor 2). */
  stderr?: (text: string) => void
}

/** A logger writing to a file (append) that can be reopened. */
export class FileLog implements Logger {
  readonly path: string
  #fd: number
  #debug: boolean
  readonly #stderr: (text: string) => void
  /** Copy warnings and errors to standard error; may change while running (start-up only, say). */
  echoErrors: boolean

  constructor (opts: FileLogOptions) {
    this.path = opts.path === '-' ? '-' : resolve(opts.path)
    this.echoErrors = opts.echoErrors ?? false
    this.#debug = opts.debug ?? false
    this.#stderr = opts.stderr ?? ((text) => { try { writeSync(2, text) } catch { /* no stderr */ } })
    this.#fd = this.#open()
  }

  #open (): number {
    if (this.path === '-') return 2
    try {
      return openSync(this.path, 'a', 0o644)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      throw new ConfigError(`cannot open the log file ${this.path}: ${e.code ?? e.message}; ` +
        'choose a writable path with -l/--log-file (or -l - for standard error)', 'TC_ERR_CONFIG_LOG_FILE', { cause: err })
    }
  }

  /**
   * Reopens the file (after logrotate moved it). Returns false when the file
   * cannot be opened: then the old descriptor stays in use, and one error
   * line says so in the old file and on standard error. Never throws: it
   * runs from the SIGHUP handler.
   */
  reopen (): boolean {
    if (this.path === '-') return true
    let fd: number
    try {
      fd = this.#open()
    } catch (err) {
      const line = formatLogLine('error', `SIGHUP: ${(err as Error).message}; still writing to the file opened before ` +
        '(logrotate may have moved it); fix the path and send SIGHUP again')
      try { writeSync(this.#fd, line) } catch { /* the old file is gone too */ }
      this.#stderr(line)
      return false
    }
    const old = this.#fd
    this.#fd = fd
    try { closeSync(old) } catch { /* already closed */ }
    return true
  }

  write (level: LogLevel, message: string): void {
    const line = formatLogLine(level, message)
    try { writeSync(this.#fd, line) } catch { /* a full disk must not stop the program */ }
    if (this.echoErrors && this.path !== '-' && (level === 'error' || level === 'warn' || level === 'crit' || level === 'emerg' || level === 'alert')) {
      this.#stderr(line)
    }
  }

  error (message: string): void { this.write('error', message) }
  warn (message: string): void { this.write('warn', message) }
  notice (message: string): void { this.write('notice', message) }
  info (message: string): void { this.write('info', message) }
  debug (message: string): void { if (this.#debug) this.write('debug', message) }

  close (): void {
    if (this.path !== '-') {
      try { closeSync(this.#fd) } catch { /* already closed */ }
    }
  }
}

// The engine's logging seam: the engine never writes to stdout, stderr or a
// file; the CLI passes a Logger that writes the INTERCEPT.md §9 log format.

import type { LogLevel, Logger } from '@tcpcopy/interface'

export { silentLogger, type LogLevel, type Logger } from '@tcpcopy/interface'

/** A Logger that keeps every line, for tests and the simulator. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: LogLevel, message: string }> = []
  error (message: string): void { this.lines.push({ level: 'error', message }) }
  warn (message: string): void { this.lines.push({ level: 'warn', message }) }
  notice (message: string): void { this.lines.push({ level: 'notice', message }) }
  info (message: string): void { this.lines.push({ level: 'info', message }) }
  debug (message: string): void { this.lines.push({ level: 'debug', message }) }

  /** Lines of `level` (any level when undefined) whose text matches. */
  find (pattern: RegExp, level?: LogLevel): Array<{ level: LogLevel, message: string }> {
    return this.lines.filter((l) => (level === undefined || l.level === level) && pattern.test(l.message))
  }
}

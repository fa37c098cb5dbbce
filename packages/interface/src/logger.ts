// The logging seam of every engine: engines never write to stdout, stderr or
// a file themselves; they call a Logger, and the CLI decides where lines go
// (the -l log file, in the original's line format).

/** The levels both programs use (INTERCEPT.md §9), most severe first. */
export type LogLevel = 'error' | 'warn' | 'notice' | 'info' | 'debug'

export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['error', 'warn', 'notice', 'info', 'debug'])

/** Where an engine's log lines go. Messages are single lines without a trailing newline. */
export interface Logger {
  error (message: string): void
  warn (message: string): void
  notice (message: string): void
  info (message: string): void
  debug (message: string): void
}

/** A Logger that drops everything. */
export const silentLogger: Logger = Object.freeze({
  error () {},
  warn () {},
  notice () {},
  info () {},
  debug () {}
})

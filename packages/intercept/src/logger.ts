// The engine's logging seam. The engine never writes to stdout, stderr or a
// file itself: it calls a Logger, and the CLI decides where lines go (the
// log file of -l, with the INTERCEPT.md §9 line format).
import createDebug from 'debug'
import { LOG_LEVELS, type LogLevel, type Logger } from '@tcpcopy/interface'

export { LOG_LEVELS, silentLogger, type LogLevel, type Logger } from '@tcpcopy/interface'

/**
 * A Logger that writes through the `debug` package, one namespace per level
 * (`tcpcopy:intercept:warn`, ...): silent unless DEBUG selects it. The
 * default when no logger is given; the CLI passes its own.
 */
export function createDebugLogger (namespace = 'tcpcopy:intercept'): Logger {
  const out = {} as Record<LogLevel, createDebug.Debugger>
  for (const level of LOG_LEVELS) out[level] = createDebug(`${namespace}:${level}`)
  return {
    error: (m) => { out.error(m) },
    warn: (m) => { out.warn(m) },
    notice: (m) => { out.notice(m) },
    info: (m) => { out.info(m) },
    debug: (m) => { out.debug(m) }
  }
}

/**
 * Logs at most one line per `intervalMs` for a recurring condition, and
 * tells how many were held back in between ("(17 more since the last line)").
 */
export class RateLimitedLog {
  #last = -Infinity
  #suppressed = 0

  constructor (
    readonly log: (message: string) => void,
    readonly clock: () => number,
    readonly intervalMs = 10000
  ) {}

  /** Logs `message()` now, or counts it when a line went out less than intervalMs ago. */
  write (message: () => string): void {
    const now = this.clock()
    if (now - this.#last < this.intervalMs) {
      this.#suppressed++
      return
    }
    const more = this.#suppressed > 0 ? ` (${this.#suppressed} more since the last line)` : ''
    this.#last = now
    this.#suppressed = 0
    this.log(message() + more)
  }
}

/**
 * Lets at most `max` lines of one kind through per `windowMs`; the lines
 * over that are counted, and once the window is over one summary line
 * tells how many were held back. For lines that outside parties can cause
 * at will (connects, refused connections, closes): churn must not fill the
 * disk. Call tick() now and then (the engine does every second) so the
 * summary also comes when no further line of the kind follows.
 */
export class BurstLimitedLog {
  #windowStart = -Infinity
  #passed = 0
  #suppressed = 0

  constructor (
    /** Writes the summary line. */
    readonly summary: (suppressed: number, windowMs: number) => void,
    readonly clock: () => number,
    readonly max = 20,
    readonly windowMs = 10000
  ) {}

  /** Lines held back in the current window. */
  get suppressed (): number { return this.#suppressed }

  /** True when the caller may write its line now; false: it was counted instead. */
  allow (): boolean {
    const now = this.clock()
    if (now - this.#windowStart >= this.windowMs) {
      this.#flush()
      this.#windowStart = now
      this.#passed = 0
    }
    if (this.#passed < this.max) {
      this.#passed++
      return true
    }
    this.#suppressed++
    return false
  }

  /** Writes the summary of a window that is over. */
  tick (): void {
    if (this.clock() - this.#windowStart >= this.windowMs) this.#flush()
  }

  /** Writes the summary of the lines held back so far now (at shutdown). */
  summarize (): void {
    this.#flush()
  }

  #flush (): void {
    if (this.#suppressed === 0) return
    const n = this.#suppressed
    this.#suppressed = 0
    this.summary(n, this.windowMs)
  }
}

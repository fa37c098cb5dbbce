// -P/--pidfile: written once the program runs, removed when it stops.
import { readFileSync, writeFileSync, unlinkSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import { ConfigError } from '@tcpcopy/interface'

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A program name from a path: '/usr/lib/node_modules/.bin/intercept.js' → 'intercept'. */
function programName (path: string): string {
  return basename(path).replace(/\.(c|m)?js$/, '')
}

/**
 * The command line of a live process, as its arguments, from
 * /proc/<pid>/cmdline; undefined when it cannot be read.
 */
export function processCommandLine (pid: number, procRoot = '/proc'): string[] | undefined {
  try {
    const text = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8')
    return text.split('\0').filter((a) => a !== '')
  } catch {
    return undefined
  }
}

export interface PidFileOptions {
  /** This program's name; a live process counts as a running copy when an argument of its command line has this name. Default: the running script's name. */
  program?: string
  /** Where the warnings go (the stale pidfile that was taken over). */
  warn?: (message: string) => void
  /** /proc, for tests. */
  procRoot?: string
}

export class PidFile {
  readonly path: string
  readonly pid: number

  /**
   * Writes `pid` to `path`. Refuses when the file names another live process
   * that looks like this program (its command line has an argument named
   * like it: `node …/bin/intercept.js`, `intercept`); a pid that now belongs
   * to an unrelated process (the pid was reused after a crash) is taken over
   * with a warning.
   */
  constructor (path: string, pid: number = process.pid, options: PidFileOptions = {}) {
    this.path = resolve(path)
    this.pid = pid
    const program = options.program ?? programName(process.argv[1] ?? 'node')
    let old: number | undefined
    try { old = Number.parseInt(readFileSync(this.path, 'utf8').trim(), 10) } catch { old = undefined }
    if (old !== undefined && Number.isInteger(old) && old > 0 && old !== pid && alive(old)) {
      const args = processCommandLine(old, options.procRoot)
      // unreadable: assume the worst and refuse, as before
      const same = args === undefined || args.some((a) => programName(a) === program)
      if (same) {
        throw new ConfigError(`the pidfile ${this.path} names process ${old}, which is running ${program}; ` +
          'stop it first or choose another -P/--pidfile', 'TC_ERR_CONFIG_PIDFILE')
      }
      options.warn?.(`the pidfile ${this.path} names process ${old}, which is now "${args.join(' ').slice(0, 200)}", not ${program}: ` +
        'the pidfile is left over from a copy that did not stop cleanly; taking it over')
    }
    try {
      writeFileSync(this.path, `${pid}\n`, { mode: 0o644 })
    } catch (err) {
      throw new ConfigError(`cannot write the pidfile ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; ` +
        'choose a writable path with -P/--pidfile', 'TC_ERR_CONFIG_PIDFILE', { cause: err })
    }
  }

  /** Removes the file if it still holds our pid. */
  remove (): void {
    try {
      if (Number.parseInt(readFileSync(this.path, 'utf8').trim(), 10) === this.pid) unlinkSync(this.path)
    } catch { /* gone already */ }
  }
}

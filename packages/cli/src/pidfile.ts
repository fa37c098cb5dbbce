// -P/--pidfile: written once the program runs, removed when it stops.
import { readFileSync, writeFileSync, unlinkSync } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigError } from '@tcpcopy/interface'

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class PidFile {
  readonly path: string
  readonly pid: number

  /** Writes `pid` to `path`; refuses when the file names another live process. */
  constructor (path: string, pid: number = process.pid) {
    this.path = resolve(path)
    this.pid = pid
    let old: number | undefined
    try { old = Number.parseInt(readFileSync(this.path, 'utf8').trim(), 10) } catch { old = undefined }
    if (old !== undefined && Number.isInteger(old) && old > 0 && old !== pid && alive(old)) {
      throw new ConfigError(`the pidfile ${this.path} names process ${old}, which is running; ` +
        'stop it first or choose another -P/--pidfile', 'TC_ERR_CONFIG_PIDFILE')
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

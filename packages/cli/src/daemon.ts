// -d/--daemon: the parent starts a detached copy of the program (a new
// session, standard streams on /dev/null) and exits 0 only once the copy
// reports that it is running; a start-up failure of the copy is printed by
// the parent, which then exits with the copy's exit code.
import { spawn } from 'node:child_process'
import { writeSync, closeSync } from 'node:fs'

/** Set in the daemon copy's environment: the fd of its report pipe. */
export const DAEMON_FD_ENV = 'TCPCOPY_TS_DAEMON_FD'

export interface DaemonResult {
  code: number
  pid: number | undefined
  /** The copy's error message when it failed to start. */
  message?: string
}

/** True in the detached copy. */
export function isDaemonChild (env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DAEMON_FD_ENV] !== undefined
}

/** Parent side: starts the copy and waits (at most timeoutMs) for its report. */
export async function startDaemon (script: string, args: string[], timeoutMs = 30_000): Promise<DaemonResult> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [DAEMON_FD_ENV]: '3' }
  })
  const pipe = child.stdio[3] as import('node:stream').Readable
  let text = ''
  pipe.setEncoding('utf8')
  pipe.on('data', (chunk: string) => { if (text.length < 65536) text += chunk })
  const result = await new Promise<DaemonResult>((resolve) => {
    const timer = setTimeout(() => {
      resolve({ code: 1, pid: child.pid, message: `the daemon did not report within ${timeoutMs / 1000} s; see its log file` })
    }, timeoutMs)
    const done = (r: DaemonResult): void => { clearTimeout(timer); resolve(r) }
    pipe.on('end', () => {
      const line = text.split('\n')[0] ?? ''
      if (line.startsWith('ready')) done({ code: 0, pid: child.pid })
      else {
        const m = /^error (\d+) (.*)$/s.exec(text.trim())
        done({ code: m !== null ? Number(m[1]) : 1, pid: child.pid, message: m !== null ? m[2] : 'the daemon exited before it was ready; see its log file' })
      }
    })
    child.on('error', (err) => done({ code: 1, pid: undefined, message: `cannot start the daemon: ${err.message}` }))
  })
  pipe.destroy()
  child.unref()
  return result
}

/** Child side: tells the parent it is running (or failed), then closes the pipe. */
export function reportToParent (outcome: { ready: true } | { ready: false, code: number, message: string },
  env: NodeJS.ProcessEnv = process.env): void {
  const fd = Number(env[DAEMON_FD_ENV])
  if (!Number.isInteger(fd) || fd < 0) return
  try {
    writeSync(fd, outcome.ready ? 'ready\n' : `error ${outcome.code} ${outcome.message}\n`)
    closeSync(fd)
  } catch { /* the parent is gone */ }
  delete env[DAEMON_FD_ENV]
}

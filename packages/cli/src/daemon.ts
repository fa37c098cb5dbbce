// -d/--daemon: the parent starts a detached copy of the program (a new
// session, standard streams on /dev/null) and exits 0 only once the copy
// reports that it is running; a start-up failure of the copy is printed by
// the parent, which then exits with the copy's exit code. A copy that does
// not report in time (or a parent told to stop while it waits) is stopped by
// its PID before the parent exits, so no half-started daemon stays behind.
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

export interface StartDaemonOptions {
  /** After SIGTERM, how long the copy gets to exit before SIGKILL. Default 3000. */
  killGraceMs?: number
  /** Aborting it (with the signal name as reason) stops the copy and ends the wait. */
  signal?: AbortSignal
}

/**
 * Stops a copy that did not report: SIGTERM (its ordered shutdown), then
 * SIGKILL after `graceMs`. Resolves with the signal that ended it, or
 * undefined when it was gone already.
 */
async function stopChild (child: import('node:child_process').ChildProcess, graceMs: number): Promise<string | undefined> {
  const pid = child.pid
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return undefined
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return undefined
  }
  let timer: NodeJS.Timeout | undefined
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(true) }, graceMs) })
  ])
  clearTimeout(timer)
  if (!timedOut) return 'SIGTERM'
  try { process.kill(pid, 'SIGKILL') } catch { /* gone meanwhile */ }
  await exited
  return 'SIGKILL'
}

/** Parent side: starts the copy and waits (at most timeoutMs) for its report. */
export async function startDaemon (script: string, args: string[], timeoutMs = 30_000, options: StartDaemonOptions = {}): Promise<DaemonResult> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [DAEMON_FD_ENV]: '3' }
  })
  const pipe = child.stdio[3] as import('node:stream').Readable
  let text = ''
  pipe.setEncoding('utf8')
  pipe.on('data', (chunk: string) => { if (text.length < 65536) text += chunk })
  let stopWhy: string | undefined
  const result = await new Promise<DaemonResult>((resolve) => {
    const timer = setTimeout(() => {
      stopWhy = `the daemon (pid ${child.pid ?? '?'}) did not report within ${timeoutMs / 1000} s`
      done({ code: 1, pid: child.pid })
    }, timeoutMs)
    const onAbort = (): void => {
      stopWhy = `${String(options.signal?.reason ?? 'a stop request')} received before the daemon (pid ${child.pid ?? '?'}) reported`
      done({ code: 1, pid: child.pid })
    }
    const done = (r: DaemonResult): void => {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      resolve(r)
    }
    if (options.signal?.aborted === true) onAbort()
    else options.signal?.addEventListener('abort', onAbort)
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
  if (stopWhy !== undefined) {
    const how = await stopChild(child, options.killGraceMs ?? 3000)
    result.message = how === undefined
      ? `${stopWhy}; it has exited; see its log file`
      : `${stopWhy}; it was stopped with ${how}; see its log file`
  }
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

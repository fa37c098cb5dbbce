// The real intercept program (packages/cli/bin/intercept.js) in a namespace,
// for the e2e suites and the intercept benchmark: start it, wait for its
// pidfile, read its log and its SIGUSR1 statistics line, stop it by PID.
// `ip netns exec` execs the program, so the child's PID is intercept's own.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { hex, tcpSegment } from './packets.js'

export const INTERCEPT_BIN = fileURLToPath(new URL('../../packages/cli/bin/intercept.js', import.meta.url))
/** The scripted tcpcopy peer agent (start it with `ns.agent(TCPCOPY_PEER)`). */
export const TCPCOPY_PEER = fileURLToPath(new URL('./tcpcopy-peer.js', import.meta.url))
/** The flood of target responses (start it with `ns.agent(FLOOD_AGENT)` in the target's namespace). */
export const FLOOD_AGENT = fileURLToPath(new URL('./flood-agent.js', import.meta.url))

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `fn` every `stepMs` until it returns a truthy value or `ms` passed; returns the last value. */
export async function waitFor (fn, ms = 3000, stepMs = 20) {
  const deadline = Date.now() + ms
  let v = await fn()
  while (!v && Date.now() < deadline) {
    await sleep(stepMs)
    v = await fn()
  }
  return v
}

export function readText (path) {
  try { return readFileSync(path, 'utf8') } catch { return '' }
}

/** `ip netns exec NS node intercept.js args...` to completion (for error exits and the -d parent). */
export function runIntercept (ns, args, { timeoutMs = 20_000 } = {}) {
  const started = Date.now()
  const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, INTERCEPT_BIN, ...args], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' })
  return { code: r.status, signal: r.signal, pid: r.pid, stdout: r.stdout, stderr: r.stderr, error: r.error, ms: Date.now() - started }
}

/**
 * The lines of intercept's standard error that are not start-up notes or
 * warnings ("intercept: note: ...", "intercept: warning: ..."; a foreground
 * intercept copies those from its log), i.e. its error lines.
 */
export function errorLines (stderr) {
  return stderr.split('\n').filter((l) => l !== '' && !/^intercept: (note|warning): /.test(l))
}

/** The numbers of a stats line ("connections 1, routes 2 (added 2), responses captured 3 ..."). */
export function parseStatsLine (line) {
  const num = (re) => {
    const m = re.exec(line)
    return m === null ? undefined : Number(m[1])
  }
  return {
    connections: num(/connections (\d+)/),
    routes: num(/routes (\d+)/),
    added: num(/\(added (\d+)\)/),
    captured: num(/captured (\d+)/),
    forwarded: num(/forwarded (\d+)/),
    passed: num(/passed (\d+)/),
    dropped: num(/dropped (\d+)/),
    delayed: num(/delayed (\d+)/),
    unroutable: num(/unroutable (\d+)/),
    malformed: num(/malformed (\d+)/),
    hits: num(/hits (\d+)/),
    misses: num(/misses (\d+)/),
    evictions: num(/evictions (\d+)/),
    expiries: num(/expiries (\d+)/),
    recordsLost: num(/records lost (\d+)/),
    kernelDrops: num(/kernel queue drops (\d+)/),
    overruns: num(/overruns (\d+)/)
  }
}

/** A running intercept (foreground) inside a namespace. */
export class InterceptProc {
  /**
   * Starts `intercept args...` in `ns` and waits until its pidfile (which the
   * program writes once it listens and its capture is open) names it.
   * `args` must contain `-l <log>` and `-P <pidfile>`.
   */
  static async start (ns, args, { readyMs = 10_000, env } = {}) {
    const p = new InterceptProc(ns, args, env)
    try {
      await p.ready(readyMs)
    } catch (err) {
      await p.stop('SIGKILL')
      throw err
    }
    return p
  }

  constructor (ns, args, env) {
    this.ns = ns
    this.args = args
    this.logFile = args[args.indexOf('-l') + 1]
    this.pidFile = args.includes('-P') ? args[args.indexOf('-P') + 1] : undefined
    this.child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, INTERCEPT_BIN, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    this.pid = this.child.pid
    this.stdout = ''
    this.stderr = ''
    this.child.stdout.on('data', (d) => { this.stdout += d })
    this.child.stderr.on('data', (d) => { this.stderr += d })
    this.result = undefined
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      this.result = { code, signal }
      resolve(this.result)
    }))
  }

  get running () { return this.result === undefined }

  log () { return readText(this.logFile) }

  async ready (ms) {
    const ok = await waitFor(() => !this.running || (this.pidFile !== undefined && readText(this.pidFile).trim() === String(this.pid)), ms)
    if (!this.running) throw new Error(`intercept ${this.args.join(' ')} exited (${JSON.stringify(this.result)}): ${this.stderr.trim()} | log: ${this.log().trim()}`)
    if (!ok) throw new Error(`intercept ${this.args.join(' ')} did not write its pidfile within ${ms} ms | log: ${this.log().trim()}`)
  }

  signal (sig) {
    if (this.running) process.kill(this.pid, sig)
  }

  /** Asks for the statistics line (SIGUSR1) and returns it, raw and parsed. */
  async stats (ms = 3000) {
    const before = this.log().length
    this.signal('SIGUSR1')
    let line
    await waitFor(() => {
      line = this.log().slice(before).split('\n').find((l) => / \[notice\] connections \d+, routes /.test(l))
      return line !== undefined
    }, ms, 10)
    if (line === undefined) throw new Error(`no statistics line in the log ${ms} ms after SIGUSR1`)
    return { line, ...parseStatsLine(line) }
  }

  /** Sends `sig` (SIGTERM by default) and waits for the exit; SIGKILL by PID after `ms`. */
  async stop (sig = 'SIGTERM', ms = 8000) {
    if (!this.running) return this.result
    this.signal(sig)
    const t = setTimeout(() => { try { process.kill(this.pid, 'SIGKILL') } catch {} }, ms)
    const r = await this.exited
    clearTimeout(t)
    return r
  }
}

/** Kills the process whose PID a pidfile holds, if it is still an intercept (used in after() hooks). */
export function killFromPidfile (path) {
  if (!existsSync(path)) return
  const pid = Number.parseInt(readText(path).trim(), 10)
  if (!Number.isInteger(pid) || pid <= 0) return
  if (!readText(`/proc/${pid}/cmdline`).includes('intercept')) return
  try { process.kill(pid, 'SIGKILL') } catch {}
}

/** /proc/net/netfilter/nfnetlink_queue of a namespace, as arrays of numbers. */
export function nfqueueLines (ns) {
  const out = ns.exec('cat', ['/proc/net/netfilter/nfnetlink_queue'], { allowFail: true }).stdout ?? ''
  return out.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/).map(Number))
}

/** utime + stime of a process (all its threads) in seconds, from /proc/<pid>/stat. */
export function cpuSeconds (pid) {
  const stat = readText(`/proc/${pid}/stat`)
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime field 15
  return (Number(fields[11]) + Number(fields[12])) / clockTicks()
}

let ticks
function clockTicks () {
  if (ticks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
    ticks = Number(r.stdout?.trim()) || 100
  }
  return ticks
}

/**
 * Splits intercept's byte stream into combined frames [u16 count][count × recordSize]
 * (PROTOCOL.md §4.2). Returns the frames and the bytes of an unfinished one.
 */
export function parseFrames (buf, recordSize) {
  const frames = []
  let at = 0
  while (buf.length - at >= 2) {
    const count = (buf[at] << 8) | buf[at + 1]
    if (buf.length - at < 2 + count * recordSize) break
    const records = []
    for (let i = 0; i < count; i++) records.push(buf.subarray(at + 2 + i * recordSize, at + 2 + (i + 1) * recordSize))
    frames.push({ count, records })
    at += 2 + count * recordSize
  }
  return { frames, rest: buf.subarray(at) }
}

/** The fields of a response record (PROTOCOL.md §3.1: IPv4 header, TCP header, options area). */
export function recordFields (rec) {
  const dv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength)
  const ihl = (rec[0] & 0x0f) * 4
  const doff = (rec[20 + 12] >> 4) * 4 // the TCP header is at 20 in a record (§3.2)
  return {
    version: rec[0] >> 4,
    ihl,
    totLen: dv.getUint16(2),
    proto: rec[9],
    src: Array.from(rec.subarray(12, 16)).join('.'),
    dst: Array.from(rec.subarray(16, 20)).join('.'),
    sport: dv.getUint16(20),
    dport: dv.getUint16(22),
    seq: dv.getUint32(24),
    ack: dv.getUint32(28),
    doff,
    flags: rec[20 + 13],
    /** The bytes after the copied headers (must be zero). */
    tail: rec.subarray(Math.min(rec.length, 20 + doff))
  }
}

/**
 * Reads a peer connection (lib/tcpcopy-peer.js) until `until(records)` holds
 * or `ms` passed, then `quietMs` more; returns every record seen (with its
 * fields), the frames and the raw bytes.
 */
export async function collectRecords (peer, conn, recordSize, { until = () => false, ms = 3000, quietMs = 0 } = {}) {
  const deadline = Date.now() + ms
  let raw = Buffer.alloc(0)
  let closed = false
  const parsed = () => {
    const { frames, rest } = parseFrames(new Uint8Array(raw), recordSize)
    return { frames, rest, records: frames.flatMap((f) => f.records.map((r) => ({ bytes: r, ...recordFields(r) }))) }
  }
  while (Date.now() < deadline) {
    const got = await peer.request('take', { conn, bytes: 1, ms: Math.max(1, Math.min(200, deadline - Date.now())) })
    raw = Buffer.concat([raw, Buffer.from(got.hex, 'hex')])
    closed = got.closed
    if (until(parsed().records) || closed) break
  }
  if (quietMs > 0 && !closed) {
    await sleep(quietMs)
    const got = await peer.request('take', { conn, ms: 0 })
    raw = Buffer.concat([raw, Buffer.from(got.hex, 'hex')])
    closed = got.closed
  }
  return { ...parsed(), raw, closed }
}

/** Deterministic "random" bytes (mulberry32), so a failure can be replayed. */
export function noise (n, seed) {
  const out = new Uint8Array(n)
  let a = seed >>> 0
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff
  }
  out[0] |= 1 // never a hello's zero client address
  return out
}

/**
 * The -t 1 scenario of both architectures, for a route to client:dport that
 * peer connection `conn` registered on intercept `ic`: a response from
 * target:sport (a pure ACK: a SYN or RST would wait in the delay table),
 * sent by `tgt`'s raw IPv4 sender `tgtRaw`, is delivered while the route is
 * fresh; after 2.5 s unused the route is gone, and the next response is
 * counted unroutable and not delivered.
 */
export async function expectRouteExpiry ({ peer, conn, ic, tgt, tgtRaw, target, sport, client, dport }) {
  const ack = (seq) => hex(tcpSegment({ src: target, dst: client, sport, dport, seq, ack: 1, flags: 0x10 }))
  await tgt.request('send', { handle: tgtRaw, datagrams: [{ hex: ack(5000), dst: client }] })
  const first = await collectRecords(peer, conn, 64, { until: (rs) => rs.length > 0, ms: 2000 })
  expect(first.records.map((r) => [r.dport, r.flags, r.seq]), 'delivered while the route is fresh').to.deep.equal([[dport, 0x10, 5000]])
  const before = await ic.stats()
  await sleep(2500)
  await tgt.request('send', { handle: tgtRaw, datagrams: [{ hex: ack(6000), dst: client }] })
  const late = await collectRecords(peer, conn, 64, { ms: 500 })
  expect(late.records, 'not delivered after the route expired').to.deep.equal([])
  const after = await ic.stats()
  expect(after.unroutable - before.unroutable, 'counted unroutable').to.equal(1)
  expect(after.expiries - before.expiries, 'the router expired it').to.be.at.least(1)
  expect(after.routes, 'no route left').to.equal(0)
  expect(after.forwarded).to.equal(before.forwarded)
}

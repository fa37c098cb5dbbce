// The full tcpcopy loop on the one-machine test bed of ARCHITECTURES.md §4
// (lib/testbed.js: cli 10.77.0.10, onl .20, tgt .30, ast .40 on a bridge):
// real servers in onl and tgt (the HTTP server of lib/http-server.js on :80,
// redis-server on :6379), the real intercept (tgt in the traditional
// architecture, ast in the advanced one), the real tcpcopy in onl, real load
// generators in cli (curl, ab, wrk, redis-benchmark), and the counts that say
// whether the target got what the online server got.
//
//   const loop = await FullLoop.create('traditional')   // or 'advanced'
//   await loop.startServers({ http: true, redis: true })
//   await loop.startIntercept()
//   await loop.startTcpcopy()
//   const load = await loop.curl({ prefix: 'a', count: 300, parallel: 4 })
//   const cmp = await loop.settleHttp((r) => r.id.startsWith('a-'))
//   console.log(cmp.loss, cmp.onl, cmp.tgt)
//   await loop.destroy()
//
// Used by e2e/tcpcopy-loop.test.js; meant for `npm run demo` and the
// loss/CPU benchmark as well. Every process is a child started here, stopped
// by its PID; every wait is bounded; destroy() removes the namespaces (with
// their routes and iptables rules) and the temporary directory.
//
// Run directly, this file is the pcap capture agent of FullLoop.capturePcap()
// and the HTTP client of FullLoop.closingClients():
//   ip netns exec NS node loop.js capture --dev eth0 --filter 'tcp port 80' --out f.pcap
//   ip netns exec NS node loop.js client --host H --port 80 --prefix P --connections N --paths /slow,/r --close rst|fin
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ADDR, POOL, Testbed } from './testbed.js'
import { InterceptProc, cpuSeconds, readText, sleep, waitFor } from './intercept.js'
import { readHttpLog } from './http-server.js'

export const TCPCOPY_BIN = fileURLToPath(new URL('../../packages/cli/bin/tcpcopy.js', import.meta.url))
/** The compiled entry the tcpcopy binary loads; the suite skips itself until it exists. */
export const TCPCOPY_MAIN = fileURLToPath(new URL('../../packages/cli/dist/tcpcopy-main.js', import.meta.url))
export const HTTP_SERVER = fileURLToPath(new URL('./http-server.js', import.meta.url))
const SELF = fileURLToPath(import.meta.url)

export const ARCHITECTURES = ['traditional', 'advanced']
export const HTTP_PORT = 80
export const REDIS_PORT = 6379
export const CTRL_PORT = 36524
export { ADDR, POOL }

/** True once the tcpcopy binary and its compiled entry exist. */
export function tcpcopyAvailable () {
  return existsSync(TCPCOPY_BIN) && existsSync(TCPCOPY_MAIN)
}

/**
 * Runs `cmd args...` inside a namespace to completion without blocking the
 * event loop; killed by PID (SIGKILL) after timeoutMs. `ip netns exec` execs
 * the command, so the child's PID is the command's own.
 */
export function execIn (ns, cmd, args = [], { timeoutMs = 30_000, input } = {}) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn('ip', ['netns', 'exec', ns.name, cmd, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    if (input !== undefined) child.stdin.end(input)
    const t = setTimeout(() => { timedOut = true; try { process.kill(child.pid, 'SIGKILL') } catch {} }, timeoutMs)
    child.on('error', (err) => { stderr += String(err) })
    child.on('close', (code, signal) => {
      clearTimeout(t)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, timedOut, pid: child.pid })
    })
  })
}

/** A long-running child inside a namespace (a server, tcpcopy, a capture), stopped by PID. */
export class NsProc {
  constructor (ns, cmd, args, { name = cmd, stdin = 'pipe', env } = {}) {
    this.ns = ns
    this.name = name
    this.cmd = cmd
    this.args = args
    this.child = spawn('ip', ['netns', 'exec', ns.name, cmd, ...args], { stdio: [stdin, 'pipe', 'pipe'], env: { ...process.env, ...env } })
    this.pid = this.child.pid
    this.startedAt = Date.now()
    this.stdout = ''
    this.stderr = ''
    this.lines = []
    this.child.stdout.on('data', (d) => { this.stdout += d })
    this.child.stderr.on('data', (d) => { this.stderr += d })
    createInterface({ input: this.child.stdout }).on('line', (l) => this.lines.push(l))
    this.child.on('error', (err) => { this.stderr += String(err) })
    this.result = undefined
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      this.result = { code, signal, ms: Date.now() - this.startedAt }
      resolve(this.result)
    }))
  }

  get running () { return this.result === undefined }

  signal (sig) {
    if (this.running) { try { process.kill(this.pid, sig) } catch {} }
  }

  /** Waits until `fn()` holds or the process exits or `ms` pass; throws unless it holds. */
  async until (fn, ms, what) {
    const ok = await waitFor(() => !this.running || fn(), ms, 20)
    if (!this.running) throw new Error(`${this.name} exited (${JSON.stringify(this.result)}) before ${what}: ${this.stderr.trim().slice(-2000)}`)
    if (!ok || !fn()) throw new Error(`${this.name}: no ${what} within ${ms} ms: ${this.stderr.trim().slice(-2000)}`)
  }

  /** Waits for the exit (bounded); returns the result or undefined when still running. */
  async wait (ms) {
    if (!this.running) return this.result
    let t
    await Promise.race([this.exited, new Promise((resolve) => { t = setTimeout(resolve, ms) })])
    clearTimeout(t)
    return this.result
  }

  /** Sends `sig` and waits for the exit; SIGKILL by PID after `ms`. */
  async stop (sig = 'SIGTERM', ms = 5000) {
    if (!this.running) return this.result
    this.child.stdin?.end()
    this.signal(sig)
    const t = setTimeout(() => { try { process.kill(this.pid, 'SIGKILL') } catch {} }, ms)
    const r = await this.exited
    clearTimeout(t)
    return r
  }
}

/**
 * The numbers of tcpcopy's statistics line (packages/copy formatStatsLine):
 * "sessions: active 0, created 4, ...; packets: captured ...; sent ...;
 * responses: 12, data 4, ...; intercepts: 1/1 active, 2/2 connections, ...".
 * Sections are split at "; " and every "<words> <n>" pair is kept, keyed
 * "<section>.<words>" (the section is the first word of the section).
 */
export function parseTcpcopyStats (line) {
  const out = { line }
  const body = line.slice(line.indexOf('sessions:'))
  for (const section of body.split('; ')) {
    const m = /^([a-z ]+?):\s*(.*)$/.exec(section)
    const name = m === null ? section.split(' ')[0] : m[1]
    const rest = m === null ? section : m[2]
    const lead = /^(\d+)(?:,|$)/.exec(rest)
    if (lead !== null) out[`${name}.total`] = Number(lead[1])
    // "<words> <n>" followed by a comma, the end, or " (" ("retrans 0 (fast 0)"), and "(<word> <n>)"
    for (const kv of rest.matchAll(/\(([a-z]+) (\d+)\)|([A-Za-z][A-Za-z -]*?) (\d+)(?=,|$| \()/g)) {
      if (kv[1] !== undefined) out[`${name}.${kv[1]}`] = Number(kv[2])
      else out[`${name}.${kv[3].trim()}`] = Number(kv[4])
    }
    for (const kv of rest.matchAll(/(\d+)\/(\d+) ([a-z]+)/g)) {
      out[`${name}.${kv[3]}`] = Number(kv[1])
      out[`${name}.${kv[3]} of`] = Number(kv[2])
    }
  }
  return out
}

/** A running tcpcopy (foreground) in a namespace: its log, its statistics line on SIGUSR1, stop by PID. */
export class TcpcopyProc extends NsProc {
  constructor (ns, args, opts = {}) {
    super(ns, process.execPath, [TCPCOPY_BIN, ...args], { name: 'tcpcopy', stdin: 'ignore', ...opts })
    this.tcpcopyArgs = args
    this.logFile = args[args.indexOf('-l') + 1]
    this.pidFile = args.includes('-P') ? args[args.indexOf('-P') + 1] : undefined
  }

  log () { return readText(this.logFile) }

  /** True once the pidfile names this process. */
  pidfileWritten () {
    return this.pidFile !== undefined && readText(this.pidFile).trim() === String(this.pid)
  }

  /** Established control connections of this process to port `ctrlPort` (ss in its namespace). */
  controlConnections (ctrlPort = CTRL_PORT) { return controlConnections(this.ns, this.pid, ctrlPort) }

  /** Asks for the statistics line (SIGUSR1) and returns it parsed (parseTcpcopyStats); throws if none comes. */
  async stats (ms = 3000) {
    const before = this.log().length
    this.signal('SIGUSR1')
    let line
    await waitFor(() => {
      line = this.log().slice(before).split('\n').find((l) => /sessions: active \d+/.test(l))
      return line !== undefined
    }, ms, 10)
    if (line === undefined) throw new Error(`tcpcopy: no statistics line in its log ${ms} ms after SIGUSR1`)
    return parseTcpcopyStats(line)
  }

  /** The last statistics line already in the log (the 30 s one, SIGUSR1's, or the exit one), parsed; undefined if none. */
  lastStats () {
    const lines = this.log().split('\n').filter((l) => /sessions: active \d+/.test(l))
    return lines.length === 0 ? undefined : parseTcpcopyStats(lines[lines.length - 1])
  }

  cpuSeconds () { return this.running ? cpuSeconds(this.pid) : undefined }
}

/** Established TCP connections of process `pid` to port `ctrlPort` in a namespace (ss -tnp). */
export function controlConnections (ns, pid, ctrlPort = CTRL_PORT) {
  const out = ns.exec('ss', ['-tnpH', 'state', 'established', `( dport = :${ctrlPort} )`], { allowFail: true }).stdout ?? ''
  return out.split('\n').filter((l) => l.includes(`pid=${pid},`)).length
}

/** Counts of `INFO commandstats`: { set: calls, get: calls, ... }. */
export function parseCommandStats (info) {
  const out = {}
  for (const m of info.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2])
  return out
}

const lastLines = (text, n = 40) => text.trimEnd().split('\n').slice(-n).join('\n')

export class FullLoop {
  /**
   * Builds the test bed for `architecture` ('traditional' or 'advanced'):
   * namespaces, routes, packet counters. Options:
   * - clients: tcpcopy's -c (default: none in the traditional architecture,
   *   '10.88.0.x' in the advanced one, whose target routes 10.88.0.0/24 via ast);
   * - capture: 'raw' (no -i: raw socket, inbound TCP on every interface) or
   *   an interface name for -i (pcap capture); default 'raw' for traditional,
   *   'eth0' for advanced, so both capture paths run;
   * - ports: the application ports copied and intercepted (default [80, 6379]);
   * - slowMs: tgt's HTTP server answers paths starting with /slow this many ms
   *   late (default 300; onl answers at once): a target slower than the online server;
   * - keep: keep the temporary directory (logs) after destroy() (also env TCX_LOOP_KEEP=1).
   */
  static async create (architecture, opts = {}) {
    if (!ARCHITECTURES.includes(architecture)) throw new Error(`FullLoop: architecture must be one of ${ARCHITECTURES.join(', ')}, got ${architecture}`)
    const loop = new FullLoop(architecture, opts)
    try {
      loop.bed = Testbed.create()
      loop.dir = mkdtempSync(join(tmpdir(), `tcx-loop-${architecture}-`))
      const { bed } = loop
      if (architecture === 'advanced') {
        bed.tgt.ip('route', 'add', POOL, 'via', ADDR.ast) // §3.1/§4.4: the answers for the pool go to the assistant
        bed.ast.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=0'])
      } else if (loop.clients !== undefined) {
        bed.tgt.ip('route', 'add', POOL, 'via', ADDR.onl) // §4.3: *a* route for the pool; the answers are queued anyway
      }
      // Packet counters (iptables rules without a verdict, raw PREROUTING): what
      // reaches cli from tgt at all, and what reaches onl from tgt's application ports.
      loop.#counter(bed.cli, 'cli-from-tgt', ['-s', ADDR.tgt])
      for (const p of loop.ports) loop.#counter(bed.onl, `onl-from-tgt-${p}`, ['-s', ADDR.tgt, '-p', 'tcp', '--sport', String(p)])
      if (architecture === 'advanced') {
        for (const p of loop.ports) loop.#counter(bed.ast, `ast-from-tgt-${p}`, ['-s', ADDR.tgt, '-p', 'tcp', '--sport', String(p)])
      }
    } catch (err) {
      await loop.destroy()
      throw err
    }
    return loop
  }

  #queueRules = false

  constructor (architecture, opts) {
    this.architecture = architecture
    this.clients = 'clients' in opts ? opts.clients : (architecture === 'advanced' ? '10.88.0.x' : undefined)
    this.capture = opts.capture ?? (architecture === 'advanced' ? 'eth0' : 'raw')
    this.ports = opts.ports ?? [HTTP_PORT, REDIS_PORT]
    this.keep = opts.keep ?? process.env.TCX_LOOP_KEEP === '1'
    this.slowMs = opts.slowMs ?? 300
    this.bed = undefined
    this.dir = undefined
    this.servers = {} // 'http-onl' -> NsProc
    this.intercept = undefined
    this.tcpcopy = undefined
    this.tcpcopyRuns = [] // every TcpcopyProc started, for diagnostics
    this.procs = [] // everything else started (captures)
    this.daemons = [] // tcpcopy -d runs (startTcpcopyDaemon)
  }

  /** The host intercept runs on and tcpcopy's -s. */
  get interceptHost () { return this.architecture === 'traditional' ? 'tgt' : 'ast' }
  get interceptIp () { return ADDR[this.interceptHost] }
  /** The source address the target sees for cli's sessions: cli's own, or the -c pool. */
  get copiedClientNet () { return this.clients === undefined ? ADDR.cli : POOL }

  path (name) { return join(this.dir, name) }

  #counter (ns, tag, match) {
    ns.exec('iptables', ['-t', 'raw', '-A', 'PREROUTING', ...match, '-m', 'comment', '--comment', `tcx-${tag}`])
  }

  /** Packet counts of the rules with a `tcx-` comment in `table chain` of a namespace: { tag: packets }. */
  counters (ns, table = 'raw', chain = 'PREROUTING') {
    const out = {}
    const text = ns.exec('iptables', ['-t', table, '-L', chain, '-v', '-x', '-n'], { allowFail: true }).stdout ?? ''
    for (const line of text.split('\n')) {
      const m = /^\s*(\d+)\s+\d+\s.*\/\* tcx-(\S+) \*\//.exec(line)
      if (m !== null) out[m[2]] = (out[m[2]] ?? 0) + Number(m[1])
    }
    return out
  }

  /**
   * Packets that must never arrive: anything from tgt at cli, and anything
   * from tgt's application ports at onl. { cli, onl, total }.
   */
  leaks () {
    const cli = this.counters(this.bed.cli)['cli-from-tgt'] ?? 0
    const onl = Object.values(this.counters(this.bed.onl)).reduce((a, b) => a + b, 0)
    return { cli, onl, total: cli + onl }
  }

  /**
   * The target's answers that reached the interception point: in the
   * traditional architecture the packets the NFQUEUE rules in tgt's OUTPUT
   * chain queued, in the advanced one the packets from tgt's application
   * ports that arrived at ast.
   */
  responsesIntercepted () {
    if (this.architecture === 'traditional') {
      return Object.values(this.counters(this.bed.tgt, 'filter', 'OUTPUT')).reduce((a, b) => a + b, 0)
    }
    return Object.values(this.counters(this.bed.ast)).reduce((a, b) => a + b, 0)
  }

  // ---------------------------------------------------------------- servers

  /** Starts the HTTP servers (onl answers "onl <id>", tgt "tgt <id>") and/or redis-server in onl and tgt. */
  async startServers ({ http = true, redis = false } = {}) {
    const jobs = []
    for (const host of ['onl', 'tgt']) {
      if (http) jobs.push(this.#startHttp(host))
      if (redis) jobs.push(this.#startRedis(host))
    }
    await Promise.all(jobs)
  }

  httpLogFile (host) { return this.path(`http-${host}.log`) }
  redisSocket (host) { return this.path(`redis-${host}.sock`) }

  async #startHttp (host) {
    const slow = host === 'tgt' && this.slowMs > 0 ? ['--slow-ms', String(this.slowMs)] : []
    const p = new NsProc(this.bed[host], process.execPath, [HTTP_SERVER, '--name', host, '--port', String(HTTP_PORT), '--log', this.httpLogFile(host), '--max-life', '300', ...slow], { name: `http-server ${host}` })
    this.servers[`http-${host}`] = p
    await p.until(() => p.lines.some((l) => l.includes('"listening"')), 10_000, 'listening line')
  }

  async #startRedis (host) {
    const sock = this.redisSocket(host)
    // Under coreutils timeout: it forwards SIGTERM to redis-server, and bounds
    // its life should this process be killed before destroy() runs.
    const p = new NsProc(this.bed[host], 'timeout', ['--kill-after=5', '300', 'redis-server',
      '--port', String(REDIS_PORT), '--bind', '0.0.0.0', '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
      '--daemonize', 'no', '--unixsocket', sock, '--unixsocketperm', '700', '--dir', this.dir,
      '--logfile', this.path(`redis-${host}.log`)
    ], { name: `redis-server ${host}`, stdin: 'ignore' })
    this.servers[`redis-${host}`] = p
    await p.until(() => this.redis(host, 'PING').trim() === 'PONG', 10_000, 'PONG on its unix socket')
  }

  /**
   * redis-cli against a host's redis-server over its unix socket (no TCP:
   * nothing tcpcopy could capture, nothing intercept could queue). Returns stdout.
   */
  redis (host, ...args) {
    const r = spawnSync('redis-cli', ['-s', this.redisSocket(host), ...args], { encoding: 'utf8', timeout: 10_000 })
    return r.stdout ?? ''
  }

  /** `INFO commandstats` of a host as { command: calls }. */
  redisCommandStats (host) { return parseCommandStats(this.redis(host, 'INFO', 'commandstats')) }

  /** A few numbers that show whether two redis servers hold the same data. */
  redisData (host) {
    const sum = this.redis(host, 'EVAL', "local s = 0 for _, k in ipairs(redis.call('KEYS', 'counter:*')) do s = s + tonumber(redis.call('GET', k)) end return s", '0')
    return {
      dbsize: Number(this.redis(host, 'DBSIZE').trim()),
      mylist: Number(this.redis(host, 'LLEN', 'mylist').trim()),
      counterSum: Number(sum.trim())
    }
  }

  /** The parsed request log of a host's HTTP server (lib/http-server.js readHttpLog). */
  httpLog (host) { return readHttpLog(this.httpLogFile(host)) }

  // -------------------------------------------------------------- intercept

  /** The intercept arguments for this architecture (without -l/-P). */
  interceptArgs () {
    if (this.architecture === 'traditional') return ['-p', String(CTRL_PORT)]
    const filter = `tcp and (${this.ports.map((p) => `src port ${p}`).join(' or ')})`
    return ['-i', 'eth0', '-F', filter, '-p', String(CTRL_PORT)]
  }

  /**
   * Starts intercept (traditional: the NFQUEUE rules `iptables -I OUTPUT -p
   * tcp --sport P -j NFQUEUE --queue-num 0` in tgt first, then intercept in
   * tgt; advanced: intercept in ast on eth0 with a filter for the ports).
   */
  async startIntercept (extra = []) {
    if (this.intercept?.running) throw new Error('FullLoop: intercept already runs; stopIntercept() first')
    if (this.architecture === 'traditional' && !this.#queueRules) {
      this.#queueRules = true
      for (const p of this.ports) {
        this.bed.tgt.exec('iptables', ['-I', 'OUTPUT', '-p', 'tcp', '--sport', String(p), '-j', 'NFQUEUE', '--queue-num', '0', '-m', 'comment', '--comment', `tcx-nfqueue-${p}`])
      }
    }
    const args = [...this.interceptArgs(), '-l', this.path('intercept.log'), '-P', this.path('intercept.pid'), ...extra]
    this.intercept = await InterceptProc.start(this.bed[this.interceptHost], args)
    return this.intercept
  }

  async interceptStats () { return this.intercept.stats() }

  /**
   * Stops intercept (SIGTERM; SIGKILL by PID after ms). The NFQUEUE rules
   * stay: until startIntercept() runs again the kernel drops the target's answers.
   */
  async stopIntercept (sig = 'SIGTERM', ms = 5000) {
    return this.intercept?.stop(sig, ms)
  }

  // ---------------------------------------------------------------- tcpcopy

  /**
   * -x for the ports: <onl>:P-<tgt>:P,... With `macs` the pcap-send form
   * for -o: <onl>:P@<onl's eth0 MAC>-<tgt>:P@<tgt's eth0 MAC> (tgt is on the
   * same bridge, so it is its own next hop).
   */
  mappings ({ macs = false } = {}) {
    if (!macs) return this.ports.map((p) => `${ADDR.onl}:${p}-${ADDR.tgt}:${p}`).join(',')
    const src = this.bed.onl.mac('eth0')
    const next = this.bed.tgt.mac('eth0')
    return this.ports.map((p) => `${ADDR.onl}:${p}@${src}-${ADDR.tgt}:${p}@${next}`).join(',')
  }

  /**
   * tcpcopy's arguments: -x mappings -s interceptIp [-c clients] [-i dev|file]
   * -l log -P pidfile, then `extra`. `input` overrides the capture (a pcap file path for offline replay).
   * `output`: send Ethernet frames on that device of onl (-o, with the MACs in -x).
   */
  tcpcopyArgs ({ input, extra = [], output, name = `tcpcopy-${this.tcpcopyRuns.length + 1}` } = {}) {
    const capture = input ?? (this.capture === 'raw' ? undefined : this.capture)
    return [
      '-x', this.mappings({ macs: output !== undefined }), '-s', this.interceptIp,
      ...(output !== undefined ? ['-o', output] : []),
      ...(this.clients !== undefined ? ['-c', this.clients] : []),
      ...(capture !== undefined ? ['-i', capture] : []),
      '-l', this.path(`${name}.log`), '-P', this.path(`${name}.pid`),
      ...extra
    ]
  }

  /**
   * Starts tcpcopy in onl. Live (no `input`): resolves once its pidfile names
   * it and it holds all its control connections to intercept (-C, default 2).
   * Offline (`input` = a pcap file): resolves at once with the process (wait()
   * for its exit). `args` replaces the generated arguments entirely.
   */
  async startTcpcopy ({ input, extra = [], output, args, readyMs = 10_000 } = {}) {
    const name = `tcpcopy-${this.tcpcopyRuns.length + 1}`
    const a = args ?? this.tcpcopyArgs({ input, extra, output, name })
    const p = new TcpcopyProc(this.bed.onl, a)
    this.tcpcopyRuns.push(p)
    if (input === undefined && args === undefined) {
      this.tcpcopy = p
      try {
        const c = a.includes('-C') ? Number(a[a.indexOf('-C') + 1]) : 2
        await p.until(() => p.pidfileWritten() && p.controlConnections() >= c, readyMs, `pidfile and ${c} control connections to intercept`)
      } catch (err) {
        await p.stop('SIGKILL')
        throw new Error(`${err.message}\n--- tcpcopy log:\n${lastLines(p.log())}`)
      }
    }
    return p
  }

  /**
   * Runs `tcpcopy -d ... -P pidfile` in onl: the parent must exit once the
   * daemon runs. Resolves to { parent: { code, stdout, stderr, ms }, pid,
   * logFile, pidFile, running(), stop(sig) } (pid: from the pidfile, or
   * undefined). The daemon is stopped by that PID in destroy() if still there.
   */
  async startTcpcopyDaemon ({ extra = [], timeoutMs = 15_000 } = {}) {
    const name = `tcpcopy-daemon-${this.daemons.length + 1}`
    const args = this.tcpcopyArgs({ name, extra: ['-d', ...extra] })
    const parent = await execIn(this.bed.onl, process.execPath, [TCPCOPY_BIN, ...args], { timeoutMs })
    const pidFile = this.path(`${name}.pid`)
    const pid = Number.parseInt(readText(pidFile).trim(), 10) || undefined
    /** The pidfile's process still exists, is a tcpcopy, and is not a zombie. */
    const isTcpcopy = () => {
      if (pid === undefined || !readText(`/proc/${pid}/cmdline`).includes('tcpcopy')) return false
      const stat = readText(`/proc/${pid}/stat`)
      return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
    }
    const d = {
      args,
      parent,
      pid,
      pidFile,
      logFile: this.path(`${name}.log`),
      running: isTcpcopy,
      /** Sends sig to the daemon's PID and waits (bounded) until it is gone; SIGKILL after ms. Returns the ms it took, or undefined if it was not running. */
      stop: async (sig = 'SIGTERM', ms = 5000) => {
        if (!isTcpcopy()) return undefined
        const t = Date.now()
        try { process.kill(pid, sig) } catch {}
        if (!(await waitFor(() => !isTcpcopy(), ms, 20))) {
          try { process.kill(pid, 'SIGKILL') } catch {}
          await waitFor(() => !isTcpcopy(), 2000, 20)
        }
        return Date.now() - t
      }
    }
    this.daemons.push(d)
    return d
  }

  /** Stops the live tcpcopy (SIGTERM, SIGKILL by PID after ms); returns { code, signal, ms }. */
  async stopTcpcopy (sig = 'SIGTERM', ms = 8000) {
    const p = this.tcpcopy
    this.tcpcopy = undefined
    if (p === undefined) return undefined
    const stoppedAt = Date.now()
    const r = await p.stop(sig, ms)
    return { ...r, stopMs: Date.now() - stoppedAt }
  }

  // ------------------------------------------------------------------- load

  /**
   * `count` HTTP requests from cli to onl with curl, each with its own id
   * `<prefix>-<n>` (n = 1..count, URL globbing), `parallel` at a time. Without
   * keepAlive every request carries "Connection: close" (one connection per
   * request). Returns { code, bodies, byServer: { onl, tgt, other }, ms, stderr }.
   */
  async curl ({ prefix, count, parallel = 1, keepAlive = false, path = '/c', timeoutMs = 30_000 }) {
    const args = ['-sS', '--no-progress-meter', '--noproxy', '*', '-m', '10', '--retry', '0']
    if (parallel > 1) args.push('-Z', '--parallel-max', String(parallel))
    if (!keepAlive) args.push('-H', 'Connection: close')
    args.push(`http://${ADDR.onl}:${HTTP_PORT}${path}?id=${prefix}-[1-${count}]`)
    const r = await execIn(this.bed.cli, 'curl', args, { timeoutMs })
    const bodies = r.stdout.split('\n').filter((l) => l !== '')
    const byServer = { onl: 0, tgt: 0, other: 0 }
    for (const b of bodies) {
      const who = b.split(' ')[0]
      if (who === 'onl' || who === 'tgt') byServer[who]++
      else byServer.other++
    }
    return { code: r.code, bodies, byServer, ms: r.ms, stderr: r.stderr, timedOut: r.timedOut }
  }

  /**
   * ApacheBench from cli: `ab [-k] -n N -c C http://onl/<path>`. Returns the
   * parsed summary { complete, failed, non2xx, keepAlive, seconds, rps, code, stdout }.
   */
  async ab ({ n, c = 4, keepAlive = false, path = '/ab', timeoutMs = 30_000 }) {
    const args = ['-q', '-r', '-s', '10', ...(keepAlive ? ['-k'] : []), '-n', String(n), '-c', String(c), `http://${ADDR.onl}:${HTTP_PORT}${path}`]
    const r = await execIn(this.bed.cli, 'ab', args, { timeoutMs })
    const num = (re) => { const m = re.exec(r.stdout); return m === null ? undefined : Number(m[1]) }
    return {
      code: r.code,
      complete: num(/Complete requests:\s+(\d+)/),
      failed: num(/Failed requests:\s+(\d+)/),
      non2xx: num(/Non-2xx responses:\s+(\d+)/) ?? 0,
      keepAlive: num(/Keep-Alive requests:\s+(\d+)/),
      seconds: num(/Time taken for tests:\s+([\d.]+)/),
      rps: num(/Requests per second:\s+([\d.]+)/),
      stdout: r.stdout,
      stderr: r.stderr,
      ms: r.ms
    }
  }

  /**
   * wrk from cli with a Lua script that gives every request its own id
   * `<prefix>-<thread>-<n>` and counts bodies that do not start with "onl ".
   * Returns { code, requests, seconds, socketErrors, latency, badBodies, stdout }.
   */
  async wrk ({ prefix, threads = 1, connections = 4, seconds = 3, path = '/k', timeoutMs }) {
    const script = this.path(`wrk-${prefix}.lua`)
    writeFileSync(script, `
local threads = {}
local count = 0
function setup(thread)
  count = count + 1
  thread:set("tid", count)
  table.insert(threads, thread)
end
function init(args)
  n = 0
  bad = 0
end
function request()
  n = n + 1
  return wrk.format("GET", "${path}?id=${prefix}-" .. tid .. "-" .. n)
end
function response(status, headers, body)
  if status ~= 200 or string.sub(body, 1, 4) ~= "onl " then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  io.write("tcx-bad-bodies " .. b .. "\\n")
end
`)
    const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '5s', '-s', script, `http://${ADDR.onl}:${HTTP_PORT}/`]
    const r = await execIn(this.bed.cli, 'wrk', args, { timeoutMs: timeoutMs ?? (seconds + 15) * 1000 })
    const req = /(\d+) requests in ([\d.]+)(m?s)/.exec(r.stdout)
    const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout)
    const bad = /tcx-bad-bodies (\d+)/.exec(r.stdout)
    return {
      code: r.code,
      requests: req === null ? undefined : Number(req[1]),
      seconds: req === null ? undefined : Number(req[2]) / (req[3] === 'ms' ? 1000 : 1),
      socketErrors: se === null ? { connect: 0, read: 0, write: 0, timeout: 0 } : { connect: Number(se[1]), read: Number(se[2]), write: Number(se[3]), timeout: Number(se[4]) },
      non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0),
      /** wrk's latency line: average, standard deviation, maximum (as printed, e.g. "1.20ms"). */
      latency: (/Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(r.stdout) ?? []).slice(1, 4).join(' / '),
      badBodies: bad === null ? undefined : Number(bad[1]),
      stdout: r.stdout,
      stderr: r.stderr,
      ms: r.ms
    }
  }

  /**
   * redis-benchmark from cli against onl:6379:
   * `-t tests -n n -c c -r keyspace [-P pipeline] --csv`. Returns { code, rps: { SET: n, ... }, stdout }.
   */
  async redisBenchmark ({ tests = 'set,get,incr,lpush', n = 2000, c = 4, keyspace = 1000, pipeline = 1, timeoutMs = 60_000 } = {}) {
    const args = ['-h', ADDR.onl, '-p', String(REDIS_PORT), '-t', tests, '-n', String(n), '-c', String(c), '-r', String(keyspace), '--csv']
    if (pipeline > 1) args.push('-P', String(pipeline))
    const r = await execIn(this.bed.cli, 'redis-benchmark', args, { timeoutMs })
    const rps = {}
    for (const m of r.stdout.matchAll(/^"([A-Z_ ()0-9]+)","([\d.]+)"/gm)) rps[m[1]] = Number(m[2])
    return { code: r.code, rps, stdout: r.stdout, stderr: r.stderr, ms: r.ms, timedOut: r.timedOut }
  }

  /**
   * `connections` keep-alive connections from cli to onl:80 at once (a Node
   * client, lib/loop.js run as `client`), each sending the requests of `paths`
   * one after the other (GET <path>?id=<prefix>-<conn>-<k>, each after the
   * previous answer), then closing right after the last answer: `close` 'rst'
   * (socket.resetAndDestroy(): RST, as a client that exits with unread data)
   * or 'fin' (socket.end()). With paths ['/slow', '/r'] the target is still
   * busy with the first request when the client closes (tgt answers /slow
   * slowMs late). Returns { code, connections: [{ bodies, error }], stderr }.
   */
  async closingClients ({ prefix, connections = 10, paths = ['/slow', '/r'], close = 'rst', timeoutMs = 20_000 }) {
    const args = [SELF, 'client', '--host', ADDR.onl, '--port', String(HTTP_PORT), '--prefix', prefix,
      '--connections', String(connections), '--paths', paths.join(','), '--close', close]
    const r = await execIn(this.bed.cli, process.execPath, args, { timeoutMs })
    let out = { connections: [] }
    try { out = JSON.parse(r.stdout.trim().split('\n').pop()) } catch {}
    return { code: r.code, ...out, stderr: r.stderr, ms: r.ms }
  }

  // ----------------------------------------------------------------- counts

  /**
   * Compares the requests onl's and tgt's HTTP servers logged that match
   * `filter` (a function of a log entry, or an id prefix string):
   * { onl, tgt, missing (ids onl got and tgt did not), extra (ids only tgt
   * got), duplicates (ids tgt got more than once), loss = missing/onl }.
   */
  compareHttp (filter) {
    const match = typeof filter === 'function' ? filter : (r) => r.id.startsWith(filter)
    const onl = this.httpLog('onl').requests.filter(match)
    const tgt = this.httpLog('tgt').requests.filter(match)
    const onlIds = new Set(onl.map((r) => r.id))
    const tgtCount = new Map()
    for (const r of tgt) tgtCount.set(r.id, (tgtCount.get(r.id) ?? 0) + 1)
    const missing = [...onlIds].filter((id) => !tgtCount.has(id))
    const extra = [...tgtCount.keys()].filter((id) => !onlIds.has(id))
    const duplicates = [...tgtCount.entries()].filter(([, n]) => n > 1).map(([id, n]) => `${id}×${n}`)
    return {
      onl: onl.length,
      onlIds: onlIds.size,
      tgt: tgt.length,
      missing,
      extra,
      duplicates,
      /** Requests onl got and tgt did not, by id (ids unique per request). */
      loss: onlIds.size === 0 ? 0 : missing.length / onlIds.size,
      /** The same by count only (for loads without an id per request, e.g. ab): max(0, onl − tgt) / onl. */
      countLoss: onl.length === 0 ? 0 : Math.max(0, onl.length - tgt.length) / onl.length,
      onlRequests: onl,
      tgtRequests: tgt
    }
  }

  /**
   * Waits until tgt has logged every request onl logged for `filter` (every
   * id, and as many requests), or
   * tgt's count has not moved for `quietMs`, or `maxMs` passed; then compares
   * (compareHttp) and adds `waitedMs`.
   */
  async settleHttp (filter, { maxMs = 15_000, quietMs = 2000 } = {}) {
    const started = Date.now()
    let last = -1
    let lastChange = Date.now()
    let cmp
    for (;;) {
      cmp = this.compareHttp(filter)
      if (cmp.onl > 0 && cmp.missing.length === 0 && cmp.tgt >= cmp.onl) break
      if (cmp.tgt !== last) { last = cmp.tgt; lastChange = Date.now() }
      if (Date.now() - lastChange >= quietMs || Date.now() - started >= maxMs) break
      await sleep(100)
    }
    return { ...cmp, waitedMs: Date.now() - started }
  }

  /**
   * Waits until the calls of `commands` in tgt's commandstats, counted from
   * `base` (two snapshots { onl, tgt } taken before the load), equal onl's, or
   * stop moving for quietMs, or maxMs passed. Returns { onl: {cmd: n}, tgt: {cmd: n}, waitedMs }.
   */
  async settleRedis (commands, base, { maxMs = 15_000, quietMs = 2000 } = {}) {
    const started = Date.now()
    const delta = (host) => {
      const now = this.redisCommandStats(host)
      return Object.fromEntries(commands.map((c) => [c, (now[c] ?? 0) - (base[host][c] ?? 0)]))
    }
    let last = ''
    let lastChange = Date.now()
    let onl, tgt
    for (;;) {
      onl = delta('onl')
      tgt = delta('tgt')
      if (commands.every((c) => tgt[c] >= onl[c])) break
      const key = JSON.stringify(tgt)
      if (key !== last) { last = key; lastChange = Date.now() }
      if (Date.now() - lastChange >= quietMs || Date.now() - started >= maxMs) break
      await sleep(100)
    }
    return { onl, tgt, waitedMs: Date.now() - started }
  }

  redisSnapshot () { return { onl: this.redisCommandStats('onl'), tgt: this.redisCommandStats('tgt') } }

  // ---------------------------------------------------------------- capture

  /**
   * Records a pcap in a namespace (default onl's eth0) with an AF_PACKET
   * socket of @tcpcopy/native-shim and a kernel filter compiled by
   * @tcpcopy/bpf; the file is written by @tcpcopy/pcap's PcapWriter (Ethernet
   * link type, µs timestamps taken when each batch is read). Resolves once
   * the socket is open; `await cap.stop()` returns { packets, overruns, file }.
   */
  async capturePcap ({ host = 'onl', dev = 'eth0', filter = `tcp port ${HTTP_PORT}`, file = this.path('capture.pcap') } = {}) {
    const p = new NsProc(this.bed[host], process.execPath, [SELF, 'capture', '--dev', dev, '--filter', filter, '--out', file], { name: `capture ${host}` })
    this.procs.push(p)
    await p.until(() => p.lines.some((l) => l.includes('"capturing"')), 10_000, 'capturing line')
    return {
      file,
      proc: p,
      stop: async () => {
        p.child.stdin.end() // the agent writes its last batch, closes the file and prints its count
        await p.wait(5000)
        await p.stop('SIGKILL', 1000)
        const last = p.lines.map((l) => { try { return JSON.parse(l) } catch { return {} } }).find((m) => m.packets !== undefined)
        if (last === undefined) throw new Error(`capture: no final count: ${p.stderr}`)
        return { ...last, file }
      }
    }
  }

  // ------------------------------------------------------------ diagnostics

  /** The last lines of every log and a few `ss` views, for a failure message. */
  diagnostics () {
    const parts = []
    const run = (ns, cmd, args) => (ns.exec(cmd, args, { allowFail: true }).stdout ?? '').trim()
    for (const d of this.daemons) parts.push(`--- tcpcopy ${d.args.join(' ')} (daemon pid ${d.pid}, parent exit ${d.parent.code})\n${lastLines(readText(d.logFile), 20)}`)
    for (const t of this.tcpcopyRuns) {
      parts.push(`--- tcpcopy ${t.tcpcopyArgs.join(' ')} (pid ${t.pid}, ${t.running ? 'running' : JSON.stringify(t.result)})\n${lastLines(t.log(), 30)}`)
      if (t.stderr.trim() !== '') parts.push(`--- tcpcopy stderr\n${lastLines(t.stderr, 20)}`)
    }
    if (this.intercept !== undefined) parts.push(`--- intercept ${this.intercept.args.join(' ')}\n${lastLines(this.intercept.log(), 20)}`)
    if (this.bed?.onl !== undefined) parts.push(`--- onl: ss -tn (control)\n${run(this.bed.onl, 'ss', ['-tnH', `( dport = :${CTRL_PORT} )`])}`)
    if (this.bed?.tgt !== undefined) {
      const ss = run(this.bed.tgt, 'ss', ['-tanH', `( ${this.ports.map((p) => `sport = :${p}`).join(' or ')} )`]).split('\n')
      parts.push(`--- tgt: ss -tan on the app ports (${ss.length} lines, first 30)\n${ss.slice(0, 30).join('\n')}`)
    }
    return parts.join('\n')
  }

  // -------------------------------------------------------------- teardown

  /** Stops tcpcopy, intercept, servers and captures (by PID), deletes the namespaces and the temporary directory. */
  async destroy () {
    for (const t of this.tcpcopyRuns) await t.stop('SIGTERM', 3000).catch(() => {})
    this.tcpcopy = undefined
    for (const d of this.daemons) await d.stop('SIGTERM', 3000).catch(() => {})
    await this.intercept?.stop('SIGTERM', 3000).catch(() => {})
    for (const p of this.procs) await p.stop('SIGKILL', 1000).catch(() => {})
    for (const p of Object.values(this.servers)) await p.stop('SIGTERM', 3000).catch(() => {})
    await this.bed?.destroy()
    this.bed = undefined
    if (this.dir !== undefined && !this.keep) rmSync(this.dir, { recursive: true, force: true })
  }
}

// ------------------------------------------------ the pcap capture agent

async function captureMain (argv) {
  const opt = {}
  for (let i = 0; i < argv.length; i += 2) opt[argv[i].replace(/^--/, '')] = argv[i + 1]
  const { createPacketIo } = await import('@tcpcopy/native-shim')
  const { PcapWriter } = await import('@tcpcopy/pcap')
  const { compileFilter } = await import('@tcpcopy/bpf')
  const snap = 65535
  const memory = new WebAssembly.Memory({ initial: 512 }) // 32 MiB
  const regions = { memory, rxDescOff: 0, rxDataOff: 65536, rxDataSize: 24 * 1024 * 1024, txDescOff: 32768 }
  const io = createPacketIo({ regions, snap, interface: opt.dev, filter: compileFilter(opt.filter, { snaplen: snap }).toBytes() })
  const writer = new PcapWriter({ linkType: io.linkType, snaplen: snap })
  const fd = openSync(opt.out, 'w')
  writeSync(fd, writer.header())
  let packets = 0
  const drain = () => {
    for (let k = 0; k < 64; k++) {
      const n = io.receive(4096)
      if (n === 0) return
      const now = Date.now()
      const dv = new DataView(memory.buffer)
      for (let i = 0; i < n; i++) {
        const off = dv.getUint32(i * 8, true)
        const len = dv.getUint32(i * 8 + 4, true)
        writeSync(fd, writer.record({ data: new Uint8Array(memory.buffer, off, len), timestampMs: now }))
        packets++
      }
    }
  }
  const finish = (code) => {
    try { drain() } catch {}
    const stats = io.stats()
    io.close()
    closeSync(fd)
    process.stdout.write(JSON.stringify({ packets, overruns: stats.overruns, truncated: stats.truncated }) + '\n', () => process.exit(code))
  }
  io.onReadable(() => { try { drain() } catch (err) { process.stderr.write(`capture: ${err.message}\n`) } })
  process.stdin.on('end', () => finish(0))
  process.stdin.resume()
  process.on('SIGTERM', () => finish(0))
  setTimeout(() => finish(3), 120_000).unref()
  process.stdout.write(JSON.stringify({ capturing: opt.dev, linkType: io.linkType }) + '\n')
}

// ------------------------------------------- the closing HTTP client

async function clientMain (argv) {
  const opt = {}
  for (let i = 0; i < argv.length; i += 2) opt[argv[i].replace(/^--/, '')] = argv[i + 1]
  const net = await import('node:net')
  const paths = opt.paths.split(',')
  const one = (c) => new Promise((resolve) => {
    const bodies = []
    let buf = ''
    let k = 0
    const sock = net.connect({ host: opt.host, port: Number(opt.port) })
    const t = setTimeout(() => { sock.destroy(); resolve({ bodies, error: 'timeout' }) }, 15_000)
    const send = () => {
      const path = paths[k++]
      sock.write(`GET ${path}?id=${opt.prefix}-${c}-${k} HTTP/1.1\r\nHost: ${opt.host}\r\n\r\n`)
    }
    sock.on('connect', send)
    sock.on('data', (d) => {
      buf += d.toString('latin1')
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0)
        if (buf.length < end + 4 + len) return
        bodies.push(buf.slice(end + 4, end + 4 + len).trim())
        buf = buf.slice(end + 4 + len)
        if (k < paths.length) { send(); continue }
        clearTimeout(t)
        if (opt.close === 'rst') sock.resetAndDestroy()
        else sock.end()
        resolve({ bodies })
        return
      }
    })
    sock.on('error', (err) => { clearTimeout(t); resolve({ bodies, error: err.message }) })
  })
  const n = Number(opt.connections)
  const connections = await Promise.all(Array.from({ length: n }, (_, i) => one(i + 1)))
  process.stdout.write(JSON.stringify({ connections }) + '\n')
  setTimeout(() => process.exit(0), 100) // let the FINs/RSTs go out
}

if (process.argv[1] === SELF && process.argv[2] === 'client') {
  clientMain(process.argv.slice(3)).catch((err) => {
    process.stderr.write(`client: ${err.stack}\n`)
    process.exit(2)
  })
}

if (process.argv[1] === SELF && process.argv[2] === 'capture') {
  captureMain(process.argv.slice(3)).catch((err) => {
    process.stderr.write(`capture: ${err.stack}\n`)
    process.exit(2)
  })
}

// npm run bench (@tcpcopy/cli): the tcpcopy program on the namespace test bed
// of ARCHITECTURES.md §4 (e2e/lib/loop.js FullLoop: cli 10.77.0.10, onl .20,
// tgt .30, ast .40), in both architectures, with real HTTP servers
// (e2e/lib/http-server.js) on onl:80 and tgt:80:
//
//   traditional  intercept in tgt (iptables OUTPUT --sport 80 -j NFQUEUE),
//                tcpcopy in onl capturing with the raw socket; the copies keep
//                the client address 10.77.0.10
//   advanced     intercept in ast (-i eth0, ip_forward=0), tgt routes
//                10.88.0.0/24 via ast; tcpcopy in onl with -i eth0 -c 10.88.0.x
//
// Load: bench/http-load.js in cli, at FIXED request rates (a schedule, not
// "as fast as the server answers" like wrk/ab), every request with its own id
// (`?id=<prefix>-<n>`), keep-alive (BENCH_CONNECTIONS persistent connections)
// or one connection per request (Connection: close, at most
// BENCH_CLOSE_CONNECTIONS open). Each point runs BENCH_SECONDS, then the bench
// waits until tgt has every request onl got (or tgt's count is quiet for
// BENCH_SETTLE_QUIET_MS, or BENCH_SETTLE_MAX_MS pass).
//
// Per point:
//   loss      ids onl's server logged that tgt's server never logged, over
//             onl's (FullLoop.compareHttp, after the settle); the goal's
//             absolute part: loss ≤ 0.0375 % (the original's published
//             figure) → MET / NOT MET per point
//   behind    how many requests tgt still lacked when the load ended, and
//             when the last copy arrived (ms after the end of the load)
//   delay     per request: tgt's log time − onl's log time, p50/p99 (ms)
//   CPU       utime+stime (/proc/<pid>/stat, all threads) of tcpcopy, of
//             intercept and of the online HTTP server over load + settle, in
//             CPU seconds per 1000 requests onl got
// Baseline in the same run: the online server's own CPU per 1k requests at
// the same point ("tcpcopy costs X× what serving the request costs"), and the
// same points without tcpcopy (run once, in the first architecture's test
// bed before tcpcopy starts) for the client-observed rate and latency p50/p99
// with and without tcpcopy.
// tcpcopy is pinned to the last allowed CPU with taskset (if present, unless
// BENCH_PIN=0); nothing else is pinned.
//
// The original C tcpcopy/intercept 1.x are not on this machine. Set
// TCPCOPY_BENCH_C_TCPCOPY (and TCPCOPY_BENCH_C_INTERCEPT; without it the
// original tcpcopy talks to this repository's intercept) to run the same
// points against them; otherwise the comparison with the original is printed
// as NOT JUDGED.
//
// Knobs: BENCH_RATES (ka500,ka1500,ka3000,close200,close500,close1000: ka =
// keep-alive, close = one connection per request, req/s), BENCH_SECONDS (5),
// BENCH_ARCH (traditional,advanced), BENCH_CONNECTIONS (8),
// BENCH_CLOSE_CONNECTIONS (64), BENCH_BASELINE (1; 0 skips the no-tcpcopy
// run), BENCH_PIN (1), BENCH_SETTLE_QUIET_MS (2000), BENCH_SETTLE_MAX_MS
// (15000), BENCH_JSON (a file to write every number to),
// TCPCOPY_BENCH_ARGS (more arguments for this repository's tcpcopy, shown in
// its command line: '--wake-interval 0' measures it without spaced turns),
// TCX_LOOP_KEEP=1
// (keep the logs of tcpcopy, intercept and both servers; their directories
// are printed). See bench/README.md.
// Needs root; not root → one loud line, exit 0. Processes are stopped by PID,
// the namespaces deleted at the end, on error and on SIGINT/SIGTERM.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isRoot, loud, missingTools, allowedCpus } from '../../../e2e/lib/preflight.js'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..', '..')
const LOAD = join(here, 'http-load.js')
const started = Date.now()

if (!isRoot()) {
  console.log('### tcpcopy bench SKIPPED: it needs root (network namespaces, NFQUEUE, raw sockets) — run `sudo npm run bench -w @tcpcopy/cli` ###')
  process.exit(0)
}
const missing = missingTools(['ip', 'iptables', 'ss'])
if (missing.length > 0) {
  loud([`tcpcopy bench: missing ${missing.join(', ')}`, 'install the packages in e2e/apt-packages.txt'])
  process.exit(1)
}
const shimBuilt = existsSync(join(repo, 'native-shim', 'build', 'Release', 'tcpcopy_native.node'))
if (!shimBuilt || !existsSync(join(here, '..', 'dist', 'tcpcopy-main.js')) || !existsSync(join(here, '..', 'dist', 'intercept-main.js'))) {
  loud(['tcpcopy bench: the programs are not built', 'run `npm run build` at the repository root (or npm ci)'])
  process.exit(1)
}

const { FullLoop, ADDR, HTTP_PORT, CTRL_PORT, NsProc, controlConnections } = await import('../../../e2e/lib/loop.js')
const { cpuSeconds, sleep, waitFor, readText } = await import('../../../e2e/lib/intercept.js')
const { HttpLogTail } = await import('../../../e2e/lib/http-server.js')

// ---- parameters ------------------------------------------------------------------

const envInt = (name, dflt, min = 1) => {
  const v = process.env[name]
  if (v === undefined || v === '') return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${v}"`)
  return n
}
const SECONDS = envInt('BENCH_SECONDS', 5)
const KA_CONNS = envInt('BENCH_CONNECTIONS', 8)
const CLOSE_CONNS = envInt('BENCH_CLOSE_CONNECTIONS', 64)
const QUIET_MS = envInt('BENCH_SETTLE_QUIET_MS', 2000, 100)
const SETTLE_MAX_MS = envInt('BENCH_SETTLE_MAX_MS', 15_000, 1000)
const BASELINE = process.env.BENCH_BASELINE !== '0'
/** TCPCOPY_BENCH_ARGS: more arguments for our tcpcopy (split at white space). */
const OUR_EXTRA_ARGS = (process.env.TCPCOPY_BENCH_ARGS ?? '').split(/\s+/).filter(Boolean)
const ARCHS = (process.env.BENCH_ARCH || 'traditional,advanced').split(',').map((s) => s.trim()).filter(Boolean)
for (const a of ARCHS) if (a !== 'traditional' && a !== 'advanced') throw new Error(`BENCH_ARCH: unknown architecture "${a}"`)
if (SECONDS > 60) throw new Error('BENCH_SECONDS: at most 60')
const POINTS = (process.env.BENCH_RATES || 'ka500,ka1500,ka3000,close200,close500,close1000').split(',').map((s) => s.trim()).filter(Boolean).map((tok) => {
  const m = /^(ka|close)(\d+)$/.exec(tok)
  if (m === null) throw new Error(`BENCH_RATES: "${tok}" is not ka<req/s> or close<req/s>`)
  const rate = Number(m[2])
  if (rate < 1 || rate > 50_000) throw new Error(`BENCH_RATES: ${tok}: the rate must be 1-50000 req/s`)
  return { name: tok, keepAlive: m[1] === 'ka', rate, label: `${m[1] === 'ka' ? 'keep-alive' : 'close'} ${rate}/s` }
})
if (POINTS.length === 0 || POINTS.length > 20) throw new Error('BENCH_RATES: 1 to 20 points')
if (new Set(POINTS.map((p) => p.name)).size !== POINTS.length) throw new Error('BENCH_RATES: a point is listed twice (its request ids would collide)')
const GOAL_LOSS = 0.000375 // 0.0375 %
const C_TCPCOPY = process.env.TCPCOPY_BENCH_C_TCPCOPY || undefined
const C_INTERCEPT = process.env.TCPCOPY_BENCH_C_INTERCEPT || undefined
// With the originals: rounds of (ours, original) per architecture, the order
// alternating, judged on the per-point medians. One round compares two runs
// made a minute apart, which on a shared machine can differ by 30 % alone.
const ROUNDS = envInt('TCPCOPY_BENCH_ROUNDS', 1)
if (ROUNDS > 9) throw new Error('TCPCOPY_BENCH_ROUNDS: at most 9')
/** Rounds actually run: without the originals there is nothing to alternate with. */
const RUN_ROUNDS = C_TCPCOPY ? ROUNDS : 1

const CPUS = allowedCpus()
const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset']).status === 0
const PIN = process.env.BENCH_PIN !== '0' && hasTaskset && CPUS.length > 1
const TC_CPU = PIN ? CPUS[CPUS.length - 1] : undefined
const pin = (pid) => {
  if (TC_CPU === undefined) return false
  return spawnSync('taskset', ['-a', '-p', '-c', String(TC_CPU), String(pid)], { stdio: 'ignore' }).status === 0
}

// ---- cleanup and the overall time bound ------------------------------------------------

const loops = new Set()
const loads = new Set() // running http-load processes
let cleaning
/** Stops everything this bench started; every caller awaits the same run. */
function cleanup () { cleaning ??= doCleanup(); return cleaning }
async function doCleanup () {
  for (const p of [...loads]) await p.stop('SIGKILL', 1000).catch(() => {})
  for (let i = 0; loops.size > 0 && i < 10; i++) { // a loop the main flow registers meanwhile goes too
    const l = loops.values().next().value
    loops.delete(l)
    for (const proc of l.cProcs ?? []) await proc.stop('SIGTERM', 3000).catch(() => {})
    await l.destroy().catch(() => {})
    if (l.keep) console.log(`tcpcopy bench: logs kept in ${l.dir}`)
  }
}
let stopping = false
/** Throws once a signal asked to stop, so that the main flow starts nothing new while cleanup() runs. */
const checkStop = () => { if (stopping) throw new Error('interrupted') }
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return // a second signal must not cut the cleanup short
    stopping = true
    console.error(`tcpcopy bench: ${sig}, stopping`)
    cleanup().finally(() => process.exit(130))
  })
}
// Whatever happens, the bench ends: every point is bounded, and so is the whole.
// Each program's run in each round: the test bed and warm-up (about 30 s), then its points.
const HARD_LIMIT_MS = 60_000 + ARCHS.length * RUN_ROUNDS * (1 + (C_TCPCOPY ? 1 : 0)) * (45_000 + POINTS.length * (SECONDS * 1000 + SETTLE_MAX_MS + 20_000)) +
  (BASELINE ? POINTS.length * (SECONDS * 1000 + 20_000) : 0)
setTimeout(() => {
  console.error(`tcpcopy bench: still running after ${Math.round(HARD_LIMIT_MS / 1000)} s: giving up`)
  cleanup().finally(() => process.exit(1))
}, HARD_LIMIT_MS).unref()

// ---- the servers' logs, read incrementally ---------------------------------------------

/**
 * The request ids both HTTP servers logged, by point prefix: for each id the
 * time onl logged it and the time tgt first logged it (and how often). Reading
 * only the new bytes keeps the bench itself quiet while it waits for the copies
 * (settleHttp would parse both whole logs every 100 ms on a 2-CPU machine).
 */
class Tally {
  constructor (loop) {
    this.onl = new HttpLogTail(loop.httpLogFile('onl'))
    this.tgt = new HttpLogTail(loop.httpLogFile('tgt'))
    this.points = new Map() // prefix -> { onl: Map id->ms, tgt: Map id->{ ms, n }, tgtChangedAt }
  }

  track (prefix) {
    const p = { onl: new Map(), tgt: new Map(), tgtInOnl: 0, tgtChangedAt: Date.now(), lastTgtAt: 0 }
    this.points.set(prefix, p)
    return p
  }

  poll () {
    const entry = (r) => {
      if (r.kind !== 'R') return undefined
      const id = r.id
      const dash = id?.lastIndexOf('-') ?? -1
      if (dash <= 0) return undefined
      const p = this.points.get(id.slice(0, dash))
      return p === undefined ? undefined : { p, id, ms: r.ms }
    }
    this.onl.poll((r) => {
      const e = entry(r)
      if (e === undefined || e.p.onl.has(e.id)) return
      e.p.onl.set(e.id, e.ms)
      if (e.p.tgt.has(e.id)) e.p.tgtInOnl++
    })
    this.tgt.poll((r) => {
      const e = entry(r)
      if (e === undefined) return
      const t = e.p.tgt.get(e.id)
      if (t !== undefined) { t.n++; return }
      e.p.tgt.set(e.id, { ms: e.ms, n: 1 })
      if (e.p.onl.has(e.id)) e.p.tgtInOnl++
      e.p.tgtChangedAt = Date.now()
      e.p.lastTgtAt = Math.max(e.p.lastTgtAt, e.ms)
    })
  }
}

// ---- one point ---------------------------------------------------------------------

/** The median (the mean of the middle two for an even count). */
const median = (xs) => {
  const s = Float64Array.from(xs).sort()
  const m = s.length >> 1
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}
const quantile = (xs, q) => {
  if (xs.length === 0) return NaN
  const s = Float64Array.from(xs).sort()
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

async function runLoad (loop, point, prefix, seconds = SECONDS) {
  const args = [LOAD, '--url', `http://${ADDR.onl}:${HTTP_PORT}/b`, '--rate', String(point.rate), '--seconds', String(seconds),
    '--connections', String(point.keepAlive ? KA_CONNS : CLOSE_CONNS), '--keepalive', point.keepAlive ? '1' : '0', '--prefix', prefix, '--timeout-ms', '5000']
  // An NsProc (not execIn) so that cleanup() can stop it by its PID on SIGINT/SIGTERM.
  const p = new NsProc(loop.bed.cli, process.execPath, args, { name: 'http-load', stdin: 'ignore' })
  loads.add(p)
  let r = await p.wait((seconds + 20) * 1000)
  const timedOut = r === undefined
  if (timedOut) r = await p.stop('SIGKILL', 1000)
  loads.delete(p)
  let out
  try { out = JSON.parse(p.stdout.trim().split('\n').pop()) } catch {}
  if (out === undefined || out.error !== undefined) {
    throw new Error(`http-load ${point.name}: ${out?.error ?? `no summary (exit ${r.code ?? r.signal}${timedOut ? ', killed at its time limit' : ''}): ${p.stderr.trim().slice(-500)}`}`)
  }
  return out
}

/**
 * Runs one point: the load, then (with tcpcopy) the settle. `progs` gives the
 * PIDs whose CPU is measured: { server, tcpcopy?, intercept? }.
 */
async function measurePoint (loop, tally, point, tag, pids) {
  const prefix = `${tag}-${point.name}`
  const p = tally.track(prefix)
  const cpu = (pid) => pid === undefined ? NaN : cpuSeconds(pid)
  const cpu0 = { server: cpu(pids.server), tcpcopy: cpu(pids.tcpcopy), intercept: cpu(pids.intercept) }
  const load = await runLoad(loop, point, prefix)
  const loadEnd = Date.now()
  tally.poll()
  const res = { point: point.name, prefix, load, onlAtEnd: p.onl.size, behindAtEnd: p.onl.size - p.tgtInOnl }
  if (pids.tcpcopy !== undefined) {
    p.tgtChangedAt = Math.max(p.tgtChangedAt, loadEnd) // quiet counts from the end of the load at the earliest
    // settle: every id onl got is at tgt, or tgt quiet for QUIET_MS, or SETTLE_MAX_MS
    for (;;) {
      if (p.onl.size > 0 && p.tgtInOnl >= p.onl.size) { res.caughtUp = true; break }
      if (Date.now() - p.tgtChangedAt >= QUIET_MS || Date.now() - loadEnd >= SETTLE_MAX_MS) { res.caughtUp = false; break }
      await sleep(50)
      tally.poll()
    }
    res.settleMs = Date.now() - loadEnd
    res.lastCopyAfterMs = p.lastTgtAt === 0 ? NaN : Math.max(0, p.lastTgtAt - loadEnd)
  }
  const cpu1 = { server: cpu(pids.server), tcpcopy: cpu(pids.tcpcopy), intercept: cpu(pids.intercept) }
  res.cpu = Object.fromEntries(Object.keys(cpu0).map((k) => [k, cpu1[k] - cpu0[k]]))
  res.windowMs = Date.now() - loadEnd + load.elapsedMs
  if (pids.tcpcopy !== undefined) {
    const cmp = loop.compareHttp(`${prefix}-`)
    res.onl = cmp.onlIds
    res.tgt = cmp.tgt
    res.missing = cmp.missing
    res.duplicates = cmp.duplicates
    res.extra = cmp.extra
    res.loss = cmp.loss
    res.tallyAgrees = cmp.onlIds === p.onl.size && cmp.onlIds - cmp.missing.length === p.tgtInOnl
    const delays = []
    for (const [id, ms] of p.onl) { const t = p.tgt.get(id); if (t !== undefined) delays.push(t.ms - ms) }
    res.delayP50 = quantile(delays, 0.5)
    res.delayP99 = quantile(delays, 0.99)
    res.delayMax = quantile(delays, 1)
    if (cmp.missing.length > 0) {
      // evidence: the onl log entries of the first missing ids (time, client port, n-th request on the connection)
      const want = new Set(cmp.missing.slice(0, 10))
      res.missingEntries = cmp.onlRequests.filter((r) => want.has(r.id)).map((r) => `${r.id} at ${r.ms} from ${r.peer} (#${r.n} on its connection)`)
    }
  } else {
    res.onl = p.onl.size
  }
  const k = res.onl / 1000
  res.perK = { server: res.cpu.server / k, tcpcopy: res.cpu.tcpcopy / k, intercept: res.cpu.intercept / k }
  res.overloaded = load.errors > 0 || load.achievedRate < 0.97 * point.rate || load.lateMaxMs > 1000
  tally.points.delete(prefix)
  return res
}

// ---- the programs under test -------------------------------------------------------------

/** This repository's tcpcopy + intercept, through FullLoop. */
const TS = {
  name: 'tcpcopy-ts',
  async startIntercept (loop) { await loop.startIntercept(); return loop.intercept.pid },
  async startTcpcopy (loop) { await loop.startTcpcopy({ extra: OUR_EXTRA_ARGS }); return loop.tcpcopy.pid },
  describe (loop) {
    const strip = (args) => args.filter((a, i, all) => !['-l', '-P'].includes(a) && !['-l', '-P'].includes(all[i - 1]))
    return [`tcpcopy ${strip(loop.tcpcopy.tcpcopyArgs).join(' ')}  (in onl)`, `intercept ${loop.interceptArgs().join(' ')}  (in ${loop.interceptHost})`]
  },
  async statsLines (loop) {
    const tc = await loop.tcpcopy.stats().catch(() => undefined)
    const ic = await loop.interceptStats().catch(() => undefined)
    return [tc?.line, ic?.line].filter(Boolean).map((l) => l.replace(/^.*\[notice\] /, ''))
  }
}

/** The original C programs (untested here: no build of them exists on this machine). */
const C = {
  name: C_INTERCEPT ? 'C tcpcopy+intercept 1.x' : 'C tcpcopy 1.x (+ts intercept)',
  async startIntercept (loop) {
    if (!C_INTERCEPT) return TS.startIntercept(loop)
    const ns = loop.bed[loop.interceptHost]
    let args
    if (loop.architecture === 'traditional') {
      ns.exec('iptables', ['-I', 'OUTPUT', '-p', 'tcp', '--sport', String(HTTP_PORT), '-j', 'NFQUEUE', '--queue-num', '0', '-m', 'comment', '--comment', `tcx-nfqueue-${HTTP_PORT}`])
      args = ['-p', String(CTRL_PORT), '-l', loop.path('c-intercept.log')]
    } else {
      args = ['-i', 'eth0', '-F', `tcp and src port ${HTTP_PORT}`, '-p', String(CTRL_PORT), '-l', loop.path('c-intercept.log')]
    }
    const p = new NsProc(ns, C_INTERCEPT, args, { name: 'C intercept', stdin: 'ignore' })
    loop.cProcs.push(p)
    await p.until(() => (ns.exec('ss', ['-Hltnp', `( sport = :${CTRL_PORT} )`], { allowFail: true }).stdout ?? '').includes(`pid=${p.pid},`), 10_000, `listening on ${CTRL_PORT}`)
    loop.cInterceptArgs = args
    return p.pid
  },
  async startTcpcopy (loop) {
    const extra = (process.env.TCPCOPY_BENCH_C_TCPCOPY_ARGS ?? '').split(' ').filter(Boolean)
    const args = ['-x', loop.mappings(), '-s', loop.interceptIp, ...(loop.clients !== undefined ? ['-c', loop.clients] : []), '-l', loop.path('c-tcpcopy.log'), ...extra]
    const p = new NsProc(loop.bed.onl, C_TCPCOPY, args, { name: 'C tcpcopy', stdin: 'ignore' })
    loop.cProcs.push(p)
    await p.until(() => controlConnections(loop.bed.onl, p.pid) >= 1, 10_000, 'a control connection to intercept')
    loop.cTcpcopyArgs = args
    loop.cTcpcopy = p
    return p.pid
  },
  describe (loop) {
    return [`${C_TCPCOPY} ${loop.cTcpcopyArgs.join(' ')}  (in onl, raw socket capture)`,
      C_INTERCEPT ? `${C_INTERCEPT} ${loop.cInterceptArgs.join(' ')}  (in ${loop.interceptHost})` : `intercept ${loop.interceptArgs().join(' ')}  (this repository's, in ${loop.interceptHost})`]
  },
  async statsLines (loop) {
    return [readText(loop.path('c-tcpcopy.log')).trim().split('\n').slice(-3).join(' | ')]
  }
}

// ---- one architecture × one program ---------------------------------------------------------

// Warm-up before measuring, not counted: the points measure the steady state
// of long-running processes. The JIT of the Node programs (servers, tcpcopy,
// intercept) tiers the per-packet and per-session paths up over the first
// ~10 k requests (perf shows V8's optimizing compiler busy for 3-4 s at
// 1500 req/s); the C programs run the same warm-up, which costs them nothing.
// Keep-alive and close alternate twice: code optimized on keep-alive traffic
// alone meets new paths at the first close load (connection set-up and
// tear-down) and is deoptimized, then optimized again with both kinds of
// feedback during the next phase (V8's --trace-deopt shows it). With a single
// round that re-optimization fell into the first measured point. The close
// phases are the longer ones: the per-connection paths (session set-up and
// tear-down, CLIENT_ADD writes, Node's timers) run once per connection, and
// with 5 s of close warm-up V8's --trace-opt still showed them being
// optimized, and re-optimized after a rare branch, during the first point.
const WARM = [
  { name: 'warmka', keepAlive: true, rate: 2000, seconds: 5 },
  { name: 'warmclose', keepAlive: false, rate: 300, seconds: 6 },
  { name: 'warmka2', keepAlive: true, rate: 2000, seconds: 3 },
  { name: 'warmclose2', keepAlive: false, rate: 300, seconds: 4 }
]

async function benchArch (arch, prog, { baseline }) {
  checkStop()
  const loop = await FullLoop.create(arch, { ports: [HTTP_PORT] })
  loop.cProcs = []
  loops.add(loop)
  if (stopping) { loops.delete(loop); await loop.destroy(); checkStop() }
  const out = { arch, program: prog.name, points: [], baseline: [] }
  try {
    // Wider ephemeral range in cli (its own namespace): the close points open thousands of connections.
    loop.bed.cli.exec('sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65535'])
    await loop.startServers({ http: true })
    const server = loop.servers['http-onl'].pid
    const intercept = await prog.startIntercept(loop)
    const tally = new Tally(loop)
    for (const w of WARM) await runLoad(loop, w, `${prog === C ? 'c' : 't'}w0-${w.name}`, w.seconds)
    if (baseline) {
      for (const point of POINTS) {
        checkStop()
      progress(`${arch}: ${point.name} without tcpcopy`)
        out.baseline.push(await measurePoint(loop, tally, point, 'base', { server }))
      }
    }
    const tcpcopy = await prog.startTcpcopy(loop)
    out.pinned = pin(tcpcopy)
    out.commands = prog.describe(loop)
    for (const w of WARM) await runLoad(loop, w, `${prog === C ? 'c' : 't'}w1-${w.name}`, w.seconds)
    await sleep(500)
    for (const point of POINTS) {
      checkStop()
      progress(`${arch}: ${point.name} with ${prog.name}`)
      out.points.push(await measurePoint(loop, tally, point, prog === C ? 'c' : 'ts', { server, tcpcopy, intercept }))
    }
    out.leaks = loop.leaks()
    out.stats = await prog.statsLines(loop)
  } catch (err) {
    out.error = err.message
    out.diagnostics = loop.diagnostics?.()
  } finally {
    for (const p of loop.cProcs) await p.stop('SIGTERM', 3000).catch(() => {})
    loops.delete(loop)
    await loop.destroy()
    if (loop.keep) console.log(`tcpcopy bench: ${arch} ${prog.name}: logs kept in ${loop.dir}`)
  }
  return out
}

function progress (what) {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K  … ${what}`)
}
function progressDone () { if (process.stderr.isTTY) process.stderr.write('\r\x1b[K') }

// ---- report ----------------------------------------------------------------------------

const pad = (s, n) => String(s).padStart(n)
const padE = (s, n) => String(s).padEnd(n)
const f = (x, d = 4) => Number.isFinite(x) ? x.toFixed(d) : '-'
const pct = (x, d = 4) => Number.isFinite(x) ? `${(100 * x).toFixed(d)}` : '-'
const TITLE = {
  traditional: 'traditional: intercept in tgt (iptables OUTPUT --sport 80 -j NFQUEUE), tcpcopy in onl (raw socket capture), copies keep the client address 10.77.0.10',
  advanced: 'advanced: intercept in ast (-i eth0, ip_forward=0), tgt routes 10.88.0.0/24 via ast, tcpcopy in onl (-i eth0 -c 10.88.0.x -s 10.77.0.40)'
}

function printArch (r) {
  console.log(`\n${TITLE[r.arch]}  [${r.program}]`)
  for (const c of r.commands ?? []) console.log(`  ${c}`)
  if (r.pinned !== undefined) console.log(`  tcpcopy ${r.pinned ? `pinned to CPU ${TC_CPU} (taskset -a -p)` : 'NOT PINNED'}`)
  if (r.error !== undefined) {
    console.log(`  FAILED: ${r.error}`)
    if (r.diagnostics) console.log(r.diagnostics.split('\n').map((l) => `    ${l}`).join('\n'))
  }
  if (r.points.length === 0) return
  console.log('  replication (ids onl logged vs ids tgt logged; behind = ids tgt lacked when the load ended; last copy = ms after the load ended)')
  console.log(`  ${padE('point', 18)} ${pad('req/s', 7)} ${pad('onl', 7)} ${pad('tgt', 7)} ${pad('missing', 7)} ${pad('dup', 4)} ${pad('loss %', 8)}  ${padE('≤0.0375 %', 9)} ${pad('behind', 6)} ${pad('last copy', 9)} ${pad('delay p50/p99 ms', 16)}`)
  for (const x of r.points) {
    const pt = POINTS.find((p) => p.name === x.point)
    console.log(`  ${padE(pt.label, 18)} ${pad(Math.round(x.load.achievedRate), 7)} ${pad(x.onl, 7)} ${pad(x.tgt, 7)} ${pad(x.missing.length, 7)} ${pad(x.duplicates.length, 4)} ${pad(pct(x.loss), 8)}  ${padE(x.loss <= GOAL_LOSS ? 'MET' : 'NOT MET', 9)} ${pad(x.behindAtEnd, 6)} ${pad(x.caughtUp ? `${Math.round(x.lastCopyAfterMs)} ms` : 'quiet*', 9)} ${pad(`${f(x.delayP50, 0)} / ${f(x.delayP99, 0)}`, 16)}` +
      (x.overloaded ? '  (load not held: see below)' : ''))
  }
  if (r.points.some((x) => !x.caughtUp)) console.log(`  quiet*: tgt never got every id; the bench stopped waiting after ${QUIET_MS} ms without a new copy`)
  console.log('  cost (CPU seconds per 1000 requests onl got, utime+stime over load + settle; ratio = tcpcopy / online server)')
  console.log(`  ${padE('point', 18)} ${pad('tcpcopy', 8)} ${pad('intercept', 9)} ${pad('onl server', 10)} ${pad('tcpcopy/server', 14)} ${pad('tcpcopy % of a CPU', 18)}`)
  for (const x of r.points) {
    const pt = POINTS.find((p) => p.name === x.point)
    console.log(`  ${padE(pt.label, 18)} ${pad(f(x.perK.tcpcopy), 8)} ${pad(f(x.perK.intercept), 9)} ${pad(f(x.perK.server), 10)} ${pad(`${f(x.perK.tcpcopy / x.perK.server, 2)}×`, 14)} ${pad(`${f(100 * x.cpu.tcpcopy / (x.windowMs / 1000), 1)} %`, 18)}`)
  }
  for (const x of r.points) {
    if (x.missing.length > 0) console.log(`  ${x.point}: first missing ids (onl log): ${x.missingEntries.join('; ')}`)
    if (x.duplicates.length > 0) console.log(`  ${x.point}: DUPLICATED at tgt: ${x.duplicates.slice(0, 10).join(' ')}`)
    if (x.extra.length > 0) console.log(`  ${x.point}: ids only tgt got: ${x.extra.slice(0, 10).join(' ')}`)
    if (!x.tallyAgrees) console.log(`  ${x.point}: note: the incremental tally and compareHttp disagree (the table uses compareHttp)`)
  }
  if (r.leaks !== undefined) console.log(`  target answers that reached cli or onl: ${r.leaks.total} packets${r.leaks.total === 0 ? '' : ' (SHOULD BE 0)'}`)
  for (const s of r.stats ?? []) console.log(`  at the end: ${s}`)
}

const RUN_W = RUN_ROUNDS > 1 ? 42 : 30
function printImpact (base, runs) {
  console.log(`\nimpact on the online server (client side: http-load in cli; "without" = tcpcopy not running, same test bed, same run;`)
  console.log('  latency from each request\'s scheduled send time, so a backlog shows; server CPU = onl\'s HTTP server per 1000 requests)')
  console.log(`  ${padE('point', 18)} ${padE('run', RUN_W)} ${pad('req/s', 7)} ${pad('p50 ms', 7)} ${pad('p99 ms', 7)} ${pad('max ms', 7)} ${pad('errors', 6)} ${pad('server CPU s/1k', 15)}`)
  for (const point of POINTS) {
    const rows = []
    const b = base.find((x) => x.point === point.name)
    if (b !== undefined) rows.push(['without tcpcopy', b])
    for (const r of runs) { const x = r.points.find((y) => y.point === point.name); if (x !== undefined) rows.push([`with ${r.program === TS.name ? '' : 'the original '}(${r.arch}${RUN_ROUNDS > 1 ? `, round ${r.round}` : ''})`, x]) }
    rows.forEach(([what, x], i) => {
      const l = x.load
      console.log(`  ${padE(i === 0 ? point.label : '', 18)} ${padE(what, RUN_W)} ${pad(Math.round(l.achievedRate), 7)} ${pad(f(l.p50, 2), 7)} ${pad(f(l.p99, 2), 7)} ${pad(f(l.max, 1), 7)} ${pad(l.errors, 6)} ${pad(f(x.perK.server), 15)}` +
        (x.overloaded ? `  LOAD NOT HELD (asked ${point.rate}/s, late up to ${Math.round(l.lateMaxMs)} ms, ${l.errors} errors)` : ''))
    })
  }
}

// ---- main ---------------------------------------------------------------------------

const others = (() => { try { return readdirNetns().filter((n) => !n.startsWith(`tcx-e2e-${process.pid}-`)) } catch { return [] } })()
function readdirNetns () { return existsSync('/run/netns') ? spawnSync('ls', ['/run/netns'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean) : [] }

console.log(`tcpcopy bench: ${CPUS.length} CPUs, tcpcopy ${TC_CPU !== undefined ? `pinned to CPU ${TC_CPU}` : `NOT PINNED (${hasTaskset ? (CPUS.length > 1 ? 'BENCH_PIN=0' : 'one CPU') : 'no taskset'})`}; ` +
  `points of ${SECONDS} s at fixed rates from bench/http-load.js in cli to onl:${HTTP_PORT} ` +
  `(keep-alive: ${KA_CONNS} connections; close: one connection per request, at most ${CLOSE_CONNS} open); ` +
  `each point waits for the copies (quiet ${QUIET_MS} ms, at most ${SETTLE_MAX_MS} ms)`)
console.log(`  load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}` +
  (others.length > 0 ? `; other namespaces on this machine (not ours, left alone): ${others.length} — other tests may be running and disturb the numbers` : ''))

const runs = []
let failed = false
try {
  for (const [i, arch] of ARCHS.entries()) {
    for (let round = 0; round < RUN_ROUNDS && !stopping; round++) {
      // Round 1: ours first; round 2: the original first; and so on.
      const order = C_TCPCOPY ? (round % 2 === 0 ? [TS, C] : [C, TS]) : [TS]
      if (RUN_ROUNDS > 1) console.log(`\n[round ${round + 1} of ${RUN_ROUNDS}]`)
      for (const prog of order) {
        const r = await benchArch(arch, prog, { baseline: BASELINE && i === 0 && round === 0 && prog === TS })
        progressDone()
        if (stopping) break
        r.round = round + 1
        runs.push(r)
        if (r.error !== undefined && prog === TS) failed = true
        printArch(r)
      }
    }
  }
  if (stopping) throw new Error('interrupted')
  const base = runs.find((r) => r.baseline.length > 0)?.baseline ?? []
  printImpact(base, runs)

  console.log('\nsummary')
  for (const arch of ARCHS) {
    const ts = runs.filter((r) => r.program === TS.name && r.arch === arch)
    const c = runs.filter((r) => r.program === C.name && r.arch === arch)
    for (const r of ts) {
      if (r.points.length === 0) { console.log(`  ${padE(r.arch, 12)} ${ts.length > 1 ? `round ${r.round}: ` : ''}FAILED`); continue }
      const met = r.points.filter((x) => x.loss <= GOAL_LOSS).length
      const lost = r.points.reduce((a, x) => a + x.missing.length, 0)
      const total = r.points.reduce((a, x) => a + x.onl, 0)
      const ratios = r.points.map((x) => x.perK.tcpcopy / x.perK.server).filter(Number.isFinite)
      console.log(`  ${padE(r.arch, 12)} ${ts.length > 1 ? `round ${r.round}: ` : ''}loss ≤ 0.0375 % at ${met} of ${r.points.length} points → ${met === r.points.length ? 'MET' : 'NOT MET'} ` +
        `(${lost} of ${total} requests lost in all, ${pct(total === 0 ? 0 : lost / total)} %); ` +
        `tcpcopy CPU ${f(Math.min(...r.points.map((x) => x.perK.tcpcopy)))}-${f(Math.max(...r.points.map((x) => x.perK.tcpcopy)))} s/1k requests, ` +
        `${f(Math.min(...ratios), 2)}×-${f(Math.max(...ratios), 2)}× what the online server spends serving them`)
    }
    if (c.length === 0 || ts.every((r) => r.points.length === 0)) continue
    if (RUN_ROUNDS > 1) console.log(`  ${padE('', 12)} against ${C.name} over ${Math.min(ts.length, c.length)} rounds: loss judged on every round, CPU on the medians (each round's ratio in brackets)`)
    const at = (r, point) => r?.points.find((z) => z.point === point.name)
    for (const point of POINTS) {
      // Ours and the original's run of the same round, side by side.
      const pairs = ts.map((r) => [at(r, point), at(c.find((y) => y.round === r.round), point)])
      const xs = pairs.map(([x]) => x).filter((x) => x !== undefined)
      const ys = c.map((r) => at(r, point)).filter((y) => y !== undefined)
      if (xs.length === 0 || ys.length === 0) continue
      const xLoss = Math.max(...xs.map((x) => x.loss))
      const yLoss = Math.max(...ys.map((y) => y.loss))
      const xCpu = median(xs.map((x) => x.perK.tcpcopy))
      const yCpu = median(ys.map((y) => y.perK.tcpcopy))
      const lossGoal = yLoss < 0.01 ? (xLoss <= GOAL_LOSS ? 'MET' : 'NOT MET') : 'n/a (original ≥ 1 %)'
      const cpuGoal = xCpu <= yCpu ? 'MET' : 'NOT MET'
      const each = RUN_ROUNDS > 1 ? ` [${pairs.map(([x, y]) => x === undefined || y === undefined ? '-' : `${f(x.perK.tcpcopy / y.perK.tcpcopy, 2)}×`).join(' ')}]` : ''
      console.log(`  ${padE('', 12)} ${padE(point.name, 10)} vs ${C.name}: loss ${pct(xLoss)} % vs ${pct(yLoss)} % → ${lossGoal}; ` +
        `tcpcopy CPU ${f(xCpu)} vs ${f(yCpu)} s/1k (${f(xCpu / yCpu, 2)}×)${each} → ${cpuGoal}`)
    }
  }
  if (!C_TCPCOPY) {
    loud([
      'goal "loss ≤ 0.0375 % wherever the original pair stays under 1 %, at lower CPU than the original tcpcopy 1.x":',
      'NOT JUDGED against the original. Only its absolute part (loss ≤ 0.0375 % at every point) is judged above.',
      'The original C tcpcopy/intercept 1.x were not given (Debian does not package them). Set',
      'TCPCOPY_BENCH_C_TCPCOPY=<tcpcopy> and TCPCOPY_BENCH_C_INTERCEPT=<intercept> (traditional: a --traditional',
      'build; advanced: the pcap build) to run the same points against them, and TCPCOPY_BENCH_ROUNDS=3 for medians.'
    ])
  }
  if (process.env.BENCH_JSON) {
    const strip = (x) => ({ ...x, missing: x.missing?.slice(0, 100), missingCount: x.missing?.length })
    writeFileSync(process.env.BENCH_JSON, JSON.stringify({ points: POINTS, seconds: SECONDS, runs: runs.map((r) => ({ ...r, points: r.points.map(strip) })) }, null, 1))
    console.log(`\nevery number: ${process.env.BENCH_JSON}`)
  }
} catch (err) {
  if (!stopping) throw err
} finally {
  await cleanup()
}
if (stopping) process.exit(130)
console.log(`tcpcopy bench: done in ${Math.round((Date.now() - started) / 1000)} s`)
process.exit(failed ? 1 : 0)

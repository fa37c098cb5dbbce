// npm run bench (@tcpcopy/native-shim): the native I/O path of tcpcopy-ts
// against minimal C loops doing the same work, in one run, printed as ratios.
//
// Two namespaces joined by a veth pair (10.209.0.1 sender, 10.209.0.2
// receiver). A bounded flood (BENCH_PACKETS TCP packets, default 200000, at
// most 65536 for NFQUEUE in drain mode; or BENCH_FLOOD_SECONDS, default 10,
// whichever first) from a small C sender (flood.c: sendmmsg on AF_PACKET;
// without a compiler flood.js, the shim's raw IPv4 send) crosses the pair; in
// the receiver namespace:
//   NFQUEUE   mangle INPUT -p tcp --dport 9001 -j NFQUEUE --queue-num 7
//             (accepted packets then hit filter INPUT DROP: nothing answers)
//             C:  nfq-loop.c   raw netlink, recvmmsg, one verdict per packet, one datagram per batch
//             TS: ts-loop.js   io.receive → nfqParseBatch → core.processDescribed → nfqWriteVerdicts → io.send
//   AF_PACKET eth0, classic BPF "tcp dst port 9002" (both sides the same program)
//             C:  packet-loop.c  recvmmsg, counts
//             TS: ts-loop.js     io.receive → core.processDescribed(n, LinkType.Ethernet, now)
//             C:  packet-ring.c  TPACKET_V3 ring (what PACKET_MMAP would buy; not a ratio target)
//             TS: ts-loop.js     the same TS loop on a socket with the shim's TPACKET_V3 ring
//                                (createPacketIo({ ring })): io.receive copies from the ring into the
//                                same slots. drain: a ring that holds the whole flood (as the C
//                                ring's); live: the shim's default ring (ring: true, 64 × 256 KiB).
//                                BENCH_TS_RING=default uses the default ring in drain mode too
//                                (what does not fit is dropped by the kernel and reported).
// Each receiver is pinned to the last allowed CPU, the sender to the others.
// Other knobs: BENCH_RUNS (3), BENCH_ONLY (nfqueue,packet), BENCH_TS_RING (fit, default, or JSON),
// BENCH_RCVBUF (receive buffer of the recvmmsg loops, 512 MiB), CC (cc).
//
// Modes (BENCH_MODES, default "drain,live"):
//   drain  the flood is queued in the kernel first (NFQUEUE queue / socket
//          buffer / ring), then the receiver drains it: pure receiver
//          throughput, independent of the generator's speed.
//   live   the receiver runs while the flood is sent; if it keeps up with the
//          generator the row is marked generator-bound (the ratio then only
//          bounds the real one).
// pps = packets processed / (last batch end - first batch start) at the
// receiver; median of BENCH_RUNS runs; CPU = the receiving process's
// user+system time (getrusage / process.cpuUsage) per 1M packets.
//
// Needs root; not root → one loud line, exit 0. Every process it starts is
// stopped by PID; the namespaces (and their iptables rules) are deleted at the
// end, on error and on SIGINT/SIGTERM.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isRoot, loud, missingTools, allowedCpus } from '../../e2e/lib/preflight.js'
import { createInterface } from 'node:readline'

const here = dirname(fileURLToPath(import.meta.url))
const shim = join(here, '..')

if (!isRoot()) {
  console.log('### native bench SKIPPED: it needs root (network namespaces, NFQUEUE, AF_PACKET) — run `sudo npm run bench -w @tcpcopy/native-shim` ###')
  process.exit(0)
}

const missing = missingTools(['ip', 'iptables', 'taskset'])
if (missing.length > 0) {
  loud([`native bench: missing ${missing.join(', ')}`, 'install iproute2, iptables and util-linux (see e2e/apt-packages.txt)'])
  process.exit(1)
}
if (!existsSync(join(shim, 'build', 'Release', 'tcpcopy_native.node')) || !existsSync(join(shim, 'dist', 'index.js'))) {
  loud(['native bench: the native shim is not built', 'run `npm run build -w @tcpcopy/native-shim` (or npm ci at the root)'])
  process.exit(1)
}

const { Netns, vethPair, removeStaleNamespaces } = await import('../../e2e/lib/netns.js')
const { ipProtoDstPort } = await import('../../e2e/lib/bpf.js')
const { FRAMES_SIZE, MAX_BATCH } = await import('@tcpcopy/wasm')

// ---- parameters ------------------------------------------------------------------

const envInt = (name, dflt) => {
  const v = process.env[name]
  if (v === undefined || v === '') return dflt
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`)
  return n
}
const PACKETS = envInt('BENCH_PACKETS', 200_000)
const FLOOD_SECONDS = envInt('BENCH_FLOOD_SECONDS', 10)
const RUNS = envInt('BENCH_RUNS', 3)
const MODES = (process.env.BENCH_MODES ?? 'drain,live').split(',').map((s) => s.trim()).filter(Boolean)
const BENCHES = (process.env.BENCH_ONLY ?? 'nfqueue,packet').split(',').map((s) => s.trim()).filter(Boolean)
for (const m of MODES) if (m !== 'drain' && m !== 'live') throw new Error(`BENCH_MODES: unknown mode "${m}" (drain, live)`)
// BENCH_TS_RING: fit (drain: a ring that holds the flood; live: the default
// ring), default (the shim's default ring in both modes), or a JSON geometry
// such as {"blockSize":65536,"blockCount":256,"retireMs":1} (both modes).
const TS_RING = process.env.BENCH_TS_RING || 'fit'
let tsRingGeometry
if (TS_RING.startsWith('{')) {
  try { tsRingGeometry = JSON.parse(TS_RING) } catch { throw new Error(`BENCH_TS_RING: not JSON: ${TS_RING}`) }
} else if (TS_RING !== 'fit' && TS_RING !== 'default') {
  throw new Error(`BENCH_TS_RING: unknown value "${TS_RING}" (fit, default, or a JSON ring geometry)`)
}

const PAYLOAD = 64 //            TCP payload bytes: 104-byte IP packets, 118-byte frames
const SNAP = 2048 //             receive slot of every loop (shim snap, C iov_len)
const COPY_RANGE = 1600 //       NFQUEUE copy range (whole packets)
const BATCH = Math.min(MAX_BATCH, Math.floor(FRAMES_SIZE / ((SNAP + 7) & ~7))) // what io.receive(MAX_BATCH) can return
const RCVBUF = envInt('BENCH_RCVBUF', 512 * 1024 * 1024) // room for the whole flood in drain mode (SO_RCVBUFFORCE)
// One NFQUEUE queue held at most 65536 packets here (Linux 6.18: queue_total
// in /proc/net/netfilter/nfnetlink_queue stops there whatever QUEUE_MAXLEN
// says, the rest count as queue_dropped), so an NFQUEUE flood that must wait
// in the queue (drain mode) is cut to that.
const NFQ_QUEUE_MAX = 65536
const MAXLEN = NFQ_QUEUE_MAX
/** Packets of one flood: all of them, except an NFQUEUE flood in drain mode. */
const floodCount = (bench, mode) => bench === 'nfqueue' && mode === 'drain' ? Math.min(PACKETS, NFQ_QUEUE_MAX) : PACKETS
const IDLE_MS = 200 //           a receiver stops this long after its last packet
const QUEUE = 7
const NFQ_PORT = 9001
const PKT_PORT = 9002
const S_IP = '10.209.0.1'
const R_IP = '10.209.0.2'
const R_IP_U32 = R_IP.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0)
const FILTER_HEX = Buffer.from(ipProtoDstPort(6, PKT_PORT)).toString('hex')
// ring: 1 MiB blocks, room for the whole flood (208 bytes per 118-byte frame in a
// TPACKET_V3 block) with a third to spare for blocks retired half full, plus slack
const RING_BLOCKS = Math.ceil(PACKETS * 208 * 1.33 / (1 << 20)) + 16
/**
 * The TS ring row's `ring` option: in drain mode the C ring's geometry (1 MiB
 * blocks, RING_BLOCKS of them, 50 ms retire), so the whole flood fits; in live
 * mode (or with BENCH_TS_RING=default) the shim's default ring (`true`).
 */
const tsRing = (mode) => tsRingGeometry ?? (mode === 'drain' && TS_RING === 'fit' ? { blockSize: 1 << 20, blockCount: RING_BLOCKS, retireMs: 50 } : true)

const CPUS = allowedCpus()
const NCPU = CPUS.length
const RECV_CPU = NCPU > 1 ? CPUS[NCPU - 1] : undefined
const SEND_CPUS = NCPU > 1 ? CPUS.slice(0, Math.min(NCPU - 1, 4)).join(',') : '-'

// ---- processes -------------------------------------------------------------------

const children = new Set()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A process started inside a namespace (ip netns exec execs it: child.pid is its PID), read line by line. */
class Proc {
  constructor (ns, argv, { cpu } = {}) {
    const pin = cpu !== undefined ? ['taskset', '-c', String(cpu)] : []
    this.name = argv[0].split('/').pop()
    this.child = spawn('ip', ['netns', 'exec', ns.name, ...pin, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(this.child)
    this.stderr = ''
    this.lines = []
    this.waiters = []
    this.exit = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      children.delete(this.child)
      this.exited = true
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.name} exited (${code ?? signal}) before answering: ${this.stderr.trim()}`))
      resolve(code ?? signal)
    }))
    this.child.stderr.on('data', (d) => { this.stderr += d })
    this.child.stdin.on('error', () => {})
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const w = this.waiters.shift()
      if (w !== undefined) w.resolve(line)
      else this.lines.push(line)
    })
  }

  /** The next line of stdout, within ms. */
  line (ms) {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift())
    if (this.exited) return Promise.reject(new Error(`${this.name} exited: ${this.stderr.trim()}`))
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no answer in ${ms} ms: ${this.stderr.trim()}`)), ms)
      this.waiters.push({ resolve: (l) => { clearTimeout(t); resolve(l) }, reject: (e) => { clearTimeout(t); reject(e) } })
    })
  }

  write (s) { this.child.stdin.write(s) }

  /** Waits up to ms for the exit, then kills it by PID. */
  async stop (ms = 2000) {
    this.child.stdin.end()
    if (this.exited) return
    const t = setTimeout(() => { try { process.kill(this.child.pid, 'SIGKILL') } catch {} }, ms)
    await this.exit
    clearTimeout(t)
  }
}

// ---- build -----------------------------------------------------------------------

const CC = process.env.CC ?? 'cc'
const work = mkdtempSync(join(tmpdir(), 'tcpcopy-native-bench-'))
const bins = {}
let compilerOk = spawnSync(CC, ['--version'], { encoding: 'utf8' }).status === 0
if (compilerOk) {
  for (const name of ['flood', 'nfq-loop', 'packet-loop', 'packet-ring']) {
    const out = join(work, name)
    const r = spawnSync(CC, ['-O2', '-Wall', '-o', out, join(here, `${name}.c`), '-lpthread'], { encoding: 'utf8' })
    if (r.status !== 0) {
      loud([`native bench: ${CC} failed on bench/${name}.c — the C baselines are skipped, no ratios`, ...r.stderr.trim().split('\n').slice(0, 5)])
      compilerOk = false
      break
    }
    bins[name] = out
  }
} else {
  loud([`native bench: NO C COMPILER (${CC}) — the C baselines are skipped and NO RATIOS are printed`,
    'install gcc (or set CC) to compare against C; the flood falls back to the shim\'s raw IPv4 send (slower)'])
}

// ---- namespaces ------------------------------------------------------------------

let nsS, nsR
let cleaned = false
async function cleanup () {
  if (cleaned) return
  cleaned = true
  // Kill what is still running (by PID) and wait for the exits, so that no
  // child outlives this process as an orphan or a zombie.
  const exits = [...children].map((c) => new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) { resolve(); return }
    c.once('exit', resolve)
    try { process.kill(c.pid, 'SIGKILL') } catch { resolve() }
  }))
  await Promise.race([Promise.all(exits), sleep(2000)])
  for (const ns of [nsS, nsR]) if (ns !== undefined) spawnSync('ip', ['netns', 'del', ns.name])
  rmSync(work, { recursive: true, force: true })
}
let interrupted = false
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    interrupted = true
    console.error(`native bench: ${sig}, stopping`)
    cleanup().finally(() => process.exit(130))
  })
}

function setUpNamespaces () {
  const stale = removeStaleNamespaces()
  if (stale.length > 0) console.log(`bench: removed stale namespaces of an earlier run: ${stale.join(' ')}`)
  nsS = Netns.create('bs')
  nsR = Netns.create('br')
  for (const ns of [nsS, nsR]) ns.sh('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1')
  vethPair(nsS, nsR, `${S_IP}/24`, `${R_IP}/24`)
  // NFQUEUE in mangle INPUT; what it accepts (and the AF_PACKET flood) is then
  // dropped in filter INPUT, so no RST or ICMP goes back.
  nsR.exec('iptables', ['-t', 'mangle', '-A', 'INPUT', '-p', 'tcp', '--dport', String(NFQ_PORT), '-j', 'NFQUEUE', '--queue-num', String(QUEUE)])
  nsR.exec('iptables', ['-t', 'filter', '-A', 'INPUT', '-p', 'tcp', '-j', 'DROP'])
}

// ---- one run ---------------------------------------------------------------------

async function flood (port, count) {
  const argv = compilerOk
    ? [bins.flood, 'eth0', nsR.mac('eth0'), S_IP, R_IP, String(port), String(count), String(FLOOD_SECONDS), SEND_CPUS, String(PAYLOAD)]
    : [process.execPath, join(here, 'flood.js'), S_IP, R_IP, String(port), String(count), String(FLOOD_SECONDS), String(PAYLOAD)]
  const p = new Proc(nsS, argv)
  const line = await p.line((FLOOD_SECONDS + 20) * 1000)
  await p.stop()
  return JSON.parse(line)
}

function receiverArgv (bench, impl, mode, count) {
  const ts = (opts) => [process.execPath, '--expose-gc', join(here, 'ts-loop.js'),
    JSON.stringify({ snap: SNAP, rcvbuf: RCVBUF, expect: count, idleMs: IDLE_MS, ...opts })]
  if (bench === 'nfqueue') {
    if (impl === 'ts') return ts({ kind: 'nfqueue', queueNum: QUEUE, copyRange: COPY_RANGE, maxLen: MAXLEN, passIp: R_IP_U32 })
    return [bins['nfq-loop'], QUEUE, COPY_RANGE, SNAP, BATCH, RCVBUF, MAXLEN, count, IDLE_MS, 'accept'].map(String)
  }
  if (impl === 'ts') return ts({ kind: 'packet', interface: 'eth0', filter: FILTER_HEX })
  if (impl === 'tsring') return ts({ kind: 'packet', interface: 'eth0', filter: FILTER_HEX, ring: tsRing(mode) })
  if (impl === 'ring') return [bins['packet-ring'], 'eth0', SNAP, 1024, RING_BLOCKS, FILTER_HEX, count, IDLE_MS].map(String)
  return [bins['packet-loop'], 'eth0', SNAP, BATCH, RCVBUF, FILTER_HEX, count, IDLE_MS].map(String)
}

async function runOnce (bench, impl, mode) {
  const count = floodCount(bench, mode)
  const p = new Proc(nsR, receiverArgv(bench, impl, mode, count), { cpu: RECV_CPU })
  try {
    const ready = await p.line(20_000)
    if (ready !== 'READY') throw new Error(`${p.name}: expected READY, got ${ready}`)
    const port = bench === 'nfqueue' ? NFQ_PORT : PKT_PORT
    let f
    if (mode === 'drain') {
      f = await flood(port, count)
      await sleep(50) // the last frames leave the sender's softirq
      p.write('GO\n')
    } else {
      p.write('GO\n')
      await sleep(100) // the receiver is in its loop
      f = await flood(port, count)
    }
    const r = JSON.parse(await p.line((FLOOD_SECONDS + 30) * 1000))
    const secs = (r.last_ns - r.first_ns) / 1e9
    const floodSecs = (f.end_ns - f.start_ns) / 1e9
    return {
      ...r,
      sent: f.sent,
      floodPps: f.sent / floodSecs,
      floodCpuPerM: f.cpu_ns !== undefined ? (f.cpu_ns / 1e9) / f.sent * 1e6 : NaN,
      pps: r.processed > 0 && secs > 0 ? r.processed / secs : 0,
      secs,
      cpuPerM: r.processed > 0 ? (r.cpu_ns / 1e9) / r.processed * 1e6 : NaN,
      // live: the receiver finished within 5 % (+10 ms) of the flood's end → it kept up with the generator
      keptUp: mode === 'live' && r.last_ns <= f.end_ns + 0.05 * (f.end_ns - f.start_ns) + 10e6
    }
  } finally {
    await p.stop()
  }
}

// ---- report ----------------------------------------------------------------------

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
const kpps = (x) => Number.isFinite(x) ? `${(x / 1000).toFixed(0)}k` : '-'
const pad = (s, n) => String(s).padStart(n)

const LABEL = { c: 'C loop', ts: 'tcpcopy-ts', ring: 'C TPACKET_V3 ring', tsring: 'tcpcopy-ts/ring' } // not "tcpcopy-ts …": packages/cli/bench/intercept-bench.js reads the rows by label
/** The rows that run ts-loop.js (they have JS heap figures). */
const isTs = (impl) => impl === 'ts' || impl === 'tsring'
const TARGET = { nfqueue: 0.6, packet: 0.7 }
const TITLE = {
  nfqueue: 'NFQUEUE: recv → parse → classify → verdict (ACCEPT) → send',
  packet: 'AF_PACKET capture on eth0 (BPF tcp dst port 9002)'
}
const summary = []

const MODE_NOTE = {
  drain: 'the flood waits in the kernel, then the receiver drains it',
  live: 'the receiver runs while the flood is sent'
}

function printTable (bench, mode, rows) {
  console.log(`\n${TITLE[bench]}\n  ${mode} mode (${MODE_NOTE[mode]}), ${floodCount(bench, mode)} packets, median of ${RUNS} runs`)
  const runCols = Array.from({ length: RUNS }, (_, i) => pad(`run ${i + 1}`, 7)).join(' ')
  console.log(`  ${'loop'.padEnd(18)} ${runCols}  ${pad('pps', 7)}  ${pad('rx CPU s/1M', 11)}  ${pad('flood pps', 9)}  ${pad('flood CPU s/1M', 14)}  ${pad('lost', 5)}  ${pad('pkts/batch', 10)}`)
  const f3 = (x) => Number.isFinite(x) ? x.toFixed(3) : '-'
  const notes = []
  for (const [impl, runs] of Object.entries(rows)) {
    const med = (f) => median(runs.map(f))
    console.log(`  ${LABEL[impl].padEnd(18)} ${runs.map((r) => pad(kpps(r.pps), 7)).join(' ')}  ${pad(kpps(med((r) => r.pps)), 7)}  ` +
      `${pad(f3(med((r) => r.cpuPerM)), 11)}  ${pad(kpps(med((r) => r.floodPps)), 9)}  ${pad(f3(med((r) => r.floodCpuPerM)), 14)}  ` +
      `${pad(med((r) => r.sent - r.processed), 5)}  ${pad(med((r) => r.processed / Math.max(1, r.batches)).toFixed(0), 10)}`)
    const overruns = runs.reduce((n, r) => n + (r.overruns ?? 0) + (r.drops ?? 0), 0)
    if (overruns > 0 && impl !== 'tsring') notes.push(`${LABEL[impl]}: ${overruns} receive overruns/kernel drops`)
    if (impl === 'tsring') {
      const size = runs[0].ringSize ?? 0
      const g = tsRing(mode)
      const geometry = g === true ? 'the shim\'s default ring (ring: true), 64 × 256 KiB blocks, 10 ms retire' : `ring ${JSON.stringify(g)} (absent fields: the default ring's)`
      notes.push(`${LABEL[impl]}: ${(size / (1 << 20)).toFixed(0)} MiB ring, ${geometry}; packets the ring dropped ` +
        `(PACKET_STATISTICS tp_drops, io.stats().overruns) per run: ${runs.map((r) => r.overruns ?? 0).join('/')}`)
    }
    if (mode === 'live') {
      const kept = runs.filter((r) => r.keptUp).length
      if (kept > 0) notes.push(`${LABEL[impl]}: kept up with the generator in ${kept}/${runs.length} runs (pps = the generator's)`)
    }
    if (isTs(impl)) {
      const young = med((r) => r.young / Math.max(1, r.steadyPackets))
      const youngBatch = med((r) => r.young / Math.max(1, r.steadyBatches))
      const heap = med((r) => r.allocated / Math.max(1, r.steadyPackets))
      const gcs = med((r) => r.gcs / Math.max(1, r.steadyPackets) * 1e6)
      const perBatch = med((r) => r.processed / Math.max(1, r.batches))
      const judged = perBatch < 256
        ? 'per batch, not per packet: see drain mode for the per-packet figure'
        : young < 16 ? 'no per-packet JS allocation (one heap object per packet would be ≥ 16 B/pkt)' : 'PER-PACKET JS ALLOCATION SUSPECTED'
      notes.push(`${LABEL[impl]} JS heap after batch 1: young generation ${young.toFixed(2)} B/pkt = ${youngBatch.toFixed(0)} B/batch, ` +
        `whole heap ${heap.toFixed(2)} B/pkt, ${gcs.toFixed(1)} GCs/1M pkts — ${judged}`)
      const c = runs[runs.length - 1].classified
      notes.push(bench === 'nfqueue'
        ? `${LABEL[impl]} verdicts (last run): ${c.passed}/${c.captured} ACCEPT by the passlist (the C loop sends ACCEPT too)`
        : `${LABEL[impl]} classifier (last run): ${c.unroutable}/${c.captured} parsed + router lookup (miss)`)
    }
    if (impl === 'ring' && mode === 'drain') notes.push('C TPACKET_V3 ring: drain pps only walks frames the kernel already copied; compare the CPU columns')
    if (impl === 'tsring' && mode === 'drain') notes.push(`${LABEL[impl]}: drain pps counts the copy from the ring into the WASM slots and the core; the kernel's copy into the ring is in the flood CPU column`)
  }
  if (rows.c !== undefined && rows.ts !== undefined) {
    const c = median(rows.c.map((r) => r.pps))
    const t = median(rows.ts.map((r) => r.pps))
    const ratio = t / c
    const cpuRatio = median(rows.ts.map((r) => r.cpuPerM)) / median(rows.c.map((r) => r.cpuPerM))
    const bound = mode === 'live' && rows.c.some((r) => r.keptUp)
    const verdict = bound ? 'not judged (the C loop kept up with the generator)' : ratio >= TARGET[bench] ? 'target met' : 'target NOT MET'
    const line = `tcpcopy-ts = ${(ratio * 100).toFixed(0)} % of the C loop's pps (target ≥ ${TARGET[bench] * 100} %): ${verdict}; rx CPU per packet ${cpuRatio.toFixed(2)}× the C loop's`
    console.log(`  → ${line}`)
    summary.push(`${bench.padEnd(8)} ${mode.padEnd(6)} ${line}`)
  } else if (rows.ts !== undefined) {
    summary.push(`${bench.padEnd(8)} ${mode.padEnd(6)} tcpcopy-ts ${kpps(median(rows.ts.map((r) => r.pps)))} pps — no C baseline (no compiler), no ratio`)
  }
  if (rows.ring !== undefined && rows.c !== undefined) {
    const m = (impl, f) => median(rows[impl].map(f))
    const cpu = m('ring', (r) => r.cpuPerM) / m('c', (r) => r.cpuPerM)
    const tx = m('ring', (r) => r.floodCpuPerM) / m('c', (r) => r.floodCpuPerM)
    const line = `PACKET_MMAP (TPACKET_V3 ring) vs recvmmsg, both C: receiver CPU per packet ${cpu.toFixed(2)}×, ` +
      `flood CPU per packet (sender + softirq, where the ring's copy happens) ${tx.toFixed(2)}×` +
      (mode === 'live' ? `, pps ${(m('ring', (r) => r.pps) / m('c', (r) => r.pps)).toFixed(2)}×` : '')
    console.log(`  → ${line}`)
    summary.push(`${bench.padEnd(8)} ${mode.padEnd(6)} ${line}`)
  }
  if (rows.tsring !== undefined) {
    const m = (impl, f) => median(rows[impl].map(f))
    const x = (a, b, f) => (m(a, f) / m(b, f)).toFixed(2)
    const pps = (r) => r.pps
    const cpu = (r) => r.cpuPerM
    const tx = (r) => r.floodCpuPerM
    const lines = []
    if (rows.c !== undefined) {
      const bound = mode === 'live' && rows.c.some((r) => r.keptUp) ? ' (the C loop kept up with the generator: not judged)' : ''
      lines.push(`${LABEL.tsring} = ${(m('tsring', pps) / m('c', pps) * 100).toFixed(0)} % of the C loop's pps${bound}; rx CPU per packet ${x('tsring', 'c', cpu)}× the C loop's`)
    }
    if (rows.ring !== undefined) {
      lines.push(`${LABEL.tsring} vs the C TPACKET_V3 ring: pps ${x('tsring', 'ring', pps)}×${mode === 'drain' ? ' (the C ring only walks the frames)' : ''}, ` +
        `rx CPU per packet ${x('tsring', 'ring', cpu)}×`)
    }
    if (rows.ts !== undefined) {
      lines.push(`${LABEL.tsring} vs tcpcopy-ts (recvmmsg): pps ${x('tsring', 'ts', pps)}×, rx CPU per packet ${x('tsring', 'ts', cpu)}×, ` +
        `flood CPU per packet ${x('tsring', 'ts', tx)}×; ring drops per run ${rows.tsring.map((r) => r.overruns ?? 0).join('/')}`)
    }
    for (const line of lines) {
      console.log(`  → ${line}`)
      summary.push(`${bench.padEnd(8)} ${mode.padEnd(6)} ${line}`)
    }
  }
  for (const n of notes) console.log(`    ${n}`)
}

// ---- main ------------------------------------------------------------------------

const started = Date.now()
let failed = false
try {
  setUpNamespaces()
  console.log(`native bench: ${NCPU} CPUs (receiver on CPU ${RECV_CPU ?? 'any'}, sender on ${SEND_CPUS}), ` +
    `flood ${PACKETS} × ${40 + PAYLOAD}-byte TCP packets (≤ ${FLOOD_SECONDS} s) ${S_IP} → ${R_IP} on a veth pair, ` +
    `batch ≤ ${BATCH}, snap ${SNAP}, ${compilerOk ? `C built with ${CC} -O2` : 'no C baseline'}`)
  if (RECV_CPU === undefined) console.log('native bench: one CPU only: sender and receiver share it, expect noisy numbers')
  for (const bench of BENCHES) {
    const impls = bench === 'packet' ? (compilerOk ? ['c', 'ts', 'ring', 'tsring'] : ['ts', 'tsring']) : compilerOk ? ['c', 'ts'] : ['ts']
    for (const mode of MODES) {
      const rows = {}
      for (let i = 0; i < RUNS; i++) {
        for (const impl of impls) { // interleaved, so drift hits every loop alike
          const r = await runOnce(bench, impl, mode)
          ;(rows[impl] ??= []).push(r)
        }
      }
      printTable(bench, mode, rows)
    }
  }
  console.log('\nsummary')
  for (const l of summary) console.log(`  ${l}`)
  console.log(`native bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
} catch (err) {
  failed = true
  if (!interrupted) console.error(`native bench failed: ${err.stack ?? err}`)
} finally {
  await cleanup()
}
process.exit(interrupted ? 130 : failed ? 1 : 0)

// How long a captured packet waits before the TS loop sees it, with recvmmsg
// and with the shim's TPACKET_V3 ring, at low packet rates. A TPACKET_V3
// block is handed to user space (and poll() wakes) only when it is full or
// when its retire timer (retireMs) expires, so at low rates each packet can
// wait up to retireMs in the ring. run.js measures throughput and CPU; this
// measures that delay.
//
//   node bench/ring-latency.js          (root; not part of npm run bench)
//
// Two namespaces joined by a veth pair (10.209.0.1 → 10.209.0.2, made with
// e2e/lib/netns.js and deleted at the end). A sender in the first sends UDP
// datagrams to 10.209.0.2:9003 at a fixed interval; each carries its send
// time (process.hrtime.bigint(), CLOCK_MONOTONIC, the same clock in every
// namespace). A receiver in the second captures them on eth0 with
// createPacketIo (BPF "udp dst port 9003"), driven by onReadable as in
// ts-loop.js, and computes receive time − send time per packet. iptables
// drops the datagrams after capture, so nothing answers.
//
// Knobs: LAT_INTERVALS (ms between packets, "20,1"), LAT_SECONDS (2 per case).
// Prints one table: median / p90 / p99 / max delay in ms per capture and interval.
import { spawn, spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const here = dirname(fileURLToPath(import.meta.url))
const S_IP = '10.209.0.1'
const R_IP = '10.209.0.2'
const PORT = 9003
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---- receiver: node ring-latency.js recv '<json>' -----------------------------------
async function receiver (o) {
  const { createCore } = await import('@tcpcopy/core')
  const { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, TX_DESC_OFF, MAX_BATCH } = await import('@tcpcopy/wasm')
  const { createPacketIo } = await import('../dist/index.js')
  const { ipProtoDstPort } = await import('../../e2e/lib/bpf.js')
  setTimeout(() => { console.error('ring-latency: 60 s cap reached'); process.exit(3) }, 60_000).unref()
  const core = createCore({ hashSize: 16, maxRoutes: 16, delayTotal: 16 })
  const io = createPacketIo({
    regions: { memory: core.raw.memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF },
    snap: 2048,
    interface: 'eth0',
    filter: ipProtoDstPort(17, PORT),
    ...(o.ring === undefined ? {} : { ring: o.ring })
  })
  const delays = []
  let batches = 0
  const finish = () => {
    const stats = io.stats()
    const ringSize = io.ringSize
    io.close()
    process.stdout.write(JSON.stringify({ delays, batches, drops: stats.drops, ringSize }) + '\n', () => process.exit(0))
  }
  io.onReadable(() => {
    for (;;) {
      const n = io.receive(MAX_BATCH)
      if (n === 0) return
      const now = process.hrtime.bigint()
      const dv = new DataView(core.raw.memory.buffer)
      batches++
      for (let i = 0; i < n; i++) {
        const off = dv.getUint32(DESC_OFF + i * 8, true)
        const ihl = (dv.getUint8(off + 14) & 0x0f) * 4
        const sent = dv.getBigUint64(off + 14 + ihl + 8, true)
        delays.push(Number(now - sent) / 1e6)
      }
      if (delays.length >= o.count) { finish(); return }
    }
  })
  process.stdout.write('READY\n')
  process.stdin.on('data', (d) => { if (String(d).includes('STOP')) finish() })
  process.stdin.on('end', finish)
}

// ---- sender: node ring-latency.js send '<json>' -------------------------------------
async function sender (o) {
  const sock = createSocket('udp4')
  const buf = Buffer.alloc(64)
  for (let i = 0; i < o.count; i++) {
    buf.writeBigUInt64LE(process.hrtime.bigint(), 0)
    buf.writeUInt32LE(i, 8)
    await new Promise((resolve, reject) => sock.send(buf, PORT, R_IP, (err) => err ? reject(err) : resolve()))
    await sleep(o.intervalMs)
  }
  sock.close()
  console.log(JSON.stringify({ sent: o.count }))
}

// ---- runner ---------------------------------------------------------------------------
async function runner () {
  const { isRoot, loud, missingTools } = await import('../../e2e/lib/preflight.js')
  if (!isRoot()) {
    console.log('### ring latency bench SKIPPED: it needs root (network namespaces, AF_PACKET) ###')
    return 0
  }
  const missing = missingTools(['ip', 'iptables'])
  if (missing.length > 0) { loud([`ring latency bench: missing ${missing.join(', ')}`]); return 1 }
  if (!existsSync(join(here, '..', 'build', 'Release', 'tcpcopy_native.node')) || !existsSync(join(here, '..', 'dist', 'index.js'))) {
    loud(['ring latency bench: the native shim is not built', 'run `npm run build -w @tcpcopy/native-shim`'])
    return 1
  }
  const { Netns, vethPair, removeStaleNamespaces } = await import('../../e2e/lib/netns.js')
  const intervals = (process.env.LAT_INTERVALS ?? '20,1').split(',').map(Number)
  const seconds = Number(process.env.LAT_SECONDS ?? 2)
  if (intervals.some((x) => !(x > 0)) || !(seconds > 0)) throw new Error('LAT_INTERVALS and LAT_SECONDS must be positive numbers')
  const cases = [
    { name: 'recvmmsg', ring: undefined },
    { name: 'ring: true (default, retireMs 10)', ring: true },
    { name: 'ring: { retireMs: 1 }', ring: { retireMs: 1 } }
  ]

  const children = new Set()
  let nsS, nsR
  const cleanup = () => {
    for (const c of children) { try { process.kill(c.pid, 'SIGKILL') } catch {} }
    for (const ns of [nsS, nsR]) if (ns !== undefined) spawnSync('ip', ['netns', 'del', ns.name])
  }
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(130) })

  /** A node process of this script inside ns; resolves lines of stdout. */
  const start = (ns, role, opts) => {
    const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, fileURLToPath(import.meta.url), role, JSON.stringify(opts)],
      { stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child)
    let stderr = ''
    child.stderr.on('data', (d) => { stderr += d })
    const lines = []
    const waiters = []
    createInterface({ input: child.stdout }).on('line', (l) => { const w = waiters.shift(); if (w) w(l); else lines.push(l) })
    const exited = new Promise((resolve) => child.once('exit', () => { children.delete(child); resolve() }))
    return {
      child,
      exited,
      line: (ms) => lines.length > 0 ? Promise.resolve(lines.shift()) : new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${role}: no answer in ${ms} ms: ${stderr.trim()}`)), ms)
        waiters.push((l) => { clearTimeout(t); resolve(l) })
        exited.then(() => { clearTimeout(t); reject(new Error(`${role} exited: ${stderr.trim()}`)) })
      })
    }
  }

  const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]
  try {
    const stale = removeStaleNamespaces()
    if (stale.length > 0) console.log(`ring latency: removed stale namespaces: ${stale.join(' ')}`)
    nsS = Netns.create('ls')
    nsR = Netns.create('lr')
    vethPair(nsS, nsR, `${S_IP}/24`, `${R_IP}/24`)
    nsR.exec('iptables', ['-t', 'filter', '-A', 'INPUT', '-p', 'udp', '--dport', String(PORT), '-j', 'DROP'])
    console.log(`ring latency: UDP ${S_IP} → ${R_IP}:${PORT} on a veth pair, ${seconds} s per case; delay = JS receive time − send time`)
    console.log(`  ${'capture'.padEnd(36)} ${'interval'.padStart(8)}  ${'pkts'.padStart(5)}  ${'median ms'.padStart(9)}  ${'p90 ms'.padStart(7)}  ` +
      `${'p99 ms'.padStart(7)}  ${'max ms'.padStart(7)}  ${'pkts/batch'.padStart(10)}  ${'drops'.padStart(5)}`)
    for (const intervalMs of intervals) {
      for (const c of cases) {
        const count = Math.max(50, Math.round(seconds * 1000 / intervalMs))
        const r = start(nsR, 'recv', { ring: c.ring, count })
        if (await r.line(20_000) !== 'READY') throw new Error('receiver: expected READY')
        const s = start(nsS, 'send', { intervalMs, count })
        await s.line(seconds * 1000 * 3 + 20_000)
        await s.exited
        await sleep(100) // the last ring block retires (≤ retireMs)
        r.child.stdin.write('STOP\n')
        const out = JSON.parse(await r.line(10_000))
        r.child.stdin.end()
        await r.exited
        const d = out.delays.sort((a, b) => a - b)
        const f = (x) => x === undefined ? '-' : x.toFixed(3)
        console.log(`  ${c.name.padEnd(36)} ${`${intervalMs} ms`.padStart(8)}  ${String(d.length).padStart(5)}  ${f(q(d, 0.5)).padStart(9)}  ` +
          `${f(q(d, 0.9)).padStart(7)}  ${f(q(d, 0.99)).padStart(7)}  ${f(d[d.length - 1]).padStart(7)}  ` +
          `${(d.length / Math.max(1, out.batches)).toFixed(1).padStart(10)}  ${String(out.drops).padStart(5)}`)
      }
    }
    return 0
  } finally {
    cleanup()
  }
}

const [role, arg] = process.argv.slice(2)
if (role === 'recv') await receiver(JSON.parse(arg))
else if (role === 'send') await sender(JSON.parse(arg))
else process.exitCode = await runner()

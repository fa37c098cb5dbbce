// The tcpcopy-ts side of the native bench: the production path, driven by
// onReadable like a real program, on one core's memory.
//
//   nfqueue: io.receive (netlink datagrams → FRAMES) → nfqParseBatch →
//            core.processDescribed(frames, LinkType.Raw, now) (the real
//            classifier; the flood's destination is in the passlist, so every
//            verdict is ACCEPT, as the C loop's) → nfqWriteVerdicts → io.send
//   packet:  io.receive (frames → FRAMES) → core.processDescribed(n,
//            LinkType.Ethernet, now) (no passlist: parse + router lookup, a miss)
//            With "ring" in the options (true: the shim's DEFAULT_RING, or
//            { blockSize, blockCount, frameSize, retireMs }), the socket has a
//            TPACKET_V3 receive ring and io.receive copies the frames from the
//            ring into the same FRAMES slots instead of calling recvmmsg; the
//            rest of the loop is the same.
//
//   node --expose-gc ts-loop.js '<json options>'
//   e.g. '{"kind":"packet","interface":"eth0","snap":2048,"expect":1000,"idleMs":200,"ring":true}'
// Same protocol as the C loops: READY once bound, a line on stdin starts the
// loop, one JSON line of results at the end. Allocation is measured over the
// steady state, from the end of the first batch (one-time costs: first calls,
// inline caches) to the end: used heap before/after plus what every GC in
// between freed (v8.GCProfiler), for the young generation (where short-lived
// JS objects go) and for the whole heap (which also counts JIT code).
import v8 from 'node:v8'
import { createCore, nfqWriteConfig, nfqConfigSteps, nfqParseBatch, nfqWriteVerdicts, LinkType } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, TX_DESC_OFF, MAX_BATCH } from '@tcpcopy/wasm'
import { createNfqueueIo, createPacketIo } from '../dist/index.js'

const o = JSON.parse(process.argv[2] ?? '{}')
const { kind, snap, rcvbuf, expect, idleMs } = o
const DRAIN = 64 // receive calls per readable callback at most, then back to the event loop

// A hard cap on this process's life, whatever the bench runner does.
setTimeout(() => { console.error('ts-loop: 60 s cap reached'); process.exit(3) }, 60_000).unref()
process.stdin.on('end', () => process.exit(0)) // the runner went away

const core = createCore({ hashSize: 65536, maxRoutes: 65536, delayTotal: 65536 })
const regions = { memory: core.raw.memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF }

// Loop state: timestamps in a Float64Array, counters as small integers. (The
// bench's own two performance.now() calls still box a 16-byte number each per
// batch while this code runs unoptimized: 32 B/batch of what is measured.)
const T = new Float64Array(4) // [first, last, go, -]
const FIRST = 0; const LAST = 1; const GO = 2
let processed = 0
let batches = 0
let unsent = 0
let seq = 1000
let done = false
let io

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Binds the queue with the core's config datagrams and waits for every ack. */
async function bindQueue () {
  const cfg = { queueNum: o.queueNum, copyRange: o.copyRange, maxLen: o.maxLen }
  const steps = nfqConfigSteps(cfg, 1)
  const sent = io.send(nfqWriteConfig(core, cfg, 1))
  if (sent !== steps.length) throw new Error(`ts-loop: sent ${sent} of ${steps.length} config datagrams`)
  let replies = 0
  const deadline = Date.now() + 3000
  while (replies < steps.length && Date.now() < deadline) {
    const n = io.receive(MAX_BATCH)
    if (n === 0) { await sleep(2); continue }
    const b = nfqParseBatch(core, n)
    replies += b.acks + b.errors
    if (b.errors > 0) {
      const step = steps.find((s) => s.seq === b.lastErrorSeq)
      if (step === undefined || !step.optional) throw new Error(`ts-loop: nfqueue ${step?.step ?? '?'} failed with errno ${b.lastErrno}`)
    }
  }
  if (replies < steps.length) throw new Error(`ts-loop: ${replies} of ${steps.length} config acks in 3 s`)
}

function onReadableNfqueue () {
  const queueNum = o.queueNum
  for (let k = 0; k < DRAIN; k++) {
    const t = performance.now()
    const n = io.receive(MAX_BATCH)
    if (n === 0) return
    const batch = nfqParseBatch(core, n)
    const m = batch.frames
    core.processDescribed(m, LinkType.Raw, Date.now())
    if (m > 0) {
      const d = nfqWriteVerdicts(core, m, queueNum, seq)
      seq = (seq + m) & 0x3fffffff
      if (io.send(d) !== d) unsent += m
    }
    if (T[FIRST] === 0) T[FIRST] = t
    processed += m
    if (++batches === 1) markSteady()
    T[LAST] = performance.now()
    if (processed >= expect) { finish(); return }
  }
}

function onReadablePacket () {
  for (let k = 0; k < DRAIN; k++) {
    const t = performance.now()
    const n = io.receive(MAX_BATCH)
    if (n === 0) return
    core.processDescribed(n, LinkType.Ethernet, Date.now())
    if (T[FIRST] === 0) T[FIRST] = t
    processed += n
    if (++batches === 1) markSteady()
    T[LAST] = performance.now()
    if (processed >= expect) { finish(); return }
  }
}

let cpu0, heap0, young0, profiler, timer
let steadyBatches = 0
let steadyPackets = 0

const YOUNG = new Set(['new_space', 'new_large_object_space'])
/** Used bytes of the young generation, from v8.getHeapSpaceStatistics() or a GCProfiler snapshot. */
function youngUsed (spaces) {
  let n = 0
  for (const s of spaces) if (YOUNG.has(s.space_name ?? s.spaceName)) n += s.space_used_size ?? s.spaceUsedSize
  return n
}

/** After the first batch: the allocation baseline of the steady state. */
function markSteady () {
  steadyBatches = batches
  steadyPackets = processed
  heap0 = v8.getHeapStatistics().used_heap_size
  young0 = youngUsed(v8.getHeapSpaceStatistics())
  profiler.start()
}

function start () {
  profiler = new v8.GCProfiler()
  cpu0 = process.cpuUsage()
  T[GO] = performance.now()
  io.onReadable(kind === 'nfqueue' ? onReadableNfqueue : onReadablePacket)
  timer = setInterval(() => {
    const now = performance.now()
    if (T[FIRST] === 0 ? now - T[GO] > 10_000 : now - T[LAST] > idleMs) finish()
  }, 10)
}

function finish () {
  if (done) return
  done = true
  const cpu = process.cpuUsage(cpu0)
  const stats = io.stats()
  const ringSize = kind === 'packet' ? io.ringSize : 0
  io.close()
  clearInterval(timer)
  const profile = batches > 0 ? profiler.stop() : undefined
  const heap1 = v8.getHeapStatistics().used_heap_size
  const young1 = youngUsed(v8.getHeapSpaceStatistics())
  let freed = 0
  let youngFreed = 0
  let gcs = 0
  for (const s of profile?.statistics ?? []) {
    gcs++
    freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize
    youngFreed += youngUsed(s.beforeGC.heapSpaceStatistics) - youngUsed(s.afterGC.heapSpaceStatistics)
  }
  // performance.now() → CLOCK_MONOTONIC ns (what the C programs and the flood print)
  const offsetNs = Number(process.hrtime.bigint()) - performance.now() * 1e6
  const c = core.counters()
  const out = {
    processed,
    batches,
    first_ns: T[FIRST] === 0 ? 0 : Math.round(T[FIRST] * 1e6 + offsetNs),
    last_ns: T[LAST] === 0 ? 0 : Math.round(T[LAST] * 1e6 + offsetNs),
    cpu_ns: (cpu.user + cpu.system) * 1000,
    // recvmmsg: ENOBUFS reports + the kernel's PACKET_STATISTICS tp_drops;
    // ring: tp_drops only (frames that found no room in the ring)
    overruns: stats.overruns,
    ringSize,
    unsent,
    // steady state (batches 2..n)
    steadyBatches: batches - steadyBatches,
    steadyPackets: processed - steadyPackets,
    allocated: batches > 0 ? heap1 - heap0 + freed : 0,
    young: batches > 0 ? young1 - young0 + youngFreed : 0,
    gcs,
    classified: { captured: c.Captured, passed: c.Passed, unroutable: c.Unroutable, malformed: c.Malformed, notTcp: c.NotTcp }
  }
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0))
}

try {
  if (kind === 'nfqueue') {
    core.setPasslist([o.passIp >>> 0])
    io = createNfqueueIo({ regions, snap, rcvbuf })
    await bindQueue()
  } else if (kind === 'packet') {
    const ring = o.ring === undefined || o.ring === false ? {} : { ring: o.ring }
    io = createPacketIo({ regions, snap, rcvbuf, interface: o.interface, filter: new Uint8Array(Buffer.from(o.filter, 'hex')), ...ring })
    if (o.ring !== undefined && o.ring !== false && !(io.ringSize > 0)) throw new Error('ts-loop: ring requested but io.ringSize is 0')
  } else {
    throw new Error(`ts-loop: unknown kind ${kind}`)
  }
} catch (err) {
  console.error(`ts-loop: setup failed: ${err.message}${err.code ? ` (${err.code})` : ''}`)
  process.exit(2)
}
// A full GC now, and time for its concurrent sweeping to finish, so that
// neither runs on this CPU during the measured loop.
if (typeof globalThis.gc === 'function') globalThis.gc()
await sleep(100)
process.stdout.write('READY\n')
process.stdin.once('data', start)

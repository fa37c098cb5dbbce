// npm run demo (root): the whole TCPCopy loop on this machine, in network
// namespaces it creates and removes (ARCHITECTURES.md §4, e2e/lib/loop.js):
//
//   cli 10.77.0.10 ──HTTP──▶ onl 10.77.0.20 (HTTP server, tcpcopy)
//                              │ copies of the requests
//                              ▼
//                            tgt 10.77.0.30 (HTTP server; intercept in the traditional architecture)
//                            ast 10.77.0.40 (intercept in the advanced architecture)
//
// A real client in cli sends bounded load to the online server for N seconds;
// a live line shows the requests the online server got and those the target
// got through tcpcopy; then the loss ratio, the check that no target response
// reached the client, both programs' statistics lines, and teardown.
//
//   npm run demo                                   # traditional, 10 s
//   npm run demo -- --arch advanced --seconds 20 --connections 8
//   npm run demo -- --arch both
//
// Needs root (namespaces, NFQUEUE, raw sockets) and a built tree (npm ci).
// The keep-alive load comes from wrk if it is installed, else from curl;
// --no-keepalive uses curl (one connection per request).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isRoot, loud, missingTools } from './lib/preflight.js'

const HELP = `usage: npm run demo -- [--arch traditional|advanced|both] [--seconds N] [--connections N] [--no-keepalive]
  --arch          architecture (default traditional): intercept on the target (NFQUEUE),
                  or on an assistant host that captures at the link layer; both runs one after the other
  --seconds       how long the load runs (default 10, at most 300)
  --connections   concurrent client connections (default 4, at most 64)
  --no-keepalive  one connection per request (default: keep-alive)`

function parseArgs (argv) {
  const o = { arch: 'traditional', seconds: 10, connections: 4, keepAlive: true }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const num = (min, max) => {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${a} needs an integer ${min}-${max}, got ${argv[i]}`)
      return v
    }
    if (a === '--arch') {
      o.arch = argv[++i]
      if (!['traditional', 'advanced', 'both'].includes(o.arch)) throw new Error(`--arch must be traditional, advanced or both, got ${o.arch}`)
    } else if (a === '--seconds') o.seconds = num(1, 300)
    else if (a === '--connections') o.connections = num(1, 64)
    else if (a === '--no-keepalive') o.keepAlive = false
    else if (a === '-h' || a === '--help') { console.log(HELP); process.exit(0) } else throw new Error(`unknown option ${a}\n${HELP}`)
  }
  return o
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (err) {
  console.error(`demo: ${err.message}`)
  process.exit(2)
}
if (!isRoot()) {
  loud(['demo: needs root (it creates network namespaces, an NFQUEUE rule and raw sockets).', 'Run: sudo npm run demo'])
  process.exit(1)
}
const missing = missingTools(['ip', 'iptables'])
if (missing.length > 0) {
  loud([`demo: missing ${missing.join(', ')}`, 'install them: apt-get install -y iptables iproute2'])
  process.exit(1)
}
if (!existsSync(fileURLToPath(new URL('../packages/cli/dist/tcpcopy-main.js', import.meta.url)))) {
  loud(['demo: the programs are not built', 'run `npm ci` (or `npm run build`) at the repository root first'])
  process.exit(1)
}
const tool = opts.keepAlive && missingTools(['wrk']).length === 0 ? 'wrk' : 'curl'
if (missingTools([tool]).length > 0) {
  loud([`demo: missing ${tool}`, `install it: apt-get install -y ${tool}`])
  process.exit(1)
}

const { FullLoop } = await import('./lib/loop.js')
const { HttpLogTail } = await import('./lib/http-server.js')
const { removeStaleNamespaces } = await import('./lib/netns.js')
removeStaleNamespaces()

let current
let interrupted = false
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) return
    interrupted = true
    console.log(`\n${sig}: tearing down`)
    void (current?.destroy() ?? Promise.resolve()).finally(() => process.exit(130))
  })
}

const pct = (x) => `${(x * 100).toFixed(3)} %`

async function runOne (arch) {
  console.log(`\n=== ${arch} architecture: ${arch === 'traditional'
    ? 'intercept on the target, responses from NFQUEUE'
    : 'intercept on the assistant, responses captured at the link layer; copies use client addresses 10.88.0.x'} ===`)
  const loop = current = await FullLoop.create(arch, { ports: [80] })
  try {
    await loop.startServers({ http: true })
    await loop.startIntercept()
    await loop.startTcpcopy()
    console.log(`tcpcopy ${loop.tcpcopyArgs().filter((a, i, all) => a !== '-P' && all[i - 1] !== '-P' && a !== '-l' && all[i - 1] !== '-l').join(' ')}  (in onl)`)
    console.log(`intercept ${loop.interceptArgs().join(' ')}  (in ${loop.interceptHost})`)
    const prefix = `demo${Date.now() % 100000}`
    console.log(`load: ${tool}, ${opts.connections} connections, ${opts.keepAlive ? 'keep-alive' : 'one connection per request'}, ${opts.seconds} s, from cli to onl:80\n`)

    const cpu0 = loop.tcpcopy.cpuSeconds() ?? 0
    const started = Date.now()
    let load
    if (tool === 'wrk') {
      load = loop.wrk({ prefix, connections: opts.connections, seconds: opts.seconds })
    } else {
      // curl is bounded by a count: about 100 requests per second per connection, cut off at the time limit
      load = loop.curl({ prefix, count: opts.seconds * 100 * opts.connections, parallel: opts.connections, keepAlive: opts.keepAlive, timeoutMs: opts.seconds * 1000 })
    }
    let finished = false
    load.finally(() => { finished = true })
    const match = (r) => r.id.startsWith(prefix)
    const tty = process.stdout.isTTY === true
    // the live line follows both servers' logs, reading only what they appended
    const seen = { onl: 0, tgt: 0 }
    const tails = { onl: new HttpLogTail(loop.httpLogFile('onl')), tgt: new HttpLogTail(loop.httpLogFile('tgt')) }
    while (!finished && Date.now() - started < (opts.seconds + 40) * 1000) {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      for (const host of ['onl', 'tgt']) tails[host].poll((e) => { if (e.kind === 'R' && match(e)) seen[host]++ })
      const line = `${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s   online ${String(seen.onl).padStart(8)} requests   replicated ${String(seen.tgt).padStart(8)}   behind ${String(Math.max(0, seen.onl - seen.tgt)).padStart(6)}`
      if (tty) process.stdout.write(`\r${line}`)
      else console.log(line)
    }
    const result = await load
    const cmp = await loop.settleHttp(match, { maxMs: 15_000, quietMs: 2000 })
    const cpu = (loop.tcpcopy.cpuSeconds() ?? cpu0) - cpu0
    if (tty) process.stdout.write('\n')
    const lossText = `${pct(cmp.loss)} (${cmp.missing.length} of ${cmp.onlIds} request ids missing at the target)`
    const leaks = loop.leaks()
    await loop.tcpcopy.stats().catch(() => undefined)
    const tcStats = loop.tcpcopy.log().split('\n').filter((l) => /sessions: active \d+/.test(l)).pop()?.replace(/^.*\[notice\] /, '')
    const icStats = (await loop.interceptStats().catch(() => undefined))?.line?.replace(/^.*\[notice\] /, '')
    console.log('')
    console.log(`online server  ${cmp.onl} requests   (client ${tool}: ${result.code === 0 ? 'finished' : result.timedOut === true ? 'stopped at the time limit' : `exit ${result.code}`})`)
    console.log(`target server  ${cmp.tgt} requests   (${cmp.duplicates.length} duplicated, ${cmp.extra.length} unknown)`)
    console.log(`loss ratio     ${lossText}`)
    console.log(`tcpcopy CPU    ${cpu.toFixed(2)} s = ${(cmp.onl > 0 ? 1000 * cpu / cmp.onl : 0).toFixed(4)} s per 1k requests`)
    console.log(`target answers that reached the real client or the online server: ${leaks.total} packets ${leaks.total === 0 ? '(none: intercept dropped them all)' : '(SHOULD BE 0)'}`)
    if (tcStats !== undefined) console.log(`\ntcpcopy:   ${tcStats}`)
    if (icStats !== undefined) console.log(`intercept: ${icStats}`)
    return { arch, loss: cmp.loss, leaks: leaks.total, onl: cmp.onl }
  } finally {
    await loop.destroy()
    current = undefined
  }
}

let failed = false
try {
  const results = []
  for (const arch of opts.arch === 'both' ? ['traditional', 'advanced'] : [opts.arch]) results.push(await runOne(arch))
  console.log('\nsummary')
  for (const r of results) {
    const ok = r.onl > 0 && r.leaks === 0 && r.loss <= 0.001
    if (!ok) failed = true
    console.log(`  ${r.arch.padEnd(12)} ${String(r.onl).padStart(8)} requests, loss ${pct(r.loss)}, leaked answers ${r.leaks} → ${ok ? 'OK' : 'NOT OK'}`)
  }
  console.log('\nnamespaces, iptables rules and processes removed.')
} catch (err) {
  failed = true
  console.error(`demo failed: ${err.stack ?? err.message}`)
  await current?.destroy().catch(() => {})
}
process.exit(failed ? 1 : 0)

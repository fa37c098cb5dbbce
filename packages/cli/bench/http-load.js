// A rate-controlled HTTP/1.1 load generator for tcpcopy-bench.js: it sends
// requests on a fixed schedule (request n at t0 + (n-1)/rate seconds), whatever
// the answers do, unlike wrk or ab, which send as fast as the server answers.
// Run it inside the client namespace:
//
//   ip netns exec NS node http-load.js --url http://10.77.0.20/b --rate 2000 --seconds 5 \
//     --connections 8 --keepalive 1 --prefix ka2000
//
// Every request is `GET <path>?id=<prefix>-<n>` (n = 1..rate×seconds), so
// e2e/lib/http-server.js logs its id and a bench can tell, request by request,
// what the online server and the target got.
//
//   --keepalive 1  `--connections` persistent connections, opened before t0;
//                  one request at a time on each (no pipelining); a request
//                  whose time has come waits for a free connection.
//   --keepalive 0  one connection per request ("Connection: close"), at most
//                  `--connections` open at once; the server closes first.
//
// Latency is measured from the request's scheduled time (so a backlog shows up
// in it: no coordinated omission) and, separately, from the moment it was
// written ("service"). It prints one JSON line and exits:
//
//   {"sent","completed","errors","non200","badBodies","rate","seconds",
//    "sendRate","achievedRate","lateMaxMs","p50","p99","max","svcP50","svcP99",...}
//
// Bounded: it stops after seconds + timeout-ms/1000 + 2 s whatever happens,
// counting what did not complete as errors.
import net from 'node:net'

function parseArgs (argv) {
  const o = { url: undefined, rate: 100, seconds: 5, connections: 8, keepalive: true, prefix: 'load', timeoutMs: 5000 }
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '')
    const v = argv[i + 1]
    if (v === undefined) throw new Error(`http-load: ${argv[i]} needs a value`)
    if (k === 'url') o.url = new URL(v)
    else if (k === 'rate') o.rate = Number(v)
    else if (k === 'seconds') o.seconds = Number(v)
    else if (k === 'connections') o.connections = Number(v)
    else if (k === 'keepalive') o.keepalive = v === '1' || v === 'true'
    else if (k === 'prefix') o.prefix = v
    else if (k === 'timeout-ms') o.timeoutMs = Number(v)
    else throw new Error(`http-load: unknown option ${argv[i]}`)
  }
  if (o.url === undefined) throw new Error('http-load: --url is required')
  for (const k of ['rate', 'seconds', 'connections', 'timeoutMs']) {
    if (!Number.isFinite(o[k]) || o[k] <= 0) throw new Error(`http-load: --${k} must be a positive number`)
  }
  if (o.seconds > 300) throw new Error('http-load: --seconds at most 300')
  if (o.rate * o.seconds > 5_000_000) throw new Error('http-load: at most 5 000 000 requests')
  return o
}

const opt = parseArgs(process.argv.slice(2))
const host = opt.url.hostname
const port = Number(opt.url.port || 80)
const path = opt.url.pathname || '/'
const N = Math.round(opt.rate * opt.seconds)
const now = () => performance.now()

const sched = new Float64Array(N + 1) // scheduled time of request n (ms, performance.now())
const sentAt = new Float64Array(N + 1)
const lat = new Float64Array(N + 1).fill(NaN) // completion − schedule
const svc = new Float64Array(N + 1).fill(NaN) // completion − write
let t0 = 0
let next = 1 // next request number to schedule
let sent = 0
let completed = 0
let errors = 0
let non200 = 0
let badBodies = 0
let lastSentAt = 0
let lastDoneAt = 0
let lateMaxMs = 0
let maxQueue = 0
let connectErrors = 0
const errorKinds = {}
const queue = [] // request numbers due but waiting for a connection
let finished = false

const requestBytes = (n) => Buffer.from(`GET ${path}?id=${opt.prefix}-${n} HTTP/1.1\r\nHost: ${host}\r\n${opt.keepalive ? '' : 'Connection: close\r\n'}\r\n`, 'latin1')

/** One HTTP connection; `onFree` is called when it can take another request (keep-alive). */
class Conn {
  constructor (onFree) {
    this.onFree = onFree
    this.n = 0 // request in flight (0: none)
    this.buf = ''
    this.timer = undefined
    this.closed = false
    this.sock = net.connect({ host, port, noDelay: true })
    this.sock.setEncoding('latin1')
    this.ready = new Promise((resolve) => {
      this.sock.once('connect', () => resolve(true))
      this.sock.once('error', () => resolve(false))
    })
    this.sock.on('data', (d) => this.#data(d))
    this.sock.on('error', (err) => this.#fail(err.code ?? 'error'))
    this.sock.on('close', () => {
      this.closed = true
      if (this.n !== 0) this.#fail('closed')
      else if (opt.keepalive && !finished) { // an idle persistent connection went away: replace it
        const i = idle.indexOf(this)
        if (i >= 0) { idle.splice(i, 1); freeKeepAlive(this, true) }
      }
    })
  }

  send (n) {
    this.n = n
    this.buf = ''
    const t = now()
    sentAt[n] = t
    lastSentAt = t
    lateMaxMs = Math.max(lateMaxMs, t - sched[n])
    sent++
    this.timer = setTimeout(() => this.#fail('timeout'), opt.timeoutMs)
    this.sock.write(requestBytes(n))
  }

  #data (d) {
    if (this.n === 0) return
    this.buf += d
    const h = this.buf.indexOf('\r\n\r\n')
    if (h < 0) return
    const head = this.buf.slice(0, h)
    const m = /content-length:\s*(\d+)/i.exec(head)
    const len = m === null ? 0 : Number(m[1])
    if (this.buf.length < h + 4 + len) return
    const n = this.n
    this.n = 0
    clearTimeout(this.timer)
    const t = now()
    lat[n] = t - sched[n]
    svc[n] = t - sentAt[n]
    lastDoneAt = t
    completed++
    if (!head.startsWith('HTTP/1.1 200')) non200++
    if (!this.buf.startsWith('onl ', h + 4)) badBodies++
    this.buf = ''
    this.onFree(this)
    checkDone()
  }

  #fail (kind) {
    if (this.n !== 0) {
      clearTimeout(this.timer)
      this.n = 0
      errors++
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
      this.sock.destroy()
      this.onFree(this, true)
      checkDone()
    }
  }

  destroy () { clearTimeout(this.timer); this.sock.destroy() }
}

// ---- keep-alive: a fixed set of persistent connections --------------------------

const idle = []
const conns = new Set()

function freeKeepAlive (c, broken = false) {
  if (broken || c.closed) {
    conns.delete(c)
    c.destroy()
    if (finished || next > N && queue.length === 0) return
    const r = new Conn(freeKeepAlive) // replace it, so the pool keeps its size
    conns.add(r)
    r.ready.then((ok) => { if (ok) freeKeepAlive(r); else { connectErrors++; setTimeout(() => freeKeepAlive(r, true), 100) } })
    return
  }
  if (queue.length > 0) c.send(queue.shift())
  else idle.push(c)
}

// ---- one connection per request -----------------------------------------------------

let open = 0
function freeClose (c) {
  // The request is done; the connection goes when the server closes it (or now, if broken).
  if (!c.closed) {
    const t = setTimeout(() => c.sock.destroy(), opt.timeoutMs) // the server did not close: do it
    c.sock.once('close', () => { clearTimeout(t); open--; startQueued() })
  }
  else { open--; startQueued() }
}
function startQueued () {
  while (queue.length > 0 && open < opt.connections && !finished) {
    const n = queue.shift()
    open++
    const c = new Conn(freeClose)
    c.ready.then((ok) => { if (ok) c.send(n) })
    c.sock.once('error', (err) => {
      if (sentAt[n] === 0) { // never written: count it here
        errors++
        connectErrors++
        errorKinds[err.code ?? 'connect'] = (errorKinds[err.code ?? 'connect'] ?? 0) + 1
        open--
        startQueued()
        checkDone()
      }
    })
  }
}

// ---- the schedule -----------------------------------------------------------------

function tick () {
  if (finished) return
  const due = Math.min(N, Math.floor((now() - t0) * opt.rate / 1000) + 1)
  while (next <= due) {
    const n = next++
    sched[n] = t0 + (n - 1) * 1000 / opt.rate
    if (opt.keepalive && idle.length > 0) idle.pop().send(n)
    else queue.push(n)
  }
  if (!opt.keepalive) startQueued()
  maxQueue = Math.max(maxQueue, queue.length)
  if (next <= N) setTimeout(tick, 1)
}

function checkDone () {
  if (!finished && next > N && completed + errors >= N) finish()
}

function pct (arr, p) {
  const xs = Array.from(arr.subarray(1)).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (xs.length === 0) return null
  return Number(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(3))
}

function finish (timedOut = false) {
  if (finished) return
  finished = true
  if (timedOut) {
    const missing = N - completed - errors
    errors += missing
    if (missing > 0) errorKinds.unfinished = missing
  }
  const out = {
    prefix: opt.prefix,
    keepalive: opt.keepalive,
    connections: opt.connections,
    rate: opt.rate,
    seconds: opt.seconds,
    requests: N,
    sent,
    completed,
    errors,
    errorKinds,
    connectErrors,
    non200,
    badBodies,
    timedOut,
    sendRate: sent > 1 ? Number(((sent - 1) / ((lastSentAt - t0) / 1000)).toFixed(1)) : 0,
    achievedRate: completed > 0 ? Number((completed / Math.max(opt.seconds, (lastDoneAt - t0) / 1000)).toFixed(1)) : 0,
    lateMaxMs: Number(lateMaxMs.toFixed(3)),
    maxQueue,
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
    max: pct(lat, 1),
    svcP50: pct(svc, 0.5),
    svcP99: pct(svc, 0.99),
    elapsedMs: Math.round(now() - t0)
  }
  for (const c of conns) c.destroy()
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0))
}

async function main () {
  const hardStop = setTimeout(() => finish(true), opt.seconds * 1000 + opt.timeoutMs + 2000 + 3000)
  hardStop.unref()
  if (opt.keepalive) {
    for (let i = 0; i < opt.connections; i++) conns.add(new Conn(freeKeepAlive))
    const ok = await Promise.all([...conns].map((c) => c.ready))
    if (!ok.every(Boolean)) {
      process.stdout.write(JSON.stringify({ error: `could not open ${ok.filter((x) => !x).length} of ${opt.connections} connections to ${host}:${port}` }) + '\n', () => process.exit(2))
      return
    }
    idle.push(...conns)
  }
  t0 = now() + 5
  setTimeout(tick, 5)
}

main().catch((err) => {
  process.stderr.write(`http-load: ${err.stack}\n`)
  process.exit(2)
})

// A small real HTTP/1.1 server (node:http, keep-alive on) that logs every
// connection and every request it receives, for the full-loop suite
// (e2e/tcpcopy-loop.test.js) and lib/loop.js. Run it in a namespace:
//
//   ip netns exec NS node http-server.js --name onl --port 80 --log /tmp/x/onl-http.log [--slow-ms N] [--max-life S]
//
// Every response body is "<name> <id>\n", where <id> is the request's `id`
// query parameter, else its X-Request-Id header, else "-": the body names
// the server, so a client can tell whether an answer came from onl or tgt.
// The log has one line per event, written synchronously (the file is
// complete as soon as the response is sent):
//
//   C <ms> <remoteIp>:<remotePort>                       a connection was accepted
//   R <ms> <remoteIp>:<remotePort> <n> <METHOD> <url> <id>   request n (1, 2, ...) on that connection
//
// With --slow-ms N, requests whose path starts with /slow are answered N ms
// later (they are logged when they arrive): a target slower than the online
// server, for the pacing tests.
// The process prints one JSON line {"listening":port,"pid":pid} once it
// listens, exits when its stdin closes (the test went away), on SIGTERM/SIGINT,
// and after --max-life seconds whatever happens (default 600).
// Imported as a module, it gives readHttpLog() to parse such a log, and
// startHttpServer() to run the server in a namespace and wait until it listens.
import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'

/** This file, to run as a program. */
export const HTTP_SERVER_SCRIPT = fileURLToPath(import.meta.url)

/**
 * Runs this server in namespace `ns` (a lib/netns.js Netns) and resolves once
 * it listens: { pid, log, stop() }. stop() ends it by its PID (SIGTERM, then
 * SIGKILL after 3 s) and resolves when it has exited. It also ends by itself
 * when the test process goes away (its stdin closes) or after maxLife seconds.
 */
export async function startHttpServer (ns, { name = 'http', port = 80, log, maxLife = 300, readyMs = 10_000 } = {}) {
  if (log === undefined) throw new Error('startHttpServer: log (a file path) is required')
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, HTTP_SERVER_SCRIPT,
    '--name', name, '--port', String(port), '--log', log, '--max-life', String(maxLife)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return exited
    try { process.kill(child.pid, 'SIGTERM') } catch {}
    const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL') } catch {} }, 3000)
    const r = await exited
    clearTimeout(t)
    return r
  }
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { stop().then(() => reject(new Error(`http-server ${name} did not listen within ${readyMs} ms: ${err.trim()}`))) }, readyMs)
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('"listening"')) { clearTimeout(timer); resolve() }
    })
    exited.then((r) => { clearTimeout(timer); reject(new Error(`http-server ${name} exited (${JSON.stringify(r)}): ${err.trim()}`)) })
  })
  return { pid: child.pid, log, stop }
}

/**
 * One line of such a log: { kind: 'C', ms, peer } for a connection,
 * { kind: 'R', ms, peer, ip, port, n, method, url, id } for a request,
 * undefined for anything else (a partial last line).
 */
export function parseHttpLogLine (line) {
  if (line.startsWith('C ')) {
    const [, ms, peer] = line.split(' ')
    return { kind: 'C', ms: Number(ms), peer }
  }
  if (line.startsWith('R ')) {
    const fields = line.split(' ')
    if (fields.length < 7) return undefined // a line still being written
    const [, ms, peer, n, method, url, id] = fields
    const colon = peer.lastIndexOf(':')
    return { kind: 'R', ms: Number(ms), peer, ip: peer.slice(0, colon), port: Number(peer.slice(colon + 1)), n: Number(n), method, url, id }
  }
  return undefined
}

/**
 * Parses a log written by this server.
 * @returns {{ connections: {peer: string, ms: number}[], requests: {ms: number, peer: string, ip: string, port: number, n: number, method: string, url: string, id: string}[] }}
 */
export function readHttpLog (path) {
  let text = ''
  try { text = readFileSync(path, 'utf8') } catch {}
  const connections = []
  const requests = []
  // Only complete lines: the server may be writing the last one right now.
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    const e = parseHttpLogLine(line)
    if (e?.kind === 'C') connections.push({ ms: e.ms, peer: e.peer })
    else if (e?.kind === 'R') requests.push({ ms: e.ms, peer: e.peer, ip: e.ip, port: e.port, n: e.n, method: e.method, url: e.url, id: e.id })
  }
  return { connections, requests }
}

/**
 * Follows such a log while it grows: each poll() parses only the complete
 * lines appended since the last one and calls fn(entry) for each (what a
 * live display or a benchmark waiting for copies wants, instead of parsing
 * the whole log again).
 */
export class HttpLogTail {
  constructor (path) { this.path = path; this.offset = 0; this.rest = '' }
  poll (fn) {
    let fd
    try { fd = openSync(this.path, 'r') } catch { return }
    try {
      const buf = Buffer.alloc(1 << 20)
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset)
        if (n === 0) break
        this.offset += n
        const lines = (this.rest + buf.toString('latin1', 0, n)).split('\n')
        this.rest = lines.pop()
        for (const line of lines) {
          const e = parseHttpLogLine(line)
          if (e !== undefined) fn(e)
        }
      }
    } finally { closeSync(fd) }
  }
}

function main (argv) {
  const opt = { name: 'http', port: 80, host: '0.0.0.0', log: undefined, maxLife: 600, slowMs: 0 }
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '')
    const v = argv[i + 1]
    if (k === 'name') opt.name = v
    else if (k === 'port') opt.port = Number(v)
    else if (k === 'host') opt.host = v
    else if (k === 'log') opt.log = v
    else if (k === 'max-life') opt.maxLife = Number(v)
    else if (k === 'slow-ms') opt.slowMs = Number(v)
    else throw new Error(`http-server: unknown option ${argv[i]}`)
  }
  if (opt.log === undefined) throw new Error('http-server: --log <file> is required')
  const fd = openSync(opt.log, 'a')
  const write = (line) => { writeSync(fd, line + '\n') }

  const server = createServer((req, res) => {
    const sock = req.socket
    sock.tcxRequests = (sock.tcxRequests ?? 0) + 1
    let id = '-'
    const q = req.url.indexOf('?')
    if (q >= 0) {
      const found = new URLSearchParams(req.url.slice(q + 1)).get('id')
      if (found !== null && found !== '') id = found
    }
    if (id === '-' && typeof req.headers['x-request-id'] === 'string') id = req.headers['x-request-id']
    id = id.replace(/\s/g, '_')
    write(`R ${Date.now()} ${sock.remoteAddress}:${sock.remotePort} ${sock.tcxRequests} ${req.method} ${req.url.replace(/\s/g, '_')} ${id}`)
    const body = `${opt.name} ${id}\n`
    // Drain any request body, then answer.
    req.resume()
    const answer = () => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), 'X-Server': opt.name })
      res.end(body)
    }
    req.on('end', () => {
      if (opt.slowMs > 0 && req.url.startsWith('/slow')) setTimeout(answer, opt.slowMs)
      else answer()
    })
  })
  server.keepAliveTimeout = 30_000
  server.headersTimeout = 35_000
  server.requestTimeout = 60_000
  server.maxRequestsPerSocket = 0
  server.on('connection', (sock) => { write(`C ${Date.now()} ${sock.remoteAddress}:${sock.remotePort}`) })

  const stop = (code) => {
    server.close()
    server.closeAllConnections?.()
    try { closeSync(fd) } catch {}
    process.exit(code)
  }
  process.on('SIGTERM', () => stop(0))
  process.on('SIGINT', () => stop(0))
  process.stdin.on('end', () => stop(0))
  process.stdin.on('close', () => stop(0))
  process.stdin.resume()
  setTimeout(() => stop(3), opt.maxLife * 1000).unref()
  server.listen({ port: opt.port, host: opt.host, backlog: 1024 }, () => {
    process.stdout.write(JSON.stringify({ listening: opt.port, pid: process.pid }) + '\n')
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2))

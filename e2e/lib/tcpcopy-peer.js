// A scripted tcpcopy peer: an agent (same JSON lines as lib/agent.js; start it
// with `ns.agent(TCPCOPY_PEER)`) that opens control connections to intercept,
// says hello, sends CLIENT_ADD messages (encoded with @tcpcopy/protocol) and
// either keeps every byte intercept sends back (for byte-exact assertions) or,
// as a sink, only parses and counts the combined frames (for the benchmark).
// Do not import this file: start it (its path is TCPCOPY_PEER in ./intercept.js).
//   -> {"id":1,"op":"connect","host":"10.77.0.30","port":36524,"version":6}
//   <- {"id":1,"ok":true,"result":{"conn":1,"localPort":51234}}
// Every wait is bounded by a deadline.
import net from 'node:net'
import { clientMessage, helloMessage, MessageType, parseIpv4 } from '@tcpcopy/protocol'
import { serveAgent } from './agent-loop.js'

const conns = new Map() // conn -> state
let nextConn = 1
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
/** Wall-clock milliseconds with sub-ms resolution (comparable across processes). */
const wallMs = () => performance.timeOrigin + performance.now()

function conn (id) {
  const c = conns.get(id)
  if (c === undefined) throw new Error(`no connection ${id}`)
  return c
}

/** Counts whole frames [u16 count][count × recordSize] in the sink's pending bytes. */
function sinkParse (c) {
  const s = c.sink
  let buf = s.rest.length === 0 ? c.chunk : Buffer.concat([s.rest, c.chunk])
  let at = 0
  while (buf.length - at >= (s.combined ? 2 : s.recordSize)) {
    const count = s.combined ? buf.readUInt16BE(at) : 1
    const need = s.combined ? 2 + count * s.recordSize : s.recordSize
    if (buf.length - at < need) break
    if (count === 0 || count > 16) s.badFrames++
    s.frames++
    s.records += s.combined ? count : 1
    if (count > s.maxCount) s.maxCount = count
    at += need
  }
  s.rest = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at))
  buf = null
}

const ops = {
  /** Connects, sends the hello (unless version is null) and keeps what arrives. */
  async connect ({ host, port, version = 6, timeoutMs = 3000 }) {
    const socket = net.connect({ host, port, noDelay: true })
    const id = nextConn++
    const c = { socket, chunks: [], bytes: 0, total: 0, closed: false, closedAt: undefined, error: undefined, sink: undefined, chunk: undefined }
    conns.set(id, c)
    socket.on('data', (d) => {
      c.total += d.length
      if (c.sink !== undefined) {
        const now = wallMs()
        if (c.sink.firstAt === undefined) c.sink.firstAt = now
        c.sink.lastAt = now
        c.sink.bytes += d.length
        c.chunk = d
        sinkParse(c)
        c.chunk = undefined
      } else {
        c.chunks.push(d)
        c.bytes += d.length
      }
    })
    socket.on('error', (err) => { c.error = err.code ?? err.message })
    socket.on('close', () => { c.closed = true; c.closedAt = wallMs() })
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => { socket.destroy(); reject(new Error(`connect to ${host}:${port} timed out`)) }, timeoutMs)
      socket.once('connect', () => { clearTimeout(t); resolve() })
      socket.once('error', (err) => { clearTimeout(t); reject(err) })
    })
    if (version !== null) socket.write(helloMessage.encode({ version }))
    return { conn: id, localPort: socket.localPort }
  },

  /** Sends CLIENT_ADD for each {ip, port} (client as the target sees it) → targetIp:targetPort, in one write. */
  async add ({ conn: id, clients, targetIp, targetPort, type = MessageType.ClientAdd }) {
    const c = conn(id)
    const buf = new Uint8Array(clients.length * 14)
    clients.forEach((cl, i) => {
      clientMessage.encode({ clientIp: parseIpv4(cl.ip), clientPort: cl.port, type, targetIp: parseIpv4(targetIp), targetPort }, buf, i * 14)
    })
    await new Promise((resolve, reject) => c.socket.write(buf, (err) => err ? reject(err) : resolve()))
    return { sent: clients.length }
  },

  /** Writes raw bytes (hex). */
  async write ({ conn: id, hex }) {
    const c = conn(id)
    await new Promise((resolve, reject) => c.socket.write(Buffer.from(hex, 'hex'), (err) => err ? reject(err) : resolve()))
    return { written: hex.length / 2 }
  },

  /**
   * Waits until at least `bytes` bytes are kept (then `quietMs` more, to see
   * any extra byte), the connection closed, or `ms` passed; returns and
   * forgets the kept bytes.
   */
  async take ({ conn: id, bytes = 0, ms = 2000, quietMs = 0 }) {
    const c = conn(id)
    const deadline = Date.now() + ms
    while (c.bytes < bytes && !c.closed && Date.now() < deadline) await sleep(5)
    if (c.bytes >= bytes && quietMs > 0) await sleep(quietMs)
    const hex = Buffer.concat(c.chunks).toString('hex')
    c.chunks = []
    c.bytes = 0
    return { hex, total: c.total, closed: c.closed, error: c.error }
  },

  /** Waits up to `ms` for the connection to be closed by the other side. */
  async waitClosed ({ conn: id, ms = 2000 }) {
    const c = conn(id)
    const deadline = Date.now() + ms
    while (!c.closed && Date.now() < deadline) await sleep(5)
    return { closed: c.closed, error: c.error, total: c.total }
  },

  /** From now on only count frames of `recordSize`-byte records (combined unless told otherwise). */
  async sink ({ conn: id, recordSize, combined = true }) {
    const c = conn(id)
    c.sink = { recordSize, combined, frames: 0, records: 0, bytes: 0, badFrames: 0, maxCount: 0, firstAt: undefined, lastAt: undefined, rest: Buffer.alloc(0) }
    return {}
  },

  /** Zeroes the sink's counters. */
  async sinkReset ({ conn: id }) {
    const s = conn(id).sink
    Object.assign(s, { frames: 0, records: 0, bytes: 0, badFrames: 0, maxCount: 0, firstAt: undefined, lastAt: undefined })
    return {}
  },

  /**
   * Waits until `records` records were counted, or nothing arrived for
   * `idleMs` after the last record (or after the call if none came), or `ms`
   * passed; returns the counters (times: wall-clock ms).
   */
  async sinkWait ({ conn: id, records = Infinity, ms = 10_000, idleMs = 500 }) {
    const c = conn(id)
    const s = c.sink
    const start = wallMs()
    const deadline = Date.now() + ms
    while (s.records < records && Date.now() < deadline && !c.closed) {
      if (wallMs() - (s.lastAt ?? start) > idleMs) break
      await sleep(2)
    }
    const { rest, ...counters } = s
    return { ...counters, pendingBytes: rest.length, closed: c.closed }
  },

  async close ({ conn: id }) {
    const c = conn(id)
    c.socket.destroy()
    conns.delete(id)
    return {}
  },

  async exit () {
    setImmediate(() => shutdown(0))
    return {}
  }
}

function shutdown (code) {
  for (const c of conns.values()) c.socket.destroy()
  process.exit(code)
}

serveAgent(ops, { shutdown, maxLifeMs: 170_000 })

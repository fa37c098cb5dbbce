// A helper process the e2e tests start inside a network namespace
// (`ip netns exec NS node agent.js`). It opens PacketIo sockets from
// @tcpcopy/native-shim on a core's memory and runs small UDP/TCP helpers,
// driven by JSON lines on stdin; each request gets one JSON line on stdout:
//   -> {"id":1,"op":"open","kind":"packet","interface":"eth0","filter":"hex...","snap":2048}
//   <- {"id":1,"ok":true,"result":{"handle":1,"fd":7,"linkType":1}}
// Every loop here is bounded by a count or a deadline.
import { readdirSync } from 'node:fs'
import dgram from 'node:dgram'
import net from 'node:net'
import { createCore, nfqWriteConfig, nfqParseBatch, nfqWriteVerdicts } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, TX_DESC_OFF, TX_OFF, TX_SIZE, MAX_BATCH, NFQ_IDS_OFF, VERDICT_OFF } from '@tcpcopy/wasm'
import { createNfqueueIo, createPacketIo, createRawIpv4Io } from '@tcpcopy/native-shim'
import { serveAgent } from './agent-loop.js'

const core = createCore({ hashSize: 1024, maxRoutes: 1024, delayTotal: 1024 })
const memory = core.raw.memory
const regions = { memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF }

const handles = new Map() // handle -> { io, snap }
const udp = new Map() //     port -> { socket, received: [] }
const tcp = new Map() //     port -> server
let nextHandle = 1

const hexOf = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.length).toString('hex')
const bytesOf = (hex) => new Uint8Array(Buffer.from(hex, 'hex'))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function io (handle) {
  const h = handles.get(handle)
  if (h === undefined) throw new Error(`no handle ${handle}`)
  return h.io
}

/** Reads what is pending (one receive call) and returns the datagrams as hex. */
function drainOnce (h, max, out) {
  const n = h.io.receive(Math.min(max, MAX_BATCH))
  const dv = new DataView(memory.buffer)
  const u8 = new Uint8Array(memory.buffer)
  for (let i = 0; i < n; i++) {
    const off = dv.getUint32(DESC_OFF + i * 8, true)
    const len = dv.getUint32(DESC_OFF + i * 8 + 4, true)
    if (off % 8 !== 0) throw new Error(`descriptor ${i}: offset ${off} is not 8-byte aligned`)
    out.push(hexOf(u8.subarray(off, off + len)))
  }
  return n
}

const ops = {
  async open ({ kind, snap = 2048, interface: ifname, filter, ignoreOutgoing, rcvbuf, sndbuf }) {
    const opts = { regions, snap }
    let p
    if (kind === 'nfqueue') p = createNfqueueIo({ ...opts, ...(rcvbuf !== undefined ? { rcvbuf } : {}) })
    else if (kind === 'packet') {
      p = createPacketIo({
        ...opts,
        ...(ifname !== undefined ? { interface: ifname } : {}),
        ...(filter !== undefined ? { filter: bytesOf(filter) } : {}),
        ...(ignoreOutgoing === true ? { ignoreOutgoing: true } : {}),
        ...(rcvbuf !== undefined ? { rcvbuf } : {})
      })
    } else if (kind === 'raw-ipv4') p = createRawIpv4Io({ ...opts, ...(sndbuf !== undefined ? { sndbuf } : {}) })
    else throw new Error(`unknown kind ${kind}`)
    const handle = nextHandle++
    handles.set(handle, { io: p, snap, pending: [], polling: false, readableCalls: 0, error: undefined })
    return { handle, fd: p.fd, linkType: p.linkType, portId: p.portId, ifindex: p.ifindex, rcvbuf: p.rcvbuf }
  },

  /**
   * Collects datagrams until `count` arrived (then `quietMs` more, to see
   * any extra one) or `ms` passed. The first collect on a handle starts
   * reading it with onReadable; from then on everything received is kept
   * until the next collect takes it.
   */
  async collect ({ handle, count = Infinity, ms = 2000, quietMs = 0 }) {
    const h = handles.get(handle)
    if (h === undefined) throw new Error(`no handle ${handle}`)
    if (!h.polling) {
      h.polling = true
      drainOnce(h, 4096, h.pending) // anything already queued
      h.io.onReadable(() => {
        h.readableCalls++
        try {
          for (let k = 0; k < 16; k++) if (drainOnce(h, 4096, h.pending) === 0) break
        } catch (err) { h.error = err }
      })
    }
    const deadline = Date.now() + ms
    while (h.pending.length < count && Date.now() < deadline && h.error === undefined) await sleep(5)
    if (h.pending.length >= count && quietMs > 0) await sleep(quietMs)
    const error = h.error
    h.error = undefined
    if (error !== undefined) throw error
    return { datagrams: h.pending.splice(0), readableCalls: h.readableCalls, stats: h.io.stats() }
  },

  // ---- NFQUEUE through the core's netlink code (packages/core/src/nfqueue.ts) ----

  /** Writes the config datagrams with nfqWriteConfig and sends them. */
  async nfqConfig ({ handle, seq, ...cfg }) {
    const datagrams = nfqWriteConfig(core, cfg, seq)
    return { datagrams, sent: io(handle).send(datagrams) }
  },

  /**
   * Waits until `packets` queued packets and `replies` acks/errors arrived
   * (then `quietMs` more) or `ms` passed. Each receive() is parsed at once
   * with nfqParseBatch; packets come back as {id, hex} (hex: the IP packet).
   */
  async nfqCollect ({ handle, packets = 0, replies = 0, ms = 2000, quietMs = 0 }) {
    const h = handles.get(handle)
    if (h === undefined) throw new Error(`no handle ${handle}`)
    if (!h.polling) {
      h.polling = true
      h.nfq = { packets: [], acks: 0, errors: [], datagrams: 0 }
      const readBatch = () => {
        const n = h.io.receive(MAX_BATCH)
        if (n === 0) return 0
        const batch = nfqParseBatch(core, n)
        const dv = new DataView(memory.buffer)
        const u8 = new Uint8Array(memory.buffer)
        for (let i = 0; i < batch.frames; i++) {
          const off = dv.getUint32(DESC_OFF + i * 8, true)
          const len = dv.getUint32(DESC_OFF + i * 8 + 4, true)
          h.nfq.packets.push({ id: dv.getUint32(NFQ_IDS_OFF + i * 4, true), hex: hexOf(u8.subarray(off, off + len)) })
        }
        h.nfq.datagrams += batch.datagrams
        h.nfq.acks += batch.acks
        if (batch.errors > 0) h.nfq.errors.push({ errno: batch.lastErrno, seq: batch.lastErrorSeq, count: batch.errors })
        return n
      }
      h.io.onReadable(() => {
        h.readableCalls++
        try { for (let k = 0; k < 16; k++) if (readBatch() === 0) break } catch (err) { h.error = err }
      })
      readBatch()
    }
    const q = h.nfq
    const done = () => q.packets.length >= packets && q.acks + q.errors.reduce((n, e) => n + e.count, 0) >= replies
    const deadline = Date.now() + ms
    while (!done() && Date.now() < deadline && h.error === undefined) await sleep(5)
    if (done() && quietMs > 0) await sleep(quietMs)
    const error = h.error
    h.error = undefined
    if (error !== undefined) throw error
    const out = { packets: q.packets.splice(0), acks: q.acks, errors: q.errors.splice(0), datagrams: q.datagrams, stats: h.io.stats() }
    q.acks = 0
    q.datagrams = 0
    return out
  },

  /** Sends one verdict datagram (nfqWriteVerdicts) for [{id, accept}]. */
  async nfqVerdict ({ handle, queueNum, seq, verdicts }) {
    const dv = new DataView(memory.buffer)
    const u8 = new Uint8Array(memory.buffer)
    verdicts.forEach((v, i) => {
      dv.setUint32(NFQ_IDS_OFF + i * 4, v.id, true)
      u8[VERDICT_OFF + i] = v.accept ? 1 : 0
    })
    const datagrams = nfqWriteVerdicts(core, verdicts.length, queueNum, seq)
    return { datagrams, sent: io(handle).send(datagrams) }
  },

  /** Sends datagrams [{hex, dst?}] in one send() batch; dst is a dotted IPv4 address. */
  async send ({ handle, datagrams }) {
    const dv = new DataView(memory.buffer)
    const u8 = new Uint8Array(memory.buffer)
    let at = TX_OFF
    datagrams.forEach((d, i) => {
      const bytes = bytesOf(d.hex)
      if (at + bytes.length > TX_OFF + TX_SIZE) throw new Error('TX region full')
      u8.set(bytes, at)
      dv.setUint32(TX_DESC_OFF + i * 16, at, true)
      dv.setUint32(TX_DESC_OFF + i * 16 + 4, bytes.length, true)
      const dst = (d.dst ?? '0.0.0.0').split('.').map(Number)
      for (let b = 0; b < 4; b++) u8[TX_DESC_OFF + i * 16 + 8 + b] = dst[b] // network order in memory
      dv.setUint32(TX_DESC_OFF + i * 16 + 12, 0, true)
      at = (at + bytes.length + 7) & ~7
    })
    return { sent: io(handle).send(datagrams.length) }
  },

  async stats ({ handle }) { return io(handle).stats() },

  async close ({ handle }) {
    const p = io(handle)
    p.close()
    p.close()
    handles.delete(handle)
    await sleep(5) // libuv closes the poll handle on the next loop turn
    return { closed: p.closed }
  },

  async fds () { return { count: readdirSync('/proc/self/fd').length } },

  async udpListen ({ port, host = '0.0.0.0' }) {
    const socket = dgram.createSocket('udp4')
    const entry = { socket, received: [] }
    socket.on('message', (msg, rinfo) => entry.received.push({ text: msg.toString('latin1'), from: rinfo.address }))
    await new Promise((resolve, reject) => { socket.once('error', reject); socket.bind(port, host, resolve) })
    udp.set(port, entry)
    return { port }
  },

  async udpReceived ({ port, count = 0, ms = 0 }) {
    const entry = udp.get(port)
    if (entry === undefined) throw new Error(`no UDP listener on ${port}`)
    const deadline = Date.now() + ms
    while (entry.received.length < count && Date.now() < deadline) await sleep(5)
    return { received: entry.received.map((r) => r.text), from: entry.received.map((r) => r.from) }
  },

  /** Sends `messages` (strings) as UDP datagrams to host:port, one send each, in order. */
  async udpSend ({ host, port, messages, srcPort }) {
    const socket = dgram.createSocket('udp4')
    if (srcPort !== undefined) await new Promise((resolve) => socket.bind(srcPort, resolve))
    let ok = 0
    let failed = 0
    for (const m of messages) {
      await new Promise((resolve) => socket.send(Buffer.from(m, 'latin1'), port, host, (err) => { if (err) failed++; else ok++; resolve() }))
    }
    socket.close()
    return { ok, failed }
  },

  async tcpListen ({ port, host = '0.0.0.0' }) {
    const server = net.createServer((s) => s.destroy())
    await new Promise((resolve, reject) => { server.once('error', reject); server.listen({ port, host, backlog: 64 }, resolve) })
    tcp.set(port, server)
    return { port }
  },

  /** Opens `count` TCP connections to host:port one after another and closes them; returns how many connected. */
  async tcpConnect ({ host, port, count = 1, timeoutMs = 1000 }) {
    let connected = 0
    for (let i = 0; i < count; i++) {
      await new Promise((resolve) => {
        const s = net.connect({ host, port })
        const done = () => { clearTimeout(t); s.destroy(); resolve() }
        const t = setTimeout(done, timeoutMs)
        s.once('connect', () => { connected++; done() })
        s.once('error', done)
      })
    }
    return { connected }
  },

  async exit () {
    setImmediate(() => shutdown(0))
    return {}
  }
}

function shutdown (code) {
  for (const h of handles.values()) h.io.close()
  for (const u of udp.values()) u.socket.close()
  for (const s of tcp.values()) s.close()
  process.exit(code)
}

serveAgent(ops, { shutdown, maxLifeMs: 110_000 })

// A flood of target responses, for the intercept e2e suites and benchmark
// (packages/cli/bench): an agent (JSON lines, as lib/agent.js; start it with
// `ns.agent(FLOOD_AGENT)` in the target's namespace) that sends hand-made target responses — TCP ACKs from the target's
// ip:8080 to the registered client addresses — through a raw IPv4 socket of
// @tcpcopy/native-shim (sendmmsg of up to 4096 packets per call). They go
// through the target's OUTPUT chain (so the traditional NFQUEUE rule queues
// them) and are routed like real answers (so the advanced route sends them to
// the assistant). Every loop is bounded by a count.
//   -> {"id":1,"op":"prepare","src":"10.77.0.30","sport":8080,"clients":[{"ip":"10.88.0.1","port":20000},...]}
//   -> {"id":2,"op":"flood","count":60000}
//   <- {"id":2,"ok":true,"result":{"sent":60000,"ms":180.2,"cpuMs":170.1,"short":0}}
import { createCore } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, TX_DESC_OFF, TX_OFF, TX_SIZE, MAX_BATCH } from '@tcpcopy/wasm'
import { createRawIpv4Io } from '@tcpcopy/native-shim'
import { serveAgent } from './agent-loop.js'

const core = createCore({ hashSize: 16, maxRoutes: 16, delayTotal: 16 })
const u8 = core.bytes
const dv = core.view
let io
let prepared = 0

const ipBytes = (text) => text.split('.').map(Number)
function checksum (bytes, initial = 0) {
  let sum = initial
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1]
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1] << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

const ops = {
  /** Opens the raw socket and writes one 40-byte ACK per client into the TX region (at most MAX_BATCH). */
  async prepare ({ src, sport, clients, sndbuf = 64 << 20 }) {
    if (clients.length > MAX_BATCH) throw new Error(`at most ${MAX_BATCH} clients, got ${clients.length}`)
    io ??= createRawIpv4Io({ regions: { memory: core.raw.memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF }, snap: 2048, sndbuf })
    let at = TX_OFF
    clients.forEach((c, i) => {
      const len = 40
      if (at + len > TX_OFF + TX_SIZE) throw new Error('TX region full')
      const p = u8.subarray(at, at + len)
      p.fill(0)
      p[0] = 0x45; dv.setUint16(at + 2, len); dv.setUint16(at + 4, i); dv.setUint16(at + 6, 0x4000); p[8] = 64; p[9] = 6
      p.set(ipBytes(src), 12); p.set(ipBytes(c.ip), 16)
      dv.setUint16(at + 10, checksum(p.subarray(0, 20)))
      const t = at + 20
      dv.setUint16(t, sport); dv.setUint16(t + 2, c.port); dv.setUint32(t + 4, 1000 + i); dv.setUint32(t + 8, 1)
      p[32] = 0x50; p[33] = 0x10; dv.setUint16(t + 14, 0xffff) // doff 5, ACK
      const s = ipBytes(src); const d = ipBytes(c.ip)
      const pseudo = ((s[0] << 8) | s[1]) + ((s[2] << 8) | s[3]) + ((d[0] << 8) | d[1]) + ((d[2] << 8) | d[3]) + 6 + 20
      dv.setUint16(t + 16, checksum(p.subarray(20, 40), pseudo))
      dv.setUint32(TX_DESC_OFF + i * 16, at, true)
      dv.setUint32(TX_DESC_OFF + i * 16 + 4, len, true)
      u8.set(ipBytes(c.ip), TX_DESC_OFF + i * 16 + 8)
      dv.setUint32(TX_DESC_OFF + i * 16 + 12, 0, true)
      at = (at + len + 7) & ~7
    })
    prepared = clients.length
    return { prepared }
  },

  /**
   * Sends `count` packets, cycling through the prepared ones, as fast as the
   * socket takes them; `ms` caps the time. `short` counts calls where the
   * kernel took fewer than asked (socket buffer full).
   */
  async flood ({ count, ms = 20_000 }) {
    if (prepared === 0) throw new Error('prepare first')
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const deadline = t0 + ms
    let sent = 0
    let short = 0
    while (sent < count && performance.now() < deadline) {
      const want = Math.min(prepared, count - sent)
      const k = io.send(want)
      if (k < want) {
        short++
        await new Promise((resolve) => setImmediate(resolve)) // let the kernel free some buffer
      }
      sent += k
    }
    const cpu = process.cpuUsage(cpu0)
    return { sent, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, short, startAt: performance.timeOrigin + t0 }
  },

  async exit () {
    setImmediate(() => shutdown(0))
    return {}
  }
}

function shutdown (code) {
  io?.close()
  process.exit(code)
}

serveAgent(ops, { shutdown, maxLifeMs: 170_000 })

// The flood generator when there is no C compiler: the native shim's raw IPv4
// send batch (IPPROTO_RAW, sendmmsg of up to 4096 packets per call), the same
// TCP PSH|ACK packets as flood.c. Slower than flood.c (routing and neighbour
// lookups per packet), which the runner says when it uses it.
//
//   node flood.js SRC_IP DST_IP DST_PORT COUNT SECONDS PAYLOAD
// Prints one JSON line like flood.c.
import { createCore } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, TX_DESC_OFF, TX_OFF, MAX_BATCH } from '@tcpcopy/wasm'
import { createRawIpv4Io } from '../dist/index.js'
import { checksum, ipBytes } from '../../e2e/lib/packets.js'

const [src, dst, dport, count, seconds, payloadLen] = process.argv.slice(2)
const N = Math.min(MAX_BATCH, Number(count))
const core = createCore({ hashSize: 16, maxRoutes: 16, delayTotal: 16 })
const u8 = core.bytes
const dv = core.view
const io = createRawIpv4Io({ regions: { memory: core.raw.memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF }, snap: 2048, sndbuf: 4 << 20 })

const plen = Math.min(1400, Number(payloadLen))
let at = TX_OFF
for (let i = 0; i < N; i++) {
  const len = 40 + plen
  const p = u8.subarray(at, at + len)
  p.fill(0)
  p[0] = 0x45; dv.setUint16(at + 2, len); dv.setUint16(at + 4, i); dv.setUint16(at + 6, 0x4000); p[8] = 64; p[9] = 6
  p.set(ipBytes(src), 12); p.set(ipBytes(dst), 16)
  dv.setUint16(at + 10, checksum(p.subarray(0, 20)))
  const t = at + 20
  dv.setUint16(t, 20000 + i); dv.setUint16(t + 2, Number(dport)); dv.setUint32(t + 4, i * plen + 1); dv.setUint32(t + 8, 1)
  p[32] = 0x50; p[33] = 0x18; dv.setUint16(t + 14, 0xffff)
  for (let k = 0; k < plen; k++) p[40 + k] = 97 + (k + i) % 26
  const s = ipBytes(src); const d = ipBytes(dst)
  const pseudo = ((s[0] << 8) | s[1]) + ((s[2] << 8) | s[3]) + ((d[0] << 8) | d[1]) + ((d[2] << 8) | d[3]) + 6 + (20 + plen)
  dv.setUint16(t + 16, checksum(p.subarray(20), pseudo))
  dv.setUint32(TX_DESC_OFF + i * 16, at, true)
  dv.setUint32(TX_DESC_OFF + i * 16 + 4, len, true)
  u8.set(ipBytes(dst), TX_DESC_OFF + i * 16 + 8)
  dv.setUint32(TX_DESC_OFF + i * 16 + 12, 0, true)
  at = (at + len + 7) & ~7
}

const start = process.hrtime.bigint()
const deadline = start + BigInt(Math.round(Number(seconds) * 1e9))
let sent = 0
let errors = 0
while (sent < Number(count)) {
  const k = io.send(Math.min(N, Number(count) - sent))
  if (k === 0) errors++
  sent += k
  if (process.hrtime.bigint() > deadline) break
}
const end = process.hrtime.bigint()
io.close()
console.log(JSON.stringify({ sent, errors, threads: 1, start_ns: Number(start), end_ns: Number(end) }))

// The shared io-compliance suite against the native packet PacketIo: the two
// ends of a veth pair tc0 <-> tc1, carrying only Ethernet frames of the
// IEEE local experimental ethertype 0x88b5 (no addresses, IPv6 off, so nothing
// else is on the wire). This file runs INSIDE a namespace e2e/run.js creates
// (the compliance cases call receive() synchronously, so the sockets must be
// in this process).
import { writeFileSync } from 'node:fs'
import { describePacketIoCompliance } from '@tcpcopy/io-compliance'
import { createCore } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, TX_DESC_OFF, TX_OFF, TX_SIZE } from '@tcpcopy/wasm'
import { createPacketIo } from '@tcpcopy/native-shim'
import { run } from '../lib/netns.js'

// Refuse to create interfaces anywhere but in the namespace e2e/run.js made for us.
const here = run('ip', ['netns', 'identify']).stdout.trim()
if (here === '' || here !== process.env.TCX_E2E_NETNS) {
  throw new Error('in-netns suites create interfaces: run them through e2e/run.js, which starts them in a fresh namespace')
}

const ETHERTYPE = 0x88b5
const SNAP = 256

/** ldh [12]; jeq #0x88b5, accept, reject */
function ethertypeFilter () {
  const prog = [[0x28, 0, 0, 12], [0x15, 0, 1, ETHERTYPE], [0x06, 0, 0, 262144], [0x06, 0, 0, 0]]
  const out = new Uint8Array(prog.length * 8)
  const dv = new DataView(out.buffer)
  prog.forEach(([code, jt, jf, k], i) => { dv.setUint16(i * 8, code, true); out[i * 8 + 2] = jt; out[i * 8 + 3] = jf; dv.setUint32(i * 8 + 4, k, true) })
  return out
}

/** Frame number seq of exactly size bytes: broadcast, a local source MAC, ethertype 0x88b5, then a pattern. */
function frame (seq, size) {
  const f = new Uint8Array(size)
  f.fill(0xff, 0, 6)
  f.set([0x02, 0, 0, 0, 0, 1], 6)
  f[12] = ETHERTYPE >> 8
  f[13] = ETHERTYPE & 0xff
  for (let k = 14; k < size; k++) f[k] = (seq * 131 + k * 7 + 3) & 0xff
  if (size > 15) { f[14] = (seq >> 8) & 0xff; f[15] = seq & 0xff }
  return f
}

const regionsOf = (core) => ({ memory: core.raw.memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF })
const coreA = createCore({ hashSize: 1024, maxRoutes: 1024, delayTotal: 1024 })
const coreB = createCore({ hashSize: 1024, maxRoutes: 1024, delayTotal: 1024 })

before(() => {
  for (const f of ['all', 'default']) writeFileSync(`/proc/sys/net/ipv6/conf/${f}/disable_ipv6`, '1')
  run('ip', ['link', 'add', 'tc0', 'type', 'veth', 'peer', 'name', 'tc1'])
  run('ip', ['link', 'set', 'tc0', 'up'])
  run('ip', ['link', 'set', 'tc1', 'up'])
})
after(() => {
  run('ip', ['link', 'del', 'tc0'], { allowFail: true })
})

describePacketIoCompliance('native packet PacketIo on a veth pair', async () => {
  const filter = ethertypeFilter()
  const regionsA = regionsOf(coreA)
  const regionsB = regionsOf(coreB)
  const a = createPacketIo({ regions: regionsA, snap: SNAP, interface: 'tc0', filter, ignoreOutgoing: true })
  const b = createPacketIo({ regions: regionsB, snap: SNAP, interface: 'tc1', filter, ignoreOutgoing: true })
  return {
    a,
    b,
    regionsA,
    regionsB,
    snap: SNAP,
    maxDatagram: 1514,
    minDatagram: 14,
    datagram: frame,
    scratchA: { off: TX_OFF, size: TX_SIZE },
    scratchB: { off: TX_OFF, size: TX_SIZE },
    cleanup: () => { a.close(); b.close() }
  }
})

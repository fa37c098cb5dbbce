// The shared io-compliance suite against the native PacketIo kinds, in the
// namespace e2e/run.js makes for this folder (the compliance cases call
// receive() synchronously, so the sockets must be in this process):
//   - packet: the two ends of a veth pair tc0 <-> tc1, carrying only Ethernet
//     frames of the IEEE local experimental ethertype 0x88b5 (IPv6 off, so
//     nothing else is on the wire);
//   - raw-ipv4 (send side): a raw socket sends IPv4 packets of protocol 253
//     (experimental) out of tc0; a packet socket on all interfaces reads them
//     as they come in on tc1, as IP packets;
//   - nfqueue (receive side): the same raw socket sends protocol 253 packets
//     that an iptables OUTPUT rule queues to NFQUEUE; an nfqueue socket reads
//     them, each a netlink message holding the packet.
// The cases that cannot apply to a pair are skipped with the reason.
import { writeFileSync } from 'node:fs'
import { describePacketIoCompliance } from '@tcpcopy/io-compliance'
import { createCore, nfqConfigSteps, nfqParseBatch, nfqWriteConfig } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, MAX_BATCH, TX_DESC_OFF, TX_OFF, TX_SIZE } from '@tcpcopy/wasm'
import { createNfqueueIo, createPacketIo, createRawIpv4Io } from '@tcpcopy/native-shim'
import { checksum, ipBytes } from '../lib/packets.js'
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

// 32 receive descriptors (of the core's 4096): the descriptor-capacity case then sends 40 datagrams, not 4104
const regionsOf = (core) => ({ memory: core.raw.memory, rxDescOff: DESC_OFF, rxDescCount: 32, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF })
const coreA = createCore({ hashSize: 1024, maxRoutes: 1024, delayTotal: 1024 })
const coreB = createCore({ hashSize: 1024, maxRoutes: 1024, delayTotal: 1024 })

const SRC = '10.99.0.1' //    tc0's address: the raw socket's packets leave through it
const RAW_DST = '10.99.0.2' // not assigned: arrives on tc1 and is dropped there (no forwarding)
const NFQ_DST = '10.98.0.2' // queued by the OUTPUT rule before it leaves
const PROTO = 253 //          IANA "use for experimentation"
const QUEUE = 77

before(() => {
  for (const f of ['all', 'default']) writeFileSync(`/proc/sys/net/ipv6/conf/${f}/disable_ipv6`, '1')
  run('ip', ['link', 'add', 'tc0', 'type', 'veth', 'peer', 'name', 'tc1'])
  run('ip', ['link', 'set', 'tc0', 'up'])
  run('ip', ['link', 'set', 'tc1', 'up'])
  run('ip', ['addr', 'add', `${SRC}/24`, 'dev', 'tc0'])
  run('ip', ['route', 'add', '10.98.0.0/24', 'dev', 'tc0'])
  const tc1 = JSON.parse(run('ip', ['-j', 'link', 'show', 'dev', 'tc1']).stdout)[0].address
  for (const dst of [RAW_DST, NFQ_DST]) run('ip', ['neigh', 'replace', dst, 'lladdr', tc1, 'dev', 'tc0', 'nud', 'permanent'])
  run('iptables', ['-A', 'OUTPUT', '-p', String(PROTO), '-d', NFQ_DST, '-j', 'NFQUEUE', '--queue-num', String(QUEUE)])
})
after(() => {
  run('iptables', ['-D', 'OUTPUT', '-p', String(PROTO), '-d', NFQ_DST, '-j', 'NFQUEUE', '--queue-num', String(QUEUE)], { allowFail: true })
  run('ip', ['link', 'del', 'tc0'], { allowFail: true })
})

/** IPv4 packet number seq of exactly size bytes (≥ 20): protocol 253, SRC → dst, checksum filled in, then a pattern. */
function ipPacket (dst) {
  return (seq, size) => {
    const p = new Uint8Array(size)
    const dv = new DataView(p.buffer)
    p[0] = 0x45
    dv.setUint16(2, size)
    dv.setUint16(4, seq + 1) // a non-zero id: the kernel keeps it
    dv.setUint16(6, 0x4000) //  DF
    p[8] = 64
    p[9] = PROTO
    p.set(ipBytes(SRC), 12)
    p.set(ipBytes(dst), 16)
    dv.setUint16(10, checksum(p.subarray(0, 20)))
    for (let k = 20; k < size; k++) p[k] = (seq * 131 + k * 7 + 3) & 0xff
    return p
  }
}

/** Cooked (raw IP) filter: protocol 253 to RAW_DST. */
function protoDstFilter () {
  const [a, b, c, d] = ipBytes(RAW_DST)
  const prog = [[0x30, 0, 0, 9], [0x15, 0, 3, PROTO], [0x20, 0, 0, 16], [0x15, 0, 1, ((a << 24) | (b << 16) | (c << 8) | d) >>> 0], [0x06, 0, 0, 262144], [0x06, 0, 0, 0]]
  const out = new Uint8Array(prog.length * 8)
  const dv = new DataView(out.buffer)
  prog.forEach(([code, jt, jf, k], i) => { dv.setUint16(i * 8, code, true); out[i * 8 + 2] = jt; out[i * 8 + 3] = jf; dv.setUint32(i * 8 + 4, k, true) })
  return out
}

/** The packet inside an NFQNL_MSG_PACKET netlink message (its NFQA_PAYLOAD attribute). */
function nfqPayload (msg) {
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  const len = Math.min(dv.getUint32(0, true), msg.length)
  for (let at = 20; at + 4 <= len;) {
    const alen = dv.getUint16(at, true)
    if (alen < 4) break
    if ((dv.getUint16(at + 2, true) & 0x7fff) === 10) return msg.slice(at + 4, at + alen)
    at += (alen + 3) & ~3
  }
  throw new Error(`not a packet message: ${Buffer.from(msg.subarray(0, 32)).toString('hex')}`)
}

/** Binds QUEUE on `io` with the core's config datagrams and reads the kernel's acks (bounded). */
async function bindQueue (core, io) {
  const cfg = { queueNum: QUEUE, copyRange: 0xffff }
  const steps = nfqConfigSteps(cfg, 1)
  if (io.send(nfqWriteConfig(core, cfg, 1)) !== steps.length) throw new Error('the config datagrams were not all sent')
  let answered = 0
  for (let i = 0; i < 200 && answered < steps.length; i++) {
    const n = io.receive(MAX_BATCH)
    if (n === 0) { await new Promise((resolve) => setTimeout(resolve, 5)); continue }
    const batch = nfqParseBatch(core, n)
    if (batch.errors > 0) throw new Error(`the kernel refused nfqueue config step seq ${batch.lastErrorSeq}: errno ${batch.lastErrno}`)
    answered += batch.acks
  }
  if (answered < steps.length) throw new Error(`only ${answered} of ${steps.length} config steps were acked`)
}

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

describePacketIoCompliance('native raw-ipv4 PacketIo sending to a packet socket', async () => {
  const regionsA = regionsOf(coreA)
  const regionsB = regionsOf(coreB)
  const a = createRawIpv4Io({ regions: regionsA, snap: SNAP })
  const b = createPacketIo({ regions: regionsB, snap: SNAP, filter: protoDstFilter(), ignoreOutgoing: true })
  return {
    a,
    b,
    regionsA,
    regionsB,
    snap: SNAP,
    maxDatagram: 1500,
    minDatagram: 20,
    datagram: ipPacket(RAW_DST),
    destination: RAW_DST,
    scratchA: { off: TX_OFF, size: TX_SIZE },
    scratchB: { off: TX_OFF, size: TX_SIZE },
    cleanup: () => { a.close(); b.close() }
  }
}, { skip: { 'deliver-b-to-a': 'a is a raw IPv4 socket, which only sends (receive() is always 0)' } })

describePacketIoCompliance('native nfqueue PacketIo reading what a raw-ipv4 PacketIo sends into an NFQUEUE rule', async () => {
  const regionsA = regionsOf(coreA)
  const regionsB = regionsOf(coreB)
  const a = createRawIpv4Io({ regions: regionsA, snap: SNAP })
  const b = createNfqueueIo({ regions: regionsB, snap: 4096 })
  try {
    await bindQueue(coreB, b)
  } catch (err) {
    a.close()
    b.close()
    throw err
  }
  return {
    a,
    b,
    regionsA,
    regionsB,
    snap: 4096,
    maxDatagram: 1500,
    minDatagram: 20,
    datagram: ipPacket(NFQ_DST),
    destination: NFQ_DST,
    unwrap: nfqPayload,
    scratchA: { off: TX_OFF, size: TX_SIZE },
    scratchB: { off: TX_OFF, size: TX_SIZE },
    cleanup: () => { a.close(); b.close() } // closing b unbinds the queue: the kernel drops what is still queued
  }
}, {
  skip: {
    'fresh-stats': 'the nfqueue end has sent its config and read the acks before a case starts (counted in its stats)',
    'deliver-b-to-a': 'a is a raw IPv4 socket, which only sends; what b sends (config, verdicts) goes to the kernel',
    truncate: 'snap cuts the netlink message, not the packet in it; the copy range that cuts packets is checked in e2e/nfqueue.test.js'
  }
})

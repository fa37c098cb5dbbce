// AF_PACKET capture and send through @tcpcopy/native-shim, between two
// network namespaces joined by a veth pair (10.201.0.1 <-> 10.201.0.2).
import { expect } from 'chai'
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Netns, vethPair } from './lib/netns.js'
import { ipProtoDstPort, acceptAll } from './lib/bpf.js'
import { bytes, hex, ipFields, udp, ethernet } from './lib/packets.js'

const A = '10.201.0.1'
const B = '10.201.0.2'

/** The @tcpcopy/bpf compiler, when that package has been built; undefined otherwise. */
async function bpfCompiler () {
  try {
    const m = await import('@tcpcopy/bpf')
    return typeof m.compileFilter === 'function' ? m.compileFilter : undefined
  } catch { return undefined }
}
const compileFilter = await bpfCompiler()

// A small agent (same JSON-lines protocol as lib/agent.js) that opens packet
// sockets with the `ring` option, which lib/agent.js does not pass through.
const RING_AGENT = `
import { createInterface } from 'node:readline'
import { readdirSync } from 'node:fs'
import { createPacketIo } from ${JSON.stringify(import.meta.resolve('@tcpcopy/native-shim'))}
const memory = new WebAssembly.Memory({ initial: 256 })
const regions = { memory, rxDescOff: 0, rxDataOff: 65536, rxDataSize: 8 * 1024 * 1024, txDescOff: 32768 }
const handles = new Map()
let next = 1
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
function drain (h) {
  const n = h.io.receive(4096)
  const dv = new DataView(memory.buffer)
  for (let i = 0; i < n; i++) {
    const off = dv.getUint32(i * 8, true)
    const len = dv.getUint32(i * 8 + 4, true)
    if (off % 8 !== 0) throw new Error('unaligned slot ' + off)
    h.pending.push(Buffer.from(memory.buffer, off, len).toString('hex'))
  }
  return n
}
const ops = {
  async open ({ snap = 2048, interface: ifname, filter, ring }) {
    const io = createPacketIo({ regions, snap, ring, ...(ifname ? { interface: ifname } : {}), ...(filter ? { filter: new Uint8Array(Buffer.from(filter, 'hex')) } : {}) })
    const handle = next++
    handles.set(handle, { io, pending: [], polling: false, error: undefined })
    return { handle, linkType: io.linkType, ringSize: io.ringSize }
  },
  async collect ({ handle, count = Infinity, ms = 2000, quietMs = 0 }) {
    const h = handles.get(handle)
    if (!h.polling) {
      h.polling = true
      drain(h)
      h.io.onReadable(() => { try { for (let k = 0; k < 16; k++) if (drain(h) === 0) break } catch (err) { h.error = err } })
    }
    const deadline = Date.now() + ms
    while (h.pending.length < count && Date.now() < deadline && h.error === undefined) await sleep(5)
    if (h.pending.length >= count && quietMs > 0) await sleep(quietMs)
    if (h.error) throw h.error
    return { datagrams: h.pending.splice(0), stats: h.io.stats() }
  },
  async close ({ handle }) { handles.get(handle).io.close(); handles.delete(handle); return {} },
  async fds () { return { count: readdirSync('/proc/self/fd').length } },
  async maps () { return { count: (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8').split('socket:[').length - 1 } }
}
createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line)
  ops[req.op](req).then((result) => process.stdout.write(JSON.stringify({ id: req.id, ok: true, result }) + '\\n'),
    (e) => process.stdout.write(JSON.stringify({ id: req.id, ok: false, error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall } }) + '\\n'))
}).on('close', () => process.exit(0))
process.stdout.write(JSON.stringify({ ready: true }) + '\\n')
`

describe('AF_PACKET (packet PacketIo) in namespaces', function () {
  this.timeout(30_000)
  let nsA, nsB, a, b, r, tmp

  before(async () => {
    nsA = Netns.create('pa')
    nsB = Netns.create('pb')
    vethPair(nsA, nsB, `${A}/24`, `${B}/24`)
    a = await nsA.agent()
    b = await nsB.agent()
    tmp = mkdtempSync(join(tmpdir(), 'tcx-ring-'))
    writeFileSync(join(tmp, 'ring-agent.mjs'), RING_AGENT)
    r = await nsB.agent(join(tmp, 'ring-agent.mjs'))
  })
  after(async () => {
    await nsA?.destroy()
    await nsB?.destroy()
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true })
  })

  it('through a TPACKET_V3 ring (ring option) sees exactly what recvmmsg sees in the same filtered bounded flood', async () => {
    const filter = hex(ipProtoDstPort(17, 6021))
    const plain = await b.request('open', { kind: 'packet', interface: 'eth0', filter, snap: 2048 })
    const ring = await r.request('open', { interface: 'eth0', filter, snap: 2048, ring: true })
    expect(ring).to.include({ linkType: 1, ringSize: 64 * 256 * 1024 })
    const send6021 = Array.from({ length: 300 }, (_, i) => `ring-${i}`.padEnd(20 + (i % 50) * 7, '.'))
    await Promise.all([
      a.request('udpSend', { host: B, port: 6021, messages: send6021 }),
      a.request('udpSend', { host: B, port: 6022, messages: send6021.map((m) => `x${m}`) })
    ])
    const want = await b.request('collect', { handle: plain.handle, count: 300, ms: 5000, quietMs: 200 })
    const got = await r.request('collect', { handle: ring.handle, count: 300, ms: 5000, quietMs: 200 })
    expect(want.datagrams).to.have.length(300)
    expect(got.datagrams).to.deep.equal(want.datagrams)
    expect(got.stats).to.include({ received: 300, truncated: 0, overruns: 0 })
    await r.request('close', { handle: ring.handle })

    // a small custom ring too: 4 blocks of 8 KiB (about 60 of these frames), so the reader must hand
    // blocks back to the kernel and wrap around several times. The flood goes in chunks of 20 frames,
    // each collected before the next is sent, so a loaded machine cannot overrun the ring and the
    // comparison stays exact.
    const small = await r.request('open', { interface: 'eth0', filter, snap: 2048, ring: { blockSize: 8192, blockCount: 4, frameSize: 2048, retireMs: 5 } })
    expect(small.ringSize).to.equal(4 * 8192)
    const smallGot = []
    let smallStats
    for (let k = 0; k < 300; k += 20) {
      await a.request('udpSend', { host: B, port: 6021, messages: send6021.slice(k, k + 20) })
      const part = await r.request('collect', { handle: small.handle, count: 20, ms: 5000 })
      smallGot.push(...part.datagrams)
      smallStats = part.stats
    }
    const want2 = await b.request('collect', { handle: plain.handle, count: 300, ms: 5000, quietMs: 200 })
    expect(want2.datagrams).to.have.length(300)
    expect(smallGot).to.deep.equal(want2.datagrams)
    expect(smallStats).to.include({ received: 300, truncated: 0, overruns: 0 })
    await r.request('close', { handle: small.handle })
    await b.request('close', { handle: plain.handle })
  })

  it('through the ring cuts frames to the snap length and counts them as truncated, as recvmmsg does', async () => {
    const { handle } = await r.request('open', { interface: 'eth0', filter: hex(ipProtoDstPort(17, 6024)), snap: 60, ring: true })
    await a.request('udpSend', { host: B, port: 6024, messages: Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(i * 3, '.')) })
    const { datagrams, stats } = await r.request('collect', { handle, count: 20, ms: 3000, quietMs: 200 })
    expect(datagrams).to.have.length(20)
    // 14 Ethernet + 20 IP + 8 UDP + payload; ≤ 60 bytes fits (veth does not pad)
    const lens = Array.from({ length: 20 }, (_, i) => Math.min(60, 42 + Math.max(i * 3, String(i).length)))
    expect(datagrams.map((h) => h.length / 2)).to.deep.equal(lens)
    expect(stats).to.include({ received: 20, truncated: lens.filter((l, i) => 42 + Math.max(i * 3, String(i).length) > 60).length })
    await r.request('close', { handle })
  })

  it('with the ring, on all interfaces, receives IP packets without a link header', async () => {
    const { handle, linkType } = await r.request('open', { filter: hex(ipProtoDstPort(17, 6027, { net: 0 })), ring: true })
    expect(linkType).to.equal(101)
    await a.request('udpSend', { host: B, port: 6027, messages: Array.from({ length: 10 }, (_, i) => `any-${i}`) })
    const { datagrams } = await r.request('collect', { handle, count: 10, ms: 3000, quietMs: 200 })
    expect(datagrams).to.have.length(10)
    for (const h of datagrams) expect(ipFields(bytes(h), 0)).to.include({ version: 4, proto: 17, dport: 6027, src: A })
    await r.request('close', { handle })
  })

  it('with the ring, leaves no fd and no mapping after close; a bad geometry is an IoError from PACKET_RX_RING', async () => {
    const before = (await r.request('fds')).count
    const mapsBefore = (await r.request('maps')).count
    for (let i = 0; i < 5; i++) {
      const { handle } = await r.request('open', { interface: 'eth0', filter: hex(acceptAll()), ring: true })
      expect((await r.request('maps')).count).to.equal(mapsBefore + 1) // the ring's mapping
      await r.request('collect', { handle, ms: 20 })
      await r.request('close', { handle })
    }
    const err = await r.request('open', { interface: 'eth0', ring: { blockSize: 8192, blockCount: 2, frameSize: 48 } }).then(() => undefined, (e) => e)
    expect(err).to.include({ errno: 22, syscall: 'setsockopt' })
    expect((await r.request('fds')).count).to.equal(before)
    expect((await r.request('maps')).count).to.equal(mapsBefore)
  })

  it('sees exactly the packets its BPF filter matches in a bounded flood (udp dst port 6001)', async () => {
    const { handle, linkType } = await b.request('open', { kind: 'packet', interface: 'eth0', filter: hex(ipProtoDstPort(17, 6001)), snap: 2048 })
    expect(linkType).to.equal(1) // Ethernet
    // 400 datagrams, every other one to the filtered port, plus a TCP attempt at 6001 the filter must skip
    const send6001 = Array.from({ length: 200 }, (_, i) => `match-${i}`)
    const send6002 = Array.from({ length: 200 }, (_, i) => `other-${i}`)
    await Promise.all([
      a.request('udpSend', { host: B, port: 6001, messages: send6001 }),
      a.request('udpSend', { host: B, port: 6002, messages: send6002 })
    ])
    const { datagrams, stats } = await b.request('collect', { handle, count: 200, ms: 5000, quietMs: 300 })
    expect(datagrams).to.have.length(200)
    const seen = datagrams.map((h) => {
      const f = bytes(h)
      expect(f[12] << 8 | f[13]).to.equal(0x0800)
      const ip = ipFields(f, 14)
      expect(ip).to.include({ proto: 17, src: A, dst: B, dport: 6001 })
      return new TextDecoder().decode(f.subarray(ip.l4 + 8))
    })
    expect(seen.sort()).to.deep.equal([...send6001].sort())
    expect(stats).to.include({ received: 200, truncated: 0, overruns: 0 })
    await b.request('close', { handle })
  })

  it('with a filter compiled by @tcpcopy/bpf ("tcp and dst port 6011"), sees the TCP packets and none of the UDP ones' + (compileFilter ? '' : ' — skipped: @tcpcopy/bpf is not built yet (packages/bpf/dist has no compileFilter)'), async function () {
    if (compileFilter === undefined) this.skip()
    const program = compileFilter('tcp and dst port 6011', { linkType: 1 })
    const { handle } = await b.request('open', { kind: 'packet', interface: 'eth0', filter: hex(program.toBytes()), snap: 2048 })
    await b.request('tcpListen', { port: 6011 })
    await b.request('udpListen', { port: 6011 })
    await a.request('udpSend', { host: B, port: 6011, messages: ['u1', 'u2', 'u3'] })
    expect((await a.request('tcpConnect', { host: B, port: 6011, count: 3 })).connected).to.equal(3)
    // each connection: SYN, ACK, FIN/RST... from A to B:6011; no UDP, nothing from B
    const { datagrams } = await b.request('collect', { handle, count: 6, ms: 3000, quietMs: 300 })
    expect(datagrams.length).to.be.at.least(6)
    for (const h of datagrams) expect(ipFields(bytes(h), 14)).to.include({ proto: 6, dport: 6011, src: A })
    await b.request('close', { handle })
  })

  it('cuts frames to the snap length and counts them as truncated', async () => {
    const { handle } = await b.request('open', { kind: 'packet', interface: 'eth0', filter: hex(ipProtoDstPort(17, 6004)), snap: 64 })
    await a.request('udpSend', { host: B, port: 6004, messages: Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(500, '.')) })
    const { datagrams, stats } = await b.request('collect', { handle, count: 20, ms: 3000, quietMs: 200 })
    expect(datagrams).to.have.length(20)
    for (const h of datagrams) expect(h.length / 2).to.equal(64)
    expect(stats).to.include({ received: 20, truncated: 20 })
    await b.request('close', { handle })
  })

  it('also sees its own outgoing packets unless ignoreOutgoing is set', async () => {
    const all = await b.request('open', { kind: 'packet', interface: 'eth0', filter: hex(ipProtoDstPort(17, 6005)) })
    const inOnly = await b.request('open', { kind: 'packet', interface: 'eth0', filter: hex(ipProtoDstPort(17, 6005)), ignoreOutgoing: true })
    await a.request('udpSend', { host: B, port: 6005, messages: ['in-1', 'in-2'] })
    await b.request('udpSend', { host: A, port: 6005, messages: ['out-1', 'out-2', 'out-3'] })
    const both = await b.request('collect', { handle: all.handle, count: 5, ms: 3000, quietMs: 200 })
    const incoming = await b.request('collect', { handle: inOnly.handle, count: 2, ms: 3000, quietMs: 200 })
    expect(both.datagrams).to.have.length(5)
    expect(incoming.datagrams).to.have.length(2)
    for (const h of incoming.datagrams) expect(ipFields(bytes(h), 14).src).to.equal(A)
    await b.request('close', { handle: all.handle })
    await b.request('close', { handle: inOnly.handle })
  })

  it('on all interfaces receives IP packets without a link header (link type 101)', async () => {
    const { handle, linkType, ifindex } = await b.request('open', { kind: 'packet', filter: hex(ipProtoDstPort(17, 6007, { net: 0 })) })
    expect(linkType).to.equal(101)
    expect(ifindex).to.equal(0)
    await a.request('udpSend', { host: B, port: 6007, messages: Array.from({ length: 10 }, (_, i) => `any-${i}`) })
    const { datagrams } = await b.request('collect', { handle, count: 10, ms: 3000, quietMs: 200 })
    expect(datagrams).to.have.length(10)
    for (const h of datagrams) expect(ipFields(bytes(h), 0)).to.include({ version: 4, proto: 17, dport: 6007, src: A })
    await b.request('close', { handle })
  })

  it('sends whole Ethernet frames on a named interface, which the peer delivers', async () => {
    await b.request('udpListen', { port: 6008 })
    const { handle } = await a.request('open', { kind: 'packet', interface: 'eth0', filter: hex(acceptAll(1)) })
    const frames = Array.from({ length: 5 }, (_, i) => ({
      hex: hex(ethernet({ dstMac: nsB.mac('eth0'), srcMac: nsA.mac('eth0') }, udp({ src: A, dst: B, sport: 40000 + i, dport: 6008, payload: `frame-${i}` })))
    }))
    expect((await a.request('send', { handle, datagrams: frames })).sent).to.equal(5)
    const { received } = await b.request('udpReceived', { port: 6008, count: 5, ms: 3000 })
    expect(received.sort()).to.deep.equal(frames.map((_, i) => `frame-${i}`))
    expect((await a.request('stats', { handle })).sent).to.equal(5)
    await a.request('close', { handle })
  })

  it('an unknown interface name fails with TC_ERR_IO_NO_INTERFACE naming it', async () => {
    const err = await b.request('open', { kind: 'packet', interface: 'nosuch0' }).then(() => undefined, (e) => e)
    expect(err).to.include({ code: 'TC_ERR_IO_NO_INTERFACE', syscall: 'if_nametoindex', name: 'IoError' })
    expect(err.message).to.contain('no network interface named "nosuch0"')
  })

  it('a BPF program the kernel refuses fails with TC_ERR_IO_FILTER', async () => {
    const noRet = '2000000000000000' // ld [0] with no ret
    const err = await b.request('open', { kind: 'packet', interface: 'eth0', filter: noRet }).then(() => undefined, (e) => e)
    expect(err).to.include({ code: 'TC_ERR_IO_FILTER', errno: 22, syscall: 'setsockopt' })
  })

  it('leaves no fd open after close (counted in /proc/self/fd)', async () => {
    const before = (await b.request('fds')).count
    for (let i = 0; i < 5; i++) {
      const { handle } = await b.request('open', { kind: 'packet', interface: 'eth0', filter: hex(acceptAll()) })
      await b.request('collect', { handle, ms: 20 }) // starts the poll
      await b.request('close', { handle })
    }
    await b.request('open', { kind: 'packet', interface: 'nosuch0' }).catch(() => {})
    expect((await b.request('fds')).count).to.equal(before)
  })
})

// AF_PACKET capture and send through @tcpcopy/native-shim, between two
// network namespaces joined by a veth pair (10.201.0.1 <-> 10.201.0.2), and
// on a tun device (raw IP) in one of them.
import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Netns, vethPair } from './lib/netns.js'
import { missingTools } from './lib/preflight.js'
import { ipProtoDstPort, acceptAll } from './lib/bpf.js'
import { bytes, hex, ipFields, udp, ethernet, tcpSegment } from './lib/packets.js'

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

/** intercept's capture opener (packages/cli), when that package has been built; undefined otherwise. */
const CLI_CAPTURE = new URL('../packages/cli/dist/capture.js', import.meta.url)
const hasCliCapture = readdirSync(new URL('../packages/cli/dist/', import.meta.url)).includes('capture.js')

// A small agent (same JSON-lines protocol as lib/agent.js) that opens packet
// sockets with the `ring` option, which lib/agent.js does not pass through,
// and intercept's advanced-mode capture through packages/cli (openIntercept).
const RING_AGENT = `
import { createInterface } from 'node:readline'
import { readdirSync } from 'node:fs'
import { createPacketIo } from ${JSON.stringify(import.meta.resolve('@tcpcopy/native-shim'))}
import { resolveConfig, interceptOptions } from ${JSON.stringify(import.meta.resolve('@tcpcopy/config'))}
const cli = ${hasCliCapture} ? await import(${JSON.stringify(CLI_CAPTURE.href)}) : undefined
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
  /** intercept -i devices -F filter: the sockets packages/cli opens (one device here). */
  async openIntercept ({ devices, filter, snap = 2048 }) {
    const config = resolveConfig(interceptOptions, { flags: { devices, filter } })
    const io = cli.openInterceptCapture(config, { regions, snap })
    const handle = next++
    handles.set(handle, { io, pending: [], polling: false, error: undefined })
    return { handle, linkType: io.linkType }
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

  it('with a filter compiled by @tcpcopy/bpf ("tcp and dst port 6011"), sees exactly the matching packets of a bounded flood, byte for byte' + (compileFilter ? '' : ' — skipped: @tcpcopy/bpf is not built yet (packages/bpf/dist has no compileFilter)'), async function () {
    if (compileFilter === undefined) this.skip()
    const program = compileFilter('tcp and dst port 6011', { linkType: 1 })
    const { handle } = await b.request('open', { kind: 'packet', interface: 'eth0', filter: hex(program.toBytes()), snap: 2048 })
    // 90 packets from A, written by hand and sent in one raw batch: 30 TCP to 6011 (SYN, ACK, data),
    // 30 TCP to 6012 and 30 UDP to 6011, interleaved. B answers with RSTs and ICMP, which the filter skips too.
    const raw = await a.request('open', { kind: 'raw-ipv4' })
    const flags = [0x02, 0x10, 0x18]
    const match = []
    const flood = []
    for (let i = 0; i < 30; i++) {
      const m = tcpSegment({ src: A, dst: B, sport: 42000 + i, dport: 6011, seq: 1000 * i, flags: flags[i % 3], payload: i % 3 === 2 ? `data-${i}` : '', id: 0x1000 + i })
      match.push(m)
      flood.push(m,
        tcpSegment({ src: A, dst: B, sport: 43000 + i, dport: 6012, flags: flags[i % 3], id: 0x2000 + i }),
        udp({ src: A, dst: B, sport: 44000 + i, dport: 6011, payload: `udp-${i}` }))
    }
    expect((await a.request('send', { handle: raw.handle, datagrams: flood.map((p) => ({ hex: hex(p), dst: B })) })).sent).to.equal(90)
    const { datagrams, stats } = await b.request('collect', { handle, count: 30, ms: 3000, quietMs: 300 })
    expect(datagrams.map((h) => h.slice(28)), 'the IP packets after the Ethernet header').to.deep.equal(match.map(hex))
    expect(stats).to.include({ received: 30, truncated: 0 })
    await b.request('close', { handle })
    await a.request('close', { handle: raw.handle })
  })

  it('with a production filter (@tcpcopy/bpf, accepting snap bytes) counts the packets the kernel cut to snap as truncated, through recvmmsg and the ring' + (compileFilter ? '' : ' — skipped: @tcpcopy/bpf is not built yet (packages/bpf/dist has no compileFilter)'), async function () {
    if (compileFilter === undefined) this.skip()
    // what intercept and tcpcopy do: the program returns snaplen = snap, so the kernel cuts each
    // packet before queueing it (no MSG_TRUNC); the wire length still says it was cut
    const filter = hex(compileFilter('tcp and dst port 6014', { linkType: 1, snaplen: 64 }).toBytes())
    const plain = await b.request('open', { kind: 'packet', interface: 'eth0', filter, snap: 64 })
    const wide = await b.request('open', { kind: 'packet', interface: 'eth0', filter, snap: 2048 }) // the filter alone cuts
    const ring = await r.request('open', { interface: 'eth0', filter, snap: 64, ring: true })
    // 10 short segments (14 + 40 + 6 = 60 bytes: whole) and 10 long ones (14 + 40 + 300: cut to 64), from a raw socket
    const segments = Array.from({ length: 20 }, (_, i) => tcpSegment({ src: A, dst: B, sport: 47000 + i, dport: 6014, flags: 0x18, payload: `${i}`.padEnd(i % 2 === 0 ? 6 : 300, '.') }))
    const raw = await a.request('open', { kind: 'raw-ipv4' })
    expect((await a.request('send', { handle: raw.handle, datagrams: segments.map((p) => ({ hex: hex(p), dst: B })) })).sent).to.equal(20)
    await a.request('close', { handle: raw.handle })
    const frames = segments.map((p) => `${'00'.repeat(14)}${hex(p)}`.slice(0, 128))
    for (const [agent, h] of [[b, plain.handle], [b, wide.handle], [r, ring.handle]]) {
      const { datagrams, stats } = await agent.request('collect', { handle: h, count: 20, ms: 3000, quietMs: 200 })
      expect(datagrams.map((d) => d.slice(28))).to.deep.equal(frames.map((f) => f.slice(28))) // whole, or the first 64 bytes
      expect(stats).to.include({ received: 20, truncated: 10 })
      await agent.request('close', { handle: h })
    }
  })

  it('counts the packets the kernel drops for a full receive buffer in drops (and overruns): received + drops = sent', async () => {
    // a tiny buffer (SO_RCVBUFFORCE 4096) and 300 datagrams sent before the first read
    const { handle } = await b.request('open', { kind: 'packet', interface: 'eth0', filter: hex(ipProtoDstPort(17, 6009)), rcvbuf: 4096 })
    await a.request('udpSend', { host: B, port: 6009, messages: Array.from({ length: 300 }, (_, i) => `${i}`.padEnd(200, '#')) })
    const { datagrams, stats } = await b.request('collect', { handle, ms: 500 })
    expect(stats.drops).to.be.at.least(1)
    expect(stats.overruns, 'a packet socket counts each dropped packet as an overrun too').to.equal(stats.drops)
    expect(stats.received).to.equal(datagrams.length)
    expect(stats.received + stats.drops).to.equal(300)
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

  const noTun = missingTools(['python3']).length > 0
    ? ' — skipped: python3 is not installed (it attaches the tun device; e2e/apt-packages.txt lists it)'
    : !hasCliCapture ? ' — skipped: packages/cli is not built (no dist/capture.js)' : ''
  it(`intercept's capture on a tun device (raw IP, no link header) compiles -F for raw IP and sees exactly the matching packets${noTun}`, async function () {
    if (noTun !== '') this.skip()
    // python3 opens /dev/net/tun as tn0 and writes the packets it reads (hex lines) into it:
    // the kernel then receives them on tn0, where the capture sees them
    const TUN = [
      'import fcntl, os, struct, sys',
      "fd = os.open('/dev/net/tun', os.O_RDWR)",
      "fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', b'tn0', 0x0001 | 0x1000))  # TUNSETIFF: IFF_TUN | IFF_NO_PI",
      "print('attached', flush=True)",
      'for line in sys.stdin:', // until stdin closes: tn0 lives as long as this process
      '    line = line.strip()',
      "    if line == 'end': print('written', flush=True)",
      '    elif line: os.write(fd, bytes.fromhex(line))'
    ].join('\n')
    const tun = spawn('ip', ['netns', 'exec', nsB.name, 'python3', '-c', TUN], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    tun.stderr.on('data', (d) => { stderr += d })
    const lines = createInterface({ input: tun.stdout })
    const said = (what) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the tun writer did not say ${what}: ${stderr}`)), 5000)
      lines.on('line', (l) => { if (l === what) { clearTimeout(t); resolve() } })
      tun.once('exit', (code) => { clearTimeout(t); reject(new Error(`the tun writer exited (${code}): ${stderr}`)) })
    })
    try {
      await said('attached')
      nsB.ip('link', 'set', 'tn0', 'up')
      const { handle, linkType } = await r.request('openIntercept', { devices: 'tn0', filter: 'tcp and dst port 6031' })
      expect(linkType).to.equal(101)
      const match = Array.from({ length: 10 }, (_, i) => tcpSegment({ src: '10.231.0.1', dst: '10.231.0.2', sport: 45000 + i, dport: 6031, flags: 0x18, payload: `tun-${i}` }))
      const other = Array.from({ length: 10 }, (_, i) => tcpSegment({ src: '10.231.0.1', dst: '10.231.0.2', sport: 46000 + i, dport: 6032, flags: 0x18, payload: `other-${i}` }))
      const written = said('written')
      for (let i = 0; i < 10; i++) tun.stdin.write(`${hex(other[i])}\n${hex(match[i])}\n`)
      tun.stdin.write('end\n')
      await written
      const { datagrams } = await r.request('collect', { handle, count: 10, ms: 3000, quietMs: 300 })
      expect(datagrams).to.deep.equal(match.map(hex)) // raw IP, byte for byte: no link header
      await r.request('close', { handle })
    } finally {
      tun.stdin.end() // the writer exits, and tn0 goes with it
      await new Promise((resolve) => { if (tun.exitCode !== null || tun.signalCode !== null) resolve(); else tun.once('exit', resolve) })
    }
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

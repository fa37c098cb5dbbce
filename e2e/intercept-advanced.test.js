// The intercept program in the advanced architecture (ARCHITECTURES.md §3,
// §4.4), on the namespace test bed of §4 (lib/testbed.js): the project's HTTP
// server (lib/http-server.js) on tgt:8080, tgt routes its answers for the
// fake client pool 10.88.0.0/24 via ast, ast does not forward (ip_forward=0:
// the black hole), and the real intercept program captures them on ast's
// eth0 with the kernel filter compiled from -F, through its default
// TPACKET_V3 receive ring (and, in one block, with --no-capture-ring:
// recvmmsg). A scripted tcpcopy peer in
// onl registers the session; onl sends the spoofed client segments (SYN, and
// an HTTP request); tgt also sends hand-made responses (raw IPv4, routed via
// ast) where a test needs one that is not a SYN-ACK (-t expiry).
import { expect } from 'chai'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Testbed, ADDR, POOL } from './lib/testbed.js'
import { readHttpLog, startHttpServer } from './lib/http-server.js'
import { acceptAll } from './lib/bpf.js'
import { bytes, hex, ipFields, tcpSegment, tcpSyn } from './lib/packets.js'
import { InterceptProc, TCPCOPY_PEER, collectRecords, expectRouteExpiry, noise, parseFrames, recordFields, sleep, waitFor } from './lib/intercept.js'

const CTRL = 36524
const APP = 8080
const SYN_SEQ = 0x0a0b0c0d


/** The shared mappings of packet-socket memory in a process (a PACKET_RX_RING shows as "socket:[inode]"), with their sizes. */
function socketMappings (pid) {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')
    .filter((l) => /\ssocket:\[\d+\]$/.test(l))
    .map((l) => {
      const [lo, hi] = l.split(' ')[0].split('-').map((x) => Number.parseInt(x, 16))
      return { size: hi - lo, shared: l.split(/\s+/)[1].endsWith('s') }
    })
}

describe('intercept in the advanced architecture (capture on ast, namespaces cli/onl/tgt/ast on a bridge)', function () {
  this.timeout(30_000)
  let bed, dir, ic, http
  let peer, onl, onlRaw, tgt, tgtRaw, watchers
  const running = []

  const spoofSyn = async (src, port) => {
    const syn = tcpSyn({ src, dst: ADDR.tgt, sport: port, dport: APP, seq: SYN_SEQ })
    expect(await onl.request('send', { handle: onlRaw, datagrams: [{ hex: hex(syn), dst: ADDR.tgt }] })).to.deep.equal({ sent: 1 })
  }
  /** A client segment from the pool, sent by onl as tcpcopy would (raw IPv4). */
  const spoofSegment = async (fields) => {
    const seg = tcpSegment({ dst: ADDR.tgt, dport: APP, ...fields })
    expect(await onl.request('send', { handle: onlRaw, datagrams: [{ hex: hex(seg), dst: ADDR.tgt }] })).to.deep.equal({ sent: 1 })
  }
  const addRoute = (conn, ip, port) => peer.request('add', { conn, clients: [{ ip, port }], targetIp: ADDR.tgt, targetPort: APP })
  const connect = async (version = 6, port = CTRL) => (await peer.request('connect', { host: ADDR.ast, port, version })).conn
  const start = async (args, name, port) => {
    const p = await InterceptProc.start(bed.ast, ['-i', 'eth0', '-F', `tcp and src port ${APP}`, '-l', join(dir, `${name}.log`), '-P', join(dir, `${name}.pid`), '-p', String(port), ...args])
    running.push(p)
    return p
  }
  /** Starts captures on the eth0 of cli and onl (the hosts that must never get the answers). */
  const watch = async () => { for (const w of watchers) await w.agent.request('collect', { handle: w.handle, ms: 1 }) }
  /** Packets from tgt:8080 that reached cli's or onl's eth0 since watch(). */
  const leaked = async (ms) => {
    const out = []
    for (const w of watchers) {
      const { datagrams } = await w.agent.request('collect', { handle: w.handle, ms })
      for (const h of datagrams) {
        const f = bytes(h)
        if (f[12] !== 0x08 || f[13] !== 0x00) continue
        const p = ipFields(f, 14)
        if (p.src === ADDR.tgt && p.proto === 6 && p.sport === APP) out.push(`${w.name}: ${p.src}:${p.sport} -> ${p.dst}:${p.dport}`)
      }
    }
    return out
  }

  before(async () => {
    bed = Testbed.create()
    dir = mkdtempSync(join(tmpdir(), 'tcx-e2e-intercept-adv-'))
    bed.tgt.ip('route', 'add', POOL, 'via', ADDR.ast) // §3.1: the answers for the pool go to the assistant
    bed.ast.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=0'])
    let cli, cliAgent
    ;[peer, onl, tgt, cliAgent] = await Promise.all([bed.onl.agent(TCPCOPY_PEER), bed.onl.agent(), bed.tgt.agent(), bed.cli.agent()])
    // the application under test: a real HTTP server (the kernel answers the SYNs, node:http the requests)
    http = await startHttpServer(bed.tgt, { name: 'tgt', port: APP, log: join(dir, 'tgt-http.log') })
    onlRaw = (await onl.request('open', { kind: 'raw-ipv4' })).handle
    tgtRaw = (await tgt.request('open', { kind: 'raw-ipv4' })).handle
    cli = (await cliAgent.request('open', { kind: 'packet', interface: 'eth0', filter: hex(acceptAll(256)), snap: 256 })).handle
    const onlCap = (await onl.request('open', { kind: 'packet', interface: 'eth0', filter: hex(acceptAll(256)), snap: 256 })).handle
    watchers = [{ name: 'cli', agent: cliAgent, handle: cli }, { name: 'onl', agent: onl, handle: onlCap }]
    ic = await start([], 'ast', CTRL)
  })

  after(async () => {
    for (const p of running) await p.stop('SIGKILL')
    await http?.stop()
    await bed?.destroy()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('runs in advanced mode on eth0 with the -F filter, ast not forwarding', () => {
    expect(bed.ast.exec('sysctl', ['-n', 'net.ipv4.ip_forward']).stdout.trim()).to.equal('0')
    expect(ic.log()).to.match(/\[notice\] mode: advanced on eth0, filter "tcp and src port 8080"/)
    expect(bed.ast.exec('ss', ['-Hltnp', `( sport = :${CTRL} )`]).stdout).to.contain(`pid=${ic.pid},`)
  })

  it('receives through a TPACKET_V3 ring by default: the start-up line says so and the process maps one 16 MiB ring', () => {
    expect(ic.log()).to.match(/\[notice\] mode: advanced on eth0, filter "tcp and src port 8080", capture: TPACKET_V3 ring \(16 MiB per socket/)
    expect(ic.log()).to.match(/listening for tcpcopy on .*; advanced mode \(passive capture through a TPACKET_V3 ring\)/)
    expect(socketMappings(ic.pid), 'the mmap\'ed receive ring of the eth0 socket').to.deep.equal([{ size: 16 * 1024 * 1024, shared: true }])
  })

  it('the target\'s SYN-ACK to a pool client is captured on ast and reaches the peer as a 64-byte record; no other host gets it', async () => {
    const client = '10.88.0.5'
    const conn = (await peer.request('connect', { host: ADDR.ast, port: CTRL, version: 6 })).conn
    await peer.request('add', { conn, clients: [{ ip: client, port: 40020 }], targetIp: ADDR.tgt, targetPort: APP })
    await sleep(50)
    await watch()
    await spoofSyn(client, 40020)
    const got = await peer.request('take', { conn, bytes: 66, ms: 3000, quietMs: 150 })
    expect(got.hex.length / 2, `exactly one frame of one record: ${got.hex}`).to.equal(2 + 64)
    const { frames } = parseFrames(bytes(got.hex), 64)
    expect(frames.map((f) => f.count)).to.deep.equal([1])
    const r = recordFields(frames[0].records[0])
    expect(r).to.include({ version: 4, ihl: 20, proto: 6, src: ADDR.tgt, dst: client, sport: APP, dport: 40020, flags: 0x12, ack: SYN_SEQ + 1 })
    expect(r.totLen).to.equal(20 + r.doff)
    expect(Array.from(r.tail).every((b) => b === 0), 'zero after the headers').to.equal(true)
    const synRecv = bed.tgt.exec('ss', ['-tnH', 'state', 'syn-recv', `( sport = :${APP} )`]).stdout
    expect(synRecv, 'the target answered the spoofed client').to.contain(`${client}:40020`)
    expect(await leaked(300), 'answers from tgt:8080 on cli or onl').to.deep.equal([])
    const s = await ic.stats()
    expect(s).to.include({ connections: 1, routes: 1, forwarded: 1, dropped: 0, unroutable: 0 })
    expect(s.captured).to.equal(1)
  })

  it('a second peer\'s session is reported to that peer only (routes are per 4-tuple and per connection)', async () => {
    const a = (await peer.request('connect', { host: ADDR.ast, port: CTRL, version: 6 })).conn
    const b = (await peer.request('connect', { host: ADDR.ast, port: CTRL, version: 5 })).conn
    await peer.request('add', { conn: a, clients: [{ ip: '10.88.0.6', port: 40030 }], targetIp: ADDR.tgt, targetPort: APP })
    await peer.request('add', { conn: b, clients: [{ ip: '10.88.0.6', port: 40031 }], targetIp: ADDR.tgt, targetPort: APP })
    await sleep(50)
    await spoofSyn('10.88.0.6', 40030)
    await spoofSyn('10.88.0.6', 40031)
    const ra = await collectRecords(peer, a, 64, { until: (rs) => rs.length > 0, ms: 3000, quietMs: 150 })
    const rb = await collectRecords(peer, b, 80, { until: (rs) => rs.length > 0, ms: 3000, quietMs: 150 })
    expect(ra.records.map((r) => [r.dst, r.dport, r.flags, r.bytes.length])).to.deep.equal([['10.88.0.6', 40030, 0x12, 64]])
    expect(rb.records.map((r) => [r.dst, r.dport, r.flags, r.bytes.length])).to.deep.equal([['10.88.0.6', 40031, 0x12, 80]])
  })

  it('keeps capturing after its interface went down and up (a link flap on ast\'s eth0)', async () => {
    bed.ast.ip('link', 'set', 'eth0', 'down')
    await sleep(200)
    bed.ast.ip('link', 'set', 'eth0', 'up')
    const up = await waitFor(() => bed.ast.exec('cat', ['/sys/class/net/eth0/operstate']).stdout.trim() === 'up', 3000)
    expect(up, 'eth0 is up again').to.equal(true)
    const before = await ic.stats()
    const conn = (await peer.request('connect', { host: ADDR.ast, port: CTRL, version: 6 })).conn
    await peer.request('add', { conn, clients: [{ ip: '10.88.0.8', port: 40040 }], targetIp: ADDR.tgt, targetPort: APP })
    await sleep(50)
    await spoofSyn('10.88.0.8', 40040)
    const got = await collectRecords(peer, conn, 64, { until: (rs) => rs.length > 0, ms: 2000 })
    const after = await ic.stats()
    expect(got.records.map((r) => [r.dst, r.dport, r.flags]), `the SYN-ACK after the flap reaches the peer (captured ${before.captured} → ${after.captured})`)
      .to.deep.equal([['10.88.0.8', 40040, 0x12]])
  })

  it('a real HTTP request from a pool client: the target\'s HTTP answer is captured on ast and reported with its payload length', async () => {
    const client = '10.88.0.11'
    const port = 40050
    const conn = await connect()
    await addRoute(conn, client, port)
    await sleep(50)
    await watch()
    await spoofSyn(client, port)
    const syn = await collectRecords(peer, conn, 64, { until: (rs) => rs.some((r) => r.flags === 0x12), ms: 3000 })
    const synAck = syn.records.find((r) => r.flags === 0x12)
    expect(synAck, 'the SYN-ACK record').to.not.equal(undefined)
    const request = 'GET /?id=adv-1 HTTP/1.1\r\nHost: tgt\r\nConnection: close\r\n\r\n'
    const seq = SYN_SEQ + 1
    const ack = (synAck.seq + 1) >>> 0
    await spoofSegment({ src: client, sport: port, seq, ack, flags: 0x10 })
    await spoofSegment({ src: client, sport: port, seq, ack, flags: 0x18, payload: request })
    const got = await collectRecords(peer, conn, 64, { until: (rs) => rs.some((r) => r.totLen > 20 + r.doff), ms: 3000, quietMs: 200 })
    const data = got.records.filter((r) => r.totLen > 20 + r.doff)
    expect(data.length, 'a data record from tgt:8080').to.be.at.least(1)
    expect(data[0]).to.include({ src: ADDR.tgt, dst: client, sport: APP, dport: port, seq: ack })
    expect(Array.from(data[0].tail).every((b) => b === 0), 'headers only, no payload bytes in the record').to.equal(true)
    const logged = readHttpLog(http.log).requests.filter((q) => q.id === 'adv-1')
    expect(logged.map((q) => [q.ip, q.port]), 'the HTTP server on tgt answered the request').to.deep.equal([[client, port]])
    expect(await leaked(200), 'answers from tgt:8080 on cli or onl').to.deep.equal([])
    // end the session, so the target does not retransmit its answer into the next tests
    await spoofSegment({ src: client, sport: port, seq: (seq + Buffer.byteLength(request)) >>> 0, ack: 0, flags: 0x04 })
  })

  it('a SYN-ACK that comes before its CLIENT_ADD waits, and is delivered right after the CLIENT_ADD', async () => {
    const client = '10.88.0.12'
    const conn = await connect()
    const before = await ic.stats()
    await spoofSyn(client, 40060)
    await sleep(200)
    const early = await collectRecords(peer, conn, 64, { ms: 50 })
    expect(early.records, 'nothing before the route exists').to.deep.equal([])
    const mid = await ic.stats()
    expect(mid.delayed - before.delayed, 'stored in the delay table').to.equal(1)
    const t0 = Date.now()
    await addRoute(conn, client, 40060)
    const got = await collectRecords(peer, conn, 64, { until: (rs) => rs.length > 0, ms: 2000, quietMs: 100 })
    expect(got.records.map((r) => [r.dst, r.dport, r.flags]), 'delivered once, after the CLIENT_ADD').to.deep.equal([[client, 40060, 0x12]])
    expect(Date.now() - t0, 'delivered at once, not at the SYN-ACK retransmission').to.be.below(800)
  })

  it('garbage on a second control connection closes only that one; the first keeps its routes and keeps receiving records', async () => {
    const client = '10.88.0.13'
    const good = await connect()
    await addRoute(good, client, 40070)
    await sleep(50)
    const before = await ic.stats()
    // 1. no hello, 4 KiB of noise; 2. a hello, then noise (unknown message types)
    const g1 = await peer.request('connect', { host: ADDR.ast, port: CTRL, version: null })
    await peer.request('write', { conn: g1.conn, hex: hex(noise(4096, 11)) })
    const g2 = await peer.request('connect', { host: ADDR.ast, port: CTRL, version: 6 })
    await peer.request('write', { conn: g2.conn, hex: hex(noise(4096, 12)) })
    expect((await peer.request('waitClosed', { conn: g1.conn, ms: 3000 })).closed, 'the noise-only connection is closed').to.equal(true)
    expect((await peer.request('waitClosed', { conn: g2.conn, ms: 3000 })).closed, 'the hello+noise connection is closed').to.equal(true)
    const log = ic.log()
    for (const g of [g1, g2]) {
      expect(log, `a log line says why the connection from port ${g.localPort} was closed`)
        .to.match(new RegExp(`from ${ADDR.onl.replace(/\./g, '\\.')}:${g.localPort}.*(refused|closed:)`))
    }
    const after = await ic.stats()
    expect(after.connections, 'the good connections are all still there').to.equal(before.connections)
    expect(after.routes, 'and their routes').to.equal(before.routes)
    expect((await peer.request('waitClosed', { conn: good, ms: 0 })).closed).to.equal(false)
    await spoofSyn(client, 40070)
    const got = await collectRecords(peer, good, 64, { until: (rs) => rs.length > 0, ms: 3000 })
    expect(got.records.map((r) => [r.dst, r.dport, r.flags]), 'the first peer still gets the records of its route').to.deep.equal([[client, 40070, 0x12]])
  })

  describe('intercept --no-capture-ring (recvmmsg) on ast', () => {
    const PORT = CTRL + 2
    let plain
    before(async () => { plain = await start(['--no-capture-ring'], 'ast-recvmmsg', PORT) })

    it('says so in its start-up line and maps no ring', () => {
      expect(plain.log()).to.match(/\[notice\] mode: advanced on eth0, filter "tcp and src port 8080", capture: recvmmsg from the socket buffer \(--no-capture-ring\)/)
      expect(plain.log()).to.not.contain('TPACKET_V3')
      expect(socketMappings(plain.pid)).to.deep.equal([])
    })

    it('the target\'s SYN-ACK to a pool client still reaches the peer as a 64-byte record', async () => {
      const client = '10.88.0.15'
      const conn = await connect(6, PORT)
      await addRoute(conn, client, 40090)
      await sleep(50)
      const before = await plain.stats()
      await spoofSyn(client, 40090)
      const got = await collectRecords(peer, conn, 64, { until: (rs) => rs.length > 0, ms: 3000, quietMs: 150 })
      expect(got.records.map((r) => [r.src, r.dst, r.sport, r.dport, r.flags, r.ack, r.bytes.length]))
        .to.deep.equal([[ADDR.tgt, client, APP, 40090, 0x12, SYN_SEQ + 1, 64]])
      const after = await plain.stats()
      expect(after.forwarded - before.forwarded, 'forwarded by the recvmmsg capture').to.equal(1)
    })
  })

  describe('intercept -t 1 (route timeout) on ast', () => {
    const PORT = CTRL + 1
    let short
    before(async () => { short = await start(['-t', '1'], 'ast-t1', PORT) })

    it('a route unused for more than 2 s is gone: its next response is counted unroutable and not delivered', async () => {
      const client = '10.88.0.14'
      const conn = await connect(6, PORT)
      await addRoute(conn, client, 40080)
      await sleep(50)
      // the responses are routed via ast
      await expectRouteExpiry({ peer, conn, ic: short, tgt, tgtRaw, target: ADDR.tgt, sport: APP, client, dport: 40080 })
    })
  })
})

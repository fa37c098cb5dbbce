// The intercept program in the advanced architecture (ARCHITECTURES.md §3,
// §4.4), on the namespace test bed of §4 (lib/testbed.js): tgt routes its
// answers for the fake client pool 10.88.0.0/24 via ast, ast does not forward
// (ip_forward=0: the black hole), and the real intercept program captures
// them on ast's eth0 with the kernel filter compiled from -F. A scripted
// tcpcopy peer in onl registers the session; onl sends the spoofed SYN.
import { expect } from 'chai'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Testbed, ADDR, POOL } from './lib/testbed.js'
import { acceptAll } from './lib/bpf.js'
import { bytes, hex, ipFields, tcpSyn } from './lib/packets.js'
import { InterceptProc, TCPCOPY_PEER, collectRecords, parseFrames, recordFields, sleep, waitFor } from './lib/intercept.js'

const CTRL = 36524
const APP = 8080
const SYN_SEQ = 0x0a0b0c0d

describe('intercept in the advanced architecture (capture on ast, namespaces cli/onl/tgt/ast on a bridge)', function () {
  this.timeout(30_000)
  let bed, dir, ic
  let peer, onl, onlRaw, tgt, watchers

  const spoofSyn = async (src, port) => {
    const syn = tcpSyn({ src, dst: ADDR.tgt, sport: port, dport: APP, seq: SYN_SEQ })
    expect(await onl.request('send', { handle: onlRaw, datagrams: [{ hex: hex(syn), dst: ADDR.tgt }] })).to.deep.equal({ sent: 1 })
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
    await tgt.request('tcpListen', { port: APP }) // the application under test (the kernel answers the SYNs)
    onlRaw = (await onl.request('open', { kind: 'raw-ipv4' })).handle
    cli = (await cliAgent.request('open', { kind: 'packet', interface: 'eth0', filter: hex(acceptAll(256)), snap: 256 })).handle
    const onlCap = (await onl.request('open', { kind: 'packet', interface: 'eth0', filter: hex(acceptAll(256)), snap: 256 })).handle
    watchers = [{ name: 'cli', agent: cliAgent, handle: cli }, { name: 'onl', agent: onl, handle: onlCap }]
    ic = await InterceptProc.start(bed.ast, ['-i', 'eth0', '-F', `tcp and src port ${APP}`, '-l', join(dir, 'ast.log'), '-P', join(dir, 'ast.pid'), '-p', String(CTRL)])
  })

  after(async () => {
    await ic?.stop('SIGKILL')
    await bed?.destroy()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('runs in advanced mode on eth0 with the -F filter, ast not forwarding', () => {
    expect(bed.ast.exec('sysctl', ['-n', 'net.ipv4.ip_forward']).stdout.trim()).to.equal('0')
    expect(ic.log()).to.match(/\[notice\] mode: advanced on eth0, filter "tcp and src port 8080"/)
    expect(bed.ast.exec('ss', ['-Hltnp', `( sport = :${CTRL} )`]).stdout).to.contain(`pid=${ic.pid},`)
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
})

// The intercept program in the traditional architecture (ARCHITECTURES.md
// §2, §4.3), on the namespace test bed of §4 (lib/testbed.js): the project's
// HTTP server (lib/http-server.js) on tgt:8080, the rule `iptables -I OUTPUT -p tcp --sport 8080 -j
// NFQUEUE --queue-num 0` in tgt, and the real intercept program in tgt. A
// scripted tcpcopy peer (lib/tcpcopy-peer.js) in onl says hello and sends
// CLIENT_ADD; onl sends the spoofed SYNs tcpcopy would send (raw IPv4); cli is
// the real client, and captures on its eth0 to prove it never sees an answer.
// tgt also sends hand-made responses (raw IPv4 through its OUTPUT chain) where
// a test needs a response that is not a SYN-ACK (-t expiry, the burst).
import { expect } from 'chai'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NFQUEUE_COPY_RANGE } from '@tcpcopy/intercept'
import { Testbed, ADDR } from './lib/testbed.js'
import { readHttpLog, startHttpServer } from './lib/http-server.js'
import { acceptAll } from './lib/bpf.js'
import { bytes, hex, ipFields, tcpSegment, tcpSyn } from './lib/packets.js'
import {
  FLOOD_AGENT, InterceptProc, TCPCOPY_PEER, collectRecords, errorLines, expectRouteExpiry, killFromPidfile, nfqueueLines, noise, parseFrames, readText, recordFields, runIntercept, sleep, waitFor
} from './lib/intercept.js'

const CTRL = 36524
const APP = 8080
const SYN_SEQ = 0x01020304
const SYN_ACK = 0x12
const RULE = ['OUTPUT', '-p', 'tcp', '--sport', String(APP), '-j', 'NFQUEUE', '--queue-num', '0']


describe('intercept in the traditional architecture (NFQUEUE in tgt, namespaces cli/onl/tgt on a bridge)', function () {
  this.timeout(30_000)
  let bed, dir, http
  let peer //  tcpcopy peer in onl
  let onl, onlRaw // raw IPv4 sender in onl (the spoofed SYNs)
  let tgt, tgtRaw // raw IPv4 sender in tgt (hand-made responses through OUTPUT)
  let cli, cliCap // AF_PACKET capture on cli's eth0
  const running = []

  const start = async (args, name) => {
    const p = await InterceptProc.start(bed.tgt, ['-l', join(dir, `${name}.log`), '-P', join(dir, `${name}.pid`), '-p', String(CTRL), ...args])
    running.push(p)
    return p
  }
  const spoofSyn = async (port, src = ADDR.cli) => {
    const syn = tcpSyn({ src, dst: ADDR.tgt, sport: port, dport: APP, seq: SYN_SEQ })
    expect(await onl.request('send', { handle: onlRaw, datagrams: [{ hex: hex(syn), dst: ADDR.tgt }] })).to.deep.equal({ sent: 1 })
  }
  const addRoute = (conn, port, ip = ADDR.cli) => peer.request('add', { conn, clients: [{ ip, port }], targetIp: ADDR.tgt, targetPort: APP })
  /** Starts (or restarts) the cli capture: everything it saw before is dropped. */
  const cliWatch = () => cli.request('collect', { handle: cliCap, ms: 1 })
  /** Packets cli's eth0 saw since cliWatch() that come from tgt:8080. */
  const cliSawFromApp = async (ms) => {
    const { datagrams } = await cli.request('collect', { handle: cliCap, ms })
    return datagrams.map((h) => bytes(h)).filter((f) => f[12] === 0x08 && f[13] === 0x00)
      .map((f) => ipFields(f, 14)).filter((p) => p.src === ADDR.tgt && p.proto === 6 && p.sport === APP)
  }
  const synRecv = () => bed.tgt.exec('ss', ['-tnH', 'state', 'syn-recv', `( sport = :${APP} )`]).stdout
  /** Checks one record: the target's SYN-ACK to client:port, byte layout of §3.2. */
  const expectSynAck = (r, port, size, client = ADDR.cli) => {
    expect(r.bytes.length, 'record size').to.equal(size)
    expect(r).to.include({ version: 4, ihl: 20, proto: 6, src: ADDR.tgt, dst: client, sport: APP, dport: port, flags: SYN_ACK, ack: SYN_SEQ + 1 })
    expect(r.doff, 'TCP header length (SYN-ACK with options)').to.be.within(24, 20 + (size === 64 ? 24 : 40))
    expect(r.totLen, 'IP total length: headers only, no payload').to.equal(20 + r.doff)
    expect(Array.from(r.tail).every((b) => b === 0), `the record after the headers is zero: ${hex(r.tail)}`).to.equal(true)
  }

  before(async () => {
    bed = Testbed.create(['cli', 'onl', 'tgt'])
    dir = mkdtempSync(join(tmpdir(), 'tcx-e2e-intercept-'))
    http = await startHttpServer(bed.tgt, { name: 'tgt', port: APP, log: join(dir, 'tgt-http.log') })
    bed.tgt.exec('iptables', ['-I', ...RULE])
    // tcpcopy -c 10.88.0.x in the traditional mode: tgt needs *a* route for the pool (§4.3)
    bed.tgt.ip('route', 'add', '10.88.0.0/24', 'via', ADDR.onl)
    ;[peer, onl, tgt, cli] = await Promise.all([bed.onl.agent(TCPCOPY_PEER), bed.onl.agent(), bed.tgt.agent(), bed.cli.agent()])
    onlRaw = (await onl.request('open', { kind: 'raw-ipv4' })).handle
    tgtRaw = (await tgt.request('open', { kind: 'raw-ipv4' })).handle
    cliCap = (await cli.request('open', { kind: 'packet', interface: 'eth0', filter: hex(acceptAll(256)), snap: 256 })).handle
    const up = await waitFor(() => bed.tgt.exec('ss', ['-Hltn', `( sport = :${APP} )`]).stdout.includes(`:${APP}`), 5000)
    expect(up, 'the HTTP server in tgt listens').to.equal(true)
  })

  after(async () => {
    for (const p of running) await p.stop('SIGKILL')
    if (dir !== undefined) killFromPidfile(join(dir, 'daemon.pid'))
    await http?.stop()
    await bed?.destroy()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  describe('intercept -l LOG -p 36524 -P PIDFILE', () => {
    let ic, v6
    before(async () => { ic = await start([], 'main') })

    it('binds NFQUEUE queue 0 in tgt under its own netlink port id, copy mode packet', () => {
      const line = nfqueueLines(bed.tgt).find((f) => f[0] === 0)
      expect(line, '/proc/net/netfilter/nfnetlink_queue has queue 0').to.not.equal(undefined)
      // queue, peer port id, length, copy mode 2 (packet), copy range
      expect(line.slice(0, 5)).to.deep.equal([0, line[1], 0, 2, NFQUEUE_COPY_RANGE])
      expect(line[1]).to.be.greaterThan(0)
      expect(readText(join(dir, 'main.pid')).trim()).to.equal(String(ic.pid))
    })

    it('hello 6: the SYN-ACK to a spoofed SYN reaches the peer as one 64-byte record in a [u16 count] frame, and never reaches cli', async () => {
      v6 = (await peer.request('connect', { host: ADDR.tgt, port: CTRL, version: 6 })).conn
      await addRoute(v6, 40001)
      await sleep(50)
      await cliWatch()
      await spoofSyn(40001)
      const got = await peer.request('take', { conn: v6, bytes: 66, ms: 3000, quietMs: 150 })
      expect(got.hex.length / 2, `exactly one frame of one record: ${got.hex}`).to.equal(2 + 64)
      const { frames, rest, records } = parse(got.hex, 64)
      expect(rest.length).to.equal(0)
      expect(frames.map((f) => f.count)).to.deep.equal([1])
      expectSynAck(records[0], 40001, 64)
      expect(synRecv(), 'the target really answered: 10.77.0.10:40001 is in its SYN queue').to.contain(`${ADDR.cli}:40001`)
      expect(await cliSawFromApp(300), 'packets from 10.77.0.30:8080 seen on cli').to.deep.equal([])
      const s = await ic.stats()
      expect(s).to.include({ connections: 1, routes: 1, added: 1, forwarded: 1, passed: 0, unroutable: 0 })
      expect(s.dropped).to.equal(s.captured)
    })

    it('hello 5 (tcpcopy 0.9): the same exchange gives 80-byte records', async () => {
      const v5 = (await peer.request('connect', { host: ADDR.tgt, port: CTRL, version: 5 })).conn
      await addRoute(v5, 40002)
      await sleep(50)
      await cliWatch()
      await spoofSyn(40002)
      const got = await peer.request('take', { conn: v5, bytes: 82, ms: 3000, quietMs: 150 })
      expect(got.hex.length / 2, `exactly one frame of one record: ${got.hex}`).to.equal(2 + 80)
      const { frames, records } = parse(got.hex, 80)
      expect(frames.map((f) => f.count)).to.deep.equal([1])
      expectSynAck(records[0], 40002, 80)
      expect(await cliSawFromApp(200)).to.deep.equal([])
      expect(readText(ic.logFile)).to.match(/hello version 5, tcpcopy 0\.9, 80-byte records/)
    })

    it('a SYN-ACK that comes before its CLIENT_ADD waits, and is delivered right after the CLIENT_ADD', async () => {
      const before = await ic.stats()
      await spoofSyn(40003)
      await sleep(200)
      const early = await collectRecords(peer, v6, 64, { ms: 50 })
      expect(early.records.filter((r) => r.dport === 40003), 'nothing for 40003 before its route exists').to.deep.equal([])
      const mid = await ic.stats()
      expect(mid.delayed - before.delayed, 'stored in the delay table').to.equal(1)
      expect(synRecv()).to.contain(`${ADDR.cli}:40003`)
      const t0 = Date.now()
      await addRoute(v6, 40003)
      const got = await collectRecords(peer, v6, 64, { until: (rs) => rs.some((r) => r.dport === 40003), ms: 2000, quietMs: 100 })
      const mine = got.records.filter((r) => r.dport === 40003)
      expect(mine, 'delivered once, after the CLIENT_ADD').to.have.length(1)
      expect(Date.now() - t0, 'delivered at once, not at the SYN-ACK retransmission').to.be.below(800)
      expectSynAck(mine[0], 40003, 64)
    })

    it('garbage on a second control connection closes only that one; the first keeps its routes and keeps receiving records', async () => {
      await addRoute(v6, 40004)
      await sleep(50)
      const before = await ic.stats()
      // 1. no hello, 4 KiB of noise (the first 8 bytes look like an old 8-byte client)
      const g1 = await peer.request('connect', { host: ADDR.tgt, port: CTRL, version: null })
      await peer.request('write', { conn: g1.conn, hex: hex(noise(4096, 1)) })
      // 2. a proper hello, then noise: unknown message types
      const g2 = await peer.request('connect', { host: ADDR.tgt, port: CTRL, version: 6 })
      await peer.request('write', { conn: g2.conn, hex: hex(noise(4096, 2)) })
      expect((await peer.request('waitClosed', { conn: g1.conn, ms: 3000 })).closed, 'the noise-only connection is closed by intercept').to.equal(true)
      expect((await peer.request('waitClosed', { conn: g2.conn, ms: 3000 })).closed, 'the hello+noise connection is closed by intercept').to.equal(true)
      const log = readText(ic.logFile)
      for (const g of [g1, g2]) {
        expect(log, `a log line says why the connection from port ${g.localPort} was closed`)
          .to.match(new RegExp(`from ${ADDR.onl.replace(/\./g, '\\.')}:${g.localPort}.*(refused|closed:)`))
      }
      const after = await ic.stats()
      expect(after.connections, 'the two good connections are still there').to.equal(before.connections)
      expect(after.connections).to.equal(2)
      expect((await peer.request('waitClosed', { conn: v6, ms: 0 })).closed).to.equal(false)
      await spoofSyn(40004)
      const got = await collectRecords(peer, v6, 64, { until: (rs) => rs.some((r) => r.dport === 40004), ms: 3000 })
      const mine = got.records.filter((r) => r.dport === 40004)
      expect(mine, 'the first peer still gets the records of its routes').to.have.length(1)
      expectSynAck(mine[0], 40004, 64)
    })

    it('a second intercept on the same queue exits 3 with one clear line; the first keeps the queue', () => {
      const holder = nfqueueLines(bed.tgt).find((f) => f[0] === 0)[1]
      const r = runIntercept(bed.tgt, ['-l', join(dir, 'second.log'), '-p', String(CTRL + 1)])
      expect(r.code, r.stderr).to.equal(3)
      const lines = errorLines(r.stderr)
      expect(lines, r.stderr).to.have.length(1)
      expect(lines[0]).to.match(/^intercept: .*queue 0 .*already bound/)
      // in the foreground the operator also sees the rule to use and the start-up warnings
      expect(r.stderr).to.contain('intercept: note: responses are read from NFQUEUE queue 0; queue the test application\'s responses with "iptables -I OUTPUT -p tcp --sport <app port> -j NFQUEUE --queue-num 0"')
      expect(r.stderr).to.contain('intercept: warning: no --allow given')
      expect(r.stdout).to.equal('')
      expect(nfqueueLines(bed.tgt).find((f) => f[0] === 0)[1], 'queue 0 still belongs to the first intercept').to.equal(holder)
      expect(ic.running).to.equal(true)
    })

    it('-d with the queue already bound: the parent exits 3 with the daemon\'s one line, and no daemon or pidfile stays', () => {
      const pidfile = join(dir, 'second-daemon.pid')
      const r = runIntercept(bed.tgt, ['-d', '-P', pidfile, '-l', join(dir, 'second-daemon.log'), '-p', String(CTRL + 3)])
      expect(r.code, r.stderr).to.equal(3)
      const lines = r.stderr.split('\n').filter((l) => l !== '')
      expect(lines, r.stderr).to.have.length(1)
      expect(lines[0]).to.match(/^intercept: .*queue 0 .*already bound/)
      expect(existsSync(pidfile), 'no pidfile').to.equal(false)
      expect(bed.tgt.exec('ss', ['-Hltn', `( sport = :${CTRL + 3} )`]).stdout, 'nothing listens on its port').to.equal('')
    })

    it('the control port in use: exit 3 with one clear line naming the port', () => {
      const r = runIntercept(bed.tgt, ['-l', join(dir, 'port.log'), '-p', String(CTRL), '--queue-num', '5'])
      expect(r.code, r.stderr).to.equal(3)
      const lines = errorLines(r.stderr)
      expect(lines, r.stderr).to.have.length(1)
      expect(lines[0]).to.match(new RegExp(`^intercept: .*:${CTRL}.*EADDRINUSE`))
    })

    it('-i with an unknown interface exits 3 with one clear line naming it', () => {
      const r = runIntercept(bed.tgt, ['-l', join(dir, 'badif.log'), '-p', String(CTRL + 2), '-i', 'nosuch0', '-F', 'tcp and src port 8080'])
      expect(r.code, r.stderr).to.equal(3)
      const lines = errorLines(r.stderr)
      expect(lines, r.stderr).to.have.length(1)
      expect(lines[0]).to.match(/^intercept: .*no network interface named "nosuch0"/)
    })

    it('SIGTERM: exit 0, queue 0 unbound, pidfile removed, shutdown lines in the log', async () => {
      const r = await ic.stop('SIGTERM')
      expect(r).to.deep.equal({ code: 0, signal: null })
      expect(nfqueueLines(bed.tgt).find((f) => f[0] === 0), 'queue 0 is free').to.equal(undefined)
      expect(existsSync(join(dir, 'main.pid')), 'pidfile removed').to.equal(false)
      const log = readText(ic.logFile)
      expect(log).to.match(/\[notice\] SIGTERM received, stopping\n/)
      expect(log).to.match(/\[notice\] stopped; connections 0, routes 0 /)
      expect(log.trimEnd().split('\n').pop()).to.match(/\[notice\] stopped$/)
      expect((await peer.request('waitClosed', { conn: v6, ms: 3000 })).closed, 'the tcpcopy connection is closed').to.equal(true)
    })
  })

  describe('intercept -x 10.77.0.10 -t 1 (passlist, route timeout)', () => {
    let ic
    before(async () => { ic = await start(['-x', ADDR.cli, '-t', '1'], 'passlist') })
    after(async () => { await ic?.stop() })

    it('a passlisted address gets its answers: a real curl from cli to tgt:8080 works while intercept runs', async () => {
      const before = await ic.stats()
      await cliWatch()
      const r = bed.cli.exec('curl', ['-sS', '--noproxy', '*', '-m', '5', `http://${ADDR.tgt}:${APP}/?id=pass1`], { allowFail: true, timeoutMs: 8000 })
      expect(r.status, r.stderr).to.equal(0)
      expect(r.stdout).to.equal('tgt pass1\n')
      expect(readHttpLog(http.log).requests.filter((q) => q.id === 'pass1').map((q) => q.ip), 'the HTTP server on tgt logged it').to.deep.equal([ADDR.cli])
      const seen = await cliSawFromApp(200)
      expect(seen.length, 'cli saw the answers from 10.77.0.30:8080').to.be.at.least(3) // SYN-ACK, data, FIN at least
      const after = await ic.stats()
      expect(after.passed - before.passed, 'every answer got ACCEPT').to.be.at.least(seen.length)
      expect(after.forwarded - before.forwarded, 'and none was forwarded').to.equal(0)
    })

    it('-t 1: a route unused for more than 2 s is gone: its next response is counted unroutable and not delivered', async () => {
      const client = '10.88.0.7'
      const conn = (await peer.request('connect', { host: ADDR.tgt, port: CTRL, version: 6 })).conn
      await addRoute(conn, 40011, client)
      await sleep(50)
      await expectRouteExpiry({ peer, conn, ic, tgt, tgtRaw, target: ADDR.tgt, sport: APP, client, dport: 40011 })
    })
  })

  describe('intercept -q 65536 after a burst its NFQUEUE socket could not hold', () => {
    let ic, flood
    before(async () => {
      ic = await start(['-q', '65536'], 'burst')
      flood = await bed.tgt.agent(FLOOD_AGENT)
    })
    after(async () => { await ic?.stop() })

    it('keeps capturing after the kernel reported a receive-buffer overrun (ENOBUFS) on its netlink socket', async () => {
      // 65536 unroutable ACKs while intercept is stopped: the queue takes them
      // all (-q 65536), the 32 MiB socket buffer only ~40000 of them; the rest
      // count as "user dropped" and the socket reports ENOBUFS.
      await flood.request('prepare', { src: ADDR.tgt, sport: APP, clients: [{ ip: '10.88.0.9', port: 30000 }] })
      ic.signal('SIGSTOP')
      let burst
      try {
        burst = await flood.request('flood', { count: 65536 })
      } finally {
        ic.signal('SIGCONT')
      }
      expect(burst.sent).to.equal(65536)
      const drained = await waitFor(() => nfqueueLines(bed.tgt).find((f) => f[0] === 0)?.[2] === 0, 5000)
      expect(drained, 'intercept gave a verdict to everything that reached its socket').to.equal(true)
      const mid = await ic.stats()
      expect(mid.overruns, 'the overrun was seen').to.be.at.least(1)
      // Now an ordinary session: it must still be captured and forwarded.
      const conn = (await peer.request('connect', { host: ADDR.tgt, port: CTRL, version: 6 })).conn
      await addRoute(conn, 30001, '10.88.0.9')
      await sleep(50)
      await tgt.request('send', {
        handle: tgtRaw,
        datagrams: [{ hex: hex(tcpSegment({ src: ADDR.tgt, dst: '10.88.0.9', sport: APP, dport: 30001, seq: 7000, ack: 1 })), dst: '10.88.0.9' }]
      })
      const got = await collectRecords(peer, conn, 64, { until: (rs) => rs.length > 0, ms: 2000 })
      const queued = nfqueueLines(bed.tgt).find((f) => f[0] === 0)?.[2]
      expect(got.records.map((r) => [r.dport, r.seq]), `the response after the burst reaches the peer (packets left in queue 0: ${queued})`)
        .to.deep.equal([[30001, 7000]])
      expect(queued, 'nothing stays queued').to.equal(0)
    })
  })

  describe('intercept -d -P PIDFILE (daemon)', () => {
    it('the parent exits 0 once the daemon listens; the pidfile names the daemon; SIGTERM to it stops it and removes the pidfile', async () => {
      const pidfile = join(dir, 'daemon.pid')
      const log = join(dir, 'daemon.log')
      const r = runIntercept(bed.tgt, ['-d', '-P', pidfile, '-l', log, '-p', String(CTRL)])
      // Right after the parent exited: the daemon must already listen and hold the queue.
      const listening = bed.tgt.exec('ss', ['-Hltnp', `( sport = :${CTRL} )`]).stdout
      const queue = nfqueueLines(bed.tgt).find((f) => f[0] === 0)
      expect(r.code, r.stderr).to.equal(0)
      expect(r.stderr).to.equal('')
      const pid = Number.parseInt(readText(pidfile).trim(), 10)
      expect(pid, 'the pidfile holds a pid').to.be.greaterThan(0)
      expect(pid, 'the daemon, not the parent').to.not.equal(r.pid)
      expect(readText(`/proc/${pid}/cmdline`).split('\0')).to.include.members(['-d'])
      expect(listening, `port ${CTRL} listens right when the parent exits, in the daemon`).to.contain(`pid=${pid},`)
      expect(queue, 'queue 0 bound when the parent exits').to.not.equal(undefined)
      // a tcpcopy peer can use it
      const c = (await peer.request('connect', { host: ADDR.tgt, port: CTRL, version: 6 })).conn
      await addRoute(c, 40021)
      await sleep(50)
      await spoofSyn(40021)
      const got = await collectRecords(peer, c, 64, { until: (rs) => rs.some((x) => x.dport === 40021), ms: 3000 })
      expect(got.records.filter((x) => x.dport === 40021)).to.have.length(1)
      process.kill(pid, 'SIGTERM')
      const gone = await waitFor(() => {
        const stat = readText(`/proc/${pid}/stat`)
        return stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')')))
      }, 8000)
      expect(gone, 'the daemon exits on SIGTERM').to.equal(true)
      expect(existsSync(pidfile), 'pidfile removed').to.equal(false)
      const text = readText(log)
      expect(text).to.match(/\[notice\] SIGTERM received, stopping\n/)
      expect(text.trimEnd().split('\n').pop()).to.match(/\[notice\] stopped$/)
      expect(nfqueueLines(bed.tgt).find((f) => f[0] === 0), 'queue 0 is free').to.equal(undefined)
    })
  })
})

/** Frames and records of a hex byte stream. */
function parse (hexText, recordSize) {
  const { frames, rest } = parseFrames(bytes(hexText), recordSize)
  return { frames, rest, records: frames.flatMap((f) => f.records.map((r) => ({ bytes: r, ...recordFields(r) }))) }
}

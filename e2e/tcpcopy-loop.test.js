// The full tcpcopy loop (issue 5) on the test bed of ARCHITECTURES.md §4, in
// both architectures: a real client in cli (curl, ab, wrk, redis-benchmark)
// talks to the real online servers in onl (HTTP on :80, redis on :6379); the
// real tcpcopy in onl copies the requests to the same servers in tgt; the
// real intercept (tgt with NFQUEUE rules, or ast on eth0 with tgt routing the
// -c pool there) hands the target's answers back to tcpcopy and keeps them
// from the client. Each test compares what the target's servers received with
// what the online servers received (HTTP request ids, redis command counts)
// and prints the counts and loss ratios. Helpers: lib/loop.js (FullLoop),
// lib/http-server.js.
import { expect } from 'chai'
import { existsSync, writeFileSync } from 'node:fs'
import { ADDR, ARCHITECTURES, FullLoop, TCPCOPY_MAIN, controlConnections, execIn, tcpcopyAvailable } from './lib/loop.js'
import { loud, missingTools } from './lib/preflight.js'
import { sleep, waitFor } from './lib/intercept.js'
import { encodePcapng, readPcapFile } from '../packages/pcap/dist/index.js'

/** The most a test accepts: requests (or commands) onl got and tgt did not, over onl's. */
const MAX_LOSS = 0.001
const REDIS_COMMANDS = ['set', 'get', 'incr', 'lpush']
/** The programs the suite runs (e2e/apt-packages.txt: curl, apache2-utils, wrk, redis-server, redis-tools, coreutils). */
const TOOLS = ['curl', 'ab', 'wrk', 'redis-server', 'redis-benchmark', 'redis-cli', 'timeout', 'iptables', 'ss']

const pct = (x) => `${(x * 100).toFixed(3)} %`
const say = (arch, what, text) => console.log(`      [${arch}] ${what}: ${text}`)
const countBy = (list, key) => {
  const m = new Map()
  for (const x of list) m.set(key(x), (m.get(key(x)) ?? 0) + 1)
  return m
}

describe('tcpcopy full loop: real clients, servers, tcpcopy and intercept (cli/onl/tgt/ast namespaces)', function () {
  // Each test takes a few seconds; the bound is for the settle waits of a failing run.
  this.timeout(60_000)

  before(function () {
    if (!tcpcopyAvailable()) {
      loud([`tcpcopy full loop SKIPPED: ${TCPCOPY_MAIN} does not exist yet`, '(build @tcpcopy/cli first: npm run build)'])
      this.skip()
    }
    const missing = missingTools(TOOLS)
    if (missing.length > 0) {
      throw new Error(`the full-loop suite needs ${missing.join(', ')}: apt-get install -y $(grep -v '^#' e2e/apt-packages.txt)`)
    }
  })

  for (const arch of ARCHITECTURES) {
    const title = arch === 'traditional'
      ? 'traditional: intercept in tgt (NFQUEUE on --sport 80/6379), tcpcopy in onl capturing with the raw socket, copies keep the client address 10.77.0.10'
      : 'advanced: intercept in ast (-i eth0, ip_forward=0), tgt routes 10.88.0.0/24 via ast, tcpcopy in onl with -i eth0 -c 10.88.0.x -s 10.77.0.40'

    describe(title, function () {
      let loop
      let startedAt
      /** Is a request in tgt's log from the address tcpcopy gives the copies? */
      const fromCopiedClient = (r) => arch === 'traditional' ? r.ip === ADDR.cli : r.ip.startsWith('10.88.0.')
      /**
       * Records a pcap in onl (no copy running) while `closeCount` requests without keep-alive
       * (ids `${prefix}a-…`) and `keepCount` on one keep-alive connection (`${prefix}b-…`) go to onl.
       */
      const recordLoad = async (prefix, closeCount, keepCount, file) => {
        const cap = await loop.capturePcap({ filter: `tcp port 80 and host ${ADDR.onl}`, ...(file === undefined ? {} : { file }) })
        const a = await loop.curl({ prefix: `${prefix}a`, count: closeCount, parallel: 2 })
        const b = await loop.curl({ prefix: `${prefix}b`, count: keepCount, keepAlive: true })
        await sleep(300)
        const recorded = await cap.stop()
        expect(a.byServer).to.deep.equal({ onl: closeCount, tgt: 0, other: 0 })
        expect(b.byServer).to.deep.equal({ onl: keepCount, tgt: 0, other: 0 })
        return recorded
      }

      before(async function () {
        this.timeout(40_000)
        startedAt = Date.now()
        loop = await FullLoop.create(arch)
        await loop.startServers({ http: true, redis: true })
        await loop.startIntercept()
        const tc = await loop.startTcpcopy()
        say(arch, 'tcpcopy', `node packages/cli/bin/tcpcopy.js ${tc.tcpcopyArgs.join(' ')}`)
        say(arch, 'intercept', `node packages/cli/bin/intercept.js ${loop.intercept.args.join(' ')}`)
      })

      afterEach(function () {
        if (this.currentTest?.state === 'failed' && loop !== undefined) console.log(loop.diagnostics())
      })

      after(async () => {
        await loop?.destroy()
        if (startedAt !== undefined) say(arch, 'duration', `${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
      })

      it('1. HTTP without keep-alive (curl with a unique id per request, Connection: close; ab -n 1000 -c 4): tgt gets every request onl got, the client gets only onl\'s answers', async () => {
        const leaks0 = loop.leaks()
        const seen0 = loop.responsesIntercepted()
        const ic0 = await loop.interceptStats()
        const prefix = `${arch}-close`

        const c = await loop.curl({ prefix, count: 300, parallel: 4 })
        expect(c.code, `curl: ${c.stderr}`).to.equal(0)
        expect(c.byServer, 'the answers the real client got (body names the server)').to.deep.equal({ onl: 300, tgt: 0, other: 0 })
        const ab = await loop.ab({ n: 1000, c: 4, path: `/ab-close-${arch}` })
        expect(ab.code, `ab: ${ab.stderr}${ab.stdout}`).to.equal(0)
        expect({ complete: ab.complete, failed: ab.failed, non2xx: ab.non2xx }, 'ab summary').to.deep.equal({ complete: 1000, failed: 0, non2xx: 0 })

        const cmp = await loop.settleHttp(`${prefix}-`)
        const cmpAb = await loop.settleHttp((r) => r.url === `/ab-close-${arch}`)
        say(arch, 'curl Connection: close', `${c.bodies.length} answers in ${c.ms} ms, all from onl; onl got ${cmp.onl}, tgt got ${cmp.tgt} (missing ${cmp.missing.length}, extra ${cmp.extra.length}, duplicated ${cmp.duplicates.length}) after ${cmp.waitedMs} ms: loss ${pct(cmp.loss)}`)
        say(arch, 'ab -n 1000 -c 4', `${ab.rps} req/s at the client; onl got ${cmpAb.onl}, tgt got ${cmpAb.tgt} after ${cmpAb.waitedMs} ms: loss ${pct(cmpAb.countLoss)}`)

        const leaks = loop.leaks()
        const seen = loop.responsesIntercepted() - seen0
        const ic = await loop.interceptStats()
        say(arch, 'isolation', `packets from tgt at cli: ${leaks.cli - leaks0.cli}, from tgt's app ports at onl: ${leaks.onl - leaks0.onl}; target answers at the interception point: ${seen}; intercept: captured ${ic.captured - ic0.captured}, forwarded ${ic.forwarded - ic0.forwarded}, dropped ${ic.dropped - ic0.dropped}`)

        expect(cmp.loss, `loss: ids onl got and tgt did not: ${cmp.missing.length} of ${cmp.onl}, first ${cmp.missing.slice(0, 20).join(' ')}`).to.be.at.most(MAX_LOSS)
        expect(cmp.duplicates, 'requests tgt got twice').to.deep.equal([])
        expect(cmp.extra, 'requests only tgt got').to.deep.equal([])
        expect(cmpAb.countLoss, `ab: onl ${cmpAb.onl}, tgt ${cmpAb.tgt}`).to.be.at.most(MAX_LOSS)
        expect(cmpAb.tgt, `ab: tgt got more than onl (${cmpAb.tgt} > ${cmpAb.onl})`).to.be.at.most(cmpAb.onl)
        const strangers = [...cmp.tgtRequests, ...cmpAb.tgtRequests].filter((r) => !fromCopiedClient(r)).map((r) => r.peer)
        expect(strangers.slice(0, 10), `tgt requests not from ${loop.copiedClientNet}`).to.deep.equal([])
        expect(leaks.cli - leaks0.cli, 'packets from tgt that reached cli').to.equal(0)
        expect(leaks.onl - leaks0.onl, 'packets from tgt\'s app ports that reached onl').to.equal(0)
        expect(seen, 'the target answered, and its answers reached the interception point').to.be.greaterThan(0)
        expect(ic.captured - ic0.captured, 'intercept captured the answers').to.be.greaterThan(0)
        expect(ic.forwarded - ic0.forwarded, 'intercept forwarded their headers to tcpcopy').to.be.greaterThan(0)
        if (arch === 'traditional') expect(ic.dropped - ic0.dropped, 'intercept dropped every answer it captured (NF_DROP)').to.equal(ic.captured - ic0.captured)

        // The cli counter does count: a connection from cli to a closed port of
        // tgt (not an application port, so nothing queues it) gets tgt's RST.
        const probe = await execIn(loop.bed.cli, 'curl', ['-sS', '--noproxy', '*', '-m', '3', `http://${ADDR.tgt}:9/`], { timeoutMs: 8000 })
        const counted = loop.leaks().cli - leaks.cli
        expect(counted, `cli's counter saw tgt's RST to a probe of port 9 (curl: ${probe.stderr.trim()})`).to.be.at.least(1)
      })

      it('2. HTTP with keep-alive (wrk -t1 -c4 -d3s, a unique id per request by Lua; ab -k -n 2000 -c 4): same requests on the same connections', async function () {
        this.timeout(120_000)
        const leaks0 = loop.leaks()
        const prefix = `${arch}-ka`
        const w = await loop.wrk({ prefix, threads: 1, connections: 4, seconds: 3 })
        expect(w.code, `wrk: ${w.stderr}${w.stdout}`).to.equal(0)
        expect(w.requests, `wrk output: ${w.stdout}`).to.be.greaterThan(0)
        expect(w.badBodies, 'wrk answers that are not onl\'s 200').to.equal(0)
        // wrk runs flat out (about 20000 req/s on 4 connections here); the copies replay each
        // connection one round trip at a time and catch up in 10-20 s. The wait ends 2 s after
        // the last new copy, so a lost request still ends it early; 60 s bounds a slow run.
        const cmp = await loop.settleHttp(`${prefix}-`, { maxMs: 60_000 })

        // Requests per connection: onl keys by cli's port; the copies keep the port (no -f / -n).
        const onlConn = countBy(cmp.onlRequests, (r) => r.port)
        const tgtConn = countBy(cmp.tgtRequests, (r) => r.port)
        const perConn = [...onlConn.entries()].map(([port, n]) => `${port}: ${n}/${tgtConn.get(port) ?? 0}`)
        const diff = [...new Set([...onlConn.keys(), ...tgtConn.keys()])].reduce((s, p) => s + Math.abs((onlConn.get(p) ?? 0) - (tgtConn.get(p) ?? 0)), 0)
        say(arch, 'wrk -t1 -c4 -d3s', `${w.requests} responses in ${w.seconds} s at the client (${Math.round(w.requests / w.seconds)} req/s, latency avg/stdev/max ${w.latency}), socket errors ${JSON.stringify(w.socketErrors)}; onl got ${cmp.onl}, tgt got ${cmp.tgt} (missing ${cmp.missing.length}, duplicated ${cmp.duplicates.length}) after ${cmp.waitedMs} ms: loss ${pct(cmp.loss)}`)
        say(arch, 'wrk per connection', `onl/tgt requests by client port: ${perConn.join(', ')}; tgt connections ${tgtConn.size}`)

        const ab = await loop.ab({ n: 2000, c: 4, keepAlive: true, path: `/ab-ka-${arch}` })
        expect(ab.code, `ab -k: ${ab.stderr}${ab.stdout}`).to.equal(0)
        expect({ complete: ab.complete, failed: ab.failed }).to.deep.equal({ complete: 2000, failed: 0 })
        const cmpAb = await loop.settleHttp((r) => r.url === `/ab-ka-${arch}`)
        const abOnlConn = countBy(cmpAb.onlRequests, (r) => r.port)
        const abTgtConn = countBy(cmpAb.tgtRequests, (r) => r.port)
        say(arch, 'ab -k -n 2000 -c 4', `${ab.rps} req/s, ${ab.keepAlive} keep-alive requests; onl got ${cmpAb.onl} on ${abOnlConn.size} connections, tgt ${cmpAb.tgt} on ${abTgtConn.size} after ${cmpAb.waitedMs} ms: loss ${pct(cmpAb.countLoss)}`)

        expect(cmp.loss, `loss: ids onl got and tgt did not: ${cmp.missing.length} of ${cmp.onl}, first ${cmp.missing.slice(0, 20).join(' ')}`).to.be.at.most(MAX_LOSS)
        expect(cmp.duplicates.slice(0, 20), 'requests tgt got twice').to.deep.equal([])
        expect(cmp.extra.slice(0, 20), 'requests only tgt got').to.deep.equal([])
        expect(tgtConn.size, 'tgt got the requests on as many connections as onl').to.equal(onlConn.size)
        expect(diff / Math.max(1, cmp.onl), `requests per connection differ by ${diff} in all (onl/tgt: ${perConn.join(', ')})`).to.be.at.most(MAX_LOSS)
        expect(Math.max(...cmp.tgtRequests.map((r) => r.n)), 'tgt got many requests on one connection (keep-alive kept)').to.be.greaterThan(1)
        expect(cmpAb.countLoss, `ab -k: onl ${cmpAb.onl}, tgt ${cmpAb.tgt}`).to.be.at.most(MAX_LOSS)
        expect(cmpAb.tgt).to.be.at.most(cmpAb.onl)
        expect(abTgtConn.size, 'ab -k: as many connections at tgt as at onl').to.equal(abOnlConn.size)
        const leaks = loop.leaks()
        expect(leaks.total - leaks0.total, `packets from tgt at cli/onl: ${JSON.stringify(leaks)}`).to.equal(0)
      })

      for (const pipeline of [1, 4]) {
        it(`3${pipeline === 1 ? 'a' : 'b'}. redis: redis-benchmark -t set,get,incr,lpush -n 2000 -c 4 -r 1000${pipeline > 1 ? ` -P ${pipeline}` : ''}: tgt executes the same commands (INFO commandstats) and holds the same data`, async () => {
          const base = loop.redisSnapshot()
          const rb = await loop.redisBenchmark({ tests: REDIS_COMMANDS.join(','), n: 2000, c: 4, keyspace: 1000, pipeline })
          expect(rb.code, `redis-benchmark: ${rb.stderr}${rb.stdout}`).to.equal(0)
          expect(Object.keys(rb.rps), `redis-benchmark --csv: ${rb.stdout}`).to.have.length(4)
          const s = await loop.settleRedis(REDIS_COMMANDS, base, { maxMs: 20_000 })
          const dOnl = loop.redisData('onl')
          const dTgt = loop.redisData('tgt')
          const lost = REDIS_COMMANDS.reduce((n, c) => n + Math.max(0, s.onl[c] - s.tgt[c]), 0)
          const total = REDIS_COMMANDS.reduce((n, c) => n + s.onl[c], 0)
          say(arch, `redis-benchmark${pipeline > 1 ? ` -P ${pipeline}` : ''}`, `${JSON.stringify(rb.rps)} req/s at the client in ${rb.ms} ms; calls onl ${JSON.stringify(s.onl)}, tgt ${JSON.stringify(s.tgt)} after ${s.waitedMs} ms: loss ${pct(total === 0 ? 0 : lost / total)}; data onl ${JSON.stringify(dOnl)}, tgt ${JSON.stringify(dTgt)}`)
          for (const c of REDIS_COMMANDS) expect(s.onl[c], `onl ${c} calls`).to.equal(2000)
          expect(lost / total, `commands onl ran and tgt did not: onl ${JSON.stringify(s.onl)}, tgt ${JSON.stringify(s.tgt)}`).to.be.at.most(MAX_LOSS)
          expect(s.tgt, 'tgt ran each command exactly as often as onl').to.deep.equal(s.onl)
          expect(dTgt, 'tgt holds the same data (DBSIZE, LLEN mylist, sum of the counter:* keys)').to.deep.equal(dOnl)
        })
      }

      it('4. clients that close right after their last answer, by FIN or by RST (a client exiting with unread data), while the target is still busy with an earlier request (tgt answers /slow 300 ms late): tgt gets every request', async () => {
        const lines = []
        for (const close of ['fin', 'rst']) {
          for (const paths of [['/slow', '/r'], ['/slow', '/r', '/r', '/r']]) {
            const prefix = `${arch}-${close}${paths.length}`
            const r = await loop.closingClients({ prefix, connections: 10, paths, close })
            expect(r.code, `client: ${r.stderr}`).to.equal(0)
            const got = r.connections.map((c) => c.error ?? c.bodies.length)
            expect(got, 'every connection got all its answers').to.deep.equal(Array(10).fill(paths.length))
            expect(r.connections.flatMap((c) => c.bodies).filter((b) => !b.startsWith('onl ')), 'answers not from onl').to.deep.equal([])
            const cmp = await loop.settleHttp(`${prefix}-`, { maxMs: 5000, quietMs: 1500 })
            lines.push(`${close.toUpperCase()} after ${paths.join(',')}: onl ${cmp.onl}, tgt ${cmp.tgt}, missing ${cmp.missing.length} [${cmp.missing.slice(0, 10).join(' ')}] after ${cmp.waitedMs} ms`)
            expect(cmp.missing, `${close} after ${paths.join(',')}: requests tgt did not get (onl ${cmp.onl}, tgt ${cmp.tgt})`).to.deep.equal([])
            expect(cmp.duplicates).to.deep.equal([])
            expect(cmp.tgt).to.equal(10 * paths.length)
          }
        }
        say(arch, 'closing clients (10 connections each)', lines.join('; '))
      })

      it('5. after the loads tcpcopy holds no session (none stuck), keeps both control connections, and its counters agree', async () => {
        const tc = loop.tcpcopy
        const idle = await waitFor(async () => (await tc.stats())['sessions.active'] === 0, 15_000, 500)
        const s = await tc.stats()
        say(arch, 'tcpcopy statistics', s.line.slice(s.line.indexOf('sessions:')))
        expect(tc.running, 'tcpcopy still runs').to.equal(true)
        expect(idle, `sessions still active 15 s after the last load: ${s['sessions.active']}`).to.not.equal(false)
        expect(s['sessions.active']).to.equal(0)
        expect(s['intercepts.connections'], 'control connections up').to.equal(2)
        expect(s['intercepts.reconnects'], 'control connections never dropped').to.equal(0)
        expect(s['sessions.established'], 'every session completed its handshake with the target').to.equal(s['sessions.created'])
        expect(s['sessions.obsolete'], 'no session ended by a timeout').to.equal(0)
        expect(s['sent.dropped'], 'raw sends the kernel refused').to.equal(0)
      })

      it('6. offline: a pcap recorded in onl during a bounded load (no copy running), replayed with tcpcopy -i file.pcap: tgt gets the recorded requests and tcpcopy exits 0', async () => {
        const stopped = await loop.stopTcpcopy('SIGTERM')
        say(arch, 'live tcpcopy stopped', `SIGTERM -> exit ${JSON.stringify(stopped)}`)
        expect(stopped.code, 'live tcpcopy exits 0 on SIGTERM').to.equal(0)

        const prefix = `${arch}-off`
        const recorded = await recordLoad(prefix, 150, 50)
        const before = loop.compareHttp(prefix)
        expect(before.onl, 'onl got the 200 requests').to.equal(200)
        expect(before.tgt, 'nothing was copied live (tcpcopy was stopped)').to.equal(0)

        const started = Date.now()
        const off = await loop.startTcpcopy({ input: recorded.file })
        const cmp = await loop.settleHttp(prefix, { maxMs: 20_000 })
        const exit = await off.wait(15_000)
        const exitMs = exit === undefined ? undefined : Date.now() - started
        say(arch, 'offline replay', `pcap ${recorded.packets} packets (capture overruns ${recorded.overruns}); tgt got ${cmp.tgt} of ${cmp.onl} recorded requests after ${cmp.waitedMs} ms (missing ${cmp.missing.length}): loss ${pct(cmp.loss)}; tcpcopy ${exit === undefined ? 'still running 15 s after the target got them' : `exited ${JSON.stringify(exit)} ${exitMs} ms after start`}`)
        const last = off.lastStats()
        if (last !== undefined) say(arch, 'offline tcpcopy statistics', last.line.slice(last.line.indexOf('sessions:')))

        expect(recorded.overruns, 'the capture lost nothing').to.equal(0)
        expect(cmp.loss, `loss: recorded ids tgt did not get: ${cmp.missing.length} of ${cmp.onl}, first ${cmp.missing.slice(0, 20).join(' ')}`).to.be.at.most(MAX_LOSS)
        expect(cmp.duplicates, 'requests tgt got twice').to.deep.equal([])
        const ka = cmp.tgtRequests.filter((r) => r.id.startsWith(`${prefix}b-`))
        expect(new Set(ka.map((r) => r.port)).size, 'the 50 keep-alive requests came on one connection').to.equal(1)
        expect(ka.map((r) => r.n).sort((x, y) => x - y), 'in one connection, as requests 1..50').to.deep.equal(Array.from({ length: 50 }, (_, i) => i + 1))
        expect(cmp.tgtRequests.filter((r) => !fromCopiedClient(r)).map((r) => r.peer), `tgt requests not from ${loop.copiedClientNet}`).to.deep.equal([])
        expect(exit, 'tcpcopy -i file.pcap exits by itself once the replayed sessions are done (within 15 s)').to.not.equal(undefined)
        expect(exit, 'exit status of the offline replay').to.deep.include({ code: 0, signal: null })
      })

      it('6b. offline pcapng: a recording converted to pcapng (the pcap package\'s writer), replayed with tcpcopy -i file.pcapng: tgt gets the recorded requests and tcpcopy exits 0', async () => {
        const prefix = `${arch}-ng`
        const recorded = await recordLoad(prefix, 60, 20, loop.path('capture-ng.pcap'))
        expect(loop.compareHttp(prefix).tgt, 'nothing was copied live').to.equal(0)

        // classic pcap -> pcapng (ns timestamps, if_tsresol 9)
        const packets = []
        for await (const p of readPcapFile(recorded.file)) packets.push(p)
        expect(packets.length, 'packets recorded').to.equal(recorded.packets)
        const ng = loop.path('capture.pcapng')
        writeFileSync(ng, encodePcapng(packets, { linkType: packets[0].linkType, nanosecond: true }))

        const off = await loop.startTcpcopy({ input: ng })
        const cmp = await loop.settleHttp(prefix, { maxMs: 20_000 })
        const exit = await off.wait(15_000)
        say(arch, 'offline pcapng replay', `pcapng of ${packets.length} packets; tgt got ${cmp.tgt} of ${cmp.onl} recorded requests after ${cmp.waitedMs} ms (missing ${cmp.missing.length}): loss ${pct(cmp.loss)}; tcpcopy ${exit === undefined ? 'still running' : `exited ${JSON.stringify(exit)}`}`)
        expect(off.log(), 'tcpcopy read the pcapng file').to.contain(`offline replay of ${ng}`)
        expect(recorded.overruns, 'the capture lost nothing').to.equal(0)
        expect(cmp.onl).to.equal(80)
        expect(cmp.loss, `loss: recorded ids tgt did not get: ${cmp.missing.length} of ${cmp.onl}, first ${cmp.missing.slice(0, 20).join(' ')}`).to.be.at.most(MAX_LOSS)
        expect(cmp.duplicates, 'requests tgt got twice').to.deep.equal([])
        expect(cmp.tgtRequests.filter((r) => !fromCopiedClient(r)).map((r) => r.peer), `tgt requests not from ${loop.copiedClientNet}`).to.deep.equal([])
        expect(exit, 'exit status of the pcapng replay').to.deep.include({ code: 0, signal: null })
      })

      it('7. tcpcopy -d --protocol 0.9 -C 1 -P: the parent exits 0, the daemon named by the pidfile copies with the 0.9 dialect (hello 5, 80-byte records), SIGTERM stops it and removes the pidfile', async () => {
        const d = await loop.startTcpcopyDaemon({ extra: ['--protocol', '0.9', '-C', '1'] })
        expect(d.parent.code, `parent: ${d.parent.stderr}`).to.equal(0)
        expect(d.pid, 'the pidfile names a process').to.be.a('number')
        expect(d.running(), `pid ${d.pid} is a running tcpcopy`).to.equal(true)
        const up = await waitFor(() => controlConnections(loop.bed.onl, d.pid) === 1, 5000, 50)
        expect(up, 'the daemon holds one control connection (-C 1)').to.equal(true)
        const prefix = `${arch}-d09`
        const c = await loop.curl({ prefix, count: 200, parallel: 4 })
        expect(c.byServer).to.deep.equal({ onl: 200, tgt: 0, other: 0 })
        const cmp = await loop.settleHttp(`${prefix}-`)
        const stopMs = await d.stop('SIGTERM')
        say(arch, 'tcpcopy -d --protocol 0.9 -C 1', `parent exit ${d.parent.code} after ${d.parent.ms} ms, daemon pid ${d.pid}; onl got ${cmp.onl}, tgt ${cmp.tgt} (missing ${cmp.missing.length}) after ${cmp.waitedMs} ms: loss ${pct(cmp.loss)}; SIGTERM stopped it in ${stopMs} ms`)
        expect(cmp.loss, `loss: ${cmp.missing.length} of ${cmp.onl} missing, first ${cmp.missing.slice(0, 20).join(' ')}`).to.be.at.most(MAX_LOSS)
        expect(cmp.duplicates).to.deep.equal([])
        expect(loop.intercept.log(), 'intercept saw a 0.9 hello').to.match(/hello version 5, tcpcopy 0\.9, 80-byte records/)
        expect(stopMs, 'the daemon exits on SIGTERM').to.be.a('number')
        expect(d.running()).to.equal(false)
        expect(existsSync(d.pidFile), 'pidfile removed at exit').to.equal(false)
      })

      it('8. intercept restarts: tcpcopy without -L exits when no intercept is left; tcpcopy -L keeps running, reconnects, and copies again', async () => {
        // Without -L.
        const plain = await loop.startTcpcopy()
        await loop.stopIntercept()
        const gone = await plain.wait(10_000)
        const why = plain.log().split('\n').find((l) => /\[error\]/.test(l)) ?? ''
        say(arch, 'intercept stopped, tcpcopy without -L', `${gone === undefined ? 'still running after 10 s' : `exited ${JSON.stringify(gone)}`}: ${why.replace(/^.*\[error\] /, '')}`)
        expect(gone, 'tcpcopy without -L exits once every intercept is gone').to.not.equal(undefined)
        expect(why, 'it says why').to.match(/no intercept is left/)
        loop.tcpcopy = undefined

        // With -L.
        await loop.startIntercept()
        const lonely = await loop.startTcpcopy({ extra: ['-L'] })
        await loop.stopIntercept()
        await sleep(300)
        const gap = await loop.curl({ prefix: `${arch}-gap`, count: 20, parallel: 2 })
        expect(gap.byServer, 'the online service is not affected').to.deep.equal({ onl: 20, tgt: 0, other: 0 })
        expect(lonely.running, 'tcpcopy -L runs on without intercept').to.equal(true)
        const restarted = Date.now()
        await loop.startIntercept()
        const back = await waitFor(() => lonely.controlConnections() === 2, 20_000, 100)
        const reconnectMs = Date.now() - restarted
        expect(back, 'tcpcopy -L reconnected both control connections within 20 s').to.equal(true)
        const prefix = `${arch}-lonely`
        const c = await loop.curl({ prefix, count: 100, parallel: 2 })
        expect(c.byServer).to.deep.equal({ onl: 100, tgt: 0, other: 0 })
        const cmp = await loop.settleHttp(`${prefix}-`)
        const gapCopied = loop.compareHttp(`${arch}-gap-`).tgt
        say(arch, 'tcpcopy -L', `reconnected ${reconnectMs} ms after intercept came back; requests during the gap copied: ${gapCopied} of 20 (not expected: no intercept); after: onl ${cmp.onl}, tgt ${cmp.tgt} (missing ${cmp.missing.length}): loss ${pct(cmp.loss)}`)
        expect(cmp.loss, `loss after the reconnect: ${cmp.missing.length} of ${cmp.onl} missing, first ${cmp.missing.slice(0, 20).join(' ')}`).to.be.at.most(MAX_LOSS)
        expect(cmp.duplicates).to.deep.equal([])
        const stopped = await loop.stopTcpcopy()
        expect(stopped.code, 'tcpcopy -L exits 0 on SIGTERM').to.equal(0)
      })

      it('9. tcpcopy -o eth0 (pcap-send: Ethernet frames on onl\'s eth0, MACs in -x): tgt gets every request onl got', async () => {
        const tc = await loop.startTcpcopy({ output: 'eth0' })
        expect(tc.tcpcopyArgs.join(' '), '-x carries the MACs').to.match(/@[0-9a-f:]{17}-10\.77\.0\.30:80@[0-9a-f:]{17}/)
        expect(tc.log(), 'tcpcopy sends Ethernet frames').to.contain('sending with Ethernet frames on eth0')
        const prefix = `${arch}-o`
        const leaksBefore = loop.leaks().total // the counters add up over the suite (intercept restarts in 8)
        const c = await loop.curl({ prefix, count: 150, parallel: 3 })
        expect(c.byServer).to.deep.equal({ onl: 150, tgt: 0, other: 0 })
        const cmp = await loop.settleHttp(`${prefix}-`)
        const s = await tc.stats()
        say(arch, 'tcpcopy -o eth0', `onl got ${cmp.onl}, tgt ${cmp.tgt} (missing ${cmp.missing.length}) after ${cmp.waitedMs} ms: loss ${pct(cmp.loss)}; sent ${s['sent.sent']} packets, dropped ${s['sent.dropped']}`)
        expect(cmp.loss, `loss: ${cmp.missing.length} of ${cmp.onl} missing, first ${cmp.missing.slice(0, 20).join(' ')}`).to.be.at.most(MAX_LOSS)
        expect(cmp.duplicates).to.deep.equal([])
        expect(cmp.tgtRequests.filter((r) => !fromCopiedClient(r)).map((r) => r.peer), `tgt requests not from ${loop.copiedClientNet}`).to.deep.equal([])
        expect(s['sent.dropped'], 'frames the kernel refused').to.equal(0)
        expect(loop.leaks().total - leaksBefore, 'no answer of tgt reached cli or onl during this load').to.equal(0)
        const stopped = await loop.stopTcpcopy()
        expect(stopped.code, 'tcpcopy -o exits 0 on SIGTERM').to.equal(0)
      })
    })
  }
})

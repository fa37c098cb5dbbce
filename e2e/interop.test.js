// Wire compatibility with the original C TCPCopy 1.x (and 0.9), for real:
// our tcpcopy against the original intercept, and the original tcpcopy
// against our intercept, in both architectures of ARCHITECTURES.md §4 (the
// FullLoop test bed of lib/loop.js: cli → onl → tgt, intercept in tgt or in
// ast); and our tcpcopy --protocol 0.9 against the original 0.9 intercept
// (traditional). Each pair must copy every request (HTTP with and without
// keep-alive, a unique id per request), keep every target answer from the
// client, and leave no compatibility complaint in either program's log.
//
// The original programs are not packaged by Debian and cannot be built from
// what CI can fetch, so this suite runs only when their binaries are given:
//   TCX_ORIG_TCPCOPY=<tcpcopy 1.x, default build (raw socket capture)>
//   TCX_ORIG_INTERCEPT_NFQ=<intercept 1.x built with --traditional (NFQUEUE)>
//   TCX_ORIG_INTERCEPT_PCAP=<intercept 1.x built with --pcap-capture>
//   node node_modules/mocha/bin/mocha.js --timeout 60000 e2e/interop.test.js
// and, for the 0.9 protocol (traditional architecture only: the 0.9
// intercept reads an NFQUEUE, or ip_queue before that):
//   TCX_ORIG09_INTERCEPT=<intercept 0.9.x built with --enable-nfqueue (80-byte records, combined)>
// Without them every case is skipped, and says so.
import { expect } from 'chai'
import { existsSync } from 'node:fs'
import { CTRL_PORT, FullLoop, HTTP_PORT, NsProc, controlConnections, tcpcopyAvailable } from './lib/loop.js'
import { readText, sleep } from './lib/intercept.js'
import { missingTools } from './lib/preflight.js'

const ORIG = {
  tcpcopy: process.env.TCX_ORIG_TCPCOPY,
  traditional: process.env.TCX_ORIG_INTERCEPT_NFQ,
  advanced: process.env.TCX_ORIG_INTERCEPT_PCAP,
  intercept09: process.env.TCX_ORIG09_INTERCEPT
}
const usable = (p) => p !== undefined && p !== '' && existsSync(p)
const MAX_LOSS = 0.001

const say = (what, text) => console.log(`      ${what}: ${text}`)

/**
 * Starts the original intercept of `loop`'s architecture (traditional: with
 * the NFQUEUE rule in tgt first): the 1.x binary of that architecture, or
 * `binary` (the 0.9 one, which has the same -p and -l and reads queue 0).
 */
async function startOriginalIntercept (loop, binary = ORIG[loop.architecture]) {
  const ns = loop.bed[loop.interceptHost]
  const log = loop.path('orig-intercept.log')
  let args
  if (loop.architecture === 'traditional') {
    ns.exec('iptables', ['-I', 'OUTPUT', '-p', 'tcp', '--sport', String(HTTP_PORT), '-j', 'NFQUEUE', '--queue-num', '0', '-m', 'comment', '--comment', `tcx-nfqueue-${HTTP_PORT}`])
    args = ['-p', String(CTRL_PORT), '-l', log]
  } else {
    args = ['-i', 'eth0', '-F', `tcp and src port ${HTTP_PORT}`, '-p', String(CTRL_PORT), '-l', log]
  }
  const p = new NsProc(ns, binary, args, { name: 'original intercept', stdin: 'ignore' })
  loop.procs.push(p)
  await p.until(() => (ns.exec('ss', ['-Hltnp', `( sport = :${CTRL_PORT} )`], { allowFail: true }).stdout ?? '').includes(`pid=${p.pid},`), 10_000, `listening on ${CTRL_PORT}`)
  return { proc: p, args, log: () => readText(log) }
}

/** Starts the original tcpcopy in onl (raw socket capture) with the loop's -x, -s and -c. */
async function startOriginalTcpcopy (loop) {
  const log = loop.path('orig-tcpcopy.log')
  const args = ['-x', loop.mappings(), '-s', loop.interceptIp, ...(loop.clients !== undefined ? ['-c', loop.clients] : []), '-l', log]
  const p = new NsProc(loop.bed.onl, ORIG.tcpcopy, args, { name: 'original tcpcopy', stdin: 'ignore' })
  loop.procs.push(p)
  await p.until(() => controlConnections(loop.bed.onl, p.pid) >= 2, 10_000, 'its 2 control connections to intercept')
  return { proc: p, args, log: () => readText(log) }
}

/** Plain loads from cli, each request with a unique id: without and with keep-alive. */
async function copiesEveryRequest (loop, prefix) {
  const leaks0 = loop.leaks()
  const close = await loop.curl({ prefix: `${prefix}c`, count: 200, parallel: 4 })
  const keep = await loop.curl({ prefix: `${prefix}k`, count: 300, parallel: 4, keepAlive: true })
  expect(close.byServer, 'every answer the client got came from onl').to.deep.equal({ onl: 200, tgt: 0, other: 0 })
  expect(keep.byServer, 'every answer the client got came from onl').to.deep.equal({ onl: 300, tgt: 0, other: 0 })
  const c = await loop.settleHttp(`${prefix}c-`)
  const k = await loop.settleHttp(`${prefix}k-`)
  const leaks = loop.leaks().total - leaks0.total
  say('copied', `without keep-alive onl ${c.onl}, tgt ${c.tgt}, missing ${c.missing.length} (${(c.loss * 100).toFixed(3)} %); ` +
    `keep-alive onl ${k.onl}, tgt ${k.tgt}, missing ${k.missing.length} (${(k.loss * 100).toFixed(3)} %); target answers at cli/onl: ${leaks}`)
  expect(c.onl).to.equal(200)
  expect(k.onl).to.equal(300)
  expect(c.loss, `missing ${c.missing.slice(0, 10).join(' ')}`).to.be.at.most(MAX_LOSS)
  expect(k.loss, `missing ${k.missing.slice(0, 10).join(' ')}`).to.be.at.most(MAX_LOSS)
  expect(c.duplicates).to.deep.equal([])
  expect(k.duplicates).to.deep.equal([])
  expect(leaks, 'target answers that reached cli or onl').to.equal(0)
}

/**
 * Lines of the original intercept's log that say the peer does not speak its
 * protocol, other than a version warning about hello version 6. Early 1.0
 * snapshots of intercept still carry the 0.9 version number (5, or 0x8005 in
 * advanced builds) with the 1.x 64-byte records, and warn "not compatible,
 * client:1536" (6, printed in network byte order) for the original tcpcopy
 * 1.x as much as for ours; that warning changes nothing. Any other
 * complaint ("client too old": no hello; another client version) counts.
 */
const interceptComplaints = (log) => log.split('\n')
  .filter((l) => /not compatible|client too old/.test(l))
  .filter((l) => !/not compatible,client:1536,/.test(l))
/**
 * Lines of the original 0.9 intercept's log that say our tcpcopy does not
 * speak its protocol: "too old tcpcopy" (a hello carrying a client address, as
 * before 0.9), "not compatible" (another hello version than its own), "unknown
 * msg type" (a message it cannot read, or records misaligned after a bad size).
 */
const intercept09Complaints = (log) => log.split('\n').filter((l) => /too old tcpcopy|not compatible|unknown msg type|payload len wrong/.test(l))
/** Lines of the original tcpcopy's log that say the control channel broke. */
const tcpcopyComplaints = (log) => log.split('\n').filter((l) => /Recv socket|send version error|active num is zero/.test(l))

describe('interoperability with the original C TCPCopy 1.x and 0.9 (TCX_ORIG_* binaries)', function () {
  this.timeout(60_000)

  before(function () {
    const missing = missingTools(['curl', 'iptables', 'ss'])
    if (missing.length > 0) throw new Error(`the interop suite needs ${missing.join(', ')}: apt-get install -y $(grep -v '^#' e2e/apt-packages.txt)`)
    if (!tcpcopyAvailable()) throw new Error('the interop suite needs the built programs: npm run build')
  })

  for (const arch of ['traditional', 'advanced']) {
    const origIntercept = ORIG[arch]
    const envName = arch === 'traditional' ? 'TCX_ORIG_INTERCEPT_NFQ' : 'TCX_ORIG_INTERCEPT_PCAP'

    describe(`${arch}: our tcpcopy → the original intercept 1.x`, function () {
      let loop
      let orig
      before(async function () {
        if (!usable(origIntercept)) return this.skip()
        this.timeout(40_000)
        loop = await FullLoop.create(arch, { ports: [HTTP_PORT] })
        await loop.startServers({ http: true })
        orig = await startOriginalIntercept(loop)
        await loop.startTcpcopy()
        say('intercept', `${origIntercept} ${orig.args.join(' ')} (in ${loop.interceptHost})`)
        say('tcpcopy', `ours, ${loop.tcpcopy.tcpcopyArgs.join(' ')}`)
      })
      afterEach(function () {
        if (this.currentTest?.state === 'failed' && loop !== undefined) console.log(`${loop.diagnostics()}\n--- original intercept log\n${orig?.log().split('\n').slice(-30).join('\n')}`)
      })
      after(async () => { await loop?.destroy() })

      it(usable(origIntercept) ? 'copies every request, with and without keep-alive, and no answer reaches the client'
        : `SKIPPED: set ${envName} to the original intercept 1.x binary to run this case`, async function () {
        await copiesEveryRequest(loop, `${arch[0]}o`)
      })

      it(usable(origIntercept) ? 'the original intercept takes our hello as the original tcpcopy 1.x\'s (version 6; no "client too old"); our tcpcopy reads its 64-byte records without a protocol error'
        : `SKIPPED: set ${envName} to the original intercept 1.x binary to run this case`, async function () {
        expect(interceptComplaints(orig.log())).to.deep.equal([])
        const st = await loop.tcpcopy.stats()
        say('tcpcopy statistics', st.line.replace(/^.*\[notice\] /, ''))
        expect(loop.tcpcopy.log()).to.not.match(/ProtocolError|TC_ERR_PROTOCOL/)
        expect(loop.tcpcopy.controlConnections(), 'both control connections still up').to.equal(2)
        expect(orig.proc.running, 'the original intercept still runs').to.equal(true)
      })
    })

    describe(`${arch}: the original tcpcopy 1.x → our intercept`, function () {
      let loop
      let orig
      before(async function () {
        if (!usable(ORIG.tcpcopy)) return this.skip()
        this.timeout(40_000)
        // The original tcpcopy captures with a raw socket (all inbound TCP): no -i.
        loop = await FullLoop.create(arch, { ports: [HTTP_PORT], capture: 'raw' })
        await loop.startServers({ http: true })
        await loop.startIntercept()
        orig = await startOriginalTcpcopy(loop)
        say('tcpcopy', `${ORIG.tcpcopy} ${orig.args.join(' ')} (in onl)`)
        say('intercept', `ours, ${loop.intercept.args.join(' ')} (in ${loop.interceptHost})`)
      })
      afterEach(function () {
        if (this.currentTest?.state === 'failed' && loop !== undefined) console.log(`${loop.diagnostics()}\n--- original tcpcopy log\n${orig?.log().split('\n').slice(-30).join('\n')}`)
      })
      after(async () => { await loop?.destroy() })

      it(usable(ORIG.tcpcopy) ? 'copies every request, with and without keep-alive, and no answer reaches the client'
        : 'SKIPPED: set TCX_ORIG_TCPCOPY to the original tcpcopy 1.x binary (default build) to run this case', async function () {
        await copiesEveryRequest(loop, `${arch[0]}t`)
      })

      it(usable(ORIG.tcpcopy) ? 'our intercept takes the original\'s hello as version 6 (64-byte records) and its CLIENT_ADDs as routes; the original reports no control-channel error'
        : 'SKIPPED: set TCX_ORIG_TCPCOPY to the original tcpcopy 1.x binary (default build) to run this case', async function () {
        const log = loop.intercept.log()
        expect(log).to.match(/hello version 6\b/)
        expect(log).to.not.match(/unknown hello version|protocol error|garbage/i)
        const st = await loop.interceptStats()
        say('intercept statistics', st.line.replace(/^.*\[notice\] /, ''))
        expect(st.line).to.match(/connections 2\b/)
        await sleep(200)
        expect(tcpcopyComplaints(orig.log())).to.deep.equal([])
        expect(orig.proc.running, 'the original tcpcopy still runs').to.equal(true)
        expect(controlConnections(loop.bed.onl, orig.proc.pid)).to.equal(2)
      })
    })
  }

  describe('traditional: our tcpcopy --protocol 0.9 → the original intercept 0.9', function () {
    const SKIP = 'SKIPPED: set TCX_ORIG09_INTERCEPT to the original intercept 0.9.x binary (NFQUEUE build) to run this case'
    let loop
    let orig
    before(async function () {
      if (!usable(ORIG.intercept09)) return this.skip()
      this.timeout(40_000)
      loop = await FullLoop.create('traditional', { ports: [HTTP_PORT] })
      await loop.startServers({ http: true })
      orig = await startOriginalIntercept(loop, ORIG.intercept09)
      await loop.startTcpcopy({ extra: ['--protocol', '0.9'] })
      say('intercept', `${ORIG.intercept09} ${orig.args.join(' ')} (in ${loop.interceptHost})`)
      say('tcpcopy', `ours, ${loop.tcpcopy.tcpcopyArgs.join(' ')}`)
    })
    afterEach(function () {
      if (this.currentTest?.state === 'failed' && loop !== undefined) console.log(`${loop.diagnostics()}\n--- original intercept log\n${orig?.log().split('\n').slice(-30).join('\n')}`)
    })
    after(async () => { await loop?.destroy() })

    it(usable(ORIG.intercept09) ? 'copies every request, with and without keep-alive, and no answer reaches the client' : SKIP, async function () {
      await copiesEveryRequest(loop, 't9')
    })

    it(usable(ORIG.intercept09) ? 'the original 0.9 intercept takes our hello as its own version (no "not compatible", no "too old tcpcopy"); our tcpcopy reads its combined 80-byte records without a protocol error'
      : SKIP, async function () {
      const log = orig.log()
      expect(log, 'the 0.9 intercept accepted our control connections').to.match(/it adds fd:\d+/)
      expect(intercept09Complaints(log)).to.deep.equal([])
      const st = await loop.tcpcopy.stats()
      say('tcpcopy statistics', st.line.replace(/^.*\[notice\] /, ''))
      expect(loop.tcpcopy.log()).to.not.match(/ProtocolError|TC_ERR_PROTO/)
      expect(loop.tcpcopy.controlConnections(), 'both control connections still up').to.equal(2)
      expect(orig.proc.running, 'the original 0.9 intercept still runs').to.equal(true)
    })
  })
})

// Traditional mode end to end: a real core, the mock NFQUEUE kernel queue and
// real loopback tcpcopy peers.
import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import { NFQUEUE_COPY_RANGE } from './intercept.js'
import {
  LONG_TCP_SYN_ACK, NF_ACCEPT, NF_DROP, ROUTE, PLAIN_ACK, V3_RECORD_09, V3_RECORD_1X, V3_SYN_ACK, V4_DATA, V4_FRAME,
  concat, configStep, hex, netlinkMessages, nfqPacket, nlAnswer, toHex, verdictsOf, withDestination, withSource
} from './test/fixtures.js'
import { startHarness, createHarness, type Harness } from './test/harness.js'
import { settle, waitFor, type Peer } from './test/peer.js'
import type { RecordFormat } from '@tcpcopy/protocol'

describe('intercept, traditional mode (NFQUEUE)', () => {
  let h: Harness | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
  })

  /** Injects packets as queued packets with ids from `firstId` and waits for their verdicts. */
  async function queue (harness: Harness, packets: Uint8Array[], firstId = 1): Promise<void> {
    const kq = harness.kq!
    const before = verdictsOf(kq.sent).length
    kq.inject(...packets.map((p, i) => nfqPacket(firstId + i, p)))
    await waitFor(() => verdictsOf(kq.sent).length >= before + packets.length, 'the verdicts')
  }

  async function routedPeer (harness: Harness, version = 6, format: RecordFormat = { dialect: '1.x', payload: false }, combined = true): Promise<Peer> {
    const peer = await harness.connect({ format, combined })
    peer.hello(version).clientAdd(ROUTE)
    await waitFor(() => harness.intercept.stats().clientAdds === 1, 'the CLIENT_ADD')
    return peer
  }

  it('binds the queue with a copy range for IP + TCP headers with options + 128 payload bytes, without fail-open', async () => {
    h = await startHarness({ options: { queueMaxlen: 4096, queueNum: 3 } })
    const config = h.kq!.sent.flatMap(netlinkMessages).filter((m) => m.type === 0x0302)
    expect(config.map(configStep)).to.deep.equal(['pf-unbind', 'pf-bind', 'bind', 'params', 'queue-maxlen'])
    expect(config.map((m) => m.queue)).to.deep.equal([0, 0, 3, 3, 3])
    const params = config[3]!.attrs
    expect(new DataView(params.buffer, params.byteOffset).getUint32(4, false)).to.equal(NFQUEUE_COPY_RANGE)
    expect(NFQUEUE_COPY_RANGE).to.equal(248)
    const maxlen = config[4]!.attrs
    expect(new DataView(maxlen.buffer, maxlen.byteOffset).getUint32(4, false)).to.equal(4096)
    expect(h.intercept.state).to.equal('running')
  })

  it('sends a captured SYN-ACK to the peer as a 64-byte record in a combined frame, byte-exact, and DROPs it', async () => {
    h = await startHarness()
    const peer = await routedPeer(h)
    await queue(h, [V3_SYN_ACK], 0x51)
    expect(verdictsOf(h.kq!.sent)).to.deep.equal([{ seq: verdictsOf(h.kq!.sent)[0]!.seq, queue: 0, verdict: NF_DROP, id: 0x51 }])
    h.timers.advance(2) // the push timer: a time-driven flush
    const bytes = await peer.waitBytes(66)
    expect(toHex(bytes)).to.equal(toHex(concat(hex`00 01`, V3_RECORD_1X)))
    const s = h.intercept.stats()
    expect(s.responses).to.deep.include({ captured: 1, forwarded: 1, dropped: 1, passed: 0 })
    expect(s.records.writes).to.equal(1)
  })

  it('sends two responses of one batch as the V4 combined frame of PROTOCOL.md §8', async () => {
    h = await startHarness()
    const peer = await routedPeer(h)
    await queue(h, [V3_SYN_ACK, V4_DATA])
    h.timers.advance(2)
    const bytes = await peer.waitBytes(V4_FRAME.length)
    expect(toHex(bytes)).to.equal(toHex(V4_FRAME))
    expect(verdictsOf(h.kq!.sent).map((v) => [v.id, v.verdict])).to.deep.equal([[1, NF_DROP], [2, NF_DROP]])
  })

  it('sends 80-byte records to a peer whose hello is version 5 (tcpcopy 0.9)', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const peer = await routedPeer(h, 5, { dialect: '0.9', payload: false })
    await queue(h, [V3_SYN_ACK])
    const [record] = await peer.waitRecords(1)
    expect(toHex(record!)).to.equal(toHex(V3_RECORD_09))
    expect(peer.bytes.length).to.equal(2 + 80)
  })

  it('treats the 0.9 advanced hello 0x8005 as 0.9 as well', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const peer = await routedPeer(h, 0x8005, { dialect: '0.9', payload: false })
    await queue(h, [V3_SYN_ACK])
    expect((await peer.waitRecords(1))[0]!.length).to.equal(80)
  })

  it('sends 192-byte records carrying the payload with --payload (1.x)', async () => {
    h = await startHarness({ options: { payload: true, batchSize: 1 } })
    const peer = await routedPeer(h, 6, { dialect: '1.x', payload: true })
    await queue(h, [V4_DATA])
    const [record] = await peer.waitRecords(1)
    expect(record!.length).to.equal(192)
    expect(toHex(record!.subarray(0, 57))).to.equal(toHex(V4_DATA))
    expect(record!.subarray(57).every((b) => b === 0)).to.equal(true)
  })

  it('sends 208-byte records carrying the payload with --payload to a 0.9 peer', async () => {
    h = await startHarness({ options: { payload: true, batchSize: 1 } })
    const peer = await routedPeer(h, 5, { dialect: '0.9', payload: true })
    await queue(h, [V4_DATA])
    const [record] = await peer.waitRecords(1)
    expect(record!.length).to.equal(208)
    expect(toHex(record!.subarray(0, 57))).to.equal(toHex(V4_DATA))
  })

  it('never puts more than 6 payload records in one combined frame', async () => {
    h = await startHarness({ options: { payload: true } })
    const peer = await routedPeer(h, 6, { dialect: '1.x', payload: true })
    await queue(h, Array.from({ length: 14 }, () => V4_DATA))
    h.timers.advance(2)
    await peer.waitRecords(14)
    expect(peer.decoder.frames).to.equal(3) // 6 + 6 + 2
    expect(h.intercept.stats().batchSize).to.be.at.most(6)
  })

  it('ACCEPTs a response to a passlist destination and sends no record for it', async () => {
    h = await startHarness({ options: { passlist: ['10.0.0.1'] } })
    const peer = await routedPeer(h)
    await queue(h, [V3_SYN_ACK], 7)
    expect(verdictsOf(h.kq!.sent).map((v) => [v.id, v.verdict])).to.deep.equal([[7, NF_ACCEPT]])
    h.timers.advance(10)
    await settle()
    expect(peer.chunks).to.have.length(0)
    expect(h.intercept.stats().responses).to.deep.include({ captured: 1, passed: 1, dropped: 0, forwarded: 0 })
  })

  it('DROPs a SYN-ACK that arrives before its CLIENT_ADD and delivers it once the route comes', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const peer = await h.connect()
    peer.hello(6)
    await queue(h, [V3_SYN_ACK], 9)
    expect(verdictsOf(h.kq!.sent).map((v) => [v.id, v.verdict])).to.deep.equal([[9, NF_DROP]])
    expect(h.intercept.stats().responses.delayed).to.equal(1)
    await settle()
    expect(peer.chunks).to.have.length(0)
    peer.clientAdd(ROUTE)
    const [record] = await peer.waitRecords(1)
    expect(toHex(record!)).to.equal(toHex(V3_RECORD_1X))
    expect(h.intercept.stats().delay.flushed).to.equal(1)
  })

  it('discards (and DROPs) a response that is neither routed nor SYN/RST', async () => {
    h = await startHarness()
    await queue(h, [PLAIN_ACK], 4)
    expect(verdictsOf(h.kq!.sent).map((v) => v.verdict)).to.deep.equal([NF_DROP])
    expect(h.intercept.stats().responses.unroutable).to.equal(1)
  })

  it('writes bare records, one per write, with --no-combined', async () => {
    h = await startHarness({ options: { combined: false } })
    const peer = await routedPeer(h, 6, { dialect: '1.x', payload: false }, false)
    await queue(h, [V3_SYN_ACK])
    const bytes = await peer.waitBytes(64)
    expect(toHex(bytes)).to.equal(toHex(V3_RECORD_1X))
    await queue(h, [V4_DATA], 2)
    await peer.waitRecords(2)
    expect(peer.bytes.length).to.equal(128)
  })

  it('counts malformed queued packets and still gives each one a DROP verdict', async () => {
    h = await startHarness()
    const garbage = hex`45 00 00 3c 00 00`
    h.kq!.inject(nfqPacket(21, garbage), nfqPacket(22, undefined), nfqPacket(23, hex`60 00 00 00 00 00 00 00`))
    await waitFor(() => verdictsOf(h!.kq!.sent).length === 3, 'three verdicts')
    expect(verdictsOf(h.kq!.sent).map((v) => [v.id, v.verdict])).to.deep.equal([[21, NF_DROP], [22, NF_DROP], [23, NF_DROP]])
    const s = h.intercept.stats()
    expect(s.responses.malformed).to.equal(3)
    expect(s.nfqueue?.verdicts).to.equal(3)
  })

  it('gives verdicts with increasing netlink sequence numbers', async () => {
    h = await startHarness()
    await queue(h, [V3_SYN_ACK, PLAIN_ACK], 1)
    await queue(h, [PLAIN_ACK], 3)
    const seqs = verdictsOf(h.kq!.sent).map((v) => v.seq)
    expect(seqs[1]).to.equal(seqs[0]! + 1)
    expect(seqs[2]).to.equal(seqs[1]! + 1)
  })

  it('handles a burst larger than one batch (MAX_BATCH packets) and answers every packet', async () => {
    h = await startHarness({ limits: { batchesPerTurn: 1 } })
    const n = 4096 + 100
    h.kq!.inject(...Array.from({ length: n }, (_, i) => nfqPacket(i + 1, PLAIN_ACK)))
    await waitFor(() => h!.intercept.stats().nfqueue!.verdicts === n, `${n} verdicts`, 5000)
    const ids = verdictsOf(h.kq!.sent).map((v) => v.id)
    expect(ids).to.have.length(n)
    expect(ids[n - 1]).to.equal(n)
  })

  it('logs a verdict the kernel refused and counts it', async () => {
    h = await startHarness()
    h.kq!.inject(nlAnswer(77, 2, 0x0301))
    await waitFor(() => h!.intercept.stats().nfqueue!.kernelErrors === 1, 'the kernel error')
    expect(h.log.find(/refused a verdict with errno 2/, 'warn')).to.have.length(1)
  })

  it('keeps verdicts whose send failed and sends them on a retry; only sent DROP verdicts count as dropped', async () => {
    h = await startHarness()
    h.kq!.io.failNextSend(105) // ENOBUFS
    h.kq!.io.failNextSend(105) // and the first retry fails too
    h.kq!.inject(nfqPacket(1, PLAIN_ACK), nfqPacket(2, withDestination(PLAIN_ACK, 0x0a000009)))
    await waitFor(() => h!.intercept.stats().nfqueue!.verdictsPending === 2, 'the failed send')
    expect(verdictsOf(h.kq!.sent)).to.deep.equal([])
    let s = h.intercept.stats()
    expect(s.responses).to.deep.include({ captured: 2, dropped: 0 }) // nothing was dropped yet: no verdict reached the kernel
    expect(h.log.find(/sending the verdicts of 2 packets failed: .*simulated errno 105.*kept and retried every 10 ms \(2 waiting\)/, 'error')).to.have.length(1)
    h.timers.advance(10) // first retry: fails
    expect(verdictsOf(h.kq!.sent)).to.deep.equal([])
    h.timers.advance(10) // second retry: sent
    expect(verdictsOf(h.kq!.sent).map((v) => [v.id, v.verdict])).to.deep.equal([[1, NF_DROP], [2, NF_DROP]])
    s = h.intercept.stats()
    expect(s.nfqueue).to.deep.include({ verdicts: 2, verdictsRetried: 2, verdictsPending: 0, verdictsLost: 0 })
    expect(s.responses.dropped).to.equal(2)
    expect(h.log.find(/2 verdicts whose send had failed went out on a retry \(0 still waiting/, 'notice')).to.have.length(1)
    h.timers.advance(100)
    expect(verdictsOf(h.kq!.sent)).to.have.length(2) // the retry timer stopped: nothing sent twice
  })

  it('retries the waiting verdicts first when the next packets arrive, and keeps the passlist ACCEPT on the retry', async () => {
    h = await startHarness({ options: { passlist: ['10.0.0.1'] } })
    h.kq!.io.failNextSend(11)
    h.kq!.inject(nfqPacket(7, V3_SYN_ACK))
    await waitFor(() => h!.intercept.stats().nfqueue!.verdictsPending === 1, 'the failed send')
    await queue(h, [PLAIN_ACK], 8) // the next readiness sends the waiting verdict, then its own
    expect(verdictsOf(h.kq!.sent).map((v) => [v.id, v.verdict])).to.deep.equal([[7, NF_ACCEPT], [8, NF_ACCEPT]])
    expect(h.intercept.stats().responses).to.deep.include({ passed: 2, dropped: 0 })
  })

  it('gives up the oldest waiting verdicts beyond the bound, counts them lost and says what happens to their packets', async () => {
    h = await startHarness({ limits: { maxPendingVerdicts: 2 } })
    h.kq!.io.failNextSend(105)
    h.kq!.inject(nfqPacket(1, PLAIN_ACK), nfqPacket(2, PLAIN_ACK), nfqPacket(3, PLAIN_ACK))
    await waitFor(() => h!.intercept.stats().nfqueue!.verdictsLost === 1, 'the given-up verdict')
    expect(h.log.find(/more than 2 verdicts wait for a retry; the 1 oldest were given up: their packets stay in the kernel queue/, 'error')).to.have.length(1)
    h.timers.advance(10)
    expect(verdictsOf(h.kq!.sent).map((v) => v.id)).to.deep.equal([2, 3])
    expect(h.intercept.stats().nfqueue).to.deep.include({ verdicts: 2, verdictsLost: 1, verdictsPending: 0 })
    expect(h.intercept.statsLine()).to.match(/verdicts lost 1; 3 verdicts could not be sent at once since the last report: raise net\.core\.wmem_default/)
  })

  it('counts a waiting verdict as lost at stop, with a line saying the kernel drops the packet', async () => {
    const harness = await startHarness()
    harness.kq!.io.failNextSend(105)
    harness.kq!.io.failNextSend(105) // the last try at stop fails too
    harness.kq!.inject(nfqPacket(1, PLAIN_ACK))
    await waitFor(() => harness.intercept.stats().nfqueue!.verdictsPending === 1, 'the failed send')
    await harness.close()
    expect(harness.intercept.stats().nfqueue).to.deep.include({ verdictsPending: 0, verdictsLost: 1 })
    expect(harness.log.find(/1 verdicts still could not be sent at stop; the kernel drops those packets when the queue is unbound/, 'warn')).to.have.length(1)
    expect(harness.timers.active).to.equal(0)
  })

  for (const version of [3, 4, 0x8003, 0x8004]) {
    const name = version > 0x8000 ? `0x${version.toString(16)}` : String(version)
    it(`sends 80-byte records to a peer whose hello is ${name} (tcpcopy 0.9.2 – 0.9.7) and logs which release it is`, async () => {
      h = await startHarness({ options: { batchSize: 1 } })
      const peer = await routedPeer(h, version, { dialect: '0.9', payload: false })
      await queue(h, [V3_SYN_ACK])
      const [record] = await peer.waitRecords(1)
      expect(toHex(record!)).to.equal(toHex(V3_RECORD_09))
      expect(peer.bytes.length).to.equal(2 + 80)
      const release = version > 0x8000 ? 'tcpcopy 0\\.9\\.2 – 0\\.9\\.7 built with --enable-advanced' : 'tcpcopy 0\\.9\\.2 – 0\\.9\\.7'
      expect(h.log.find(new RegExp(`hello version ${name}, tcpcopy 0\\.9, 80-byte records \\(${release}; ` +
        'it reads up to 20 records per combined frame, intercept sends at most 16\\)'), 'notice')).to.have.length(1)
      expect(h.log.find(/hello announced version/)).to.have.length(0)
    })
  }

  it('counts a TCP header longer than a 1.x record holds, cuts it at 44 bytes and notes it; a 0.9 record holds it whole', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const v1 = await routedPeer(h)
    await queue(h, [LONG_TCP_SYN_ACK, LONG_TCP_SYN_ACK])
    h.timers.advance(2) // the second record waits for the push timer
    const records = await v1.waitRecords(2)
    expect(toHex(records[0]!)).to.equal(toHex(LONG_TCP_SYN_ACK.subarray(0, 64))) // IP 20 + TCP 44, doff still says 15
    const s = h.intercept.stats()
    expect(s.records.tcpHeaderCut).to.equal(2)
    expect(h.log.find(/a response's TCP header has 60 bytes, a 1\.x record holds 44: its last 16 option bytes were cut/, 'notice')).to.have.length(1) // rate-limited
    expect(h.intercept.statsLine()).to.match(/tcp headers cut 2/)
    const v09 = await h.connect({ format: { dialect: '0.9', payload: false } })
    v09.hello(5).clientAdd(ROUTE)
    await waitFor(() => h!.intercept.stats().clientAdds === 2, 'the second CLIENT_ADD')
    await queue(h, [LONG_TCP_SYN_ACK], 10)
    const [rec09] = await v09.waitRecords(1)
    expect(toHex(rec09!)).to.equal(toHex(LONG_TCP_SYN_ACK)) // 80 bytes: all of it
    expect(h.intercept.stats().records.tcpHeaderCut).to.equal(2)
  })

  it('--dnat: routes a response from the target\'s real address to the session tcpcopy registered with the public one', async () => {
    const REAL_TARGET = 0xac100009 // 172.16.0.9, behind DNAT
    const fromReal = withSource(V3_SYN_ACK, REAL_TARGET)
    h = await startHarness({ options: { dnat: true, batchSize: 1 } })
    const peer = await routedPeer(h) // CLIENT_ADD names the public target 10.0.1.2:8080
    await queue(h, [fromReal])
    const [record] = await peer.waitRecords(1)
    expect(toHex(record!)).to.equal(toHex(concat(fromReal, new Uint8Array(4))))
    expect(h.intercept.stats().responses).to.deep.include({ forwarded: 1, delayed: 0 })
    await h.close()
    // without --dnat the same response has no route: the SYN-ACK waits in the delay table
    h = await startHarness({ options: { batchSize: 1 } })
    const other = await routedPeer(h)
    await queue(h, [fromReal])
    await settle()
    expect(other.records).to.have.length(0)
    expect(h.intercept.stats().responses).to.deep.include({ forwarded: 0, delayed: 1 })
  })

  describe('queue config errors', () => {
    it('rejects start() with the IoError code when the kernel answers the BIND with EBUSY', async () => {
      const harness = createHarness({ answer: (step) => step === 'bind' ? 16 : 0 })
      let error: unknown
      await harness.intercept.start().catch((err: unknown) => { error = err })
      expect(isTcpcopyError(error, 'TC_ERR_NFQ_BUSY')).to.equal(true)
      expect((error as { errno: number }).errno).to.equal(16)
      expect(harness.intercept.state).to.equal('stopped')
      expect(harness.kq!.io.closed).to.equal(true)
      expect(harness.timers.active).to.equal(0)
      expect(harness.log.find(/^start failed: nfqueue queue 0 is already bound by another process/, 'error')).to.have.length(1)
      await harness.intercept.stop() // harmless
    })

    it('rejects start() with TC_ERR_NFQ_PERMISSION when the kernel answers EPERM', async () => {
      const harness = createHarness({ answer: () => 1 })
      let error: unknown
      await harness.intercept.start().catch((err: unknown) => { error = err })
      expect(isTcpcopyError(error, 'TC_ERR_NFQ_PERMISSION')).to.equal(true)
    })

    it('only warns when the kernel refuses the queue length (-q), as the original does', async () => {
      h = await startHarness({ options: { queueMaxlen: 100000 }, answer: (step) => step === 'queue-maxlen' ? 22 : 0 })
      expect(h.intercept.state).to.equal('running')
      expect(h.log.find(/refused -q 100000/, 'warn')).to.have.length(1)
    })

    it('rejects start() with TC_ERR_NFQ_TIMEOUT when the kernel never answers', async () => {
      const harness = createHarness({ noAnswer: true, limits: { configAckTimeoutMs: 30 } })
      let error: unknown
      await harness.intercept.start().catch((err: unknown) => { error = err })
      expect(isTcpcopyError(error, 'TC_ERR_NFQ_TIMEOUT')).to.equal(true)
      expect(harness.intercept.state).to.equal('stopped')
    })
  })
})

// Traditional mode end to end: a real core, the mock NFQUEUE kernel queue and
// real loopback tcpcopy peers.
import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import { NFQUEUE_COPY_RANGE } from './intercept.js'
import {
  NF_ACCEPT, NF_DROP, ROUTE, PLAIN_ACK, V3_RECORD_09, V3_RECORD_1X, V3_SYN_ACK, V4_DATA, V4_FRAME,
  concat, configStep, hex, netlinkMessages, nfqPacket, nlAnswer, toHex, verdictsOf
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
    h = await startHarness({ flags: { queueMaxlen: '4096', queueNum: '3' } })
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
    h = await startHarness({ flags: { batchSize: '1' } })
    const peer = await routedPeer(h, 5, { dialect: '0.9', payload: false })
    await queue(h, [V3_SYN_ACK])
    const [record] = await peer.waitRecords(1)
    expect(toHex(record!)).to.equal(toHex(V3_RECORD_09))
    expect(peer.bytes.length).to.equal(2 + 80)
  })

  it('treats the 0.9 advanced hello 0x8005 as 0.9 as well', async () => {
    h = await startHarness({ flags: { batchSize: '1' } })
    const peer = await routedPeer(h, 0x8005, { dialect: '0.9', payload: false })
    await queue(h, [V3_SYN_ACK])
    expect((await peer.waitRecords(1))[0]!.length).to.equal(80)
  })

  it('sends 192-byte records carrying the payload with --payload (1.x)', async () => {
    h = await startHarness({ flags: { payload: true, batchSize: '1' } })
    const peer = await routedPeer(h, 6, { dialect: '1.x', payload: true })
    await queue(h, [V4_DATA])
    const [record] = await peer.waitRecords(1)
    expect(record!.length).to.equal(192)
    expect(toHex(record!.subarray(0, 57))).to.equal(toHex(V4_DATA))
    expect(record!.subarray(57).every((b) => b === 0)).to.equal(true)
  })

  it('sends 208-byte records carrying the payload with --payload to a 0.9 peer', async () => {
    h = await startHarness({ flags: { payload: true, batchSize: '1' } })
    const peer = await routedPeer(h, 5, { dialect: '0.9', payload: true })
    await queue(h, [V4_DATA])
    const [record] = await peer.waitRecords(1)
    expect(record!.length).to.equal(208)
    expect(toHex(record!.subarray(0, 57))).to.equal(toHex(V4_DATA))
  })

  it('never puts more than 6 payload records in one combined frame', async () => {
    h = await startHarness({ flags: { payload: true } })
    const peer = await routedPeer(h, 6, { dialect: '1.x', payload: true })
    await queue(h, Array.from({ length: 14 }, () => V4_DATA))
    h.timers.advance(2)
    await peer.waitRecords(14)
    expect(peer.decoder.frames).to.equal(3) // 6 + 6 + 2
    expect(h.intercept.stats().batchSize).to.be.at.most(6)
  })

  it('ACCEPTs a response to a passlist destination and sends no record for it', async () => {
    h = await startHarness({ flags: { passlist: '10.0.0.1' } })
    const peer = await routedPeer(h)
    await queue(h, [V3_SYN_ACK], 7)
    expect(verdictsOf(h.kq!.sent).map((v) => [v.id, v.verdict])).to.deep.equal([[7, NF_ACCEPT]])
    h.timers.advance(10)
    await settle()
    expect(peer.chunks).to.have.length(0)
    expect(h.intercept.stats().responses).to.deep.include({ captured: 1, passed: 1, dropped: 0, forwarded: 0 })
  })

  it('DROPs a SYN-ACK that arrives before its CLIENT_ADD and delivers it once the route comes', async () => {
    h = await startHarness({ flags: { batchSize: '1' } })
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
    h = await startHarness({ flags: { combined: false } })
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

  it('counts verdicts it could not send and logs them', async () => {
    h = await startHarness()
    h.kq!.io.failNextSend(105)
    h.kq!.io.failNextSend(105) // no retry helps against a hard error
    h.kq!.inject(nfqPacket(1, PLAIN_ACK))
    await waitFor(() => h!.intercept.stats().nfqueue!.verdictsLost === 1, 'the lost verdict')
    expect(h.log.find(/could not be sent/, 'error')).to.have.length(1)
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
      h = await startHarness({ flags: { queueMaxlen: '100000' }, answer: (step) => step === 'queue-maxlen' ? 22 : 0 })
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

// Advanced mode: passive link-layer capture (a MockPacketIo fed Ethernet
// frames), no verdicts.
import { expect } from 'chai'
import { isTcpcopyError, type PacketIoOptions } from '@tcpcopy/interface'
import { LinkType } from '@tcpcopy/core'
import { MockPacketIo, createMockKernelQueue } from '@tcpcopy/io-mock'
import { FRAMES_OFF, DESC_OFF, TX_DESC_OFF } from '@tcpcopy/wasm'
import { PACKET_SNAP, coreRegions, createIntercept, createInterceptCore } from './intercept.js'
import { ROUTE, V3_RECORD_1X, V3_SYN_ACK, V4_DATA, V4_FRAME, ethernet, hex, toHex } from './test/fixtures.js'
import { ADVANCED, FakeTimers, MemoryLogger, makeOptions, startHarness, type Harness } from './test/harness.js'
import { Peer, waitFor } from './test/peer.js'


describe('intercept, advanced mode (link-layer capture)', () => {
  let h: Harness | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
  })

  async function routedPeer (harness: Harness): Promise<Peer> {
    const peer = await harness.connect()
    peer.hello(6).clientAdd(ROUTE)
    await waitFor(() => harness.intercept.stats().clientAdds === 1, 'the CLIENT_ADD')
    return peer
  }

  it('sends records for captured Ethernet frames and sends nothing on the capture socket', async () => {
    h = await startHarness({ options: ADVANCED })
    expect(h.config.mode).to.equal('advanced')
    const peer = await routedPeer(h)
    h.io!.deliver(ethernet(V3_SYN_ACK))
    h.io!.deliver(ethernet(V4_DATA))
    await waitFor(() => h!.intercept.stats().responses.captured === 2, 'the capture')
    h.timers.advance(2)
    expect(toHex(await peer.waitBytes(V4_FRAME.length))).to.equal(toHex(V4_FRAME))
    expect(h.io!.stats().sent).to.equal(0)
    const s = h.intercept.stats()
    expect(s.responses).to.deep.include({ captured: 2, forwarded: 2, dropped: 0, passed: 0 })
    expect(s.nfqueue).to.equal(undefined)
  })

  it('uses the link type given in the deps (raw IP frames)', async () => {
    h = await startHarness({ options: { ...ADVANCED, batchSize: 1 }, deps: { linkType: LinkType.Raw } })
    const peer = await routedPeer(h)
    h.io!.deliver(V3_SYN_ACK)
    const [record] = await peer.waitRecords(1)
    expect(toHex(record!)).to.equal(toHex(V3_RECORD_1X))
  })

  it('captures on several PacketIos (one per -i device), each with its own link type', async () => {
    const config = makeOptions({ ...ADVANCED, batchSize: 1 })
    const core = createInterceptCore(config)
    const eth = new MockPacketIo({ regions: coreRegions(core), snap: PACKET_SNAP, name: 'eth0' })
    const tun = Object.assign(new MockPacketIo({ regions: coreRegions(core), snap: PACKET_SNAP, name: 'tun0' }), { linkType: LinkType.Raw })
    const timers = new FakeTimers()
    const intercept = createIntercept(config, { core, capture: [eth, tun], log: new MemoryLogger(), clock: timers.clock, timers })
    const { port } = await intercept.start()
    const peer = await Peer.connect({ port })
    try {
      peer.hello(6).clientAdd(ROUTE)
      await waitFor(() => intercept.stats().clientAdds === 1, 'the CLIENT_ADD')
      eth.deliver(ethernet(V3_SYN_ACK))
      tun.deliver(V3_SYN_ACK)
      await waitFor(() => intercept.stats().capture.received === 2, 'both captures')
      timers.advance(2)
      const records = await peer.waitRecords(2)
      expect(records.map(toHex)).to.deep.equal([toHex(V3_RECORD_1X), toHex(V3_RECORD_1X)])
    } finally {
      peer.destroy()
      await intercept.stop()
    }
    expect([eth.closed, tun.closed]).to.deep.equal([true, true])
  })

  it('counts malformed and non-TCP frames without crashing', async () => {
    h = await startHarness({ options: ADVANCED })
    h.io!.deliver(hex`02 00 00 00 00 01 02 00`)
    h.io!.deliver(ethernet(hex`45 00 00 1c 00 00 40 00 40 11 00 00 0a 00 01 02 0a 00 00 01 00 35 00 35 00 08 00 00  // UDP`))
    await waitFor(() => h!.intercept.stats().responses.captured === 2, 'the capture')
    const s = h.intercept.stats()
    expect(s.responses.malformed).to.equal(1)
    expect(s.responses.notTcp).to.equal(1)
    expect(h.intercept.statsLine()).to.match(/malformed 2.*capture overruns 0/)
  })

  it('names the capture path in the start-up line: the TPACKET_V3 ring by default, recvmmsg with --no-capture-ring', async () => {
    h = await startHarness({ options: ADVANCED })
    expect(h.log.find(/^listening for tcpcopy on .*; advanced mode \(passive capture through a TPACKET_V3 ring\)/, 'notice')).to.have.length(1)
    await h.close()
    h = await startHarness({ options: { ...ADVANCED, captureRing: false } })
    expect(h.log.find(/^listening for tcpcopy on .*; advanced mode \(passive capture with recvmmsg from the socket buffer, --no-capture-ring\)/, 'notice')).to.have.length(1)
    expect(h.log.find(/TPACKET_V3/)).to.have.length(0)
  })

  it('takes an absent captureRing as the default, the ring', async () => {
    h = await startHarness({ options: { ...ADVANCED, captureRing: undefined } })
    expect(h.config.captureRing).to.equal(undefined)
    expect(h.intercept.stats().captureRing).to.equal(true)
    h.io!.overrun(2)
    expect(h.intercept.statsLine()).to.match(/the kernel dropped 2 packets since the last report: the capture ring \(TPACKET_V3/)
  })

  it('with the ring (the default), the drop hint says the ring is full and how to get more room: --no-capture-ring, -F or less load', async () => {
    h = await startHarness({ options: ADVANCED })
    expect(h.intercept.stats().captureRing).to.equal(true)
    h.io!.overrun(3)
    const line = h.intercept.statsLine()
    expect(line).to.match(/the kernel dropped 3 packets since the last report: the capture ring \(TPACKET_V3, 16 MiB per socket, a fixed size\) filled/)
    expect(line).to.match(/run with --no-capture-ring to receive into a 32 MiB socket buffer instead.*narrow -F, or reduce the load on this host/)
    expect(line).to.not.match(/rmem_max/)
    h.timers.advance(1000)
    expect(h.log.find(/the capture socket is losing packets: 3 .*run with --no-capture-ring/, 'warn')).to.have.length(1)
  })

  it('with --no-capture-ring, hints at net.core.rmem_max when the packet socket reports overruns', async () => {
    h = await startHarness({ options: { ...ADVANCED, captureRing: false } })
    h.intercept.statsLine()
    h.io!.overrun(5)
    expect(h.intercept.statsLine()).to.match(/capture overruns 5; the kernel dropped 5 packets since the last report: raise net\.core\.rmem_max/)
    expect(h.intercept.statsLine()).to.not.match(/the kernel dropped/)
  })

  it('warns once a second at most when the capture socket loses packets', async () => {
    h = await startHarness({ options: { ...ADVANCED, captureRing: false } })
    h.io!.overrun(4)
    h.timers.advance(1000)
    h.io!.overrun(1)
    h.timers.advance(1000)
    h.timers.advance(1000)
    const lines = h.log.find(/the capture socket is losing packets/, 'warn').map((l) => l.message)
    expect(lines).to.have.length(2)
    expect(lines[0]).to.match(/4 receive-buffer overruns in the last second \(4 in all\); raise net\.core\.rmem_max/)
    expect(lines[1]).to.match(/1 receive-buffer overruns in the last second \(5 in all\)/)
  })

  it('creates the core from the config and opens the capture through a factory', async () => {
    const config = makeOptions({ ...ADVANCED, batchSize: 1 })
    let seen: PacketIoOptions | undefined
    let io: MockPacketIo | undefined
    const timers = new FakeTimers()
    const intercept = createIntercept(config, {
      capture: (options) => {
        seen = options
        io = new MockPacketIo({ ...options, kind: 'packet' })
        return io
      },
      log: new MemoryLogger(),
      clock: timers.clock,
      timers
    })
    expect(seen).to.equal(undefined) // nothing opens before start()
    const { port } = await intercept.start()
    expect(seen?.snap).to.equal(PACKET_SNAP)
    expect(seen?.regions).to.deep.include({ rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, txDescOff: TX_DESC_OFF })
    expect(seen?.regions.memory).to.equal(intercept.core.raw.memory)
    const peer = await Peer.connect({ port })
    try {
      peer.hello(6).clientAdd(ROUTE)
      await waitFor(() => intercept.stats().clientAdds === 1, 'the CLIENT_ADD')
      io!.deliver(ethernet(V3_SYN_ACK))
      await peer.waitRecords(1)
    } finally {
      peer.destroy()
      await intercept.stop()
    }
    expect(io!.closed).to.equal(true)
  })

  it('refuses a capture of the wrong kind for the mode', () => {
    const config = makeOptions(ADVANCED)
    const core = createInterceptCore(makeOptions({ ...ADVANCED, hashSize: 64 }))
    const kq = createMockKernelQueue({ regions: coreRegions(core), snap: 1024 })
    let error: unknown
    try {
      createIntercept(config, { core, capture: kq.io })
    } catch (err) {
      error = err
    }
    expect(isTcpcopyError(error, 'TC_ERR_CONFIG_CAPTURE')).to.equal(true)
  })

  it('refuses a capture PacketIo without the core whose memory it uses', () => {
    const core = createInterceptCore(makeOptions({ ...ADVANCED, hashSize: 64 }))
    const io = new MockPacketIo({ regions: coreRegions(core), snap: PACKET_SNAP })
    let error: unknown
    try {
      createIntercept(makeOptions(ADVANCED), { capture: io })
    } catch (err) {
      error = err
    }
    expect(isTcpcopyError(error, 'TC_ERR_CONFIG_INTERCEPT')).to.equal(true)
  })
})

// start/stop, timers (route and delay expiry, push, stats), adaptive batch
// size and the stats line.
import { expect } from 'chai'
import * as net from 'node:net'
import { isTcpcopyError } from '@tcpcopy/interface'
import { ROUTE, V3_RECORD_1X, V3_SYN_ACK, concat, hex, nfqPacket, toHex, verdictsOf } from './test/fixtures.js'
import { createHarness, startHarness, type Harness } from './test/harness.js'
import { Peer, settle, waitFor } from './test/peer.js'
import type { InterceptStats, KernelQueueStats } from './stats.js'

describe('intercept lifecycle, timers and statistics', () => {
  let h: Harness | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
  })

  async function queue (harness: Harness, packets: Uint8Array[]): Promise<void> {
    const kq = harness.kq!
    const before = verdictsOf(kq.sent).length
    kq.inject(...packets.map((p, i) => nfqPacket(before + i + 1, p)))
    await waitFor(() => verdictsOf(kq.sent).length >= before + packets.length, 'the verdicts')
  }

  async function routedPeer (harness: Harness): Promise<Peer> {
    const peer = await harness.connect()
    peer.hello(6).clientAdd(ROUTE)
    await waitFor(() => harness.intercept.stats().clientAdds >= 1, 'the CLIENT_ADD')
    return peer
  }

  describe('start and stop', () => {
    it('stop() flushes buffered records, closes peers, capture, server and timers; a second stop() is harmless', async () => {
      h = await startHarness({ deps: { statsIntervalMs: 30000 } })
      const peer = await routedPeer(h)
      await queue(h, [V3_SYN_ACK]) // buffered: batch 16, same millisecond
      expect(h.timers.active).to.equal(3) // expiry, stats, push
      await settle()
      expect(peer.chunks).to.have.length(0)
      await h.intercept.stop()
      await peer.waitClosed()
      expect(toHex(peer.bytes)).to.equal(toHex(concat(hex`00 01`, V3_RECORD_1X)))
      expect(h.intercept.state).to.equal('stopped')
      expect(h.kq!.io.closed).to.equal(true)
      expect(h.timers.active).to.equal(0)
      expect(h.intercept.stats().routes).to.equal(0)
      let refused = false
      await Peer.connect({ port: h.port }).then((p) => { p.destroy() }, () => { refused = true })
      expect(refused).to.equal(true)
      await h.intercept.stop()
      expect(h.log.find(/^stopped; connections 0/, 'notice')).to.have.length(1)
    })

    it('stop() destroys a control connection that does not close within the grace time', async () => {
      h = await startHarness({ limits: { stopGraceMs: 50 } })
      const sock = net.connect({ port: h.port, host: '127.0.0.1', allowHalfOpen: true })
      await new Promise<void>((resolve) => sock.once('connect', () => { resolve() }))
      sock.on('end', () => {}) // half-open: never answers the FIN
      await waitFor(() => h!.intercept.stats().connections === 1, 'the accept')
      const closed = new Promise<void>((resolve) => sock.once('close', () => { resolve() }))
      await h.intercept.stop()
      sock.destroy()
      await closed
      expect(h.intercept.stats().connections).to.equal(0)
    })

    it('rejects a second start()', async () => {
      h = await startHarness()
      let error: unknown
      await h.intercept.start().catch((err: unknown) => { error = err })
      expect(isTcpcopyError(error, 'TC_ERR_INTERCEPT_STATE')).to.equal(true)
    })

    it('stop() before start() just marks the intercept stopped', async () => {
      const harness = createHarness()
      await harness.intercept.stop()
      expect(harness.intercept.state).to.equal('stopped')
      expect(harness.kq!.io.closed).to.equal(false) // never started: the capture was never taken over
    })

    it('stop() during start() cancels the queue binding and cleans up', async () => {
      const harness = createHarness({ noAnswer: true })
      const started = harness.intercept.start()
      await waitFor(() => harness.kq!.sent.length > 0, 'the config datagrams')
      await harness.intercept.stop()
      let error: unknown
      await started.catch((err: unknown) => { error = err })
      expect(isTcpcopyError(error, 'TC_ERR_CANCELED')).to.equal(true)
      expect(harness.intercept.state).to.equal('stopped')
      expect(harness.kq!.io.closed).to.equal(true)
    })

    it('rejects start() with TC_ERR_LISTEN when the port is taken', async () => {
      const blocker = net.createServer()
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => { resolve() }))
      const port = (blocker.address() as net.AddressInfo).port
      const harness = createHarness()
      ;(harness.config as { port: number }).port = port
      let error: unknown
      await harness.intercept.start().catch((err: unknown) => { error = err })
      blocker.close()
      expect(isTcpcopyError(error, 'TC_ERR_LISTEN')).to.equal(true)
      expect((error as Error).message).to.match(/EADDRINUSE.*another -p\/--port/)
      expect(harness.kq!.sent).to.have.length(0) // the capture was never configured
    })
  })

  describe('route timeout (-t)', () => {
    it('removes a route idle longer than -t and keeps one that responses keep using', async () => {
      h = await startHarness({ options: { timeout: 1 } })
      await routedPeer(h)
      h.timers.advance(800)
      await queue(h, [V3_SYN_ACK]) // a hit refreshes the route
      h.timers.advance(800) // 1600: idle for 800 ms only
      expect(h.intercept.stats().routes).to.equal(1)
      h.timers.advance(1500) // 3100: idle for 2300 ms
      const s = h.intercept.stats()
      expect(s.routes).to.equal(0)
      expect(s.router.expiries).to.equal(1)
    })

    it('expires delayed SYN/RST records whose route never came', async () => {
      h = await startHarness()
      await queue(h, [V3_SYN_ACK])
      expect(h.intercept.stats().delay.records).to.equal(1)
      h.timers.advance(31000)
      expect(h.intercept.stats().delay).to.deep.include({ records: 0, expired: 1 })
    })
  })

  describe('adaptive combined batch size', () => {
    it('grows under load (count-driven flushes) and shrinks when idle (time-driven flushes)', async () => {
      h = await startHarness({ options: { batchSize: 2 } })
      const peer = await routedPeer(h)
      expect(h.intercept.stats().batchSize).to.equal(2)
      await queue(h, Array.from({ length: 20 }, () => V3_SYN_ACK)) // one millisecond: 2+3+4+5+6
      await peer.waitRecords(20)
      expect(peer.decoder.frames).to.equal(5)
      expect(h.intercept.stats().batchSize).to.equal(7)
      for (let i = 0; i < 3; i++) {
        h.timers.advance(5)
        await queue(h, [V3_SYN_ACK]) // alone in its millisecond: sent at once
      }
      await peer.waitRecords(23)
      expect(peer.decoder.frames).to.equal(8)
      expect(h.intercept.stats().batchSize).to.equal(4)
    })

    it('never goes above 16 records per frame', async () => {
      h = await startHarness()
      const peer = await routedPeer(h)
      await queue(h, Array.from({ length: 40 }, () => V3_SYN_ACK))
      h.timers.advance(2)
      await peer.waitRecords(40)
      expect(peer.decoder.frames).to.equal(3) // 16 + 16 + 8
      expect(h.intercept.stats().batchSize).to.equal(15) // two count-driven (capped at 16), one time-driven
    })

    it('stops the push timer when nothing is buffered', async () => {
      h = await startHarness()
      const peer = await routedPeer(h)
      await queue(h, [V3_SYN_ACK])
      expect(h.timers.active).to.equal(2) // expiry + push
      h.timers.advance(4)
      await peer.waitRecords(1)
      expect(h.timers.active).to.equal(1)
    })
  })

  describe('statistics', () => {
    it('gives a stats line with connections, routes, responses, router and kernel queue drops', async () => {
      let kernel: KernelQueueStats = { queueDropped: 0, userDropped: 0 }
      h = await startHarness({ deps: { kernelQueueStats: () => kernel } })
      await routedPeer(h)
      await queue(h, [V3_SYN_ACK])
      const line = h.intercept.statsLine()
      expect(line).to.match(/^connections 1, routes 1 \(added 1\), responses captured 1 forwarded 0 passed 0 dropped 1 delayed 0 unroutable 0 malformed 0, /)
      expect(line).to.match(/router hits 1 misses 0 evictions 0 expiries 0, records lost 0, batch 16, kernel queue drops 0 \(queue full 0, socket full 0, overruns 0\)$/)
      kernel = { queueDropped: 7, userDropped: 3 }
      expect(h.intercept.statsLine()).to.match(/; the kernel dropped 10 packets since the last report: raise -q\/--queue-maxlen .* net\.core\.rmem_max/)
      expect(h.intercept.statsLine()).to.not.match(/since the last report/) // no new drops
    })

    it('names the tuning that fits what grew: queue length for a full queue, rmem for a full socket buffer', async () => {
      let kernel: KernelQueueStats = { queueDropped: 0, userDropped: 0 }
      h = await startHarness({ deps: { kernelQueueStats: () => kernel } })
      kernel = { queueDropped: 5, userDropped: 0 }
      const queueLine = h.intercept.statsLine()
      expect(queueLine).to.match(/the kernel dropped 5 packets since the last report: raise -q\/--queue-maxlen \(e\.g\. -q 4096; the kernel queue holds 1024 packets by default\)$/)
      kernel = { queueDropped: 5, userDropped: 4 }
      const socketLine = h.intercept.statsLine()
      expect(socketLine).to.match(/the kernel dropped 4 packets since the last report: raise net\.core\.rmem_max and net\.core\.rmem_default .*sysctl -w net\.core\.rmem_max=16777216 net\.core\.rmem_default=16777216/)
      expect(socketLine).to.not.match(/queue-maxlen/)
    })

    it('reports kernel queue drops as n/a without a kernelQueueStats source', async () => {
      h = await startHarness()
      expect(h.intercept.statsLine()).to.match(/kernel queue drops n\/a/)
    })

    it('reports stats every statsIntervalMs to onStats, and on demand (SIGUSR1)', async () => {
      const seen: Array<[InterceptStats, string]> = []
      h = await startHarness({ deps: { statsIntervalMs: 30000, onStats: (s, line) => { seen.push([s, line]) } } })
      h.timers.advance(29999)
      expect(seen).to.have.length(0)
      h.timers.advance(1)
      expect(seen).to.have.length(1)
      expect(seen[0]![0].mode).to.equal('traditional')
      expect(seen[0]![1]).to.match(/^connections 0, /)
      const line = h.intercept.reportStats()
      expect(seen).to.have.length(2)
      expect(seen[1]![1]).to.equal(line)
    })

    it('logs the stats line at NOTICE when no onStats is given', async () => {
      h = await startHarness({ deps: { statsIntervalMs: 1000 } })
      h.timers.advance(1000)
      expect(h.log.find(/^connections 0, routes 0/, 'notice')).to.have.length(1)
    })
  })
})

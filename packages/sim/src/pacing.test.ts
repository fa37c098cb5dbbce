import { expect } from 'chai'
import { createSimulation } from './simulation.js'
import { ACK_DELAY_MS } from '@tcpcopy/copy'
import { ACK, data, sentFor } from './test-helpers.js'

describe('pacing (TCPCOPY.md §5.2, §5.5)', () => {
  it('sends the requests of a keep-alive connection one round trip at a time, after each response has ended', () => {
    const sim = createSimulation({ seed: 21, target: { app: { delayMs: 15 } } })
    const c = sim.client({ requests: 4, rttMs: 4, thinkMs: 0 })
    sim.runToEnd()
    const reqs = data(sentFor(sim, c.port))
    const resps = sim.responses.filter((r) => r.dport === c.port && r.payload.length > 0)
    expect(reqs).to.have.length(4)
    expect(resps).to.have.length(4)
    for (let i = 1; i < 4; i++) {
      // request i leaves only after response i-1 arrived and a quiet period of about one rtt
      expect(reqs[i]!.time, `request ${i}`).to.be.greaterThan(resps[i - 1]!.time + 2)
      expect(reqs[i]!.ack).to.equal((resps[i - 1]!.seq + resps[i - 1]!.payload.length) >>> 0)
    }
    expect(sim.target.stats.connections).to.equal(1)
    expect(sim.copy.sessions()).to.have.length(0)
  })

  it('measures the session rtt from the captured SYN to the next client packet', () => {
    const sim = createSimulation({ seed: 22 })
    const c = sim.client({ requests: 2, rttMs: 7, close: 'none' })
    sim.run({ untilMs: 40 })
    expect(sim.copy.sessions().find((s) => s.clientPort === c.port)?.rtt).to.equal(7)
  })

  it('-R: uses the fixed rtt for every session', () => {
    const sim = createSimulation({ seed: 22, flags: { rtt: '25' } })
    const c = sim.client({ requests: 2, rttMs: 7, close: 'none' })
    sim.run({ untilMs: 40 })
    expect(sim.copy.sessions().find((s) => s.clientPort === c.port)?.rtt).to.equal(25)
  })

  it('-W: sends the next request without waiting for the response', () => {
    const sim = createSimulation({ seed: 21, flags: { wait: false }, target: { app: { delayMs: 15 } } })
    const c = sim.client({ requests: 3, rttMs: 4, thinkMs: 0 })
    sim.run({ untilMs: 60 })
    const reqs = data(sentFor(sim, c.port))
    const firstResponse = sim.responses.find((r) => r.dport === c.port && r.payload.length > 0)!
    expect(reqs).to.have.length(3)
    expect(reqs[2]!.time).to.be.lessThan(firstResponse.time)
    sim.runToEnd()
    expect(sim.report().requests).to.include({ expected: 3, delivered: 3, duplicated: 0 })
  })

  it('acknowledges response data with faked ACKs (window 65535, seq = the target\'s last ack)', () => {
    const sim = createSimulation({ seed: 23, target: { app: { responseBytes: 6000 } } })
    const c = sim.client({ requests: 1, close: 'none', responseBytes: 6000 })
    sim.run({ untilMs: 200 })
    const resp = sim.responses.filter((r) => r.dport === c.port && r.payload.length > 0)
    const end = Math.max(...resp.map((r) => (r.seq + r.payload.length) >>> 0))
    const acks = sentFor(sim, c.port).filter((p) => p.flags === ACK && p.payload.length === 0 && p.window === 65535)
    expect(acks.length).to.be.at.least(1)
    expect(acks.at(-1)!.ack).to.equal(end)
    expect(acks.at(-1)!.seq).to.equal(resp.at(-1)!.ack)
  })

  describe('rtt <= 1 (a LAN client): the faked ACK of a complete response waits like a delayed ACK', () => {
    /** The copy's pure ACKs (window 65535) for a port. */
    const fakedAcks = (sim: ReturnType<typeof createSimulation>, port: number): ReturnType<typeof sentFor> =>
      sentFor(sim, port).filter((p) => p.flags === ACK && p.payload.length === 0 && p.window === 65535)

    it('sends no faked ACK when the next request goes out first and carries the acknowledgement', () => {
      const sim = createSimulation({ seed: 24 })
      const c = sim.client({ requests: 3, rttMs: 1, thinkMs: 10, close: 'none' })
      sim.run({ untilMs: 300 })
      expect(sim.copy.sessions().find((s) => s.clientPort === c.port)?.rtt).to.be.at.most(1)
      const reqs = data(sentFor(sim, c.port))
      const resps = sim.responses.filter((r) => r.dport === c.port && r.payload.length > 0)
      expect(reqs).to.have.length(3)
      expect(resps).to.have.length(3)
      for (let i = 1; i < 3; i++) {
        expect(reqs[i]!.ack, `request ${i} acknowledges response ${i - 1}`).to.equal((resps[i - 1]!.seq + resps[i - 1]!.payload.length) >>> 0)
      }
      // the only faked ACK is the last response's, which no request followed; its timer
      // started at the first response the copy had not acknowledged, at most ACK_DELAY_MS before
      const acks = fakedAcks(sim, c.port)
      const last = resps[2]!
      expect(acks.map((a) => a.ack)).to.deep.equal([(last.seq + last.payload.length) >>> 0])
      expect(acks[0]!.time - last.time).to.be.within(2, ACK_DELAY_MS)
    })

    it('acknowledges a response of several segments within about a millisecond, as a delayed ACK acknowledges every second segment', () => {
      const sim = createSimulation({ seed: 25, target: { app: { responseBytes: 100000 } } })
      const c = sim.client({ requests: 1, rttMs: 1, close: 'none', responseBytes: 100000 })
      sim.run({ untilMs: 300 })
      const resps = sim.responses.filter((r) => r.dport === c.port && r.payload.length > 0)
      expect(resps.length).to.be.greaterThan(4)
      const acks = fakedAcks(sim, c.port)
      expect(acks.length).to.be.at.least(2)
      // 100000 bytes fill the 65535-byte window: the target waits for the ACK to send the rest
      expect(acks[0]!.time - resps[0]!.time).to.be.at.most(3)
      expect(resps.at(-1)!.time - resps[0]!.time).to.be.lessThan(ACK_DELAY_MS)
      const end = Math.max(...resps.map((r) => (r.seq + r.payload.length) >>> 0))
      expect(acks.at(-1)!.ack).to.equal(end)
      expect(sim.report().requests).to.include({ expected: 1, delivered: 1 })
    })
  })
})

import { expect } from 'chai'
import { createSimulation } from './simulation.js'
import { parseSegment } from './packet.js'
import { ACK, PSH, SYN, data, has, ipNum, sentFor } from './test-helpers.js'

describe('handshake and session start (TCPCOPY.md §5.1, §5.3)', () => {
  it('forwards the captured SYN with only the addresses rewritten and sends CLIENT_ADD for the session', () => {
    const sim = createSimulation({ seed: 11 })
    const c = sim.client({ ip: '10.0.0.1', port: 40000, requests: 1 })
    sim.run({ untilMs: 21 })
    const captured = parseSegment(c.packets[0]!.bytes)!
    const syn = sentFor(sim, 40000)[0]!
    expect(has(syn, SYN)).to.equal(true)
    expect(syn.src).to.equal(ipNum('10.0.0.1'))
    expect(syn.dst).to.equal(ipNum('10.0.1.2'))
    expect(syn.dport).to.equal(8080)
    expect(syn.seq).to.equal(captured.seq)
    expect(syn.window).to.equal(captured.window)
    expect(syn.ipId).to.equal(captured.ipId)
    expect([syn.mss, syn.wscale, syn.sackOk]).to.deep.equal([captured.mss, captured.wscale, captured.sackOk])
    expect(syn.ts?.ecr).to.equal(0)
    const adds = sim.intercepts[0]!.connections.flatMap((x) => x.messages)
    expect(adds).to.deep.equal([{ clientIp: ipNum('10.0.0.1'), clientPort: 40000, type: 1, targetIp: ipNum('10.0.1.2'), targetPort: 8080 }])
  })

  it("completes the handshake with the client's own third ACK, acknowledging the target's ISN", () => {
    const sim = createSimulation({ seed: 12 })
    const c = sim.client({ requests: 2 })
    sim.runToEnd()
    const synAck = sim.responses.find((r) => has(r, SYN | ACK))!
    const [syn, third, req] = sentFor(sim, c.port)
    expect(has(syn!, SYN)).to.equal(true)
    expect(third!.flags).to.equal(ACK)
    expect(third!.seq).to.equal((syn!.seq + 1) >>> 0)
    expect(third!.ack).to.equal((synAck.seq + 1) >>> 0)
    expect(third!.payload.length).to.equal(0)
    expect(req!.ack).to.equal((synAck.seq + 1) >>> 0)
    expect(sim.copy.stats().sessions.established).to.equal(1)
    expect(sim.report().requests.lossRatio).to.equal(0)
  })

  it('picks up a session mid-stream: CLIENT_ADD, a faked SYN (first seq − 1, IP ID − 2, MSS only), a faked third ACK, then the data', () => {
    const sim = createSimulation({ seed: 13, flags: { mss: '1400' } })
    const c = sim.client({ midStream: true, requests: 3 })
    sim.runToEnd()
    const first = parseSegment(c.packets[0]!.bytes)!
    const out = sentFor(sim, c.port)
    const [fsyn, fack, d0] = out
    expect(fsyn!.flags).to.equal(SYN)
    expect(fsyn!.seq).to.equal((first.seq - 1) >>> 0)
    expect(fsyn!.ipId).to.equal((first.ipId - 2) & 0xffff)
    expect(fsyn!.window).to.equal(65535)
    expect(fsyn!.doff).to.equal(24)
    expect(fsyn!.mss).to.equal(1400)
    expect(fsyn!.ts).to.equal(undefined)
    const synAck = sim.responses.find((r) => has(r, SYN | ACK))!
    expect(fack!.flags).to.equal(ACK)
    expect(fack!.seq).to.equal(synAck.ack)
    expect(fack!.ack).to.equal((synAck.seq + 1) >>> 0)
    expect(fack!.window).to.equal(65535)
    expect(fack!.ipId).to.equal((first.ipId - 1) & 0xffff)
    expect(d0!.seq).to.equal(first.seq)
    expect(has(d0!, ACK | PSH)).to.equal(true)
    // sessions started with a faked SYN carry window 65535 (the target saw no window scale)
    expect(data(out).every((p) => p.window === 65535)).to.equal(true)
    expect(sim.intercepts[0]!.stats.clientAdds).to.equal(1)
    expect(sim.copy.stats().sessions.fakedSyns).to.equal(1)
    expect(sim.report().requests).to.include({ expected: 3, delivered: 3, duplicated: 0 })
  })

  it('-O: replays only sessions whose SYN was captured', () => {
    const sim = createSimulation({ seed: 14, flags: { onlyComplete: true } })
    const mid = sim.client({ midStream: true, requests: 3 })
    const whole = sim.client({ requests: 2 })
    sim.runToEnd()
    expect(sentFor(sim, mid.port)).to.have.length(0)
    expect(data(sentFor(sim, whole.port))).to.have.length(2)
    expect(sim.copy.stats().notReplayed.onlyComplete).to.equal(3)
    expect(sim.target.stats.connections).to.equal(1)
    expect(sim.copy.stats().sessions.fakedSyns).to.equal(0)
  })

  it("waits for a server-first protocol's greeting before sending the first request", () => {
    const sim = createSimulation({ seed: 15, target: { app: { greeting: 'HELLO 1.0\r\n', greetingDelayMs: 30 } } })
    const c = sim.client({ requests: 2, greetingBytes: 11, rttMs: 2 })
    sim.runToEnd()
    const greeting = sim.responses.find((r) => r.payload.length > 0)!
    const firstRequest = data(sentFor(sim, c.port))[0]!
    const capturedAt = c.packets.find((p) => parseSegment(p.bytes)!.payload.length > 0)!.time
    // the request was captured long before the target greeted, and held back until then
    expect(capturedAt).to.be.lessThan(greeting.time - 20)
    expect(firstRequest.time).to.be.greaterThan(greeting.time)
    expect(firstRequest.ack).to.equal((greeting.seq + greeting.payload.length) >>> 0)
    expect(sim.report().requests).to.include({ expected: 2, delivered: 2, duplicated: 0 })
  })
})

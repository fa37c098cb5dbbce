import { expect } from 'chai'
import { createSimulation } from './simulation.js'
import { silentApp } from './apps.js'
import { FIN, RST, SYN, data, has, sentFor } from './test-helpers.js'

describe('session end, reconstruct and timeouts (TCPCOPY.md §5.4, §5.6)', () => {
  it('ends a session cleanly when the client closes: FIN, the target\'s FIN acknowledged, no RST, time-wait for 6 s', () => {
    const sim = createSimulation({ seed: 51 })
    const c = sim.client({ requests: 2, close: 'fin' })
    sim.run({ untilMs: 200 })
    const out = sentFor(sim, c.port)
    expect(out.filter((p) => has(p, FIN))).to.have.length(1)
    expect(out.filter((p) => has(p, RST))).to.have.length(0)
    const targetFin = sim.responses.find((r) => r.dport === c.port && has(r, FIN))!
    expect(out.at(-1)!.ack).to.equal((targetFin.seq + 1) >>> 0)
    expect(sim.copy.stats().sessions.closed).to.equal(1)
    expect(sim.target.stats.resetsIn).to.equal(0)
  })

  it('keeps an ended session in time-wait for 6 s, then deletes it', () => {
    const sim = createSimulation({ seed: 52 })
    // no final client ACK in the capture: nothing ends time-wait early
    sim.client({ requests: 1, close: 'fin', transform: (ps) => { ps.pop() } })
    sim.run({ untilMs: 200 })
    expect(sim.copy.sessions().map((s) => s.timeWait)).to.deep.equal([true])
    sim.run({ untilMs: 6100 })
    expect(sim.copy.sessions()).to.have.length(0)
  })

  it('reconstructs after the target closes with requests still pending: RST, then CLIENT_ADD and a faked SYN on the same port', () => {
    const sim = createSimulation({ seed: 53, target: { app: { closeAfter: 1, delayMs: 10 } } })
    const c = sim.client({ requests: 4, rttMs: 2, thinkMs: 0 })
    sim.runToEnd()
    const st = sim.copy.stats()
    expect(st.sessions.reconstructs).to.equal(3)
    expect(st.sessions.fakedSyns).to.equal(3)
    expect(sim.target.stats.connections).to.equal(4)
    expect(sim.target.history.every((x) => x.remotePort === c.port)).to.equal(true)
    expect(sim.intercepts[0]!.stats.clientAdds).to.equal(4)
    const out = sentFor(sim, c.port)
    // each new connection starts with a passive RST of the old one, then a faked SYN
    const syns = out.filter((p) => has(p, SYN))
    expect(syns).to.have.length(4)
    for (const s of syns.slice(1)) {
      const before = out.filter((p) => p.time < s.time && has(p, RST))
      expect(before.length).to.be.at.least(1)
      expect(s.window).to.equal(65535)
      expect(s.mss).to.equal(1460)
    }
    expect(sim.report().requests).to.include({ expected: 4, delivered: 4, duplicated: 0 })
  })

  it('reconstructs after a target RST with requests pending, without resetting it back', () => {
    const sim = createSimulation({ seed: 54, target: { app: { resetAfterResponses: 1, delayMs: 10 } } })
    const c = sim.client({ requests: 3, rttMs: 2, thinkMs: 0 })
    sim.runToEnd()
    expect(sim.copy.stats().sessions.reconstructs).to.equal(2)
    expect(sim.target.stats.resetsOut).to.equal(3)
    expect(sim.target.stats.resetsIn).to.equal(0)
    expect(data(sentFor(sim, c.port))).to.have.length(3)
    expect(sim.report().requests).to.include({ expected: 3, delivered: 3, duplicated: 0 })
  })

  it('a client RST waits until the target has answered every request sent before it (a copy that lags behind)', () => {
    // The online server answers in 1 ms, the target in 5: the client's requests and its closing RST
    // are captured long before the target has seen the last requests. A RST sent as soon as the
    // first pending answer arrives would make the target drop the requests it has not read yet.
    for (const seed of [61, 62, 63, 64]) {
      const sim = createSimulation({ seed, target: { app: { delayMs: 5 } } })
      const c = sim.client({ requests: 8, rttMs: 1, thinkMs: 0, close: 'rst' })
      sim.runToEnd()
      expect(sim.report().requests, `seed ${seed}`).to.include({ expected: 8, delivered: 8, duplicated: 0 })
      const out = sentFor(sim, c.port)
      const rst = out.filter((p) => has(p, RST))
      expect(rst, `seed ${seed}`).to.have.length(1)
      expect(rst[0]!.time).to.be.greaterThan(Math.max(...data(out).map((p) => p.time)))
    }
  })

  it('-t: ends a session that has had no response for the session timeout, with a passive RST', () => {
    const sim = createSimulation({ seed: 55, flags: { sessionTimeout: '5' }, target: { app: silentApp() } })
    const c = sim.client({ requests: 2, close: 'none' })
    sim.run({ untilMs: 4000 })
    expect(sim.copy.stats().sessions.active).to.equal(1)
    sim.run({ untilMs: 16000 })
    const rst = sentFor(sim, c.port).filter((p) => has(p, RST))
    expect(rst).to.have.length(1)
    expect(rst[0]!.time).to.be.within(5000, 15100)
    expect(sim.copy.stats().sessions.obsolete).to.equal(1)
    expect(sim.target.stats.resetsIn).to.equal(1)
    // the second request never went out (the first was never answered) and is counted
    expect(sim.copy.stats().notReplayed.unsentAtEnd).to.equal(1)
  })

  it('-k: ends an idle established session after the keep-alive timeout', () => {
    const sim = createSimulation({ seed: 56, flags: { sessionTimeout: '5', keepaliveTimeout: '12' } })
    const c = sim.client({ requests: 1, close: 'none' })
    sim.run({ untilMs: 11000 })
    expect(sim.copy.stats().sessions.active).to.equal(1)
    sim.run({ untilMs: 25000 })
    const rst = sentFor(sim, c.port).filter((p) => has(p, RST))
    expect(rst).to.have.length(1)
    expect(rst[0]!.time).to.be.within(12000, 21100)
    expect(sim.copy.stats().sessions.obsolete).to.equal(1)
    expect(sim.report().requests.delivered).to.equal(1)
  })

  it('ends a session whose handshake did not complete within 3 s', () => {
    const sim = createSimulation({ seed: 57 })
    sim.links.toTarget.up = false
    sim.client({ requests: 1, close: 'none' })
    sim.run({ untilMs: 3100 })
    expect(sim.copy.stats().sessions.obsolete).to.equal(1)
  })
})

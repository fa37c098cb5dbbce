import { expect } from 'chai'
import { createSimulation } from './simulation.js'
import { httpApp, silentApp } from './apps.js'
import type { TargetApp } from './target.js'
import { RST, has, sentFor } from './test-helpers.js'

/** Answers the first request of each connection, then reads on without ever answering (TCP still ACKs). */
function answersOnce (): TargetApp {
  const http = httpApp()
  return {
    data (conn, bytes) {
      if (conn.data.answered === true) return
      conn.data.answered = true
      http.data(conn, bytes)
    }
  }
}

describe('timeouts of a target that stops answering (TCPCOPY.md §5.6)', () => {
  it('-t: ends a session whose target ACKs but never answers, although the idle probes get answers, and frees its buffers', () => {
    // -t 90 is longer than the longest probe interval (60 s): answers to probes must not count as responses.
    const sim = createSimulation({ seed: 201, flags: { sessionTimeout: '90' }, target: { app: answersOnce() } })
    const c = sim.client({ requests: 3, close: 'none' })
    sim.run({ untilMs: 80000 })
    expect(sim.copy.stats().sessions.active).to.equal(1)
    expect(sim.copy.stats().packets.probes).to.be.at.least(3)
    // the probes are answered (pure ACKs) all along
    const probeAnswers = sim.responses.filter((r) => r.dport === c.port && r.time > 10000 && r.payload.length === 0)
    expect(probeAnswers.length).to.be.at.least(3)
    sim.run({ untilMs: 120000 })
    const st = sim.copy.stats()
    expect(st.sessions.active).to.equal(0)
    expect(st.sessions.obsolete).to.equal(1)
    expect(st.sessions.timedOut).to.equal(1)
    expect(st.memory.bufferedPackets).to.equal(0)
    // the third request never went out (the second was never answered)
    expect(st.notReplayed.unsentAtEnd).to.equal(1)
    const rst = sentFor(sim, c.port).filter((p) => has(p, RST))
    expect(rst).to.have.length(1)
    expect(rst[0]!.time).to.be.within(90000, 96100)
    expect(sim.log.find(/obsolete: no response for 90 s \(-t\) with 1 packets pending/, 'debug')).to.have.length(1)
    expect(sim.copy.selfCheck()).to.deep.equal([])
  })

  it('-t: also ends a session waiting for the answer to its last request (nothing left to send)', () => {
    const sim = createSimulation({ seed: 202, flags: { sessionTimeout: '90' }, target: { app: silentApp() } })
    sim.client({ requests: 1, close: 'none' })
    sim.run({ untilMs: 200000 })
    const st = sim.copy.stats()
    expect(st.sessions.active).to.equal(0)
    expect(st.sessions.timedOut).to.equal(1)
    expect(sim.log.find(/obsolete: no response for 90 s \(-t\) to a request/, 'debug')).to.have.length(1)
  })

  it('-k: ends a session waiting on a silent target after the keep-alive timeout when that is shorter than -t', () => {
    const sim = createSimulation({ seed: 203, flags: { sessionTimeout: '700', keepaliveTimeout: '100' }, target: { app: silentApp() } })
    const c = sim.client({ requests: 2, close: 'none' })
    sim.run({ untilMs: 95000 })
    expect(sim.copy.stats().sessions.active).to.equal(1)
    sim.run({ untilMs: 130000 })
    const st = sim.copy.stats()
    expect(st.sessions.active).to.equal(0)
    expect(st.sessions.timedOut).to.equal(1)
    expect(st.memory.bufferedPackets).to.equal(0)
    expect(sentFor(sim, c.port).filter((p) => has(p, RST))[0]!.time).to.be.within(100000, 106100)
    expect(sim.log.find(/obsolete: idle for 100 s \(-k, keep-alive timeout\)/, 'debug')).to.have.length(1)
  })

  it('keeps a session whose target keeps answering, however long it runs', () => {
    const sim = createSimulation({ seed: 204, flags: { sessionTimeout: '5', keepaliveTimeout: '8' } })
    // a request every 2 s for 30 s: each answered, so no timeout
    sim.client({ requests: 15, thinkMs: 2000, close: 'none' })
    sim.run({ untilMs: 31000 })
    expect(sim.copy.stats().sessions.timedOut).to.equal(0)
    expect(sim.report().requests).to.include({ expected: 15, delivered: 15 })
  })
})

import { expect } from 'chai'
import { createSimulation } from './simulation.js'

describe('intercept connections in the simulation (PROTOCOL.md §1)', () => {
  it('keeps replaying while one of two intercepts is gone, and reconnects it', () => {
    const sim = createSimulation({ seed: 81, intercept: { count: 2 } })
    sim.clients(5, { requests: 2 })
    sim.run({ untilMs: 10 })
    sim.intercepts[1]!.dropConnections()
    sim.run({ untilMs: 500 })
    expect(sim.copy.state).to.equal('running')
    expect(sim.copy.stats().intercepts.active).to.equal(1)
    sim.run({ untilMs: 1200 })
    expect(sim.copy.stats().intercepts.active).to.equal(2)
    expect(sim.copy.stats().intercepts.reconnects).to.equal(2)
    sim.runToEnd()
    expect(sim.report().requests).to.include({ expected: 10, delivered: 10 })
  })

  it('stops with no-intercept when the only intercept goes away (no -L)', async () => {
    const sim = createSimulation({ seed: 82 })
    sim.clients(3, { requests: 2, close: 'none' })
    sim.run({ untilMs: 40 })
    sim.intercepts[0]!.dropConnections()
    sim.run({ untilMs: 100 })
    await sim.copy.done
    expect(sim.exit?.reason).to.equal('no-intercept')
    expect(sim.exit?.error?.code).to.equal('TC_ERR_COPY_NO_INTERCEPT')
    expect(sim.log.find(/no intercept is left/, 'error')).to.have.length(1)
  })

  it('-L: keeps running alone, retries every 12 s, and replays new sessions once intercept is back', () => {
    const sim = createSimulation({ seed: 83, flags: { lonely: true } })
    sim.run({ untilMs: 10 })
    sim.intercepts[0]!.accepting = false
    sim.intercepts[0]!.dropConnections()
    sim.client({ requests: 1, startMs: 2000 })
    sim.run({ untilMs: 3000 })
    expect(sim.copy.state).to.equal('running')
    expect(sim.copy.stats().notReplayed.noIntercept).to.be.at.least(1)
    expect(sim.sent).to.have.length(0)
    sim.intercepts[0]!.accepting = true
    sim.run({ untilMs: 14000 })
    expect(sim.copy.stats().intercepts.active).to.equal(1)
    sim.client({ requests: 2 })
    sim.runToEnd()
    expect(sim.report().requests).to.include({ expected: 3, delivered: 2 })
  })

  it('runs the same way twice with the same seed, and differently with another', () => {
    const run = (seed: number): string => {
      const sim = createSimulation({ seed, network: { lossRate: 0.05, reorderRate: 0.1 } })
      sim.clients(30, { requests: 3 })
      sim.runToEnd()
      return JSON.stringify({ r: sim.report(), sent: sim.sent.map((p) => [p.time, p.sport, p.seq, p.flags]) })
    }
    expect(run(5)).to.equal(run(5))
    expect(run(5)).to.not.equal(run(6))
  })
})

describe('a control connection lost mid-session (CLIENT_ADD sent again)', () => {
  /** The open control connection of intercept 0 whose CLIENT_ADD announced `port`. */
  function carrier (sim: ReturnType<typeof createSimulation>, port: number): number {
    const c = sim.intercepts[0]!.connections.filter((x) => !x.closed).find((x) => x.messages.some((m) => m.clientPort === port))
    if (c === undefined) throw new Error(`no open connection announced port ${port}`)
    return c.id
  }

  it('-C 2: the session whose connection closed keeps getting responses over the other one and completes', () => {
    const sim = createSimulation({ seed: 91, flags: { connections: '2' } })
    const c = sim.client({ requests: 6, thinkMs: 50, close: 'fin' })
    sim.run({ untilMs: 120 })
    expect(sim.report().requests.delivered).to.be.within(1, 3)
    sim.intercepts[0]!.dropConnection(carrier(sim, c.port))
    sim.runToEnd()
    expect(sim.report().requests).to.include({ expected: 6, delivered: 6, duplicated: 0 })
    const st = sim.copy.stats()
    expect(st.intercepts.clientAddsResent).to.equal(1)
    expect(st.sessions.obsolete).to.equal(0)
    expect(st.sessions.reconstructs).to.equal(0)
    // the session's requests were answered: the target's FIN was seen, no timeout
    expect(st.responses.fin).to.equal(1)
    expect(sim.exit).to.equal(undefined)
  })

  it('-C 1 -L: the only connection closes; after the reconnect the live session is announced again and completes', () => {
    const sim = createSimulation({ seed: 92, flags: { connections: '1', lonely: true } })
    const c = sim.client({ requests: 6, thinkMs: 400, close: 'fin' })
    sim.run({ untilMs: 500 })
    sim.intercepts[0]!.dropConnection(carrier(sim, c.port))
    sim.runToEnd()
    expect(sim.report().requests).to.include({ expected: 6, delivered: 6, duplicated: 0 })
    expect(sim.copy.stats().intercepts.reconnects).to.equal(1)
    expect(sim.copy.stats().intercepts.clientAddsResent).to.equal(1)
    expect(sim.copy.stats().sessions.obsolete).to.equal(0)
  })
})

import { expect } from 'chai'
import fc from 'fast-check'
import { sampleValue } from '@tcpcopy/copy'
import { createSimulation } from './simulation.js'
import { data, ipNum, ipText, sentFor } from './test-helpers.js'

describe('-n copies, -f port shift, -c pool, -r sampling (TCPCOPY.md §3)', () => {
  it('-n: replays every session n times on ports sp + ((2i − 1) << 5) + R', () => {
    const sim = createSimulation({ seed: 61, flags: { copies: '3' }, copyRandom: () => 7 / 512 })
    const c = sim.client({ port: 40000, requests: 2 })
    sim.runToEnd()
    expect(sentFor(sim, 40000).length).to.be.greaterThan(0)
    expect(sentFor(sim, 40000 + 32 + 7).length).to.be.greaterThan(0)
    expect(sentFor(sim, 40000 + 96 + 7).length).to.be.greaterThan(0)
    expect(sim.target.stats.connections).to.equal(3)
    expect(sim.report().requests).to.include({ expected: 6, delivered: 6, duplicated: 0 })
    expect(c.port).to.equal(40000)
  })

  it('-f: shifts every port by (f << 11) + R', () => {
    const sim = createSimulation({ seed: 62, flags: { portShift: '2' }, copyRandom: () => 5 / 512 })
    sim.client({ port: 40000, requests: 1 })
    sim.runToEnd()
    expect(sim.target.history.map((h) => h.remotePort)).to.deep.equal([40000 + 4096 + 5])
    expect(sim.intercepts[0]!.connections.flatMap((x) => x.messages).map((m) => m.clientPort)).to.deep.equal([44101])
  })

  it('-n: never puts two live sessions on one 4-tuple, whatever the client ports (property)', function () {
    this.timeout(120000)
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 24 }), { minLength: 2, maxLength: 10 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 3 }),
      (slots, copies, shift, seed) => {
        // R = 0 and ports on the replica grid (40000 + 32k) make replicas land on other clients' ports
        const sim = createSimulation({ seed, copyRandom: () => 0, flags: { copies: String(copies), portShift: String(shift) } })
        for (const k of slots) sim.client({ ip: '10.1.0.1', port: 40000 + 32 * k, requests: 1, startMs: 20 + k * 0.01, close: 'none' })
        sim.run({ untilMs: 80 })
        const live = sim.copy.sessions().filter((s) => !s.timeWait)
        const keys = new Set(live.map((s) => `${s.clientIp}:${s.clientPort}`))
        expect(live).to.have.length(slots.length * copies)
        expect(keys.size).to.equal(live.length)
        expect(sim.target.stats.connections).to.equal(slots.length * copies)
        expect(sim.report().requests).to.include({ expected: slots.length * copies, delivered: slots.length * copies, duplicated: 0 })
      }
    ), { numRuns: 25, seed: 4242 })
  })

  it('-c: takes client addresses from the pool, one per client address, round-robin, in CLIENT_ADD too', () => {
    const sim = createSimulation({ seed: 63, flags: { clients: '10.88.0.1,10.88.0.2' } })
    const a1 = sim.client({ ip: '192.168.5.1', requests: 1 })
    const b = sim.client({ ip: '192.168.5.2', requests: 1 })
    const a2 = sim.client({ ip: '192.168.5.1', requests: 1 })
    const c = sim.client({ ip: '192.168.5.3', requests: 1 })
    sim.runToEnd()
    const srcOf = (port: number): string => ipText(sentFor(sim, port)[0]!.src)
    expect([srcOf(a1.port), srcOf(b.port), srcOf(a2.port), srcOf(c.port)]).to.deep.equal(['10.88.0.1', '10.88.0.2', '10.88.0.1', '10.88.0.1'])
    const adds = sim.intercepts[0]!.connections.flatMap((x) => x.messages).map((m) => `${ipText(m.clientIp)}:${m.clientPort}`)
    expect(adds).to.have.members([`10.88.0.1:${a1.port}`, `10.88.0.2:${b.port}`, `10.88.0.1:${a2.port}`, `10.88.0.1:${c.port}`])
    expect(sim.target.history.map((h) => ipText(h.remoteIp))).to.include('10.88.0.2')
    expect(sim.report().requests).to.include({ expected: 4, delivered: 4 })
  })

  it('-c with a.b.c.x: the expanded pool of 254 addresses', () => {
    const sim = createSimulation({ seed: 64, flags: { clients: '10.88.0.x' } })
    expect(sim.config.clients).to.have.length(254)
    sim.clients(3, { requests: 1 })
    sim.runToEnd()
    expect(sim.target.history.map((h) => ipText(h.remoteIp))).to.deep.equal(['10.88.0.1', '10.88.0.2', '10.88.0.3'])
  })

  it('-r: copies exactly the sessions whose §6 value is below the percentage, every packet of them and nothing of the others', () => {
    const run = (): { kept: number[], dropped: number[] } => {
      const sim = createSimulation({ seed: 65, flags: { percentage: '40' } })
      const cs = sim.clients(60, { requests: 2 })
      sim.runToEnd()
      const kept = cs.filter((c) => sentFor(sim, c.port).length > 0).map((c) => c.port)
      for (const c of cs) {
        const k = sampleValue(c.ip, c.port)
        const out = sentFor(sim, c.port)
        if (k < 40) expect(data(out), `port ${c.port} k ${k}`).to.have.length(2)
        else expect(out, `port ${c.port} k ${k}`).to.have.length(0)
      }
      return { kept, dropped: cs.filter((c) => !kept.includes(c.port)).map((c) => c.port) }
    }
    const first = run()
    expect(first.kept.length).to.be.within(10, 40)
    expect(run()).to.deep.equal(first)
  })

  it('-g: ramps the percentage up by one per second from the first captured packet', () => {
    const sim = createSimulation({ seed: 67, flags: { gradual: true } })
    const early = sim.clients(40, { requests: 1, startMs: 20 })
    const late = sim.clients(40, { requests: 1, startMs: 60020 })
    sim.runToEnd()
    // first second: p = 1 (k < 1); 60 s later: p = 61
    for (const c of early) expect(sentFor(sim, c.port).length > 0, `early ${c.port}`).to.equal(sampleValue(c.ip, c.port) < 1)
    for (const c of late) expect(sentFor(sim, c.port).length > 0, `late ${c.port}`).to.equal(sampleValue(c.ip, c.port) < 61)
    expect(late.filter((c) => sentFor(sim, c.port).length > 0).length).to.be.greaterThan(10)
  })

  it('-r with -c samples on the pool address (1.x)', () => {
    const sim = createSimulation({ seed: 66, flags: { percentage: '50', clients: '10.88.0.1' } })
    const cs = sim.clients(40, { requests: 1 })
    sim.runToEnd()
    for (const c of cs) {
      const kept = sampleValue(ipNum('10.88.0.1'), c.port) < 50
      expect(sentFor(sim, c.port).length > 0, `port ${c.port}`).to.equal(kept)
    }
  })
})

import { expect } from 'chai'
import { createSimulation } from './simulation.js'
import { ACK, SYN, data, has, match, sentFor } from './test-helpers.js'
import { buildSegment } from './packet.js'

describe('loss, retransmission and reordering (TCPCOPY.md §5.5)', () => {
  it('retransmits a lost request after the 100 ms RTO', () => {
    const sim = createSimulation({ seed: 31 })
    const c = sim.client({ requests: 2 })
    sim.links.toTarget.dropNext(match(c.port, { payload: true }))
    sim.runToEnd()
    const reqs = data(sentFor(sim, c.port))
    expect(reqs[0]!.seq).to.equal(reqs[1]!.seq)
    expect(reqs[1]!.time - reqs[0]!.time).to.be.within(100, 101)
    expect(sim.copy.stats().packets.retransmitted).to.equal(1)
    expect(sim.report().requests).to.include({ expected: 2, delivered: 2, duplicated: 0 })
  })

  it('retransmits a lost SYN', () => {
    const sim = createSimulation({ seed: 32 })
    const c = sim.client({ requests: 1 })
    sim.links.toTarget.dropNext(match(c.port, { flags: SYN }))
    sim.runToEnd()
    const syns = sentFor(sim, c.port).filter((p) => has(p, SYN))
    expect(syns).to.have.length(2)
    expect(syns[1]!.time - syns[0]!.time).to.be.within(100, 101)
    expect(sim.report().requests.delivered).to.equal(1)
  })

  it('fast-retransmits a lost segment after three duplicate ACKs, before the RTO', () => {
    const sim = createSimulation({ seed: 33 })
    const c = sim.client({ requests: 1, requestBytes: 8000, close: 'none' })
    let n = 0
    // lose the second segment of the request
    sim.links.toTarget.dropNext((b) => match(c.port, { payload: true })(b) && ++n === 2)
    sim.run({ untilMs: 400 })
    const reqs = data(sentFor(sim, c.port))
    const second = reqs[1]!
    const again = reqs.filter((p) => p.seq === second.seq)
    expect(again).to.have.length(2)
    expect(again[1]!.time - again[0]!.time).to.be.lessThan(20)
    expect(sim.copy.stats().packets.fastRetransmits).to.equal(1)
    expect(sim.target.stats.outOfOrder).to.be.at.least(3)
    expect(sim.report().requests).to.include({ delivered: 1, duplicated: 0 })
  })

  it('retransmits when the target\'s ACK is lost on the way to intercept (the target sees a duplicate)', () => {
    const sim = createSimulation({ seed: 34, target: { app: { delayMs: 300 } } })
    const c = sim.client({ requests: 1, close: 'none' })
    // the target's first pure ACK of the request never reaches intercept
    sim.links.toIntercept.dropNext((b) => {
      const dv = new DataView(b.buffer, b.byteOffset)
      return dv.getUint16(22) === c.port && b[33] === 0x10 && dv.getUint16(2) - 20 - (b[32]! >> 4) * 4 === 0 && dv.getUint32(28) !== 0
    })
    sim.run({ untilMs: 1000 })
    expect(sim.copy.stats().packets.retransmitted).to.be.at.least(1)
    expect(sim.target.stats.duplicateSegments).to.be.at.least(1)
    expect(sim.report().requests).to.include({ delivered: 1, duplicated: 0 })
  })

  it('delivers a large request intact when the network reorders its segments', () => {
    const sim = createSimulation({ seed: 35, network: { toTarget: { reorderRate: 0.5, reorderDelayMs: 2 } } })
    sim.client({ requests: 3, requestBytes: 20000 })
    sim.runToEnd()
    expect(sim.target.stats.outOfOrder).to.be.greaterThan(0)
    expect(sim.report().requests).to.include({ expected: 3, delivered: 3, duplicated: 0, fragments: 0 })
  })

  it('ignores client retransmissions and duplicates in the capture', () => {
    const sim = createSimulation({ seed: 36, capture: { dupRate: 0.5, reorderRate: 0.3 } })
    sim.clients(20, { requests: 3 })
    sim.runToEnd()
    expect(sim.copy.stats().packets.clientRetransmissions).to.be.greaterThan(10)
    expect(sim.report().requests).to.include({ expected: 60, delivered: 60, duplicated: 0 })
  })

  it('probes a session that waits for a response when the target connection vanished, and replays on the RST', () => {
    const sim = createSimulation({ seed: 37, target: { app: { delayMs: 5 } } })
    const c = sim.client({ requests: 3, rttMs: 2 })
    // the target loses the connection silently after the first request (its RST is lost)
    let killed = false
    sim.links.toIntercept.dropNext((b) => killed && new DataView(b.buffer, b.byteOffset).getUint16(22) === c.port && (b[33]! & 4) !== 0)
    sim.queue.at(24, () => {
      const conn = sim.target.connections.find((x) => x.remotePort === c.port)!
      killed = true
      conn.reset()
    })
    sim.runToEnd()
    expect(sim.copy.stats().packets.probes).to.be.at.least(1)
    expect(sim.copy.stats().sessions.reconstructs).to.be.at.least(1)
    expect(sim.report().requests).to.include({ expected: 3, delivered: 3 })
  })
})

describe('duplicate ACKs (RFC 5681 §2)', () => {
  /**
   * The request's segments are lost (the path to the target is cut after the
   * handshake), then intercept reports three ACKs from the target that repeat
   * its last ack: with the same window they are duplicate ACKs; with a new
   * window each they are window updates.
   */
  function run (windows: number[]): number {
    const sim = createSimulation({ seed: 45, target: { wscale: 0 } })
    const c = sim.client({ requests: 1, requestBytes: 8000, close: 'none', wscale: null, startMs: 20 })
    sim.run({ untilMs: 22.5 })
    sim.links.toTarget.up = false
    sim.run({ untilMs: 30 })
    const synAck = sim.responses.find((r) => r.dport === c.port && has(r, SYN))!
    expect(data(sentFor(sim, c.port)).length).to.be.at.least(2)
    windows.forEach((window, i) => {
      sim.queue.at(40 + i, () => {
        sim.intercepts[0]!.capture(buildSegment({
          src: synAck.src, dst: synAck.dst, sport: synAck.sport, dport: synAck.dport,
          seq: (synAck.seq + 1) >>> 0, ack: synAck.ack, flags: ACK, window
        }))
      })
    })
    sim.run({ untilMs: 60 }) // before the 100 ms RTO
    return sim.copy.stats().packets.fastRetransmits
  }

  it('counts three ACKs with the same ack and window as duplicates: fast retransmit', () => {
    expect(run([65535, 65535, 65535])).to.equal(1)
  })

  it('does not count window updates (same ack, another window) as duplicate ACKs: no fast retransmit', () => {
    expect(run([30000, 40000, 50000])).to.equal(0)
  })
})

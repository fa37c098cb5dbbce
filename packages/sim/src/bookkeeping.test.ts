import { expect } from 'chai'
import { createSimulation } from './simulation.js'

describe('the engine\'s bookkeeping under loss, reordering and duplication', () => {
  for (const seed of [401, 402, 403]) {
    it(`keeps every session's packet counters, the packet order and the store count consistent (seed ${seed})`, () => {
      const sim = createSimulation({
        seed,
        network: { lossRate: 0.05, reorderRate: 0.1, dupRate: 0.02 },
        capture: { reorderRate: 0.1, dupRate: 0.05 }
      })
      sim.clients(40, { requests: 4, requestBytes: 3000, spacingMs: 3 })
      sim.clients(10, { requests: 2, requestBytes: 500, midStream: true, spacingMs: 5 })
      const problems: string[] = []
      let checks = 0
      let sawPending = false
      for (let t = 0; t < 3000; t += 2) {
        sim.run({ untilMs: t })
        problems.push(...sim.copy.selfCheck().map((p) => `at ${t} ms: ${p}`))
        checks++
        if (sim.copy.stats().memory.bufferedPackets > 0) sawPending = true
      }
      sim.runToEnd()
      problems.push(...sim.copy.selfCheck())
      expect(problems.slice(0, 10)).to.deep.equal([])
      expect(checks).to.equal(1500)
      expect(sawPending, 'packets were buffered at some check').to.equal(true)
      const r = sim.report()
      expect(r.links.toTarget.lost + r.links.toIntercept.lost).to.be.greaterThan(0)
      expect(r.copy.memory.bufferedPackets).to.equal(0)
      expect(r.requests.lossRatio).to.be.at.most(0.05)
    })
  }
})

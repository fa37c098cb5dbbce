import { expect } from 'chai'
import { createSimulation, type SimulationOptions } from './simulation.js'

// The core promise: every request the online clients made reaches the
// target application exactly once (times -n), under moderate loss,
// reordering and duplication on both paths, for a few hundred sessions.
const CASES: Array<{ name: string, options: SimulationOptions, clients: number, requests: number, client?: Record<string, unknown> }> = [
  { name: 'keep-alive HTTP, 2% loss, 5% reordering, 1% duplication', options: { network: { lossRate: 0.02, reorderRate: 0.05, dupRate: 0.01, jitterMs: 0.2 } }, clients: 300, requests: 4 },
  { name: 'multi-segment requests and responses, 5% loss', options: { network: { lossRate: 0.05, reorderRate: 0.05 }, target: { app: { responseBytes: 8000 } } }, clients: 150, requests: 3, client: { requestBytes: 4000, responseBytes: 8000 } },
  { name: 'mid-stream pick-ups, 3% loss', options: { network: { lossRate: 0.03, reorderRate: 0.05 } }, clients: 200, requests: 3, client: { midStream: true } },
  { name: 'target closing after every response (reconstructs), 3% loss', options: { network: { lossRate: 0.03, reorderRate: 0.05 }, target: { app: { closeAfter: 1, delayMs: 5 } } }, clients: 150, requests: 3 },
  { name: '-n 2 with a -c pool, 3% loss', options: { network: { lossRate: 0.03, reorderRate: 0.05 }, flags: { copies: '2', clients: '10.88.0.x' } }, clients: 150, requests: 3 }
]

const SEEDS = [101, 202, 303]
const ratios: string[] = []

describe('the core promise: every request reaches the target application exactly once', function () {
  this.timeout(120000)
  after(() => {
    // The replication loss ratio of each run (missing / expected), for the record.
    console.log(`      replication loss ratios:\n${ratios.map((r) => `        ${r}`).join('\n')}`)
  })

  for (const c of CASES) {
    it(`${c.name}: ${c.clients} sessions × ${c.requests} requests, seeds ${SEEDS.join(', ')}`, () => {
      for (const seed of SEEDS) {
        const sim = createSimulation({ seed, recordPackets: false, ...c.options })
        sim.clients(c.clients, { requests: c.requests, spacingMs: 2, ...c.client })
        sim.runToEnd()
        const r = sim.report()
        ratios.push(`${c.name}, seed ${seed}: ${r.requests.missing}/${r.requests.expected} missing (${r.requests.lossRatio.toFixed(5)}), ${r.requests.duplicated} duplicated`)
        expect(r.requests.missing, `seed ${seed}: missing ${r.requests.missingPaths.join(' ')}`).to.equal(0)
        expect(r.requests.duplicated, `seed ${seed}`).to.equal(0)
        expect(r.checksums.badTcp + r.checksums.badIp).to.equal(0)
        expect(r.copy.sessions.active, `seed ${seed}: sessions left`).to.equal(0)
      }
    })
  }
})

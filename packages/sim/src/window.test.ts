import { expect } from 'chai'
import { createSimulation } from './simulation.js'
import type { TargetApp } from './target.js'
import { data, sentFor } from './test-helpers.js'
import { httpApp } from './apps.js'

describe('flow control and zero window', () => {
  it('stops at a zero window, probes it, and resumes when the target reads again', () => {
    let simRef: ReturnType<typeof createSimulation> | undefined
    const http = httpApp()
    const app: TargetApp = {
      data (conn, bytes) {
        if (conn.data.paused === undefined) {
          conn.data.paused = true
          conn.pauseReading()
          simRef!.queue.after(400, () => { conn.resumeReading() })
        }
        http.data(conn, bytes)
      }
    }
    const sim = createSimulation({ seed: 41, target: { app, receiveBuffer: 2896, wscale: 0 } })
    simRef = sim
    const c = sim.client({ requests: 1, requestBytes: 12000, wscale: null, close: 'none' })
    sim.run({ untilMs: 2000 })
    const zero = sim.responses.find((r) => r.dport === c.port && r.window === 0)!
    const reopen = sim.responses.find((r) => r.dport === c.port && r.window > 0 && r.time > zero.time)!
    expect(zero).to.not.equal(undefined)
    expect(reopen.time - zero.time).to.be.greaterThan(300)
    const out = sentFor(sim, c.port)
    // between the zero window and the window update: no data, only probes (old seq, no payload)
    const during = out.filter((p) => p.time > zero.time + 0.5 && p.time < reopen.time)
    expect(data(during)).to.have.length(0)
    expect(during.length).to.be.at.least(1)
    expect(sim.copy.stats().packets.sent).to.be.greaterThan(out.length - 1)
    // the whole request arrived once, in order
    expect(sim.report().requests).to.include({ expected: 1, delivered: 1, duplicated: 0 })
    expect(sim.target.stats.bytesIn).to.equal(12000)
  })

  it('never has more bytes in flight than the target\'s window', () => {
    const sim = createSimulation({ seed: 42, target: { receiveBuffer: 4000, wscale: 0 } })
    const c = sim.client({ requests: 1, requestBytes: 30000, wscale: null })
    sim.runToEnd()
    const out = data(sentFor(sim, c.port))
    const acks = sim.responses.filter((r) => r.dport === c.port)
    for (const p of out) {
      const known = acks.filter((a) => a.time < p.time)
      const last = known.at(-1)
      if (last === undefined) continue
      const inFlightEnd = (p.seq + p.payload.length - last.ack) >>> 0
      expect(inFlightEnd, `segment ${p.seq}`).to.be.at.most(Math.max(...known.slice(-3).map((k) => k.window)) + 1460)
    }
    expect(sim.report().requests).to.include({ delivered: 1, duplicated: 0 })
  })
})

describe('window scale (RFC 7323 §2.3)', () => {
  for (const wscale of [14, 15, 16, 17]) {
    it(`takes a window scale of ${wscale} from the target as at most 14, and never stalls on a wrong window`, () => {
      // A 1 GiB receive buffer: the window field is 65535, so 65535 << 16 would overflow to a negative window.
      const sim = createSimulation({ seed: 300 + wscale, target: { wscale, receiveBuffer: 1024 * 1024 * 1024 } })
      sim.clients(5, { requests: 3, requestBytes: 3000 })
      sim.runToEnd()
      expect(sim.report().requests, `scale ${wscale}`).to.include({ expected: 15, delivered: 15, duplicated: 0 })
      expect(sim.copy.stats().sessions.obsolete).to.equal(0)
    })
  }
})

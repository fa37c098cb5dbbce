import { expect } from 'chai'
import { createCore } from '@tcpcopy/core'
import { FRAMES_OFF } from '@tcpcopy/wasm'
import { createSimulation } from './simulation.js'
import { buildSegment, parseSegment } from './packet.js'
import { ACK, FIN, PSH, SYN, data, has, ipNum, sentFor } from './test-helpers.js'
import { hex, concat } from '@tcpcopy/interface'

describe('rewriting (TCPCOPY.md §3.3, §4) and the control channel bytes (PROTOCOL.md)', () => {
  it('-M: cuts a 9000-byte GSO capture into MTU-sized segments: same headers, IP ID + 1 each, seq advancing, FIN only on the last', () => {
    const sim = createSimulation({ seed: 71 })
    const payload = new Uint8Array(9000).map((_, i) => 65 + (i % 26))
    const gso = buildSegment({
      src: ipNum('10.1.0.9'), dst: ipNum('10.0.0.80'), sport: 45000, dport: 80, seq: 100000, ack: 5555,
      flags: ACK | PSH | FIN, window: 501, ipId: 1000, payload
    })
    sim.inject(gso, 20)
    sim.run({ untilMs: 200 })
    const out = sentFor(sim, 45000)
    const segs = data(out)
    expect(segs.map((p) => p.payload.length)).to.deep.equal([1460, 1460, 1460, 1460, 1460, 1460, 240])
    expect(segs.every((p) => p.totLen <= 1500)).to.equal(true)
    segs.forEach((p, k) => {
      expect(p.seq).to.equal(100000 + 1460 * k)
      expect(p.ipId).to.equal(1000 + k)
      expect(has(p, FIN)).to.equal(k === 6)
      expect(has(p, ACK | PSH)).to.equal(true)
    })
    // the session was picked up mid-stream: faked SYN first (seq − 1, IP ID − 2)
    expect(out[0]!.flags).to.equal(SYN)
    expect(out[0]!.seq).to.equal(99999)
    expect(out[0]!.ipId).to.equal(998)
    expect(concat(...segs.map((p) => p.payload))).to.deep.equal(payload)
    expect(sim.copy.stats().packets.accepted).to.equal(7)
  })

  it('-M: leaves packets up to the MTU whole, and honours a larger -M', () => {
    const sim = createSimulation({ seed: 72, flags: { mtu: '9100' } })
    sim.client({ requests: 1, requestBytes: 9000, gso: true })
    sim.runToEnd()
    expect(data(sim.sent).map((p) => p.payload.length)).to.deep.equal([9000])
  })

  it('drops a super-packet whose capture was cut short (captured length below tot_len)', () => {
    const sim = createSimulation({ seed: 73 })
    const gso = buildSegment({ src: ipNum('10.1.0.9'), dst: ipNum('10.0.0.80'), sport: 45000, dport: 80, seq: 1, ack: 1, flags: ACK, window: 501, payload: new Uint8Array(4000) })
    sim.inject(gso.subarray(0, 2000), 20)
    sim.run({ untilMs: 50 })
    expect(sim.sent).to.have.length(0)
    expect(sim.copy.stats().notReplayed.truncated).to.equal(1)
  })

  it('rewrites the timestamp option: TSecr = the target\'s latest TSval, TSval never going backwards', () => {
    const sim = createSimulation({ seed: 74 })
    const c = sim.client({
      requests: 3,
      transform: (ps) => {
        // make the third request's TSval lower than what was sent before
        const reqs = ps.filter((p) => parseSegment(p.bytes)!.payload.length > 0)
        const third = reqs[2]!
        const seg = parseSegment(third.bytes)!
        new DataView(third.bytes.buffer, third.bytes.byteOffset).setUint32(seg.tsOff! + 2, 5)
      }
    })
    sim.runToEnd()
    const out = sentFor(sim, c.port).filter((p) => p.ts !== undefined)
    expect(out[0]!.ts!.ecr).to.equal(0) // the SYN
    const targetTs = sim.responses.filter((r) => r.dport === c.port).map((r) => ({ time: r.time, val: r.ts!.val }))
    for (const p of out.slice(1)) {
      const seen = targetTs.filter((t) => t.time < p.time)
      expect(p.ts!.ecr, `packet at ${p.time}`).to.equal(seen.at(-1)!.val)
    }
    for (let i = 1; i < out.length; i++) expect(out[i]!.ts!.val).to.be.at.least(out[i - 1]!.ts!.val)
    const reqs = data(out)
    expect(reqs[2]!.ts!.val).to.equal(reqs[1]!.ts!.val)
  })

  it('sends only packets whose IP and TCP checksums verify (WASM core tcpChecksumVerify)', () => {
    const sim = createSimulation({ seed: 75, network: { lossRate: 0.05, reorderRate: 0.1 }, flags: { copies: '2', clients: '10.88.0.x' } })
    sim.clients(40, { requests: 3, requestBytes: 3000 })
    sim.clients(10, { requests: 2, midStream: true, gso: true, requestBytes: 5000 })
    sim.runToEnd()
    const r = sim.report()
    expect(r.checksums.checked).to.equal(sim.sent.length)
    expect(r.checksums.checked).to.be.greaterThan(500)
    expect([r.checksums.badIp, r.checksums.badTcp]).to.deep.equal([0, 0])
    // and checked again here on a fresh core
    const core = createCore({ hashSize: 1, maxRoutes: 1 })
    for (const p of sim.sent) {
      core.bytes.set(p.bytes, FRAMES_OFF)
      expect(core.exports.tcpChecksumVerify(FRAMES_OFF, p.bytes.length)).to.equal(1)
      expect(core.exports.ipChecksumVerify(FRAMES_OFF, p.ihl)).to.equal(1)
    }
  })

  it('writes the hello and CLIENT_ADD exactly as PROTOCOL.md §8 V1/V2 for the client as rewritten (-c)', () => {
    const sim = createSimulation({ seed: 76, flags: { clients: '10.0.0.1', connections: '1' } })
    sim.client({ ip: '192.168.7.7', port: 40000, requests: 1 })
    sim.run({ untilMs: 30 })
    const wire = concat(...sim.intercepts[0]!.connections[0]!.received)
    expect(wire).to.deep.equal(hex(`
      00 00 00 00  00 00  00 06  00 00 00 00  00 00   // V1 hello, version 6
      0a 00 00 01  9c 40  00 01  0a 00 01 02  1f 90   // V2 CLIENT_ADD 10.0.0.1:40000 -> 10.0.1.2:8080
    `))
  })

  it('--protocol 0.9: hello version 5, and the 80-byte records intercept sends are read', () => {
    const sim = createSimulation({ seed: 77, flags: { protocol: '0.9' } })
    sim.clients(5, { requests: 2 })
    sim.runToEnd()
    const conns = sim.intercepts[0]!.connections
    expect(conns.every((x) => x.dialect === '0.9')).to.equal(true)
    expect(concat(...conns[0]!.received).subarray(0, 14)).to.deep.equal(hex('00 00 00 00 00 00 00 05 00 00 00 00 00 00'))
    const frames = conns.flatMap((x) => x.sent)
    expect(frames.length).to.be.greaterThan(10)
    for (const f of frames) expect(f.length).to.equal(2 + 80 * ((f[0]! << 8) | f[1]!))
    expect(sim.copy.stats().intercepts.records).to.equal(sim.intercepts[0]!.stats.recordsSent)
    expect(sim.report().requests).to.include({ expected: 10, delivered: 10, duplicated: 0 })
  })

  it('--no-combined: reads plain 64-byte records', () => {
    const sim = createSimulation({ seed: 78, flags: { combined: false } })
    sim.clients(3, { requests: 2 })
    sim.runToEnd()
    const sent = sim.intercepts[0]!.connections.flatMap((x) => x.sent)
    expect(sent.every((r) => r.length === 64)).to.equal(true)
    expect(sim.report().requests).to.include({ expected: 6, delivered: 6 })
  })

  it('--payload: reads 192-byte payload records', () => {
    const sim = createSimulation({ seed: 79, flags: { payload: true } })
    sim.clients(3, { requests: 2 })
    sim.runToEnd()
    const frames = sim.intercepts[0]!.connections.flatMap((x) => x.sent)
    for (const f of frames) expect(f.length).to.equal(2 + 192 * ((f[0]! << 8) | f[1]!))
    expect(sim.report().requests).to.include({ expected: 6, delivered: 6 })
  })
})

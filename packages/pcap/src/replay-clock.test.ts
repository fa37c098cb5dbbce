import { expect } from 'chai'
import fc from 'fast-check'
import { ConfigError, isTcpcopyError } from '@tcpcopy/interface'
import { readAll } from './fixtures.js'
import { REPLAY_EOF_WAIT_MS, createReplayClock, type ReplayClock } from './replay-clock.js'
import { encodePcap } from './writer.js'

const T0 = 1_700_000_000_000_000_000n
/** A timestamp `n` ms after T0. */
const at = (n: number): bigint => T0 + BigInt(n) * 1_000_000n

/** The due offsets (ms after start) of packets `ms` after T0, committing each. */
function schedule (clock: ReplayClock, ms: number[]): number[] {
  return ms.map((m) => {
    const offset = clock.dueOffsetMs(at(m))
    clock.advance(at(m), 0)
    return offset
  })
}

describe('replay clock', () => {
  it('releases the first packet at once and the others at their recorded offsets (-a 1)', () => {
    const clock = createReplayClock()
    clock.start(1000)
    expect(clock.isDue(at(0), 1000)).to.equal(true)
    expect(clock.advance(at(0))).to.equal(1000)
    expect(clock.isDue(at(100), 1099.999)).to.equal(false)
    expect(clock.isDue(at(100), 1100)).to.equal(true)
    expect(clock.advance(at(100))).to.equal(1100)
    expect(clock.advance(at(250))).to.equal(1250)
    expect(clock.scheduled).to.equal(3)
  })

  it('halves the schedule at -a 2', () => {
    const recorded = [0, 100, 250, 251, 1000, 7000]
    expect(schedule(createReplayClock({ accelerate: 2 }), recorded)).to.deep.equal([0, 50, 125, 125.5, 500, 3500])
  })

  it('divides every schedule by -a (fast-check)', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 30 }).map((xs) => xs.sort((a, b) => a - b)),
      fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 5000 }),
      (recorded, accelerate, idleGapMs) => {
        const base = schedule(createReplayClock({ idleGapMs }), recorded)
        const fast = schedule(createReplayClock({ accelerate, idleGapMs }), recorded)
        fast.forEach((f, i) => expect(f).to.be.closeTo(base[i]! / accelerate, 1e-9 * Math.max(1, base[i]!)))
        if (accelerate === 2) expect(fast).to.deep.equal(base.map((b) => b / 2))
      }), { numRuns: 300 })
  })

  it('skips every gap longer than -I whole, and no gap of exactly -I', () => {
    const clock = createReplayClock({ idleGapMs: 1000 })
    //                         gap: 100  5000→skipped  100  1000→kept  1001→skipped
    expect(schedule(clock, [0, 100, 5100, 5200, 6200, 7201])).to.deep.equal([0, 100, 100, 200, 1200, 1200])
    expect(clock.skippedMs).to.equal(6001)
    expect(clock.skippedNs).to.equal(6_001_000_000n)
  })

  it('gives the time line of the replay: timestamps with the skipped gaps taken out (for RTT and -g)', () => {
    const clock = createReplayClock({ idleGapMs: 1000 })
    const recorded = [at(0), at(100), at(5100), at(5200), at(6200), at(7201), at(7201) + 500_000n]
    const base = Number(T0 / 1_000_000n)
    const line = recorded.map((ts) => {
      clock.advance(ts, 0)
      return clock.timelineMs(ts) - base
    })
    // the 5000 ms and 1001 ms gaps are gone; the 1000 ms one stays; sub-ms parts are kept
    expect(line).to.deep.equal([0, 100, 100, 200, 1200, 1200, 1200.5])
    // without -I it is the timestamp itself
    const plain = createReplayClock()
    plain.advance(at(0), 0)
    plain.advance(at(5100), 0)
    expect(plain.timelineMs(at(5100))).to.equal(Number(T0 / 1_000_000n) + 5100)
  })

  it('compresses gaps exactly at ns resolution', () => {
    const clock = createReplayClock({ idleGapMs: 1 })
    clock.advance(T0, 0)
    clock.advance(T0 + 1_000_000n, 0) // exactly 1 ms: kept
    expect(clock.dueOffsetMs(T0 + 2_000_001n)).to.equal(1) // 1.000001 ms: skipped whole
    expect(clock.dueOffsetMs(T0 + 2_000_000n)).to.equal(2)
  })

  it('never skips with -I 0', () => {
    expect(schedule(createReplayClock({ idleGapMs: 0 }), [0, 100_000, 200_000])).to.deep.equal([0, 100_000, 200_000])
  })

  it('combines -I and -a: gaps are skipped, then the rest is accelerated', () => {
    expect(schedule(createReplayClock({ accelerate: 2, idleGapMs: 1000 }), [0, 100, 5100, 5200, 6200, 7201])).to.deep.equal([0, 50, 50, 100, 600, 600])
  })

  it('checks without committing, and releases due packets in file order only', () => {
    const clock = createReplayClock()
    const ts = [at(0), at(300), at(100), at(400)] // the third goes back in time
    expect(clock.takeDue(ts, 0)).to.equal(1)
    for (let i = 0; i < 3; i++) expect(clock.isDue(ts[1]!, 150)).to.equal(false)
    expect(clock.isDue(ts[2]!, 150)).to.equal(true) // due by itself, but behind the second
    expect(clock.takeDue(ts.slice(1), 150)).to.equal(0)
    expect(clock.takeDue(ts.slice(1), 300)).to.equal(2)
    expect(clock.takeDue(ts.slice(3), 399)).to.equal(0)
    expect(clock.takeDue(ts.slice(3), 400)).to.equal(1)
    expect(clock.scheduled).to.equal(4)
  })

  it('releases exactly the packets for which pcapElapsed ≤ wallElapsed × a + skipped, in order (fast-check)', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 20_000 }),
      fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 40 }),
      (recorded, accelerate, idleGapMs, steps) => {
        const clock = createReplayClock({ accelerate, idleGapMs })
        clock.start(0)
        const ts = recorded.map(at)
        // the reference: TCPCOPY.md §7 read literally, in whole ms
        let released = 0
        let skipped = 0
        let wall = 0
        for (const step of steps) {
          wall += step
          let expected = released
          let sk = skipped
          while (expected < recorded.length) {
            const gap = expected === 0 ? 0 : recorded[expected]! - recorded[expected - 1]!
            const nextSkipped = idleGapMs > 0 && gap > idleGapMs ? sk + gap : sk
            const pcapElapsed = recorded[expected]! - recorded[0]!
            if (!(pcapElapsed <= wall * accelerate + nextSkipped)) break
            sk = nextSkipped
            expected++
          }
          const n = clock.takeDue(ts.slice(released), wall)
          expect(released + n, `at wall ${wall}`).to.equal(expected)
          released = expected
          skipped = sk
        }
        expect(clock.skippedMs).to.equal(skipped)
      }), { numRuns: 500 })
  })

  it('starts at the first packet when not started, and returns when to wake up', () => {
    const clock = createReplayClock({ accelerate: 4 })
    expect(clock.startWallMs).to.equal(undefined)
    expect(clock.advance(at(0), 5000)).to.equal(5000)
    expect(clock.advance(at(40))).to.equal(5010)
    expect(clock.firstTimestampNs).to.equal(at(0))
    expect(clock.lastTimestampNs).to.equal(at(40))
    expect(() => createReplayClock().advance(at(0))).to.throw().that.satisfies((e: unknown) => isTcpcopyError(e, 'TC_ERR_PCAP_CLOCK_NOT_STARTED'))
  })

  it('runs -T passes: waits 120 s after EOF, then restarts the schedule from the first packet', () => {
    const clock = createReplayClock({ idleGapMs: 1000, replays: 2 })
    expect(clock.pass).to.equal(1)
    expect(schedule(clock, [0, 100, 9100])).to.deep.equal([0, 100, 100])
    const end1 = clock.endOfPass(10_000)
    expect(end1).to.deep.equal({ pass: 1, replayAgain: true, resumeAtMs: 10_000 + REPLAY_EOF_WAIT_MS })
    clock.restart(end1.resumeAtMs)
    expect([clock.pass, clock.scheduled, clock.skippedNs, clock.firstTimestampNs, clock.startWallMs]).to.deep.equal([2, 0, 0n, undefined, 130_000])
    expect(clock.isDue(at(0), 130_000)).to.equal(true)
    expect(clock.advance(at(0))).to.equal(130_000)
    expect(clock.advance(at(100))).to.equal(130_100)
    expect(clock.advance(at(9100))).to.equal(130_100)
    expect(clock.endOfPass(131_000)).to.deep.equal({ pass: 2, replayAgain: false, resumeAtMs: 251_000 })
    expect(createReplayClock({ eofWaitMs: 0 }).endOfPass(7)).to.deep.equal({ pass: 1, replayAgain: false, resumeAtMs: 7 })
  })

  it('rejects bad options with ConfigError TC_ERR_PCAP_CLOCK_OPTION', () => {
    for (const options of [{ accelerate: 0 }, { accelerate: -2 }, { accelerate: NaN }, { accelerate: Infinity }, { idleGapMs: -1 }, { replays: 0 }, { replays: 1.5 }, { eofWaitMs: -1 }]) {
      expect(() => createReplayClock(options), JSON.stringify(options)).to.throw(ConfigError).with.property('code', 'TC_ERR_PCAP_CLOCK_OPTION')
    }
  })

  it('replays a recorded file with a 10 ms timer: 1 s + a 10 s idle gap + 1 s at -a 2 -I 1000 takes 1 s', () => {
    const recorded = [...Array.from({ length: 11 }, (_, i) => i * 100), ...Array.from({ length: 11 }, (_, i) => 11_000 + i * 100)]
    const file = encodePcap(recorded.map((m) => ({ timestampNs: at(m), data: new Uint8Array([m & 0xff]) })), { linkType: 1 })
    const packets = readAll([file]).packets
    const clock = createReplayClock({ accelerate: 2, idleGapMs: 1000 })
    const sentAt: number[] = []
    let next = 0
    for (let wall = 0; next < packets.length; wall += 10) { // T1's 10 ms timer
      const n = clock.takeDue(packets.slice(next).map((p) => p.timestampNs), wall)
      for (let i = 0; i < n; i++) sentAt.push(wall)
      next += n
    }
    expect(sentAt).to.deep.equal([0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 500, 550, 600, 650, 700, 750, 800, 850, 900, 950, 1000])
    expect(clock.skippedMs).to.equal(10_000)
  })
})

import { expect } from 'chai'
import { formatDuration, formatReplayProgress, formatReplaySummary, replayProgress } from './progress.js'

describe('replay progress', () => {
  it('measures by bytes of the file and estimates the time left', () => {
    expect(replayProgress({ elapsedMs: 1000, bytesDone: 25, totalBytes: 100, packetsDone: 1, totalPackets: 2 }))
      .to.deep.equal({ fraction: 0.25, basis: 'bytes', etaMs: 3000 })
  })

  it('measures by packets when the file size is unknown', () => {
    expect(replayProgress({ elapsedMs: 600, packetsDone: 3, totalPackets: 4 })).to.deep.equal({ fraction: 0.75, basis: 'packets', etaMs: 200 })
  })

  it('counts -T passes: half through pass 2 of 4 is 37.5 %', () => {
    expect(replayProgress({ elapsedMs: 3000, bytesDone: 50, totalBytes: 100, pass: 2, replays: 4 }))
      .to.deep.equal({ fraction: 0.375, basis: 'bytes', etaMs: 5000 })
  })

  it('knows nothing without a total, and has no estimate before anything is done', () => {
    expect(replayProgress({ elapsedMs: 10, bytesDone: 5 })).to.deep.equal({ fraction: undefined, basis: undefined, etaMs: undefined })
    expect(replayProgress({ elapsedMs: 10, bytesDone: 0, totalBytes: 100 })).to.deep.equal({ fraction: 0, basis: 'bytes', etaMs: undefined })
    expect(replayProgress({ elapsedMs: 10, bytesDone: 120, totalBytes: 100 }).fraction).to.equal(1)
  })

  it('formats progress for a log line', () => {
    expect(formatReplayProgress(replayProgress({ elapsedMs: 1000, bytesDone: 25, totalBytes: 100 }))).to.equal('25.0% of bytes, about 3.000 s left')
    expect(formatReplayProgress(replayProgress({ elapsedMs: 1000, bytesDone: 0, totalBytes: 100 }))).to.equal('0.0% of bytes')
    expect(formatReplayProgress(replayProgress({ elapsedMs: 1000 }))).to.equal('progress unknown')
  })

  it('formats durations', () => {
    expect([0, 1234.5, 59_999, 125_000, 3_603_000].map(formatDuration)).to.deep.equal(['0.000 s', '1.234 s', '59.999 s', '2 min 5 s', '1 h 0 min 3 s'])
  })
})

describe('replay summary', () => {
  it('states packets read, replayed and skipped with reasons, duration, rate, passes and skipped gaps', () => {
    expect(formatReplaySummary({
      packetsRead: 1000,
      packetsReplayed: 990,
      packetsSkipped: 10,
      skippedReasons: { truncated: 7, 'l2 len': 3 },
      bytesRead: 123456,
      durationMs: 12_500,
      passes: 2,
      skippedGapMs: 4000
    })).to.equal('offline replay: 1000 packets read, 990 replayed, 10 skipped (l2 len 3, truncated 7) in 12.500 s (79.2 packets/s), 123456 bytes read, 2 passes, 4.000 s of idle gaps skipped')
  })

  it('leaves out what it was not given, and the rate of a zero-length replay', () => {
    expect(formatReplaySummary({ packetsRead: 1, packetsReplayed: 1, packetsSkipped: 0, durationMs: 0, passes: 1 }))
      .to.equal('offline replay: 1 packet read, 1 replayed, 0 skipped in 0.000 s, 1 pass')
  })
})

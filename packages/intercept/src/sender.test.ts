import { expect } from 'chai'
import fc from 'fast-check'
import { RecordSender, type SenderTunnel } from './sender.js'

class FakeTunnel implements SenderTunnel {
  combineBuf: Uint8Array | undefined = undefined
  combineCount = 0
  combineRecordSize = 0
  readonly writes: Uint8Array[] = []
  constructor (readonly id: number, public lastAccessMs = 0) {}
  write (bytes: Uint8Array): void { this.writes.push(bytes.slice()) }
}

/** A 64-byte record whose first byte is 0x45 and second byte `tag`. */
function record (tag: number, size = 64): Uint8Array {
  const r = new Uint8Array(size)
  r[0] = 0x45
  r[1] = tag & 0xff
  return r
}

/** [count, tags...] of each combined frame written. */
function frames (t: FakeTunnel, size = 64): number[][] {
  return t.writes.map((w) => {
    const count = (w[0]! << 8) | w[1]!
    expect(w.length).to.equal(2 + count * size)
    return [count, ...Array.from({ length: count }, (_, i) => w[2 + i * size + 1]!)]
  })
}

describe('combined record sender', () => {
  it('flushes when the buffer reaches the batch size and then raises it by one', () => {
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 2 })
    const t = new FakeTunnel(0, 10)
    s.add(t, record(1), 10)
    expect(t.writes).to.have.length(0)
    s.add(t, record(2), 10.9)
    expect(frames(t)).to.deep.equal([[2, 1, 2]])
    expect(s.batchSize).to.equal(3)
    expect(s.stats()).to.deep.include({ countFlushes: 1, timeFlushes: 0, records: 2, writes: 1 })
  })

  it('flushes a tunnel last used in an earlier millisecond and then lowers the batch size by one', () => {
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 4 })
    const t = new FakeTunnel(0, 10)
    s.add(t, record(1), 10)
    s.push(10.5) // same millisecond: nothing
    expect(t.writes).to.have.length(0)
    s.push(12)
    expect(frames(t)).to.deep.equal([[1, 1]])
    expect(s.batchSize).to.equal(3)
    expect(s.hasPending).to.equal(false)
  })

  it('sends a record at once when the tunnel was idle since an earlier millisecond', () => {
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 16 })
    const t = new FakeTunnel(0, 5)
    s.add(t, record(7), 9)
    expect(frames(t)).to.deep.equal([[1, 7]])
    expect(s.batchSize).to.equal(15)
  })

  it('with -n 0 starts at cur 0: the first record is a count-driven flush, then cur grows from 1 (INTERCEPT.md §8)', () => {
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 0 })
    expect(s.batchSize).to.equal(0)
    const t = new FakeTunnel(0, 0)
    s.add(t, record(1), 0) // 1 >= 0: count-driven, cur 1
    expect(frames(t)).to.deep.equal([[1, 1]])
    expect(s.batchSize).to.equal(1)
    s.add(t, record(2), 0) // 1 >= 1: count-driven, cur 2
    s.add(t, record(3), 0) // 1 < 2, same millisecond: buffered
    s.add(t, record(4), 0) // 2 >= 2: count-driven, cur 3
    expect(frames(t)).to.deep.equal([[1, 1], [1, 2], [2, 3, 4]])
    expect(s.batchSize).to.equal(3)
    expect(s.stats()).to.deep.include({ countFlushes: 3, timeFlushes: 0 })
  })

  it('keeps the batch size within 1..maxCount once it has moved', () => {
    const s = new RecordSender({ combined: true, maxCount: 6, startCount: 0 })
    const t = new FakeTunnel(0, 0)
    for (let i = 0; i < 100; i++) s.add(t, record(i), 0)
    expect(s.batchSize).to.equal(6)
    for (let ms = 1; ms < 20; ms++) s.add(t, record(ms), ms * 10)
    expect(s.batchSize).to.equal(1) // a time-driven flush never takes it below 1
  })

  it('reuses the frame buffer of a busy tunnel and lets it go after a time-driven flush; every write is exactly one frame', () => {
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 2 })
    const t = new FakeTunnel(0, 0)
    const views: Uint8Array[] = []
    const write = t.write.bind(t)
    t.write = (bytes) => { views.push(bytes); write(bytes) }
    s.add(t, record(1), 0)
    const buf = t.combineBuf
    s.add(t, record(2), 0) // count-driven
    expect(t.combineBuf).to.equal(buf)
    expect(views[0]!.byteLength).to.equal(2 + 2 * 64)
    s.add(t, record(3), 0)
    s.push(5) // time-driven
    expect(t.combineBuf).to.equal(undefined)
    expect(views.map((v) => v.byteLength)).to.deep.equal([2 + 2 * 64, 2 + 64])
  })

  it('shares one batch size between tunnels', () => {
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 2 })
    const a = new FakeTunnel(0, 0)
    const b = new FakeTunnel(1, 0)
    s.add(a, record(1), 0)
    s.add(a, record(2), 0) // count-driven: cur 3
    s.add(b, record(3), 0)
    s.add(b, record(4), 0)
    expect(b.writes).to.have.length(0)
    s.add(b, record(5), 0)
    expect(frames(b)).to.deep.equal([[3, 3, 4, 5]])
  })

  it('writes everything buffered on flushAll and drops it on forget', () => {
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 16 })
    const a = new FakeTunnel(0, 0)
    const b = new FakeTunnel(1, 0)
    s.add(a, record(1), 0)
    s.add(b, record(2), 0)
    s.add(b, record(3), 0)
    expect(s.forget(b)).to.equal(2)
    s.flushAll()
    expect(frames(a)).to.deep.equal([[1, 1]])
    expect(b.writes).to.have.length(0)
    expect(s.hasPending).to.equal(false)
    expect(s.batchSize).to.equal(16)
  })

  it('calls onPending when the first tunnel gets buffered records', () => {
    let armed = 0
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 16, onPending: () => { armed++ } })
    const a = new FakeTunnel(0, 0)
    const b = new FakeTunnel(1, 0)
    s.add(a, record(1), 0)
    s.add(b, record(2), 0)
    s.add(a, record(3), 0)
    expect(armed).to.equal(1)
    s.push(5) // both flushed; the push also marks them used in millisecond 5
    expect(s.hasPending).to.equal(false)
    s.add(a, record(4), 5.5) // same millisecond as that push: buffered again
    expect(armed).to.equal(2)
    s.add(a, record(5), 7) // an earlier millisecond: both go at once
    expect(frames(a).map((f) => f[0])).to.deep.equal([2, 2])
    expect(armed).to.equal(2)
  })

  it('never mixes record sizes in one frame', () => {
    const s = new RecordSender({ combined: true, maxCount: 16, startCount: 16 })
    const t = new FakeTunnel(0, 0)
    s.add(t, record(1, 64), 0)
    s.add(t, record(2, 80), 0)
    expect(t.writes.map((w) => w.length)).to.deep.equal([2 + 64])
    s.flushAll()
    expect(t.writes.map((w) => w.length)).to.deep.equal([2 + 64, 2 + 80])
  })

  it('writes each record on its own without a count in plain mode', () => {
    const s = new RecordSender({ combined: false, maxCount: 16, startCount: 16 })
    const t = new FakeTunnel(0, 0)
    const r = record(9)
    s.add(t, r, 0)
    r[1] = 0 // the sender copied the view
    expect(t.writes).to.have.length(1)
    expect(t.writes[0]!.length).to.equal(64)
    expect(t.writes[0]![1]).to.equal(9)
    expect(s.hasPending).to.equal(false)
  })

  it('keeps every record, in order, in frames of 1..maxCount under any timing (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), tunnel: fc.integer({ min: 0, max: 2 }), dt: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('push' as const), dt: fc.integer({ min: 0, max: 3 }) })
    )
    fc.assert(fc.property(fc.integer({ min: 0, max: 16 }), fc.boolean(), fc.array(op, { maxLength: 300 }), (start, payload, ops) => {
      const max = payload ? 6 : 16
      const s = new RecordSender({ combined: true, maxCount: max, startCount: Math.min(start, max) })
      const tunnels = [new FakeTunnel(0), new FakeTunnel(1), new FakeTunnel(2)]
      const sent: number[][] = [[], [], []]
      let now = 0
      let tag = 0
      for (const o of ops) {
        now += o.dt
        if (o.kind === 'add') {
          sent[o.tunnel]!.push(tag & 0xff)
          s.add(tunnels[o.tunnel]!, record(tag++), now)
        } else {
          s.push(now)
        }
        expect(s.batchSize).to.be.within(start === 0 && s.stats().countFlushes === 0 ? 0 : 1, max)
      }
      s.flushAll()
      tunnels.forEach((t, i) => {
        const got = frames(t)
        for (const f of got) expect(f[0]).to.be.within(1, max)
        expect(got.flatMap((f) => f.slice(1))).to.deep.equal(sent[i])
      })
    }))
  })
})

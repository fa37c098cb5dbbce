// The behaviour every PacketIo implementation shares (packet-io.ts in
// @tcpcopy/interface), as cases that run against a connected pair of
// endpoints. The mock runs them in its unit tests; the native shim runs them
// in e2e with the two ends of a veth pair (see README).
//
// Every wait is bounded: a case polls receive() a limited number of times
// over at most `settleMs`, then fails with what it got.
import assert from 'node:assert/strict'
import { CanceledError, toSpacedHex, type PacketIo, type PacketIoRegions } from '@tcpcopy/interface'

/** A byte range of an endpoint's memory the suite may fill with datagrams to send. */
export interface ScratchArea {
  off: number
  size: number
}

/** Two connected endpoints: what one sends, the other receives. Fresh for every case. */
export interface PacketIoPair {
  a: PacketIo
  b: PacketIo
  regionsA: PacketIoRegions
  regionsB: PacketIoRegions
  /** The `snap` both ends were created with. */
  snap: number
  /** Where the suite writes datagrams that a sends. Default: a's receive area (the suite never receives on a meanwhile). */
  scratchA?: ScratchArea
  /** Where the suite writes datagrams that b sends. Default: b's receive area. */
  scratchB?: ScratchArea
  /** Largest datagram the medium carries unchanged (e.g. MTU + link header). Default 1500. */
  maxDatagram?: number
  /** Smallest datagram the medium carries. Default 1. */
  minDatagram?: number
  /**
   * Test datagram number `seq`, exactly `size` bytes, in a form the medium
   * carries unchanged and a filter on the receiving socket can single out
   * (e.g. an Ethernet header with a private ethertype). Default: a byte
   * pattern that starts with seq.
   */
  datagram?: (seq: number, size: number) => Uint8Array
  /** How long a case waits for datagrams to arrive. Default 2000 ms. */
  settleMs?: number
  /** Releases the endpoints (and whatever else makePair set up). */
  cleanup: () => void | Promise<void>
}

export type MakePacketIoPair = () => Promise<PacketIoPair>

export interface ComplianceCase {
  title: string
  run: (pair: PacketIoPair) => Promise<void>
}

// ---- helpers --------------------------------------------------------------------------

const KINDS = new Set(['nfqueue', 'packet', 'raw-ipv4'])

function defaultDatagram (seq: number, size: number): Uint8Array {
  const d = new Uint8Array(size)
  for (let k = 0; k < size; k++) d[k] = (seq * 131 + k * 7 + 3) & 0xff
  if (size >= 1) d[0] = (seq >> 8) & 0xff
  if (size >= 2) d[1] = seq & 0xff
  return d
}

function makeDatagram (pair: PacketIoPair, seq: number, size: number): Uint8Array {
  const d = (pair.datagram ?? defaultDatagram)(seq, size)
  assert.equal(d.length, size, `pair.datagram(${seq}, ${size}) must return exactly ${size} bytes`)
  return d
}

/** Sizes that fit the medium and the snap, from a wish list. */
function sizes (pair: PacketIoPair, wished: number[]): number[] {
  const lo = pair.minDatagram ?? 1
  const hi = Math.min(pair.snap, pair.maxDatagram ?? 1500)
  return wished.map(s => Math.max(lo, Math.min(hi, s)))
}

function scratchOf (regions: PacketIoRegions, area: ScratchArea | undefined): ScratchArea {
  return area ?? { off: regions.rxDataOff, size: regions.rxDataSize }
}

/** Writes the datagrams into `area`, describes them at txDescOff and sends them, retrying the rest of a partial send (bounded). */
function sendAll (io: PacketIo, regions: PacketIoRegions, area: ScratchArea, datagrams: Uint8Array[]): void {
  const u8 = new Uint8Array(regions.memory.buffer)
  const dv = new DataView(regions.memory.buffer)
  const placed: Array<[number, number]> = []
  let at = (area.off + 7) & ~7
  for (const d of datagrams) {
    assert.ok(at + d.length <= area.off + area.size, 'the scratch area is too small for the test datagrams')
    u8.set(d, at)
    placed.push([at, d.length])
    at = (at + d.length + 7) & ~7
  }
  let done = 0
  for (let attempt = 0; done < placed.length; attempt++) {
    assert.ok(attempt < 100, `send took only ${done} of ${placed.length} datagrams after 100 calls`)
    const rest = placed.slice(done)
    rest.forEach(([off, len], i) => {
      dv.setUint32(regions.txDescOff + 16 * i, off, true)
      dv.setUint32(regions.txDescOff + 16 * i + 4, len, true)
      dv.setUint32(regions.txDescOff + 16 * i + 8, 0, true)
      dv.setUint32(regions.txDescOff + 16 * i + 12, 0, true)
    })
    const took = io.send(rest.length)
    assert.ok(Number.isInteger(took) && took >= 0 && took <= rest.length, `send(${rest.length}) returned ${took}`)
    done += took
  }
}

interface Received {
  bytes: Uint8Array[]
  /** [offset, length] descriptors as receive() wrote them. */
  descs: Array<[number, number]>
  /** What each receive() call returned, in order (zeros included). */
  calls: number[]
}

const tick = async (): Promise<void> => { await new Promise<void>(resolve => setImmediate(resolve)) }
const sleep = async (ms: number): Promise<void> => { await new Promise<void>(resolve => setTimeout(resolve, ms)) }

/** Calls receive(max) until `want` datagrams came or the pair's settle time ran out (bounded). */
async function receiveUntil (pair: PacketIoPair, io: PacketIo, regions: PacketIoRegions, want: number, max: number): Promise<Received> {
  const out: Received = { bytes: [], descs: [], calls: [] }
  const deadline = Date.now() + (pair.settleMs ?? 2000)
  for (let attempt = 0; out.bytes.length < want && attempt < 10000; attempt++) {
    const n = io.receive(max)
    out.calls.push(n)
    assert.ok(Number.isInteger(n) && n >= 0 && n <= max, `receive(${max}) returned ${n}`)
    const dv = new DataView(regions.memory.buffer)
    for (let i = 0; i < n; i++) {
      const off = dv.getUint32(regions.rxDescOff + 8 * i, true)
      const len = dv.getUint32(regions.rxDescOff + 8 * i + 4, true)
      out.descs.push([off, len])
      out.bytes.push(new Uint8Array(regions.memory.buffer, off, len).slice())
    }
    if (n > 0) continue
    if (Date.now() > deadline) break
    if (attempt < 50) await tick()
    else await sleep(2)
  }
  return out
}

function hex (b: Uint8Array): string {
  return toSpacedHex(b.subarray(0, 24)) + (b.length > 24 ? ' …' : '')
}

function sameDatagrams (got: Uint8Array[], sent: Uint8Array[]): void {
  assert.equal(got.length, sent.length, `received ${got.length} datagrams, sent ${sent.length}`)
  got.forEach((g, i) => {
    assert.equal(g.length, sent[i]!.length, `datagram ${i}: length ${g.length}, sent ${sent[i]!.length}`)
    assert.ok(Buffer.from(g).equals(Buffer.from(sent[i]!)), `datagram ${i} differs: got ${hex(g)}, sent ${hex(sent[i]!)}`)
  })
}

// ---- the cases --------------------------------------------------------------------------

export const complianceCases: ComplianceCase[] = [
  {
    title: 'starts open, of a known kind, with all stats zero',
    async run ({ a, b }) {
      for (const io of [a, b]) {
        assert.equal(io.closed, false)
        assert.ok(KINDS.has(io.kind), `unknown kind ${io.kind}`)
        assert.deepEqual(io.stats(), { received: 0, sent: 0, truncated: 0, overruns: 0 })
      }
    }
  },
  {
    title: 'receive returns 0 when nothing is pending',
    async run ({ a, b }) {
      for (let i = 0; i < 3; i++) {
        assert.equal(a.receive(16), 0)
        assert.equal(b.receive(16), 0)
      }
    }
  },
  {
    title: 'send(0) sends nothing and returns 0',
    async run (pair) {
      assert.equal(pair.a.send(0), 0)
      const r = await receiveUntil({ ...pair, settleMs: 50 }, pair.b, pair.regionsB, 1, 16)
      assert.equal(r.bytes.length, 0)
      assert.equal(pair.a.stats().sent, 0)
    }
  },
  {
    title: 'delivers datagrams sent by one end to the other in order, byte-exact',
    async run (pair) {
      const sent = sizes(pair, [1, 60, 61, 333, 1000, 64]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      const r = await receiveUntil(pair, pair.b, pair.regionsB, sent.length, 64)
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    title: 'delivers in the other direction too',
    async run (pair) {
      const sent = sizes(pair, [42, 200, 7]).map((s, i) => makeDatagram(pair, 100 + i, s))
      sendAll(pair.b, pair.regionsB, scratchOf(pair.regionsB, pair.scratchB), sent)
      const r = await receiveUntil(pair, pair.a, pair.regionsA, sent.length, 64)
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    title: 'places each datagram at an 8-byte aligned offset inside the receive area, without overlap',
    async run (pair) {
      const sent = sizes(pair, [1, 3, 5, 9, 17, 61, 250]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      // one receive call for all of them where possible, so the offsets of one batch can be compared
      const r = await receiveUntil(pair, pair.b, pair.regionsB, sent.length, 64)
      sameDatagrams(r.bytes, sent)
      const { rxDataOff, rxDataSize } = pair.regionsB
      let i = 0
      for (const n of r.calls) {
        const batch = r.descs.slice(i, i + n).sort((x, y) => x[0] - y[0])
        batch.forEach(([off, len], k) => {
          assert.equal(off % 8, 0, `offset ${off} is not 8-byte aligned`)
          assert.ok(off >= rxDataOff && off + len <= rxDataOff + rxDataSize, `[${off}, +${len}) is outside the receive area`)
          if (k > 0) assert.ok(batch[k - 1]![0] + batch[k - 1]![1] <= off, `datagrams overlap at ${off}`)
        })
        i += n
      }
    }
  },
  {
    title: 'receive(max) returns at most max datagrams, and the rest stay pending in order',
    async run (pair) {
      const sent = sizes(pair, [40, 41, 42, 43, 44]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      const first = await receiveUntil(pair, pair.b, pair.regionsB, 2, 2)
      assert.ok(first.calls.every(n => n <= 2), `receive(2) returned ${first.calls.join(', ')}`)
      const rest = await receiveUntil(pair, pair.b, pair.regionsB, sent.length - first.bytes.length, 64)
      sameDatagrams([...first.bytes, ...rest.bytes], sent)
    }
  },
  {
    title: 'receive(0) reads nothing even when datagrams are pending',
    async run (pair) {
      const sent = sizes(pair, [50]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      await receiveUntil({ ...pair, settleMs: 20 }, pair.b, pair.regionsB, 1, 0)
      assert.equal(pair.b.receive(0), 0)
      const r = await receiveUntil(pair, pair.b, pair.regionsB, 1, 8)
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    title: 'reads a burst larger than one receive call across several calls without loss',
    async run (pair) {
      const sent = Array.from({ length: 48 }, (_, i) => makeDatagram(pair, i, sizes(pair, [60 + (i % 8)])[0]!))
      sendAll(pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      const r = await receiveUntil(pair, pair.b, pair.regionsB, sent.length, 7)
      assert.ok(r.calls.filter(n => n > 0).length >= 7, 'a burst of 48 was read in fewer than 7 calls of receive(7)')
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    title: 'cuts a datagram longer than snap to snap bytes and counts it truncated',
    async run (pair) {
      const size = Math.min(pair.snap + 100, pair.maxDatagram ?? 1500)
      assert.ok(size > pair.snap, `this case needs snap (${pair.snap}) below the largest datagram the medium carries (${pair.maxDatagram ?? 1500})`)
      const whole = makeDatagram(pair, 7, size)
      const small = makeDatagram(pair, 8, sizes(pair, [60])[0]!)
      sendAll(pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), [whole, small])
      const r = await receiveUntil(pair, pair.b, pair.regionsB, 2, 8)
      sameDatagrams(r.bytes, [whole.subarray(0, pair.snap), small])
      assert.equal(pair.b.stats().truncated, 1)
    }
  },
  {
    title: 'calls onReadable when data arrives',
    async run (pair) {
      let calls = 0
      pair.b.onReadable(() => { calls++ })
      const sent = sizes(pair, [80]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      const deadline = Date.now() + (pair.settleMs ?? 2000)
      for (let attempt = 0; calls === 0 && attempt < 10000 && Date.now() <= deadline; attempt++) {
        if (attempt < 50) await tick()
        else await sleep(2)
      }
      assert.ok(calls > 0, 'onReadable was not called after a datagram arrived')
      const r = await receiveUntil(pair, pair.b, pair.regionsB, 1, 8)
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    title: 'counts sent and received datagrams in stats',
    async run (pair) {
      const sent = sizes(pair, [30, 31, 32]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      await receiveUntil(pair, pair.b, pair.regionsB, sent.length, 64)
      assert.equal(pair.a.stats().sent, 3)
      assert.equal(pair.b.stats().received, 3)
      assert.equal(pair.b.stats().truncated, 0)
      const s = pair.b.stats()
      s.received = 99 // a snapshot, not the live counters
      assert.equal(pair.b.stats().received, 3)
    }
  },
  {
    title: 'close is idempotent and sets closed',
    async run ({ a }) {
      a.close()
      assert.equal(a.closed, true)
      a.close()
      assert.equal(a.closed, true)
    }
  },
  {
    title: 'receive and send after close throw CanceledError',
    async run ({ a, b }) {
      a.close()
      b.close()
      for (const io of [a, b]) {
        assert.throws(() => io.receive(1), (e: unknown) => e instanceof CanceledError && (e as CanceledError).code === 'TC_ERR_CANCELED')
        assert.throws(() => io.send(0), (e: unknown) => e instanceof CanceledError)
        assert.throws(() => io.send(1), (e: unknown) => e instanceof CanceledError)
      }
    }
  }
]

// ---- runners ----------------------------------------------------------------------------

async function runCase (makePair: MakePacketIoPair, c: ComplianceCase): Promise<void> {
  const pair = await makePair()
  try {
    await c.run(pair)
  } finally {
    await pair.cleanup()
  }
}

export interface ComplianceOptions {
  /** Per-case mocha timeout. Default 10000 ms. */
  timeoutMs?: number
}

/**
 * Declares the compliance suite as mocha tests (call it at the top level of a
 * test file): one `it` per case, each with a fresh pair from makePair.
 */
export function describePacketIoCompliance (name: string, makePair: MakePacketIoPair, options: ComplianceOptions = {}): void {
  describe(`${name}: PacketIo compliance`, function () {
    this.timeout(options.timeoutMs ?? 10_000)
    for (const c of complianceCases) {
      it(c.title, async () => { await runCase(makePair, c) })
    }
  })
}

export interface ComplianceResult {
  title: string
  /** Undefined when the case passed. */
  error?: Error
}

/** Runs every case without mocha (e.g. from a script), one after another. */
export async function runPacketIoCompliance (makePair: MakePacketIoPair): Promise<ComplianceResult[]> {
  const results: ComplianceResult[] = []
  for (const c of complianceCases) {
    try {
      await runCase(makePair, c)
      results.push({ title: c.title })
    } catch (e) {
      results.push({ title: c.title, error: e instanceof Error ? e : new Error(String(e)) })
    }
  }
  return results
}

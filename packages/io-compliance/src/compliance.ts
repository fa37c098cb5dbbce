// The behaviour every PacketIo implementation shares (packet-io.ts in
// @tcpcopy/interface), as cases that run against a connected pair of
// endpoints. The mock runs them in its unit tests; the native shim runs them
// in e2e: packet sockets on a veth pair, a raw IPv4 socket sending to a packet
// socket, and a raw IPv4 socket sending into an NFQUEUE queue read by an
// nfqueue socket (see README).
//
// Every wait is bounded: a case polls receive() a limited number of times
// over at most `settleMs`, then fails with what it got.
import assert from 'node:assert/strict'
import { CanceledError, IoError, toSpacedHex, type PacketIo, type PacketIoRegions, type PacketIoStats } from '@tcpcopy/interface'

/** A byte range of an endpoint's memory the suite may fill with datagrams to send. */
export interface ScratchArea {
  off: number
  size: number
}

/** PacketIoRegions that may say how many receive descriptors their area holds. */
export interface ComplianceRegions extends PacketIoRegions {
  /** Descriptors (8 bytes each) the area at rxDescOff holds; absent: up to the next region above it, or the memory end. */
  rxDescCount?: number
}

/** Two connected endpoints: what one sends, the other receives. Fresh for every case. */
export interface PacketIoPair {
  a: PacketIo
  b: PacketIo
  regionsA: ComplianceRegions
  regionsB: ComplianceRegions
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
   * A datagram size the sending end refuses with a hard error (EMSGSIZE: longer
   * than the MTU). Default maxDatagram + 500.
   */
  refusedSize?: number
  /**
   * Test datagram number `seq`, exactly `size` bytes, in a form the medium
   * carries unchanged and a filter on the receiving socket can single out
   * (e.g. an Ethernet header with a private ethertype). Default: a byte
   * pattern that starts with seq.
   */
  datagram?: (seq: number, size: number) => Uint8Array
  /** The IPv4 destination (dotted) written into every send descriptor (raw-ipv4 sends go there). Default 0.0.0.0. */
  destination?: string
  /**
   * What a received datagram carries, when the receiving end wraps what was
   * sent (nfqueue: the packet inside a netlink message). Default: the datagram itself.
   */
  unwrap?: (received: Uint8Array) => Uint8Array
  /** How long a case waits for datagrams to arrive. Default 2000 ms. */
  settleMs?: number
  /** Releases the endpoints (and whatever else makePair set up). */
  cleanup: () => void | Promise<void>
}

export type MakePacketIoPair = () => Promise<PacketIoPair>

/** Stable names of the cases, for ComplianceOptions.skip. */
export type ComplianceCaseId =
  | 'fresh-stats' | 'receive-empty' | 'send-zero' | 'deliver-a-to-b' | 'deliver-b-to-a' | 'aligned'
  | 'receive-max' | 'receive-zero' | 'burst' | 'truncate' | 'descriptor-capacity' | 'send-partial-failure'
  | 'readable' | 'readable-level' | 'readable-replace' | 'readable-closed' | 'stats' | 'close-idempotent' | 'canceled'

export interface ComplianceCase {
  id: ComplianceCaseId
  title: string
  run: (pair: PacketIoPair) => Promise<void>
}

// ---- helpers --------------------------------------------------------------------------

const KINDS = new Set(['nfqueue', 'packet', 'raw-ipv4'])
const ZERO_STATS: PacketIoStats = { received: 0, sent: 0, truncated: 0, overruns: 0 }

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

/** The receive descriptors `r` has room for (ComplianceRegions.rxDescCount, or up to the next region above rxDescOff). */
export function rxDescCapacityOf (r: ComplianceRegions): number {
  if (r.rxDescCount !== undefined) return r.rxDescCount
  let end = r.memory.buffer.byteLength
  for (const start of [r.rxDataOff, r.txDescOff]) if (start > r.rxDescOff && start < end) end = start
  return Math.floor((end - r.rxDescOff) / 8)
}

function destinationBytes (pair: PacketIoPair): number[] {
  const text = pair.destination ?? '0.0.0.0'
  const b = text.split('.').map(Number)
  assert.ok(b.length === 4 && b.every(x => Number.isInteger(x) && x >= 0 && x <= 255), `pair.destination must be a dotted IPv4 address, got ${text}`)
  return b
}

/** Writes the datagrams into `area` and describes them at txDescOff (destination from the pair); returns [offset, length] of each. */
function stage (pair: PacketIoPair, regions: PacketIoRegions, area: ScratchArea, datagrams: Uint8Array[]): Array<[number, number]> {
  const u8 = new Uint8Array(regions.memory.buffer)
  const placed: Array<[number, number]> = []
  let at = (area.off + 7) & ~7
  for (const d of datagrams) {
    assert.ok(at + d.length <= area.off + area.size, 'the scratch area is too small for the test datagrams')
    u8.set(d, at)
    placed.push([at, d.length])
    at = (at + d.length + 7) & ~7
  }
  writeDescriptors(pair, regions, placed)
  return placed
}

function writeDescriptors (pair: PacketIoPair, regions: PacketIoRegions, placed: Array<[number, number]>): void {
  const u8 = new Uint8Array(regions.memory.buffer)
  const dv = new DataView(regions.memory.buffer)
  const dst = destinationBytes(pair)
  placed.forEach(([off, len], i) => {
    dv.setUint32(regions.txDescOff + 16 * i, off, true)
    dv.setUint32(regions.txDescOff + 16 * i + 4, len, true)
    u8.set(dst, regions.txDescOff + 16 * i + 8) // network order, as in the descriptor
    dv.setUint32(regions.txDescOff + 16 * i + 12, 0, true)
  })
}

/** Stages and sends the datagrams, retrying the rest of a partial send (bounded). */
function sendAll (pair: PacketIoPair, io: PacketIo, regions: PacketIoRegions, area: ScratchArea, datagrams: Uint8Array[]): void {
  const placed = stage(pair, regions, area, datagrams)
  let done = 0
  for (let attempt = 0; done < placed.length; attempt++) {
    assert.ok(attempt < 100, `send took only ${done} of ${placed.length} datagrams after 100 calls`)
    const rest = placed.slice(done)
    writeDescriptors(pair, regions, rest)
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

/** Waits (bounded by the pair's settle time) until `done()` holds; returns whether it did. */
async function waitFor (pair: PacketIoPair, done: () => boolean, ms = pair.settleMs ?? 2000): Promise<boolean> {
  const deadline = Date.now() + ms
  for (let attempt = 0; !done() && attempt < 10000 && Date.now() <= deadline; attempt++) {
    if (attempt < 50) await tick()
    else await sleep(2)
  }
  return done()
}

/** Calls receive(max) until `want` datagrams came or the pair's settle time ran out (bounded). */
async function receiveUntil (pair: PacketIoPair, io: PacketIo, regions: PacketIoRegions, want: number, max: number, check?: (n: number) => void): Promise<Received> {
  const out: Received = { bytes: [], descs: [], calls: [] }
  const deadline = Date.now() + (pair.settleMs ?? 2000)
  const unwrap = pair.unwrap ?? ((d: Uint8Array) => d)
  for (let attempt = 0; out.bytes.length < want && attempt < 10000; attempt++) {
    const n = io.receive(max)
    out.calls.push(n)
    assert.ok(Number.isInteger(n) && n >= 0 && n <= max, `receive(${max}) returned ${n}`)
    check?.(n)
    const dv = new DataView(regions.memory.buffer)
    for (let i = 0; i < n; i++) {
      const off = dv.getUint32(regions.rxDescOff + 8 * i, true)
      const len = dv.getUint32(regions.rxDescOff + 8 * i + 4, true)
      out.descs.push([off, len])
      out.bytes.push(unwrap(new Uint8Array(regions.memory.buffer, off, len).slice()))
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

/** The four PacketIoStats counters of `s` minus those of `base` (an implementation may add more fields). */
function delta (s: PacketIoStats, base: PacketIoStats): PacketIoStats {
  return { received: s.received - base.received, sent: s.sent - base.sent, truncated: s.truncated - base.truncated, overruns: s.overruns - base.overruns }
}

/** Sends one datagram from a to b and waits until b's onReadable callback ran (bounded); `calls` counts the callback. */
async function arrive (pair: PacketIoPair, seq: number, calls: () => number): Promise<Uint8Array> {
  const d = makeDatagram(pair, seq, sizes(pair, [80])[0]!)
  sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), [d])
  assert.ok(await waitFor(pair, () => calls() > 0), 'onReadable was not called after a datagram arrived')
  return d
}

// ---- the cases --------------------------------------------------------------------------

export const complianceCases: ComplianceCase[] = [
  {
    id: 'fresh-stats',
    title: 'starts open, of a known kind, with all stats zero',
    async run ({ a, b }) {
      for (const io of [a, b]) {
        assert.equal(io.closed, false)
        assert.ok(KINDS.has(io.kind), `unknown kind ${io.kind}`)
        const s = io.stats()
        assert.deepEqual(delta(s, ZERO_STATS), ZERO_STATS)
        for (const [k, v] of Object.entries(s)) assert.equal(v, 0, `stats().${k} of a fresh ${io.kind} end`)
      }
    }
  },
  {
    id: 'receive-empty',
    title: 'receive returns 0 when nothing is pending',
    async run ({ a, b }) {
      for (let i = 0; i < 3; i++) {
        assert.equal(a.receive(16), 0)
        assert.equal(b.receive(16), 0)
      }
    }
  },
  {
    id: 'send-zero',
    title: 'send(0) sends nothing and returns 0',
    async run (pair) {
      const base = pair.a.stats()
      assert.equal(pair.a.send(0), 0)
      const r = await receiveUntil({ ...pair, settleMs: 50 }, pair.b, pair.regionsB, 1, 16)
      assert.equal(r.bytes.length, 0)
      assert.equal(delta(pair.a.stats(), base).sent, 0)
    }
  },
  {
    id: 'deliver-a-to-b',
    title: 'delivers datagrams sent by one end to the other in order, byte-exact',
    async run (pair) {
      const sent = sizes(pair, [1, 60, 61, 333, 1000, 64]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      const r = await receiveUntil(pair, pair.b, pair.regionsB, sent.length, 64)
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    id: 'deliver-b-to-a',
    title: 'delivers in the other direction too',
    async run (pair) {
      const sent = sizes(pair, [42, 200, 7]).map((s, i) => makeDatagram(pair, 100 + i, s))
      sendAll(pair, pair.b, pair.regionsB, scratchOf(pair.regionsB, pair.scratchB), sent)
      const r = await receiveUntil(pair, pair.a, pair.regionsA, sent.length, 64)
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    id: 'aligned',
    title: 'places each datagram at an 8-byte aligned offset inside the receive area, without overlap',
    async run (pair) {
      const sent = sizes(pair, [1, 3, 5, 9, 17, 61, 250]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
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
    id: 'receive-max',
    title: 'receive(max) returns at most max datagrams, and the rest stay pending in order',
    async run (pair) {
      const sent = sizes(pair, [40, 41, 42, 43, 44]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      const first = await receiveUntil(pair, pair.b, pair.regionsB, 2, 2)
      assert.ok(first.calls.every(n => n <= 2), `receive(2) returned ${first.calls.join(', ')}`)
      const rest = await receiveUntil(pair, pair.b, pair.regionsB, sent.length - first.bytes.length, 64)
      sameDatagrams([...first.bytes, ...rest.bytes], sent)
    }
  },
  {
    id: 'receive-zero',
    title: 'receive(0) reads nothing even when datagrams are pending',
    async run (pair) {
      const sent = sizes(pair, [50]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      await receiveUntil({ ...pair, settleMs: 20 }, pair.b, pair.regionsB, 1, 0)
      assert.equal(pair.b.receive(0), 0)
      const r = await receiveUntil(pair, pair.b, pair.regionsB, 1, 8)
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    id: 'burst',
    title: 'reads a burst larger than one receive call across several calls without loss',
    async run (pair) {
      const sent = Array.from({ length: 48 }, (_, i) => makeDatagram(pair, i, sizes(pair, [60 + (i % 8)])[0]!))
      sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      const r = await receiveUntil(pair, pair.b, pair.regionsB, sent.length, 7)
      assert.ok(r.calls.filter(n => n > 0).length >= 7, 'a burst of 48 was read in fewer than 7 calls of receive(7)')
      sameDatagrams(r.bytes, sent)
    }
  },
  {
    id: 'truncate',
    title: 'cuts a datagram longer than snap to snap bytes and counts it truncated',
    async run (pair) {
      const size = Math.min(pair.snap + 100, pair.maxDatagram ?? 1500)
      assert.ok(size > pair.snap, `this case needs snap (${pair.snap}) below the largest datagram the medium carries (${pair.maxDatagram ?? 1500})`)
      const base = pair.b.stats()
      const whole = makeDatagram(pair, 7, size)
      const small = makeDatagram(pair, 8, sizes(pair, [60])[0]!)
      sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), [whole, small])
      const r = await receiveUntil(pair, pair.b, pair.regionsB, 2, 8)
      sameDatagrams(r.bytes, [whole.subarray(0, pair.snap), small])
      assert.equal(delta(pair.b.stats(), base).truncated, 1)
    }
  },
  {
    id: 'descriptor-capacity',
    title: 'receive(max) writes no more descriptors than the receive descriptor area holds, whatever max is',
    async run (pair) {
      const r = pair.regionsB
      const cap = rxDescCapacityOf(r)
      assert.ok(cap >= 1 && cap <= 1024, `this case needs a descriptor area of 1..1024 entries (set regionsB.rxDescCount), got ${cap}`)
      const sent = Array.from({ length: cap + 8 }, (_, i) => makeDatagram(pair, i, sizes(pair, [24 + (i % 8)])[0]!))
      sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      await sleep(Math.min(100, pair.settleMs ?? 2000)) // let them all arrive, so one call could take more than cap
      // Guard words just past the descriptor area (where they do not lie in the receive data area).
      const guard = r.rxDescOff + 8 * cap
      const guarded = guard + 16 <= r.memory.buffer.byteLength && (guard + 16 <= r.rxDataOff || guard >= r.rxDataOff + r.rxDataSize)
      const dv = new DataView(r.memory.buffer)
      if (guarded) for (let k = 0; k < 4; k++) dv.setUint32(guard + 4 * k, 0x5a5a0000 + k, true)
      const got = await receiveUntil(pair, pair.b, r, sent.length, cap + 100, (n) => {
        assert.ok(n <= cap, `receive(${cap + 100}) returned ${n}, more than the ${cap} descriptors the area holds`)
        if (guarded) for (let k = 0; k < 4; k++) assert.equal(dv.getUint32(guard + 4 * k, true), 0x5a5a0000 + k, `receive wrote past the descriptor area (word ${k})`)
      })
      assert.equal(got.calls[0], cap, `the first receive(${cap + 100}) with ${sent.length} datagrams pending returned ${got.calls[0]}, not the ${cap} descriptors the area holds`)
      sameDatagrams(got.bytes, sent)
    }
  },
  {
    id: 'send-partial-failure',
    title: 'send stops at a datagram the medium refuses: returns its index; the retry starting with it throws IoError and sends nothing; the rest then goes through',
    async run (pair) {
      const refused = pair.refusedSize ?? (pair.maxDatagram ?? 1500) + 500
      const ok = sizes(pair, [60, 61, 62]).map((s, i) => makeDatagram(pair, i, s))
      const bad = makeDatagram(pair, 9, refused)
      const area = scratchOf(pair.regionsA, pair.scratchA)
      const base = pair.a.stats()
      stage(pair, pair.regionsA, area, [ok[0]!, ok[1]!, bad, ok[2]!])
      assert.equal(pair.a.send(4), 2, 'send of [ok, ok, refused, ok] must return 2: the index of the refused datagram')
      stage(pair, pair.regionsA, area, [bad, ok[2]!])
      let err: unknown
      try { pair.a.send(2) } catch (e) { err = e }
      assert.ok(err instanceof IoError, `the send starting with the refused datagram must throw IoError, got ${String(err)}`)
      assert.ok(typeof err.errno === 'number' && err.errno > 0 && typeof err.syscall === 'string', 'the IoError carries errno and syscall')
      assert.equal(delta(pair.a.stats(), base).sent, 2, 'the call that threw sent nothing')
      stage(pair, pair.regionsA, area, [ok[2]!])
      assert.equal(pair.a.send(1), 1)
      const r = await receiveUntil(pair, pair.b, pair.regionsB, 3, 16)
      sameDatagrams(r.bytes, ok)
      const extra = await receiveUntil({ ...pair, settleMs: 50 }, pair.b, pair.regionsB, 1, 16)
      assert.equal(extra.bytes.length, 0, 'the refused datagram never arrives')
      assert.equal(delta(pair.a.stats(), base).sent, 3)
    }
  },
  {
    id: 'readable',
    title: 'calls onReadable when data arrives',
    async run (pair) {
      let calls = 0
      pair.b.onReadable(() => { calls++ })
      const sent = await arrive(pair, 0, () => calls)
      const r = await receiveUntil(pair, pair.b, pair.regionsB, 1, 8)
      sameDatagrams(r.bytes, [sent])
    }
  },
  {
    id: 'readable-level',
    title: 'calls onReadable again while datagrams stay unread (level-triggered), and not once they are read',
    async run (pair) {
      let calls = 0
      pair.b.onReadable(() => { calls++ })
      const sent = await arrive(pair, 0, () => calls)
      assert.ok(await waitFor(pair, () => calls >= 3), `called ${calls} time(s) while a datagram stayed unread`)
      let reads = 0
      const got: Uint8Array[] = []
      pair.b.onReadable(() => {
        reads++
        const r = pair.b.receive(8)
        const dv = new DataView(pair.regionsB.memory.buffer)
        for (let i = 0; i < r; i++) {
          const off = dv.getUint32(pair.regionsB.rxDescOff + 8 * i, true)
          got.push((pair.unwrap ?? ((d: Uint8Array) => d))(new Uint8Array(pair.regionsB.memory.buffer, off, dv.getUint32(pair.regionsB.rxDescOff + 8 * i + 4, true)).slice()))
        }
      })
      assert.ok(await waitFor(pair, () => got.length >= 1), 'the callback that reads was not called')
      sameDatagrams(got, [sent])
      const settled = reads
      await waitFor({ ...pair, settleMs: 50 }, () => false)
      assert.equal(reads, settled, `called ${reads - settled} more time(s) with nothing pending`)
    }
  },
  {
    id: 'readable-replace',
    title: 'keeps one onReadable callback: a later call replaces the earlier one, and never runs it from inside onReadable',
    async run (pair) {
      let first = 0
      let second = 0
      pair.b.onReadable(() => { first++ })
      await arrive(pair, 0, () => first)
      const before = first
      pair.b.onReadable(() => { second++ })
      assert.equal(second, 0, 'onReadable called its callback synchronously')
      assert.ok(await waitFor(pair, () => second >= 2), 'the new callback was not called while the datagram stayed unread')
      assert.equal(first, before, `the replaced callback was called ${first - before} more time(s)`)
      pair.b.receive(8)
    }
  },
  {
    id: 'readable-closed',
    title: 'runs no onReadable callback after close, and onReadable after close throws CanceledError',
    async run (pair) {
      let calls = 0
      pair.b.onReadable(() => { calls++ })
      await arrive(pair, 0, () => calls)
      pair.b.close() // a datagram is still pending
      const atClose = calls
      await waitFor({ ...pair, settleMs: 50 }, () => false)
      assert.equal(calls, atClose, 'called after close')
      assert.throws(() => pair.b.onReadable(() => {}), (e: unknown) => e instanceof CanceledError)
    }
  },
  {
    id: 'stats',
    title: 'counts sent and received datagrams in stats',
    async run (pair) {
      const baseA = pair.a.stats()
      const baseB = pair.b.stats()
      const sent = sizes(pair, [30, 31, 32]).map((s, i) => makeDatagram(pair, i, s))
      sendAll(pair, pair.a, pair.regionsA, scratchOf(pair.regionsA, pair.scratchA), sent)
      await receiveUntil(pair, pair.b, pair.regionsB, sent.length, 64)
      assert.equal(delta(pair.a.stats(), baseA).sent, 3)
      assert.equal(delta(pair.b.stats(), baseB).received, 3)
      assert.equal(delta(pair.b.stats(), baseB).truncated, 0)
      const s = pair.b.stats()
      s.received = 99 // a snapshot, not the live counters
      assert.equal(delta(pair.b.stats(), baseB).received, 3)
    }
  },
  {
    id: 'close-idempotent',
    title: 'close is idempotent and sets closed',
    async run ({ a }) {
      a.close()
      assert.equal(a.closed, true)
      a.close()
      assert.equal(a.closed, true)
    }
  },
  {
    id: 'canceled',
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
  /**
   * Cases that cannot apply to this pair, each with the reason (it goes into
   * the skipped test's title): e.g. { 'deliver-b-to-a': 'a is a raw IPv4 socket, which never receives' }.
   */
  skip?: Partial<Record<ComplianceCaseId, string>>
}

/**
 * Declares the compliance suite as mocha tests (call it at the top level of a
 * test file): one `it` per case, each with a fresh pair from makePair.
 */
export function describePacketIoCompliance (name: string, makePair: MakePacketIoPair, options: ComplianceOptions = {}): void {
  for (const id of Object.keys(options.skip ?? {})) {
    if (!complianceCases.some(c => c.id === id)) throw new Error(`describePacketIoCompliance: no case "${id}" to skip`)
  }
  describe(`${name}: PacketIo compliance`, function () {
    this.timeout(options.timeoutMs ?? 10_000)
    for (const c of complianceCases) {
      const why = options.skip?.[c.id]
      if (why !== undefined) it.skip(`${c.title} — skipped: ${why}`, () => {})
      else it(c.title, async () => { await runCase(makePair, c) })
    }
  })
}

export interface ComplianceResult {
  title: string
  /** Undefined when the case passed. */
  error?: Error
  /** The reason, when the case was skipped. */
  skipped?: string
}

/** Runs every case without mocha (e.g. from a script), one after another. */
export async function runPacketIoCompliance (makePair: MakePacketIoPair, options: Pick<ComplianceOptions, 'skip'> = {}): Promise<ComplianceResult[]> {
  const results: ComplianceResult[] = []
  for (const c of complianceCases) {
    const why = options.skip?.[c.id]
    if (why !== undefined) {
      results.push({ title: c.title, skipped: why })
      continue
    }
    try {
      await runCase(makePair, c)
      results.push({ title: c.title })
    } catch (e) {
      results.push({ title: c.title, error: e instanceof Error ? e : new Error(String(e)) })
    }
  }
  return results
}

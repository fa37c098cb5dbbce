import assert from 'node:assert/strict'
import { CanceledError, IoError, type PacketIo, type PacketIoRegions, type PacketIoStats } from '@tcpcopy/interface'
import { describePacketIoCompliance, runPacketIoCompliance, complianceCases, type PacketIoPair } from './index.js'

// A deliberately small loopback PacketIo, independent of @tcpcopy/io-mock, so
// the suite is checked against something it did not grow up with. `flaws`
// breaks one rule at a time to show that the suite notices.
type Flaw = 'unaligned' | 'ignores-max' | 'no-truncation-count' | 'no-cancel' | 'reorders' | 'no-readable' | 'close-throws' | 'loses-last' |
  'edge-triggered' | 'appends-listeners' | 'readable-after-close' | 'throws-whole-send' | 'ignores-desc-capacity'

const MTU = 1500
const EMSGSIZE = 90

class Loopback implements PacketIo {
  readonly kind = 'packet' as const
  peer: Loopback | undefined
  #queue: Uint8Array[] = []
  #listeners: Array<() => void> = []
  #scheduled = false
  #stats: PacketIoStats = { received: 0, sent: 0, truncated: 0, overruns: 0 }
  #closed = false
  constructor (readonly regions: PacketIoRegions & { rxDescCount: number }, readonly snap: number, readonly flaw?: Flaw) {}
  get closed (): boolean { return this.#closed }
  arrive (d: Uint8Array): void {
    if (this.#closed) return
    if (this.flaw === 'reorders') this.#queue.unshift(d)
    else this.#queue.push(d)
    if (this.flaw !== 'no-readable') this.#notifySoon(queueMicrotask)
  }
  #notifySoon (later: (fn: () => void) => void): void {
    if (this.#scheduled) return
    this.#scheduled = true
    later(() => {
      this.#scheduled = false
      if ((this.#closed && this.flaw !== 'readable-after-close') || this.#queue.length === 0) return
      for (const fn of this.#listeners.slice()) fn()
      // level-triggered: again on a later turn while something is unread
      if (this.flaw !== 'edge-triggered' && !this.#closed && this.#queue.length > 0) this.#notifySoon((fn) => { setImmediate(fn).unref() })
    })
  }
  receive (max: number): number {
    if (this.#closed && this.flaw !== 'no-cancel') throw new CanceledError()
    const { memory, rxDescOff, rxDataOff } = this.regions
    const u8 = new Uint8Array(memory.buffer)
    const dv = new DataView(memory.buffer)
    let at = rxDataOff
    let n = 0
    const limit = this.flaw === 'ignores-max' ? Infinity : this.flaw === 'ignores-desc-capacity' ? max : Math.min(max, this.regions.rxDescCount)
    while (n < limit && this.#queue.length > 0) {
      const d = this.#queue.shift()!
      const len = Math.min(d.length, this.snap)
      if (d.length > len && this.flaw !== 'no-truncation-count') this.#stats.truncated++
      u8.set(d.subarray(0, len), at)
      dv.setUint32(rxDescOff + 8 * n, at, true)
      dv.setUint32(rxDescOff + 8 * n + 4, len, true)
      at = this.flaw === 'unaligned' ? at + len : (at + len + 7) & ~7
      n++
    }
    this.#stats.received += n
    return n
  }
  send (n: number): number {
    if (this.#closed && this.flaw !== 'no-cancel') throw new CanceledError()
    const dv = new DataView(this.regions.memory.buffer)
    const take = this.flaw === 'loses-last' && n > 1 ? n - 1 : n
    const out: Uint8Array[] = []
    for (let i = 0; i < n; i++) {
      const off = dv.getUint32(this.regions.txDescOff + 16 * i, true)
      const len = dv.getUint32(this.regions.txDescOff + 16 * i + 4, true)
      if (len > MTU) {
        // a hard error on datagram i: report it now only when nothing was sent
        if (i === 0 || this.flaw === 'throws-whole-send') throw new IoError('datagram longer than the MTU', 'TC_ERR_IO', EMSGSIZE, 'sendmmsg')
        break
      }
      out.push(new Uint8Array(this.regions.memory.buffer, off, len).slice())
    }
    out.forEach((d, i) => { if (i < take) this.peer?.arrive(d) })
    this.#stats.sent += out.length
    return out.length
  }
  onReadable (fn: () => void): void {
    if (this.#closed && this.flaw !== 'readable-after-close') throw new CanceledError()
    if (this.flaw === 'appends-listeners') this.#listeners.push(fn)
    else this.#listeners = [fn]
    if (this.#queue.length > 0) this.#notifySoon(queueMicrotask)
  }
  stats (): PacketIoStats { return { ...this.#stats } }
  close (): void {
    if (this.#closed && this.flaw === 'close-throws') throw new Error('closed twice')
    this.#closed = true
  }
}

function regions (): PacketIoRegions & { rxDescCount: number } {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2 })
  return { memory, rxDescOff: 0, rxDescCount: 32, txDescOff: 4096, rxDataOff: 16384, rxDataSize: 65536 }
}

function loopbackPair (flaw?: Flaw) {
  return async (): Promise<PacketIoPair> => {
    const regionsA = regions()
    const regionsB = regions()
    const a = new Loopback(regionsA, 512, flaw)
    const b = new Loopback(regionsB, 512, flaw)
    a.peer = b
    b.peer = a
    return { a, b, regionsA, regionsB, snap: 512, maxDatagram: MTU, settleMs: 30, cleanup () { a.close(); b.close() } }
  }
}

describePacketIoCompliance('reference loopback', loopbackPair())

describe('the compliance suite itself', function () {
  this.timeout(20_000)

  const expectations: Array<[Flaw, string]> = [
    ['unaligned', 'places each datagram at an 8-byte aligned offset'],
    ['ignores-max', 'receive(max) returns at most max'],
    ['no-truncation-count', 'cuts a datagram longer than snap'],
    ['no-cancel', 'receive and send after close throw CanceledError'],
    ['reorders', 'in order, byte-exact'],
    ['no-readable', 'calls onReadable when data arrives'],
    ['close-throws', 'close is idempotent'],
    ['loses-last', 'in order, byte-exact'],
    ['edge-triggered', 'calls onReadable again while datagrams stay unread'],
    ['appends-listeners', 'keeps one onReadable callback'],
    ['readable-after-close', 'runs no onReadable callback after close'],
    ['throws-whole-send', 'send stops at a datagram the medium refuses'],
    ['ignores-desc-capacity', 'writes no more descriptors than the receive descriptor area holds']
  ]
  for (const [flaw, title] of expectations) {
    it(`fails "${title}…" for an implementation that is ${flaw}`, async () => {
      const results = await runPacketIoCompliance(loopbackPair(flaw))
      const failed = results.filter(r => r.error !== undefined).map(r => r.title)
      assert.ok(failed.some(t => t.includes(title)), `expected a failure of "${title}", got: ${failed.join(' | ') || 'none'}`)
    })
  }

  it('passes every case for the reference loopback when run without mocha', async () => {
    const results = await runPacketIoCompliance(loopbackPair())
    assert.equal(results.length, complianceCases.length)
    assert.deepEqual(results.filter(r => r.error !== undefined).map(r => `${r.title}: ${r.error!.message}`), [])
  })

  it('reports a case the options skip with its reason, without running it', async () => {
    let pairs = 0
    const make = loopbackPair()
    const results = await runPacketIoCompliance(async () => { pairs++; return await make() }, { skip: { 'deliver-b-to-a': 'a never receives' } })
    const skipped = results.filter(r => r.skipped !== undefined)
    assert.deepEqual(skipped.map(r => [r.title, r.skipped]), [['delivers in the other direction too', 'a never receives']])
    assert.equal(pairs, complianceCases.length - 1)
  })

  it('refuses to skip a case that does not exist', () => {
    assert.throws(() => { describePacketIoCompliance('x', loopbackPair(), { skip: { nosuch: 'x' } as never }) }, /no case "nosuch"/)
  })
})

import { expect } from 'chai'
import { CanceledError, IoError, isTcpcopyError } from '@tcpcopy/interface'
import { describePacketIoCompliance } from '@tcpcopy/io-compliance'
import { createMockPair, createMockNetwork, createMockRegions, createMockKernelQueue, MockPacketIo, type MockRegions } from './index.js'

describePacketIoCompliance('MockPacketIo pair', async () => {
  // 32 receive descriptors, so the capacity case has little to send; an mtu for the partial-send case
  const regionsA = createMockRegions({ maxBatch: 32 })
  const regionsB = createMockRegions({ maxBatch: 32 })
  const { a, b, network } = createMockPair({ regions: regionsA, snap: 512, mtu: 1500 }, { regions: regionsB, snap: 512, mtu: 1500 })
  return {
    a, b, regionsA, regionsB, snap: 512, maxDatagram: 1500,
    scratchA: { off: regionsA.txDataOff, size: regionsA.txDataSize },
    scratchB: { off: regionsB.txDataOff, size: regionsB.txDataSize },
    cleanup: () => { network.close() }
  }
})

/** Writes datagrams into the tx area of `r` and describes them; returns their count. */
function stage (r: MockRegions, datagrams: Uint8Array[], dst = 0): number {
  const u8 = new Uint8Array(r.memory.buffer)
  const dv = new DataView(r.memory.buffer)
  let at = r.txDataOff
  datagrams.forEach((d, i) => {
    u8.set(d, at)
    dv.setUint32(r.txDescOff + 16 * i, at, true)
    dv.setUint32(r.txDescOff + 16 * i + 4, d.length, true)
    dv.setUint32(r.txDescOff + 16 * i + 8, dst, true)
    at += (d.length + 7) & ~7
  })
  return datagrams.length
}

function received (io: MockPacketIo, n: number): Uint8Array[] {
  const { memory, rxDescOff } = io.regions
  const dv = new DataView(memory.buffer)
  return Array.from({ length: n }, (_, i) => new Uint8Array(memory.buffer, dv.getUint32(rxDescOff + 8 * i, true), dv.getUint32(rxDescOff + 8 * i + 4, true)).slice())
}

describe('MockPacketIo', () => {
  it('delivers to every linked endpoint (a hub) and logs each send with its destination word', () => {
    const net = createMockNetwork()
    const [a, b, c] = ['a', 'b', 'c'].map(name => net.endpoint(name, { regions: createMockRegions(), snap: 256, kind: 'raw-ipv4' }))
    net.connect(a!, b!)
    net.connect('a', 'c')
    expect(a!.send(stage(a!.regions as MockRegions, [Uint8Array.of(1, 2, 3)], 0x0100000a))).to.equal(1)
    expect(b!.receive(8)).to.equal(1)
    expect(c!.receive(8)).to.equal(1)
    expect(net.log).to.have.length(1)
    expect(net.log[0]).to.deep.include({ from: 'a', to: ['b', 'c'], dst: 0x0100000a })
    net.disconnect('a', 'c')
    a!.send(1)
    expect(c!.pending).to.equal(0)
    expect(net.log[1]!.to).to.deep.equal(['b'])
  })

  it('detaches a closed endpoint from the network and frees its name', () => {
    const net = createMockNetwork()
    const a = net.endpoint('a', { regions: createMockRegions(), snap: 64 })
    const b = net.endpoint('b', { regions: createMockRegions(), snap: 64 })
    net.connect(a, b)
    b.close()
    expect(net.get('b')).to.equal(undefined)
    a.send(stage(a.regions as MockRegions, [Uint8Array.of(9)]))
    expect(net.log[0]!.to).to.deep.equal([])
    expect(() => net.connect(a, b)).to.throw().with.property('code', 'TC_ERR_CONFIG_IO')
    expect(net.endpoint('b', { regions: createMockRegions(), snap: 64 }).closed).to.equal(false)
  })

  it('refuses duplicate names and self links', () => {
    const net = createMockNetwork()
    net.endpoint('a', { regions: createMockRegions(), snap: 64 })
    expect(() => net.endpoint('a', { regions: createMockRegions(), snap: 64 })).to.throw().with.property('code', 'TC_ERR_CONFIG_IO')
    expect(() => net.connect('a', 'a')).to.throw().with.property('code', 'TC_ERR_CONFIG_IO')
  })

  it('calls onReadable once per burst, in a microtask, and never synchronously', async () => {
    const io = new MockPacketIo({ regions: createMockRegions(), snap: 64 })
    let calls = 0
    io.onReadable(() => { calls++; io.receive(8) })
    io.deliver(Uint8Array.of(1))
    io.deliver(Uint8Array.of(2))
    expect(calls).to.equal(0)
    await Promise.resolve()
    expect(calls).to.equal(1)
    expect(io.stats().received).to.equal(2)
    io.deliver(Uint8Array.of(3))
    await Promise.resolve()
    expect(calls).to.equal(2)
    await new Promise((resolve) => setImmediate(resolve))
    expect(calls, 'drained: no more calls').to.equal(2)
    io.close()
  })

  it('calls onReadable again on later turns while datagrams stay unread (level-triggered), then stops', async () => {
    const io = new MockPacketIo({ regions: createMockRegions(), snap: 64 })
    let calls = 0
    io.onReadable(() => { calls++ })
    io.deliver(Uint8Array.of(1))
    await Promise.resolve()
    expect(calls).to.equal(1)
    await Promise.resolve()
    expect(calls, 'not again in the same microtask burst').to.equal(1)
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(calls).to.be.at.least(3)
    expect(io.receive(8)).to.equal(1)
    const settled = calls
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(calls).to.equal(settled)
    io.close()
  })

  it('keeps one readiness callback: a second onReadable replaces the first', async () => {
    const io = new MockPacketIo({ regions: createMockRegions(), snap: 64 })
    const calls: string[] = []
    io.onReadable(() => { calls.push('first') })
    io.onReadable(() => { calls.push('second'); io.receive(8) })
    io.deliver(Uint8Array.of(1))
    await Promise.resolve()
    expect(calls).to.deep.equal(['second'])
    io.close()
  })

  it('calls a listener added while data is pending, none after close, and onReadable after close throws CanceledError', async () => {
    const io = new MockPacketIo({ regions: createMockRegions(), snap: 64 })
    io.deliver(Uint8Array.of(1))
    let calls = 0
    io.onReadable(() => { calls++ })
    io.close()
    await Promise.resolve()
    expect(calls).to.equal(0)
    io.deliver(Uint8Array.of(2))
    expect(io.pending).to.equal(0)
    expect(() => io.onReadable(() => {})).to.throw(CanceledError)
    const pending = new MockPacketIo({ regions: createMockRegions(), snap: 64 })
    pending.deliver(Uint8Array.of(3))
    let later = 0
    pending.onReadable(() => { later++ })
    await Promise.resolve()
    expect(later).to.equal(1)
    pending.close()
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(later, 'closed with a datagram unread: no more calls').to.equal(1)
  })

  it('writes no more receive descriptors than regions.rxDescCount, whatever max is', () => {
    const r = createMockRegions({ maxBatch: 4 })
    const io = new MockPacketIo({ regions: r, snap: 64 })
    for (let i = 0; i < 7; i++) io.deliver(Uint8Array.of(i))
    const dv = new DataView(r.memory.buffer)
    const canary = r.rxDescOff + 8 * 4 // the first byte past the descriptor area (here: the tx descriptors)
    dv.setUint32(canary, 0xdeadbeef, true)
    expect(io.receive(1000)).to.equal(4)
    expect(dv.getUint32(canary, true)).to.equal(0xdeadbeef)
    expect(io.receive(1000)).to.equal(3)
    expect(() => new MockPacketIo({ regions: { ...r, rxDescCount: 1e6 }, snap: 64 })).to.throw().with.property('code', 'TC_ERR_CONFIG_IO')
    expect(() => new MockPacketIo({ regions: { ...r, rxDescOff: r.rxDataOff }, snap: 64 })).to.throw().with.property('code', 'TC_ERR_CONFIG_IO')
  })

  it('without rxDescCount, ends the descriptor area at the next region above it', () => {
    const { rxDescCount: _, ...r } = createMockRegions({ maxBatch: 4 })
    const io = new MockPacketIo({ regions: r, snap: 64 })
    for (let i = 0; i < 6; i++) io.deliver(Uint8Array.of(i))
    expect(io.receive(1000)).to.equal(4) // txDescOff follows 4 descriptors
  })

  it('a hard error on datagram k: send returns k, the next call (starting with that datagram) throws and sends nothing', () => {
    const { a, b } = createMockPair({ regions: createMockRegions(), snap: 64 }, { regions: createMockRegions(), snap: 64 })
    const r = a.regions as MockRegions
    a.failSendAt(2, 101)
    expect(a.send(stage(r, [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3), Uint8Array.of(4)]))).to.equal(2)
    expect(b.pending).to.equal(2)
    const err = (() => { try { a.send(stage(r, [Uint8Array.of(3), Uint8Array.of(4)])) } catch (e) { return e } })()
    expect(err).to.be.instanceOf(IoError).and.include({ errno: 101, syscall: 'sendmmsg' })
    expect(b.pending).to.equal(2)
    expect(a.send(stage(r, [Uint8Array.of(4)]))).to.equal(1)
    expect(received(b, b.receive(8)).map(d => d[0])).to.deep.equal([1, 2, 4])
    expect(a.stats().sent).to.equal(3)
  })

  it('with an mtu, a longer datagram is that hard error (EMSGSIZE), met again by the call that retries it', () => {
    const { a, b } = createMockPair({ regions: createMockRegions(), snap: 64, mtu: 100 }, { regions: createMockRegions(), snap: 64 })
    const r = a.regions as MockRegions
    expect(a.send(stage(r, [Uint8Array.of(1), new Uint8Array(101), Uint8Array.of(3)]))).to.equal(1)
    expect(() => a.send(stage(r, [new Uint8Array(101), Uint8Array.of(3)]))).to.throw(IoError).with.property('errno', 90)
    expect(a.send(stage(r, [Uint8Array.of(3)]))).to.equal(1)
    expect(received(b, b.receive(8)).map(d => d.length)).to.deep.equal([1, 1])
  })

  it('drop() counts a packet socket\'s kernel drops in drops and overruns; overrun() only in overruns', () => {
    const io = new MockPacketIo({ regions: createMockRegions(), snap: 64 })
    io.drop(4)
    io.overrun(1)
    expect(io.stats()).to.deep.include({ drops: 4, overruns: 5 })
  })

  it('leaves datagrams pending when the receive area is full, and reads them on the next call', () => {
    const regions = createMockRegions({ rxDataSize: 200 })
    const io = new MockPacketIo({ regions, snap: 100 })
    for (let i = 0; i < 3; i++) io.deliver(new Uint8Array(100).fill(i))
    expect(io.receive(8)).to.equal(1) // 100 + pad to 104, then 100 more do not fit in 200
    expect(io.pending).to.equal(2)
    expect(received(io, 1)[0]![0]).to.equal(0)
    expect(io.receive(8)).to.equal(1)
    expect(received(io, 1)[0]![0]).to.equal(1)
  })

  it('starts the receive area at the next 8-byte boundary when rxDataOff is not aligned', () => {
    const r = createMockRegions()
    const io = new MockPacketIo({ regions: { ...r, rxDataOff: r.rxDataOff + 3, rxDataSize: 100 }, snap: 64 })
    io.deliver(Uint8Array.of(7))
    io.receive(1)
    expect(new DataView(r.memory.buffer).getUint32(r.rxDescOff, true)).to.equal(r.rxDataOff + 8)
  })

  it('counts overruns, simulates a failed send and a partial send', () => {
    const { a, b } = createMockPair({ regions: createMockRegions(), snap: 64 }, { regions: createMockRegions(), snap: 64 })
    b.overrun(3)
    expect(b.stats().overruns).to.equal(3)
    const n = stage(a.regions as MockRegions, [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)])
    a.failNextSend(105)
    try {
      a.send(n)
      expect.fail('send should have thrown')
    } catch (e) {
      expect(e).to.be.instanceOf(IoError)
      expect((e as IoError).errno).to.equal(105)
      expect((e as IoError).syscall).to.equal('sendmmsg')
    }
    a.limitSend(2)
    expect(a.send(n)).to.equal(2)
    expect(b.pending).to.equal(2)
    a.limitSend(undefined)
    expect(a.send(n)).to.equal(3)
  })

  it('throws IoError (EFAULT) for a send descriptor outside the memory', () => {
    const r = createMockRegions()
    const io = new MockPacketIo({ regions: r, snap: 64 })
    new DataView(r.memory.buffer).setUint32(r.txDescOff, r.memory.buffer.byteLength - 2, true)
    new DataView(r.memory.buffer).setUint32(r.txDescOff + 4, 10, true)
    expect(() => io.send(1)).to.throw(IoError).with.property('errno', 14)
    expect(() => io.send(1e9)).to.throw(IoError)
  })

  it('refuses bad regions, snap and counts with TC_ERR_CONFIG_IO', () => {
    const r = createMockRegions({ rxDataSize: 64 })
    for (const opts of [{ regions: r, snap: 0 }, { regions: r, snap: 65 }, { regions: { ...r, rxDataOff: -1 }, snap: 8 },
      { regions: { ...r, rxDataSize: r.memory.buffer.byteLength }, snap: 8 }]) {
      expect(() => new MockPacketIo(opts)).to.throw().with.property('code', 'TC_ERR_CONFIG_IO')
    }
    const io = new MockPacketIo({ regions: r, snap: 64 })
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => io.receive(bad)).to.throw().with.property('code', 'TC_ERR_CONFIG_IO')
      expect(() => io.send(bad)).to.throw().with.property('code', 'TC_ERR_CONFIG_IO')
    }
  })

  it('throws CanceledError from receive and send after close, and close twice is fine', () => {
    const io = new MockPacketIo({ regions: createMockRegions(), snap: 64 })
    io.close()
    io.close()
    expect(() => io.receive(1)).to.throw(CanceledError)
    expect(() => io.send(0)).to.throw(CanceledError)
  })
})

describe('mock kernel queue', () => {
  it('hands injected datagrams to receive and records what the program sends', () => {
    const regions = createMockRegions()
    const kq = createMockKernelQueue({ regions, snap: 128 })
    expect(kq.io.kind).to.equal('nfqueue')
    kq.inject(Uint8Array.of(1, 2), new Uint8Array(200).fill(5))
    expect(kq.io.receive(16)).to.equal(2)
    const got = received(kq.io, 2)
    expect(Array.from(got[0]!)).to.deep.equal([1, 2])
    expect(got[1]!.length).to.equal(128)
    expect(kq.io.stats()).to.deep.include({ received: 2, truncated: 1 })
    kq.io.send(stage(regions, [Uint8Array.of(0x20, 0, 0, 0), Uint8Array.of(0x1c, 0, 0, 0)]))
    expect(kq.take().map(d => d[0])).to.deep.equal([0x20, 0x1c])
    expect(kq.take()).to.deep.equal([])
    expect(kq.sent).to.have.length(2)
    kq.overrun()
    expect(kq.io.stats().overruns).to.equal(1)
  })

  it('lets onSent answer a datagram, e.g. with an ack', async () => {
    const regions = createMockRegions()
    const kq = createMockKernelQueue({ regions, snap: 128, onSent: (d, q) => { q.inject(Uint8Array.of(0xac, d[0]!)) } })
    let readable = 0
    kq.io.onReadable(() => { readable++ })
    kq.io.send(stage(regions, [Uint8Array.of(7)]))
    await Promise.resolve()
    expect(readable).to.equal(1)
    expect(kq.io.receive(4)).to.equal(1)
    expect(Array.from(received(kq.io, 1)[0]!)).to.deep.equal([0xac, 7])
  })

  it('throws TC_ERR_CANCELED from its io after close', () => {
    const kq = createMockKernelQueue({ regions: createMockRegions(), snap: 64 })
    kq.io.close()
    expect(() => kq.io.receive(1)).to.throw().that.satisfies((e: unknown) => isTcpcopyError(e, 'TC_ERR_CANCELED'))
  })
})

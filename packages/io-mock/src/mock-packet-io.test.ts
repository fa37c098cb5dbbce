import { expect } from 'chai'
import { CanceledError, IoError, isTcpcopyError } from '@tcpcopy/interface'
import { describePacketIoCompliance } from '@tcpcopy/io-compliance'
import { createMockPair, createMockNetwork, createMockRegions, createMockKernelQueue, MockPacketIo, type MockRegions } from './index.js'

describePacketIoCompliance('MockPacketIo pair', async () => {
  const regionsA = createMockRegions()
  const regionsB = createMockRegions()
  const { a, b, network } = createMockPair({ regions: regionsA, snap: 512 }, { regions: regionsB, snap: 512 })
  return {
    a, b, regionsA, regionsB, snap: 512,
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
    io.onReadable(() => { calls++ })
    io.deliver(Uint8Array.of(1))
    io.deliver(Uint8Array.of(2))
    expect(calls).to.equal(0)
    await Promise.resolve()
    expect(calls).to.equal(1)
    expect(io.receive(8)).to.equal(2)
    io.deliver(Uint8Array.of(3))
    await Promise.resolve()
    expect(calls).to.equal(2)
  })

  it('calls a listener added while data is pending, and none after close', async () => {
    const io = new MockPacketIo({ regions: createMockRegions(), snap: 64 })
    io.deliver(Uint8Array.of(1))
    let calls = 0
    io.onReadable(() => { calls++ })
    io.close()
    await Promise.resolve()
    expect(calls).to.equal(0)
    io.deliver(Uint8Array.of(2))
    expect(io.pending).to.equal(0)
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

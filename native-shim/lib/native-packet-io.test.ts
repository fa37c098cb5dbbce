// NativePacketIo: the PacketIo contract over the addon (the real addon's
// loopback-test kind, or a fake), no root needed.
import { expect } from 'chai'
import { CanceledError, ConfigError } from '@tcpcopy/interface'
import { loadAddon, type NativeKind, type NativeSocketClass, type NativeSocketOptions } from './native.js'
import {
  NativePacketIo, createRawIpv4Io, createPacketIo, linkTypeOfArphrd, linkTypeOfInterface, rxDescCapacity, LINKTYPE_ETHERNET, LINKTYPE_RAW, DEFAULT_RING
} from './native-packet-io.js'
import { FakeNativeSocket, openFds, sleep } from './test-helpers.js'

const { NativeSocket } = loadAddon()
/** The real addon, forced to its socketpair kind: what send() sends, receive() gets. */
const Loopback = class extends NativeSocket {
  constructor (_kind: NativeKind, opts: NativeSocketOptions) { super('loopback-test', opts) }
} as NativeSocketClass

const memory = new WebAssembly.Memory({ initial: 4, maximum: 4 })
const RX_DESC = 0
const RX_DATA = 65536
const TX_DESC = 32768
const TX = 131072
const opts = { regions: { memory, rxDescOff: RX_DESC, rxDataOff: RX_DATA, rxDataSize: 65536, txDescOff: TX_DESC }, snap: 2048 }

function stage (lengths: number[]): void {
  const dv = new DataView(memory.buffer)
  let at = TX
  lengths.forEach((len, k) => {
    new Uint8Array(memory.buffer, at, len).fill(k + 1)
    dv.setUint32(TX_DESC + k * 16, at, true)
    dv.setUint32(TX_DESC + k * 16 + 4, len, true)
    at += len
  })
}

describe('NativePacketIo', () => {
  it('send(n) then receive(max) over the loopback native, with stats', () => {
    const io = new NativePacketIo('packet', opts, {}, Loopback)
    try {
      stage([60, 1500, 3000])
      expect(io.send(3)).to.equal(3)
      expect(io.receive(16)).to.equal(3)
      const dv = new DataView(memory.buffer)
      expect(dv.getUint32(RX_DESC + 8 + 4, true)).to.equal(1500)
      expect(dv.getUint32(RX_DESC + 16, true)).to.equal(RX_DATA + 2 * 2048)
      expect(dv.getUint32(RX_DESC + 16 + 4, true)).to.equal(2048) // cut to snap
      expect(io.stats()).to.deep.equal({ received: 3, sent: 3, truncated: 1, overruns: 0, drops: 0 })
      expect(io.send(0)).to.equal(0)
    } finally { io.close() }
  })

  it('onReadable calls back until close, and close is idempotent', async () => {
    const io = new NativePacketIo('packet', opts, {}, Loopback)
    let got = 0
    io.onReadable(() => { got += io.receive(64) })
    stage([10, 20])
    io.send(2)
    for (let i = 0; i < 50 && got < 2; i++) await sleep(5)
    expect(got).to.equal(2)
    io.close()
    io.close()
    expect(io.closed).to.equal(true)
    expect(io.fd).to.equal(-1)
    expect(io.stats().received).to.equal(2) // the last stats stay readable
  })

  it('receive, send and onReadable after close throw CanceledError', () => {
    const io = new NativePacketIo('packet', opts, {}, Loopback)
    io.close()
    expect(() => io.receive(1)).to.throw(CanceledError)
    expect(() => io.send(1)).to.throw(CanceledError)
    expect(() => io.onReadable(() => {})).to.throw(CanceledError)
  })

  it('leaves no fd open after close', async () => {
    const before = openFds()
    for (let i = 0; i < 10; i++) {
      const io = new NativePacketIo('packet', opts, {}, Loopback)
      io.onReadable(() => {})
      io.close()
    }
    await sleep(10)
    expect(openFds()).to.equal(before)
  })

  it('validates the regions and snap against the memory (ConfigError)', () => {
    const bad = (over: object, r: object = {}): unknown => () => new NativePacketIo('packet', { ...opts, ...over, regions: { ...opts.regions, ...r } }, {}, Loopback)
    expect(bad({}, { rxDataOff: 65537 })).to.throw(ConfigError, /aligned/)
    expect(bad({}, { rxDataOff: 4 * 65536 - 8, rxDataSize: 64 })).to.throw(ConfigError, /ends past/)
    expect(bad({}, { txDescOff: -1 })).to.throw(ConfigError, /txDescOff/)
    expect(bad({ snap: 0 })).to.throw(ConfigError, /snap/)
    expect(bad({ snap: 70000 })).to.throw(ConfigError, /fit/)
    expect(bad({}, { memory: {} })).to.throw(ConfigError, /WebAssembly.Memory/)
  })

  it('a bad max reaches the addon as TC_ERR_IO_ARGUMENT', () => {
    const io = new NativePacketIo('packet', opts, {}, Loopback)
    try {
      expect(() => io.receive(-1)).to.throw().with.property('code', 'TC_ERR_IO_ARGUMENT')
      expect(() => io.receive(1.5)).to.throw().with.property('code', 'TC_ERR_IO_ARGUMENT')
      expect(() => io.receive(Number.NaN)).to.throw().with.property('code', 'TC_ERR_IO_ARGUMENT')
    } finally { io.close() }
  })

  it('receive(max) writes no more descriptors than regions.rxDescCount, whatever max is; the rest stay pending', () => {
    const rxDescCount = 4
    const io = new NativePacketIo('packet', { ...opts, regions: { ...opts.regions, rxDescCount } }, {}, Loopback)
    const dv = new DataView(memory.buffer)
    try {
      stage(Array(8).fill(16))
      expect(io.send(8)).to.equal(8)
      for (let k = 0; k < 8; k++) dv.setUint32(RX_DESC + 8 * rxDescCount + 4 * k, 0xdeadbeef, true) // just past the area
      expect(io.receive(1e6)).to.equal(rxDescCount)
      for (let k = 0; k < 8; k++) expect(dv.getUint32(RX_DESC + 8 * rxDescCount + 4 * k, true)).to.equal(0xdeadbeef)
      expect(io.receive(100)).to.equal(4)
      expect(io.receive(100)).to.equal(0)
      expect(io.stats().received).to.equal(8)
    } finally { io.close() }
  })

  it('without rxDescCount, the descriptor area ends at the next region above it (or the memory end)', () => {
    const r = { memory, rxDescOff: 0, rxDataOff: 65536, rxDataSize: 65536, txDescOff: 32768 }
    expect(rxDescCapacity(r)).to.equal(32768 / 8) // up to txDescOff
    expect(rxDescCapacity({ ...r, txDescOff: 131072 })).to.equal(65536 / 8) // up to rxDataOff
    expect(rxDescCapacity({ ...r, rxDescOff: 200000, rxDataOff: 0, txDescOff: 100 })).to.equal(Math.floor((4 * 65536 - 200000) / 8)) // to the end
    expect(rxDescCapacity({ ...r, rxDescCount: 7 })).to.equal(7)
    // receive() hands the addon the capacity and a max clamped to it
    const calls: number[][] = []
    class Fake extends FakeNativeSocket {
      override recvBatch (_b: ArrayBuffer, _d: number, _o: number, _s: number, _snap: number, max: number, descCount?: number): number { calls.push([max, descCount ?? -1]); return 0 }
    }
    const io = new NativePacketIo('packet', { regions: r, snap: 8 }, {}, Fake as unknown as NativeSocketClass)
    io.receive(10_000)
    io.receive(100)
    expect(calls).to.deep.equal([[4096, 4096], [100, 4096]])
  })

  it('refuses an rxDescCount that overlaps the receive data or runs past the memory (ConfigError)', () => {
    const make = (rxDescCount: number, rxDescOff = RX_DESC): NativePacketIo => new NativePacketIo('packet', { ...opts, regions: { ...opts.regions, rxDescOff, rxDescCount } }, {}, Loopback)
    expect(() => make(8193)).to.throw(ConfigError, /overlaps the receive data/)
    expect(() => make(2, 4 * 65536 - 8)).to.throw(ConfigError, /ends past the memory/)
    expect(() => make(0)).to.throw(ConfigError, /rxDescCount/)
  })

  it('refuses a shared memory, whose SharedArrayBuffer the addon cannot write (ConfigError)', () => {
    const shared = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true })
    expect(() => new NativePacketIo('packet', { ...opts, regions: { ...opts.regions, memory: shared } }, {}, Loopback)).to.throw(ConfigError, /shared/)
  })

  it('hands the addon a copy of the filter on a plain ArrayBuffer, also when the caller\'s sits on a SharedArrayBuffer', () => {
    const seen: NativeSocketOptions[] = []
    class Fake extends FakeNativeSocket {
      constructor (_kind: unknown, o: NativeSocketOptions) { super(); seen.push(o) }
    }
    const filter = new Uint8Array(new SharedArrayBuffer(16))
    filter.set([6, 0, 0, 0, 0, 0, 4, 0], 8)
    createPacketIo({ ...opts, interface: 'eth0', filter }, Fake as unknown as NativeSocketClass)
    const passed = seen[0]!.filter!
    expect(passed.buffer).to.be.instanceOf(ArrayBuffer)
    expect(passed).to.not.equal(filter)
    expect(Array.from(passed)).to.deep.equal(Array.from(filter))
  })

  it('onReadable: a second callback replaces the first, and it is called again while datagrams stay unread', async () => {
    const io = new NativePacketIo('packet', opts, {}, Loopback)
    try {
      let first = 0
      let second = 0
      io.onReadable(() => { first++ })
      io.onReadable(() => { second++ }) // reads nothing: level-triggered, so called again and again
      stage([10])
      io.send(1)
      for (let i = 0; i < 100 && second < 3; i++) await sleep(2)
      expect(first).to.equal(0)
      expect(second).to.be.at.least(3)
      let reads = 0
      io.onReadable(() => { reads++; io.receive(16) })
      for (let i = 0; i < 100 && reads === 0; i++) await sleep(2)
      const settled = reads
      await sleep(30)
      expect(reads, 'nothing pending: no more calls').to.equal(settled)
    } finally { io.close() }
  })

  it('reads the link type of an interface from /sys/class/net/NAME/type', () => {
    const files: Record<string, string> = { '/sys/class/net/eth0/type': '1\n', '/sys/class/net/tun0/type': '65534\n', '/sys/class/net/wlan0/type': '801\n' }
    const read = (p: string): string => { const t = files[p]; if (t === undefined) throw new Error('ENOENT'); return t }
    expect(linkTypeOfInterface('eth0', read)).to.equal(LINKTYPE_ETHERNET)
    expect(linkTypeOfInterface('tun0', read)).to.equal(LINKTYPE_RAW)
    expect(linkTypeOfInterface('wlan0', read)).to.equal(undefined)
    expect(linkTypeOfInterface('nosuch0', read)).to.equal(undefined)
    expect(linkTypeOfInterface('../eth0', read)).to.equal(undefined)
    expect(linkTypeOfInterface('lo')).to.equal(LINKTYPE_ETHERNET) // the real file: ARPHRD_LOOPBACK
  })

  it('raw-ipv4 never polls and receive() returns 0', () => {
    let fake: FakeNativeSocket | undefined
    class Fake extends FakeNativeSocket {
      constructor () { super(); fake = this }
      override recvBatch (): number { throw new Error('raw-ipv4 must not read') }
    }
    const io = createRawIpv4Io(opts, Fake as unknown as NativeSocketClass)
    io.onReadable(() => {})
    expect(fake!.polls).to.equal(0)
    expect(io.receive(8)).to.equal(0)
    expect(io.send(2)).to.equal(2)
    expect(io.kind).to.equal('raw-ipv4')
  })

  it('reports the receive buffer the kernel granted', () => {
    const io = new NativePacketIo('packet', opts, { rcvbuf: 65536 }, Loopback)
    try {
      expect(io.rcvbuf).to.be.greaterThan(0)
    } finally { io.close() }
    expect(io.rcvbuf).to.equal(0)
  })

  it('maps the interface ARPHRD type to a pcap link type, and refuses unknown ones', () => {
    expect(linkTypeOfArphrd(1)).to.equal(LINKTYPE_ETHERNET) //      ARPHRD_ETHER
    expect(linkTypeOfArphrd(772)).to.equal(LINKTYPE_ETHERNET) //    ARPHRD_LOOPBACK (14-byte zero-MAC header)
    expect(linkTypeOfArphrd(65534)).to.equal(LINKTYPE_RAW) //       ARPHRD_NONE (tun, wireguard)
    expect(linkTypeOfArphrd(801)).to.equal(undefined) //            ARPHRD_IEEE80211
    let fake: FakeNativeSocket | undefined
    class Fake extends FakeNativeSocket {
      override arphrd = 801
      constructor () { super(); fake = this }
    }
    expect(() => createPacketIo({ ...opts, interface: 'wlan0' }, Fake as unknown as NativeSocketClass)).to.throw().with.property('code', 'TC_ERR_IO_LINK_TYPE')
    expect(fake!.closes).to.equal(1)
    class Cooked extends Fake { override readonly cooked = true }
    expect(createPacketIo(opts, Cooked as unknown as NativeSocketClass).linkType).to.equal(LINKTYPE_RAW)
  })

  // The ring itself needs CAP_NET_RAW: e2e/packet.test.js runs it. Here: the option mapping only.
  it('passes ring options to the addon (true: DEFAULT_RING; absent: none) and refuses bad geometry (ConfigError)', () => {
    const seen: NativeSocketOptions[] = []
    class Fake extends FakeNativeSocket {
      constructor (_kind: unknown, o: NativeSocketOptions) { super(); seen.push(o) }
    }
    const F = Fake as unknown as NativeSocketClass
    createPacketIo({ ...opts, interface: 'eth0' }, F)
    createPacketIo({ ...opts, interface: 'eth0', ring: true }, F)
    createPacketIo({ ...opts, interface: 'eth0', ring: { blockCount: 4 } }, F)
    expect(seen.map((o) => o.ring)).to.deep.equal([undefined, { ...DEFAULT_RING }, { ...DEFAULT_RING, blockCount: 4 }])
    for (const ring of [{ blockSize: 1000 }, { blockCount: 0 }, { frameSize: 24 }, { frameSize: 1 << 20 }, 'yes'] as const) {
      expect(() => createPacketIo({ ...opts, interface: 'eth0', ring: ring as never }, F)).to.throw(ConfigError).with.property('code', 'TC_ERR_CONFIG_PACKET_IO')
    }
  })
})

import { expect } from 'chai'
import { resolveConfig, interceptOptions } from '@tcpcopy/config'
import { runBpf } from '@tcpcopy/bpf'
import type { PacketIo, PacketIoOptions } from '@tcpcopy/interface'
import { CAPTURE_RING_DROP_HINT } from '@tcpcopy/intercept'
import { openInterceptCapture, captureDevices, capturePathText, CAPTURE_RING, type CaptureNatives } from './capture.js'

interface Opened { kind: string, interface?: string, filter?: Uint8Array, ring?: unknown, closed: number }

/**
 * Fake factories. `linkTypes`: what each device's socket reports (default 1,
 * Ethernet); `sysfs`: what linkTypeOf says before opening (absent: no
 * linkTypeOf at all); `failOn`: devices whose open throws.
 */
function fakes ({ linkTypes = {}, sysfs, failOn = [] }: { linkTypes?: Record<string, number>, sysfs?: Record<string, number | undefined>, failOn?: string[] } = {}): { natives: CaptureNatives, opened: Opened[] } {
  const opened: Opened[] = []
  const io = (entry: Opened, linkType?: number): PacketIo => ({ kind: entry.kind, linkType, close: () => { entry.closed++ } }) as unknown as PacketIo
  const natives = {
    createNfqueueIo: () => { const e = { kind: 'nfqueue', closed: 0 }; opened.push(e); return io(e) },
    createPacketIo: (o: { interface?: string, filter?: Uint8Array }) => {
      if (o.interface !== undefined && failOn.includes(o.interface)) throw new Error(`no such interface ${o.interface}`)
      const e = { kind: 'packet', ...o, closed: 0 }
      opened.push(e)
      return io(e, o.interface === undefined ? 101 : (linkTypes[o.interface] ?? 1))
    },
    ...(sysfs !== undefined ? { linkTypeOf: (dev: string) => sysfs[dev] } : {})
  } as unknown as CaptureNatives
  return { natives, opened }
}

/** The instructions of a compiled program, for runBpf. */
function insnsOf (prog: Uint8Array): Array<{ code: number, jt: number, jf: number, k: number }> {
  return Array.from({ length: prog.length / 8 }, (_, i) => {
    const v = new DataView(prog.buffer, prog.byteOffset + i * 8, 8)
    return { code: v.getUint16(0, true), jt: v.getUint8(2), jf: v.getUint8(3), k: v.getUint32(4, true) }
  })
}

const OPTS = { regions: {} as PacketIoOptions['regions'], snap: 512 }

/** An Ethernet + IPv4 + TCP frame from 10.0.0.2:sport. */
function frame (sport: number): Uint8Array {
  const b = new Uint8Array(54)
  const v = new DataView(b.buffer)
  v.setUint16(12, 0x0800); b[14] = 0x45; v.setUint16(16, 40); b[23] = 6
  b.set([10, 0, 0, 2], 26); b.set([10, 0, 0, 1], 30)
  v.setUint16(34, sport); v.setUint16(36, 40000); b[46] = 0x50
  return b
}

describe('intercept capture', () => {
  it('opens NFQUEUE in traditional mode', () => {
    const { natives, opened } = fakes()
    openInterceptCapture(resolveConfig(interceptOptions, {}), OPTS, natives)
    expect(opened.map(o => o.kind)).to.deep.equal(['nfqueue'])
  })

  it('opens one filtered packet socket per device in advanced mode, the filter compiled from -F', () => {
    const { natives, opened } = fakes()
    const config = resolveConfig(interceptOptions, { flags: { devices: 'eth0,eth1', filter: 'tcp and src port 8080' } })
    const ios = openInterceptCapture(config, OPTS, natives)
    expect(ios).to.be.an('array').with.length(2)
    expect(opened.map(o => o.interface)).to.deep.equal(['eth0', 'eth1'])
    const prog = opened[0]!.filter!
    expect(prog.length % 8).to.equal(0)
    // the compiled program accepts the target's responses and nothing else
    const insns = insnsOf(prog)
    expect(runBpf(insns, frame(8080))).to.be.greaterThan(0)
    expect(runBpf(insns, frame(80))).to.equal(0)
  })

  it('captures on all interfaces for -i any', () => {
    const { natives, opened } = fakes()
    const config = resolveConfig(interceptOptions, { flags: { devices: 'any', filter: 'tcp' } })
    expect(captureDevices(config)).to.deep.equal([])
    openInterceptCapture(config, OPTS, natives)
    expect(opened).to.have.length(1)
    expect(opened[0]!.interface).to.equal(undefined)
  })

  it('advanced-mode sockets receive through the TPACKET_V3 ring by default (1 ms block timeout), on each device and on all interfaces', () => {
    const devices = fakes()
    openInterceptCapture(resolveConfig(interceptOptions, { flags: { devices: 'eth0,eth1', filter: 'tcp' } }), OPTS, devices.natives)
    expect(devices.opened.map(o => [o.interface, o.ring])).to.deep.equal([['eth0', CAPTURE_RING], ['eth1', CAPTURE_RING]])
    const all = fakes()
    openInterceptCapture(resolveConfig(interceptOptions, { flags: { devices: 'any', filter: 'tcp' } }), OPTS, all.natives)
    expect(all.opened.map(o => [o.interface, o.ring])).to.deep.equal([[undefined, CAPTURE_RING]])
    expect(CAPTURE_RING).to.include({ retireMs: 1 })
    expect(CAPTURE_RING.blockSize * CAPTURE_RING.blockCount).to.equal(16 * 1024 * 1024)
    expect(CAPTURE_RING.blockSize).to.be.greaterThan(65535 + 64) // a whole GRO'd frame fits a block
  })

  it('--no-capture-ring (or INTERCEPT_CAPTURE_RING=0, or "capture-ring: false" in the file): advanced-mode sockets receive with recvmmsg, no ring', () => {
    const sources = [
      { flags: { devices: 'eth0,eth1', filter: 'tcp', captureRing: false } },
      { flags: { devices: 'eth0,eth1', filter: 'tcp' }, env: { INTERCEPT_CAPTURE_RING: '0' } },
      { file: { path: 'i.yaml', text: 'devices: [eth0, eth1]\nfilter: tcp\ncapture-ring: false\n' } }
    ]
    for (const source of sources) {
      const plain = fakes()
      openInterceptCapture(resolveConfig(interceptOptions, source), OPTS, plain.natives)
      expect(plain.opened.map(o => [o.interface, o.ring]), JSON.stringify(source)).to.deep.equal([['eth0', undefined], ['eth1', undefined]])
      expect(plain.opened.every(o => !('ring' in o)), 'no ring option at all').to.equal(true)
    }
  })

  it('traditional mode opens NFQUEUE with or without --no-capture-ring (the ring is for packet sockets only)', () => {
    for (const flags of [{}, { captureRing: false }]) {
      const { natives, opened } = fakes()
      openInterceptCapture(resolveConfig(interceptOptions, { flags }), OPTS, natives)
      expect(opened.map(o => [o.kind, o.ring])).to.deep.equal([['nfqueue', undefined]])
    }
  })

  it('names the capture path for the start-up line, with the ring\'s real geometry; the drop hint states the same ring size', () => {
    expect(capturePathText({ captureRing: true })).to.equal('TPACKET_V3 ring (16 MiB per socket, 128 blocks, each handed over after 1 ms at most)')
    expect(capturePathText({ captureRing: false })).to.equal('recvmmsg from the socket buffer (--no-capture-ring)')
    const mib = (CAPTURE_RING.blockSize * CAPTURE_RING.blockCount) / (1024 * 1024)
    expect(CAPTURE_RING_DROP_HINT).to.include(`${mib} MiB per socket`).and.include('--no-capture-ring')
  })

  it('compiles each device\'s filter for its own link type: raw IP on a tun device, Ethernet on eth0', () => {
    const { natives, opened } = fakes({ linkTypes: { tun0: 101 }, sysfs: { eth0: 1, tun0: 101 } })
    const config = resolveConfig(interceptOptions, { flags: { devices: 'eth0,tun0', filter: 'tcp and src port 8080' } })
    const ios = openInterceptCapture(config, OPTS, natives) as PacketIo[]
    expect(ios.map(io => (io as unknown as { linkType: number }).linkType)).to.deep.equal([1, 101])
    expect(opened.map(o => [o.interface, o.closed])).to.deep.equal([['eth0', 0], ['tun0', 0]]) // each opened once, with the right program
    const eth = insnsOf(opened[0]!.filter!)
    const raw = insnsOf(opened[1]!.filter!)
    expect(runBpf(eth, frame(8080))).to.be.greaterThan(0)
    expect(runBpf(raw, frame(8080).subarray(14))).to.be.greaterThan(0) // the IP packet, as a tun device delivers it
    expect(runBpf(raw, frame(80).subarray(14))).to.equal(0)
    expect(runBpf(eth, frame(8080).subarray(14)), 'the Ethernet program would miss everything on tun0').to.equal(0)
  })

  it('when the link type cannot be read first, opens again with the program for the link type the socket reports', () => {
    const { natives, opened } = fakes({ linkTypes: { tun0: 101 }, sysfs: { tun0: undefined } })
    const config = resolveConfig(interceptOptions, { flags: { devices: 'tun0', filter: 'tcp and src port 8080' } })
    const io = openInterceptCapture(config, OPTS, natives) as PacketIo
    expect((io as unknown as { linkType: number }).linkType).to.equal(101)
    expect(opened.map(o => [o.interface, o.closed])).to.deep.equal([['tun0', 1], ['tun0', 0]]) // the Ethernet-filtered socket was closed
    expect(runBpf(insnsOf(opened[1]!.filter!), frame(8080).subarray(14))).to.be.greaterThan(0)
  })

  it('closes the sockets already open when a later device fails, and passes the error on', () => {
    const { natives, opened } = fakes({ failOn: ['eth2'] })
    const config = resolveConfig(interceptOptions, { flags: { devices: 'eth0,eth1,eth2', filter: 'tcp' } })
    expect(() => openInterceptCapture(config, OPTS, natives)).to.throw('no such interface eth2')
    expect(opened.map(o => [o.interface, o.closed])).to.deep.equal([['eth0', 1], ['eth1', 1]])
  })
})

import { expect } from 'chai'
import { resolveConfig, interceptOptions } from '@tcpcopy/config'
import { runBpf } from '@tcpcopy/bpf'
import type { PacketIo, PacketIoOptions } from '@tcpcopy/interface'
import { openInterceptCapture, captureDevices, CAPTURE_RING, type CaptureNatives } from './capture.js'

function fakes (): { natives: CaptureNatives, opened: Array<{ kind: string, interface?: string, filter?: Uint8Array, ring?: unknown }> } {
  const opened: Array<{ kind: string, interface?: string, filter?: Uint8Array, ring?: unknown }> = []
  const io = { kind: 'packet' } as unknown as PacketIo
  const natives = {
    createNfqueueIo: () => { opened.push({ kind: 'nfqueue' }); return io },
    createPacketIo: (o: { interface?: string, filter?: Uint8Array }) => { opened.push({ kind: 'packet', ...o }); return io }
  } as unknown as CaptureNatives
  return { natives, opened }
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
    const insns = Array.from({ length: prog.length / 8 }, (_, i) => {
      const v = new DataView(prog.buffer, prog.byteOffset + i * 8, 8)
      return { code: v.getUint16(0, true), jt: v.getUint8(2), jf: v.getUint8(3), k: v.getUint32(4, true) }
    })
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

  it('--capture-ring: advanced-mode sockets receive through the TPACKET_V3 ring (1 ms block timeout); without it, recvmmsg', () => {
    const plain = fakes()
    openInterceptCapture(resolveConfig(interceptOptions, { flags: { devices: 'eth0,eth1', filter: 'tcp' } }), OPTS, plain.natives)
    expect(plain.opened.map(o => o.ring)).to.deep.equal([undefined, undefined])
    const ringed = fakes()
    openInterceptCapture(resolveConfig(interceptOptions, { flags: { devices: 'eth0,eth1', filter: 'tcp', captureRing: true } }), OPTS, ringed.natives)
    expect(ringed.opened.map(o => o.ring)).to.deep.equal([CAPTURE_RING, CAPTURE_RING])
    expect(CAPTURE_RING).to.include({ retireMs: 1 })
    expect(CAPTURE_RING.blockSize * CAPTURE_RING.blockCount).to.equal(16 * 1024 * 1024)
    expect(CAPTURE_RING.blockSize).to.be.greaterThan(65535 + 64) // a whole GRO'd frame fits a block
  })
})

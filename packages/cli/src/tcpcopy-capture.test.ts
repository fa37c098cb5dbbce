// tcpcopy's capture sockets: the filter follows each device's link type.
import { expect } from 'chai'
import { resolveConfig, tcpcopyOptions, type TcpcopyConfig } from '@tcpcopy/config'
import { runBpf, type BpfInsn } from '@tcpcopy/bpf'
import type { PacketIo, PacketIoOptions } from '@tcpcopy/interface'
import { TimerQueue, TimerSlot, type CopyTimers } from '@tcpcopy/copy'
import type { NativeWakeTimer } from '@tcpcopy/native-shim'
import { liveTimers, openCopyCapture, openCopySend, turnSleep, type CopyNatives } from './tcpcopy-capture.js'

const OPTS = { regions: {} as PacketIoOptions['regions'], snap: 65535 + 64 }
const config = (flags: Record<string, string | boolean>): TcpcopyConfig => resolveConfig(tcpcopyOptions, { flags: { intercepts: '10.0.0.3', ...flags } })

interface Opened { interface?: string, filter?: Uint8Array, closed: number }

function fakes (linkTypes: Record<string, number>, sysfs?: Record<string, number | undefined>): { natives: CopyNatives, opened: Opened[] } {
  const opened: Opened[] = []
  const natives = {
    createPacketIo: (o: { interface?: string, filter?: Uint8Array }) => {
      const e: Opened = { ...o, closed: 0 }
      opened.push(e)
      return { kind: 'packet', linkType: o.interface === undefined ? 101 : (linkTypes[o.interface] ?? 1), close: () => { e.closed++ } } as unknown as PacketIo
    },
    createRawIpv4Io: () => ({ kind: 'raw-ipv4', close () {} }) as unknown as PacketIo,
    ...(sysfs !== undefined ? { linkTypeOf: (dev: string) => sysfs[dev] } : {})
  } as unknown as CopyNatives
  return { natives, opened }
}

function insnsOf (prog: Uint8Array): BpfInsn[] {
  return Array.from({ length: prog.length / 8 }, (_, i) => {
    const v = new DataView(prog.buffer, prog.byteOffset + i * 8, 8)
    return { code: v.getUint16(0, true), jt: v.getUint8(2), jf: v.getUint8(3), k: v.getUint32(4, true) }
  })
}

/** An IPv4+TCP packet 10.0.0.9:40000 → 10.0.0.1:dport, with an Ethernet header when eth. */
function packet (dport: number, eth: boolean): Uint8Array {
  const l2 = eth ? 14 : 0
  const b = new Uint8Array(l2 + 40)
  const v = new DataView(b.buffer)
  if (eth) v.setUint16(12, 0x0800)
  b[l2] = 0x45; v.setUint16(l2 + 2, 40); b[l2 + 9] = 6
  b.set([10, 0, 0, 9], l2 + 12); b.set([10, 0, 0, 1], l2 + 16)
  v.setUint16(l2 + 20, 40000); v.setUint16(l2 + 22, dport); b[l2 + 32] = 0x50
  return b
}

describe('tcpcopy capture on named devices', () => {
  it('compiles the -x filter for raw IP on a tun device and for Ethernet on eth0', () => {
    const { natives, opened } = fakes({ tun0: 101 }, { eth0: 1, tun0: 101 })
    openCopyCapture(config({ targets: '80-10.0.0.2:8080', input: 'eth0,tun0' }), OPTS, natives)
    expect(opened.map((o) => [o.interface, o.closed])).to.deep.equal([['eth0', 0], ['tun0', 0]])
    expect(runBpf(insnsOf(opened[0]!.filter!), packet(80, true))).to.be.greaterThan(0)
    expect(runBpf(insnsOf(opened[1]!.filter!), packet(80, false))).to.be.greaterThan(0)
    expect(runBpf(insnsOf(opened[1]!.filter!), packet(81, false))).to.equal(0)
  })

  it('opens again with the raw-IP program when the socket reports raw IP that could not be read first', () => {
    const { natives, opened } = fakes({ tun0: 101 })
    const io = openCopyCapture(config({ targets: '80-10.0.0.2:8080', input: 'tun0' }), OPTS, natives) as PacketIo
    expect((io as unknown as { linkType: number }).linkType).to.equal(101)
    expect(opened.map((o) => o.closed)).to.deep.equal([1, 0])
    expect(runBpf(insnsOf(opened[1]!.filter!), packet(80, false))).to.be.greaterThan(0)
  })
})

describe('tcpcopy send socket', () => {
  it('-o: the link-layer send socket has a filter that accepts no packet, so nothing fills its receive buffer', () => {
    const { natives, opened } = fakes({ eth0: 1 }, { eth0: 1 })
    openCopySend(config({ targets: '80@00:11:22:33:44:55-10.0.0.2:8080@66:77:88:99:aa:bb', outputDevice: 'eth0' }), OPTS, natives)
    expect(opened).to.have.length(1)
    expect(opened[0]!.interface).to.equal('eth0')
    const prog = insnsOf(opened[0]!.filter!)
    expect(prog.length).to.be.greaterThan(0)
    expect(runBpf(prog, packet(80, true))).to.equal(0)
    expect(runBpf(prog, packet(81, true))).to.equal(0)
  })

  it('without -o sends through a raw IPv4 socket and opens no packet socket', () => {
    const { natives, opened } = fakes({})
    const io = openCopySend(config({ targets: '80-10.0.0.2:8080' }), OPTS, natives)
    expect(io.kind).to.equal('raw-ipv4')
    expect(opened).to.have.length(0)
  })
})

describe('tcpcopy turn sleep (--wake-interval)', () => {
  it('blocks for the rest of the window on the native clock_nanosleep', () => {
    const sleep = turnSleep()
    const t0 = process.hrtime.bigint()
    sleep(2.5)
    expect(Number(process.hrtime.bigint() - t0) / 1e6).to.be.at.least(2.5)
  })
})

describe('tcpcopy live timers', () => {
  it("drive the session timer queue with the shim's WakeTimer: one native timer, re-armed, closed with the queue", async () => {
    const base = liveTimers()
    expect(base.wakeTimer).to.be.a('function')
    const made: NativeWakeTimer[] = []
    const timers: CopyTimers = { ...base, wakeTimer: (fn) => { const t = base.wakeTimer!(fn) as NativeWakeTimer; made.push(t); return t } }
    const fired: string[] = []
    const now = (): number => performance.now()
    const q = new TimerQueue<string>(now, timers, (slot) => { fired.push(slot.owner) }, () => {})
    expect(made).to.have.length(1)
    q.arm(new TimerSlot('b', 0), now() + 20)
    q.arm(new TimerSlot('a', 0), now() + 5)
    expect(made[0]?.armed).to.equal(true)
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(fired).to.deep.equal(['a', 'b'])
    expect(made[0]?.armed).to.equal(false)
    q.arm(new TimerSlot('c', 0), now() + 1000)
    q.close()
    expect(made[0]?.closed).to.equal(true)
    expect(made).to.have.length(1)
  })
})

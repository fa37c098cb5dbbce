import { expect } from 'chai'
import { MockPacketIo } from '@tcpcopy/io-mock'
import { LinkType } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, TX_DESC_OFF } from '@tcpcopy/wasm'
import { encodeCombinedFrame, encodeRecord } from '@tcpcopy/protocol'
import { IoError, isTcpcopyError, type PacketIo, type PacketIoStats } from '@tcpcopy/interface'
import type { TcpcopyConfig } from '@tcpcopy/config'
import { copyRegions, createCopy, createCopyCore, type Copy, type CopyDeps, type CopyExit } from './engine.js'
import { MemoryLogger } from './logger.js'
import { rawAddress } from './filter.js'
import { ACK, FIN, PSH, RST, SYN, FakeClock, ethernet, fakeConnector, hex, ip, makeConfig, packet } from './test/helpers.js'

interface Sent { bytes: Uint8Array, dst: number }

interface Rig {
  copy: Copy
  clock: FakeClock
  sockets: ReturnType<typeof fakeConnector>
  sent: Sent[]
  sendIo: MockPacketIo
  log: MemoryLogger
  events: string[]
  exits: CopyExit[]
}

function rig (config: TcpcopyConfig, opts: { connect?: 'accept' | 'refuse' | 'none', kind?: 'raw-ipv4' | 'packet', deps?: Partial<CopyDeps> } = {}): Rig {
  const core = createCopyCore()
  const clock = new FakeClock()
  const sockets = fakeConnector(opts.connect ?? 'accept')
  const sent: Sent[] = []
  const events: string[] = []
  const exits: CopyExit[] = []
  const sendIo = new MockPacketIo({
    kind: opts.kind ?? 'raw-ipv4',
    regions: copyRegions(core),
    snap: 65536,
    sink: (bytes, dst) => {
      sent.push({ bytes, dst })
      events.push('send')
    }
  })
  const log = new MemoryLogger()
  const connect: CopyDeps['connect'] = (host, port) => {
    const s = sockets.connect(host, port)
    const write = s.write.bind(s)
    s.write = (d: Uint8Array) => {
      events.push(`write:${d.length}`)
      return write(d) as boolean
    }
    return s
  }
  const copy = createCopy(config, {
    core, send: sendIo, connect, clock: clock.clock, timers: clock, log, random: () => 0.5, statsIntervalMs: 0,
    onExit: (e) => { exits.push(e) },
    ...opts.deps
  })
  return { copy, clock, sockets, sent, sendIo, log, events, exits }
}

const CLIENT = '10.0.0.1'
const ONLINE = '10.0.0.80'

function syn (port = 40000, seq = 1000): Uint8Array {
  return packet({ src: CLIENT, dst: ONLINE, sport: port, dport: 80, seq, flags: SYN, mss: 1460, window: 64240 })
}

function tcpOf (b: Uint8Array, l3 = 0): { sport: number, dport: number, seq: number, ack: number, flags: number, src: number, dst: number, len: number } {
  const dv = new DataView(b.buffer, b.byteOffset + l3)
  const ihl = (b[l3]! & 15) * 4
  return {
    src: dv.getUint32(12),
    dst: dv.getUint32(16),
    sport: dv.getUint16(ihl),
    dport: dv.getUint16(ihl + 2),
    seq: dv.getUint32(ihl + 4),
    ack: dv.getUint32(ihl + 8),
    flags: b[l3 + ihl + 13]!,
    len: dv.getUint16(2) - ihl - (b[l3 + ihl + 12]! >> 4) * 4
  }
}

async function flushMicrotasks (): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

describe('createCopy', () => {
  it('refuses PacketIos without the core whose memory they use', () => {
    const core = createCopyCore()
    const io = new MockPacketIo({ kind: 'raw-ipv4', regions: copyRegions(core), snap: 2048 })
    expect(() => createCopy(makeConfig(), { send: io })).to.throw().that.satisfies((e: unknown) => isTcpcopyError(e, 'TC_ERR_CONFIG_COPY'))
  })

  it('refuses a send PacketIo of another kind at start()', async () => {
    const core = createCopyCore()
    const io = new MockPacketIo({ kind: 'nfqueue', regions: copyRegions(core), snap: 2048 })
    const copy = createCopy(makeConfig(), { core, send: io, connect: fakeConnector().connect, statsIntervalMs: 0, memoryCheckIntervalMs: 0 })
    try {
      await copy.start()
      expect.fail('start() should have failed')
    } catch (err) {
      expect(isTcpcopyError(err, 'TC_ERR_CONFIG_COPY')).to.equal(true)
    }
    expect((await copy.done).reason).to.equal('error')
  })
})

describe('control channel', () => {
  it('opens -C connections to every -s intercept and sends the hello first (version 6 for 1.x)', async () => {
    const r = rig(makeConfig({ intercepts: '10.0.2.1,10.0.2.2:4000', connections: '3' }))
    await r.copy.start()
    expect(r.sockets.sockets.map((s) => `${s.host}:${s.port}`)).to.deep.equal([
      '10.0.2.1:36524', '10.0.2.1:36524', '10.0.2.1:36524', '10.0.2.2:4000', '10.0.2.2:4000', '10.0.2.2:4000'
    ])
    for (const s of r.sockets.sockets) expect(s.bytes).to.deep.equal(hex('00 00 00 00 00 00 00 06 00 00 00 00 00 00'))
    expect(r.copy.state).to.equal('running')
    await r.copy.stop()
  })

  it('sends hello version 5 with --protocol 0.9', async () => {
    const r = rig(makeConfig({ protocol: '0.9', intercepts: '10.0.2.1' }))
    await r.copy.start()
    expect(r.sockets.sockets[0]!.bytes).to.deep.equal(hex('00 00 00 00 00 00 00 05 00 00 00 00 00 00'))
    await r.copy.stop()
  })

  it('sends CLIENT_ADD to every active intercept, round-robin over its connections, before the SYN', async () => {
    const r = rig(makeConfig({ intercepts: '10.0.2.1,10.0.2.2', connections: '2' }))
    await r.copy.start()
    r.events.length = 0
    r.copy.ingest(syn(40000), LinkType.Raw, 0)
    r.copy.ingest(syn(40001), LinkType.Raw, 0)
    // Each SYN: one 14-byte CLIENT_ADD per intercept, then the SYN goes out at the end of the turn.
    expect(r.events).to.deep.equal(['write:14', 'write:14', 'send', 'write:14', 'write:14', 'send'])
    const [a1, a2, b1, b2] = r.sockets.sockets
    // V2 form: clt_ip, clt_port, type 1, target ip, target port
    expect(a2!.bytes.subarray(14)).to.deep.equal(hex('0a 00 00 01 9c 40 00 01 0a 00 01 02 1f 90'))
    expect(a1!.bytes.subarray(14)).to.deep.equal(hex('0a 00 00 01 9c 41 00 01 0a 00 01 02 1f 90'))
    expect(b2!.bytes.subarray(14)).to.deep.equal(hex('0a 00 00 01 9c 40 00 01 0a 00 01 02 1f 90'))
    expect(b1!.bytes.subarray(14)).to.deep.equal(hex('0a 00 00 01 9c 41 00 01 0a 00 01 02 1f 90'))
    expect(r.copy.stats().intercepts.clientAdds).to.equal(2)
    await r.copy.stop()
  })

  it('fails start() with TC_ERR_COPY_NO_INTERCEPT when no intercept can be reached, and says why in done', async () => {
    const r = rig(makeConfig(), { connect: 'refuse' })
    try {
      await r.copy.start()
      expect.fail('start() should have failed')
    } catch (err) {
      expect(isTcpcopyError(err, 'TC_ERR_COPY_NO_INTERCEPT')).to.equal(true)
      expect((err as Error).message).to.match(/10\.0\.2\.1:36524.*-L\/--lonely/)
    }
    const exit = await r.copy.done
    expect(exit.reason).to.equal('no-intercept')
    expect(r.copy.state).to.equal('stopped')
  })

  it('stops with TC_ERR_COPY_NO_INTERCEPT when every intercept is lost (no -L)', async () => {
    const r = rig(makeConfig({ connections: '2' }))
    await r.copy.start()
    r.copy.ingest(syn(), LinkType.Raw, 0)
    for (const s of r.sockets.sockets) s.drop()
    const exit = await r.copy.done
    expect(exit.reason).to.equal('no-intercept')
    expect(exit.error?.code).to.equal('TC_ERR_COPY_NO_INTERCEPT')
    // the live session got its passive RST on the way out
    expect(tcpOf(r.sent.at(-1)!.bytes).flags & RST).to.equal(RST)
  })

  it('keeps running after losing one of two intercepts and reconnects it after 1 s', async () => {
    const r = rig(makeConfig({ intercepts: '10.0.2.1,10.0.2.2', connections: '1' }))
    await r.copy.start()
    r.sockets.sockets[1]!.drop()
    expect(r.copy.state).to.equal('running')
    expect(r.copy.stats().intercepts.active).to.equal(1)
    r.clock.advance(1000)
    await flushMicrotasks()
    expect(r.sockets.sockets).to.have.length(3)
    expect(r.copy.stats().intercepts.active).to.equal(2)
    expect(r.copy.stats().intercepts.reconnects).to.equal(1)
    expect(r.log.find(/lost/, 'warn')).to.have.length(1)
    await r.copy.stop()
  })

  it('-L: keeps running without any intercept, drops SYNs it cannot announce, and retries every 12 s', async () => {
    const r = rig(makeConfig({ lonely: true, connections: '1' }), { connect: 'refuse' })
    await r.copy.start()
    expect(r.copy.state).to.equal('running')
    r.copy.ingest(syn(), LinkType.Raw, 0)
    expect(r.sent).to.have.length(0)
    expect(r.copy.stats().notReplayed.noIntercept).to.equal(1)
    r.clock.advance(12000)
    await flushMicrotasks()
    r.clock.advance(12000)
    await flushMicrotasks()
    expect(r.sockets.sockets).to.have.length(3)
    r.sockets.setAuto('accept')
    r.clock.advance(12000)
    await flushMicrotasks()
    expect(r.copy.stats().intercepts.active).to.equal(1)
    r.copy.ingest(syn(40001), LinkType.Raw, 0)
    expect(r.sent).to.have.length(1)
    await r.copy.stop()
  })

  it('closes a connection whose records do not fit the configured format (protocol error)', async () => {
    const r = rig(makeConfig({ connections: '2' }))
    await r.copy.start()
    r.sockets.sockets[0]!.data(hex('00 20')) // a combined count of 32 > 16
    expect(r.sockets.sockets[0]!.destroyed).to.equal(true)
    expect(r.log.find(/combined frame announces 32 records/, 'error')).to.have.length(1)
    expect(r.copy.state).to.equal('running')
    await r.copy.stop()
  })

  it('reads records split at any byte boundary and matches them to the session', async () => {
    const r = rig(makeConfig({ connections: '1' }))
    await r.copy.start()
    r.copy.ingest(syn(40000, 1000), LinkType.Raw, 0)
    const synAck = packet({ src: '10.0.1.2', dst: CLIENT, sport: 8080, dport: 40000, seq: 5000, ack: 1001, flags: SYN | ACK, window: 29200, mss: 1460 })
    const frame = encodeCombinedFrame([encodeRecord(synAck, { dialect: '1.x', payload: false })], { dialect: '1.x', payload: false })
    for (let i = 0; i < frame.length; i += 7) r.sockets.sockets[0]!.data(frame.subarray(i, i + 7))
    expect(r.copy.stats().responses.received).to.equal(1)
    expect(r.copy.stats().sessions.established).to.equal(1)
    // the client's captured third ACK now goes out with the target's ack
    r.copy.ingest(packet({ src: CLIENT, dst: ONLINE, sport: 40000, dport: 80, seq: 1001, ack: 777, flags: ACK }), LinkType.Raw, 1)
    const third = tcpOf(r.sent.at(-1)!.bytes)
    expect(third.flags).to.equal(ACK)
    expect(third.ack).to.equal(5001)
    await r.copy.stop()
  })
})

describe('capture and send', () => {
  it('reads frames from a capture PacketIo on the core regions and sends them rewritten', async () => {
    const core = createCopyCore()
    const capture = new MockPacketIo({ kind: 'packet', regions: copyRegions(core), snap: 65600 })
    const sent: Sent[] = []
    const send = new MockPacketIo({ kind: 'raw-ipv4', regions: copyRegions(core), snap: 65536, sink: (bytes, dst) => { sent.push({ bytes, dst }) } })
    const clock = new FakeClock()
    const copy = createCopy(makeConfig(), {
      core, capture, send, linkType: LinkType.Ethernet, connect: fakeConnector().connect, clock: clock.clock, timers: clock, statsIntervalMs: 0
    })
    await copy.start()
    capture.deliver(ethernet(syn(40000, 1000)))
    capture.deliver(ethernet(packet({ src: CLIENT, dst: '10.0.0.81', sport: 40001, dport: 81, seq: 1, flags: SYN })))
    await flushMicrotasks()
    expect(sent).to.have.length(1)
    const t = tcpOf(sent[0]!.bytes)
    expect(t.dst).to.equal(ip('10.0.1.2'))
    expect(t.dport).to.equal(8080)
    expect(t.src).to.equal(ip(CLIENT))
    expect(t.sport).to.equal(40000)
    expect(t.seq).to.equal(1000)
    // the descriptor's dst word holds the address bytes in network order (read here little-endian, as stored)
    expect(sent[0]!.dst).to.equal(rawAddress(ip('10.0.1.2')))
    expect(copy.stats().packets.captured).to.equal(2)
    expect(copy.stats().notReplayed.notMapped).to.equal(1)
    await copy.stop()
    expect(capture.closed).to.equal(true)
    expect(send.closed).to.equal(true)
  })

  it('reads the capture until a batch comes back smaller than the largest it delivered, not until a read finds nothing', async () => {
    const core = createCopyCore()
    const reads: number[] = []
    class CountingIo extends MockPacketIo {
      override receive (max: number): number {
        const n = super.receive(max)
        reads.push(n)
        return n
      }
    }
    const capture = new CountingIo({ kind: 'packet', regions: copyRegions(core), snap: 65600 })
    const send = new MockPacketIo({ kind: 'raw-ipv4', regions: copyRegions(core), snap: 65536 })
    const clock = new FakeClock()
    const copy = createCopy(makeConfig(), {
      core, capture, send, linkType: LinkType.Ethernet, connect: fakeConnector().connect, clock: clock.clock, timers: clock, statsIntervalMs: 0
    })
    await copy.start()
    for (let i = 0; i < 3; i++) capture.deliver(ethernet(syn(40000 + i, 1000)))
    await flushMicrotasks()
    // the first batch is the largest so far: one more read, which finds the socket empty
    expect(reads).to.deep.equal([3, 0])
    capture.deliver(ethernet(syn(40010, 1000)))
    await flushMicrotasks()
    // 1 < 3: drained, no read that would find nothing
    expect(reads).to.deep.equal([3, 0, 1])
    expect(copy.stats().packets.captured).to.equal(4)
    // what comes later wakes the engine again (the readiness is level-triggered)
    capture.deliver(ethernet(syn(40011, 1000)))
    capture.deliver(ethernet(syn(40012, 1000)))
    await flushMicrotasks()
    expect(reads).to.deep.equal([3, 0, 1, 2])
    expect(copy.stats().packets.captured).to.equal(6)
    await copy.stop()
  })

  describe('--wake-interval: busy live turns are spaced by a sleep', () => {
    function spacedRig (wakeInterval: number): { copy: Copy, capture: MockPacketIo, clock: FakeClock, sleeps: number[], sent: Sent[], sockets: ReturnType<typeof fakeConnector> } {
      const core = createCopyCore()
      const capture = new MockPacketIo({ kind: 'packet', regions: copyRegions(core), snap: 65600 })
      const sent: Sent[] = []
      const send = new MockPacketIo({ kind: 'raw-ipv4', regions: copyRegions(core), snap: 65536, sink: (bytes, dst) => { sent.push({ bytes, dst }) } })
      const clock = new FakeClock()
      clock.now = 1000
      const sleeps: number[] = []
      const sockets = fakeConnector()
      const copy = createCopy(makeConfig({}, { wakeInterval }), {
        core, capture, send, linkType: LinkType.Ethernet, connect: sockets.connect, clock: clock.clock, timers: clock, statsIntervalMs: 0,
        sleep: (ms) => { sleeps.push(ms); clock.now += ms }
      })
      return { copy, capture, clock, sleeps, sent, sockets }
    }

    it('the first turn after a quiet spell runs and sends at once; a turn within the interval sleeps out the rest of it, after its send', async () => {
      const r = spacedRig(2)
      await r.copy.start()
      r.capture.deliver(ethernet(syn(40000, 1000)))
      await flushMicrotasks()
      expect(r.sleeps, 'an idle tcpcopy does not wait').to.deep.equal([])
      expect(r.sent).to.have.length(1)
      r.clock.now += 0.5
      r.capture.deliver(ethernet(syn(40001, 1000)))
      await flushMicrotasks()
      expect(r.sent, 'the turn sent its packet before sleeping').to.have.length(2)
      expect(r.sleeps).to.deep.equal([1.5])
      // straight after the sleep: a whole interval
      r.capture.deliver(ethernet(syn(40002, 1000)))
      await flushMicrotasks()
      expect(r.sleeps).to.deep.equal([1.5, 2])
      // a quiet spell longer than the interval: no wait again
      r.clock.now += 5
      r.capture.deliver(ethernet(syn(40003, 1000)))
      await flushMicrotasks()
      expect(r.sleeps).to.deep.equal([1.5, 2])
      expect(r.sent).to.have.length(4)
      expect(r.copy.stats().packets.captured).to.equal(4)
      await r.copy.stop()
    })

    it('spaces control turns (records from intercept) as well as capture turns', async () => {
      const r = spacedRig(2)
      await r.copy.start()
      await flushMicrotasks()
      r.capture.deliver(ethernet(syn(40000, 1000)))
      await flushMicrotasks()
      expect(r.sleeps).to.deep.equal([])
      r.clock.now += 1
      // an (unroutable) SYN-ACK record in a combined frame: a control turn 1 ms into the window
      const synAck = packet({ src: '10.0.1.2', dst: '10.9.9.9', sport: 8080, dport: 40999, seq: 5000, ack: 1001, flags: SYN | ACK, window: 29200, mss: 1460 })
      r.sockets.sockets[0]!.data(encodeCombinedFrame([encodeRecord(synAck, { dialect: '1.x', payload: false })], { dialect: '1.x', payload: false }))
      await flushMicrotasks()
      expect(r.sleeps).to.deep.equal([1])
      await r.copy.stop()
    })

    it('0 never sleeps', async () => {
      const r = spacedRig(0)
      await r.copy.start()
      for (let i = 0; i < 5; i++) {
        r.capture.deliver(ethernet(syn(40000 + i, 1000)))
        await flushMicrotasks()
      }
      expect(r.sleeps).to.deep.equal([])
      expect(r.sent).to.have.length(5)
      await r.copy.stop()
    })

    it('gives the timers that hold back no request the same slack: a SYN retransmission fires the interval late', async () => {
      for (const [interval, late] of [[0, 0], [2, 2]] as const) {
        const r = spacedRig(interval)
        await r.copy.start()
        r.capture.deliver(ethernet(syn(40000, 1000)))
        await flushMicrotasks()
        expect(r.sent).to.have.length(1)
        // The SYN's retransmission timer (100 ms): no packet comes meanwhile.
        r.clock.advance(100 + late - 0.5)
        expect(r.sent, `--wake-interval ${interval}: not yet`).to.have.length(1)
        r.clock.advance(0.5)
        expect(r.sent, `--wake-interval ${interval}: the SYN again, ${late} ms after it came due`).to.have.length(2)
        expect(r.copy.stats().packets.retransmitted).to.equal(1)
        await r.copy.stop()
      }
    })

    it('offline replay and the simulator (ingest, no live capture) are never spaced', async () => {
      const sleeps: number[] = []
      const core = createCopyCore()
      const send = new MockPacketIo({ kind: 'raw-ipv4', regions: copyRegions(core), snap: 65536 })
      const clock = new FakeClock()
      const copy = createCopy(makeConfig({}, { wakeInterval: 2 }), {
        core, send, linkType: LinkType.Ethernet, connect: fakeConnector().connect, clock: clock.clock, timers: clock, statsIntervalMs: 0,
        sleep: (ms) => { sleeps.push(ms) }
      })
      await copy.start()
      for (let i = 0; i < 5; i++) copy.ingest(ethernet(syn(40000 + i, 1000)), LinkType.Ethernet)
      await flushMicrotasks()
      expect(sleeps).to.deep.equal([])
      expect(copy.stats().packets.captured).to.equal(5)
      await copy.stop()
    })

    it('takes a session\'s rtt as the least its capture reads allow: a packet read late (a spaced turn, a stall) did not come late', async () => {
      const r = spacedRig(0)
      await r.copy.start()
      const ack = (port: number): Uint8Array => ethernet(packet({ src: CLIENT, dst: ONLINE, sport: port, dport: 80, seq: 1001, ack: 1, flags: ACK, window: 64240 }))
      r.capture.deliver(ethernet(syn(40000, 1000)))
      await flushMicrotasks()
      // Its ACK came some time in the next 6 ms; the read that finds it is the first after the SYN's.
      r.clock.now += 6
      r.capture.deliver(ack(40000))
      await flushMicrotasks()
      // Another SYN, then a read 4 ms later that drained the socket without this session's ACK: it came after that.
      r.capture.deliver(ethernet(syn(40001, 1000)))
      await flushMicrotasks()
      r.clock.now += 4
      r.capture.deliver(ethernet(syn(40002, 1000)))
      await flushMicrotasks()
      r.clock.now += 3
      r.capture.deliver(ack(40001))
      await flushMicrotasks()
      const rtt = (port: number): number | undefined => r.copy.sessions().find((x) => x.clientPort === port)?.rtt
      expect(rtt(40000), 'no read between the SYN and its ACK: the ACK may have come at once').to.equal(0)
      expect(rtt(40001), 'the ACK came after the read 4 ms after the SYN').to.equal(4)
      await r.copy.stop()
    })
  })

  it('fires the timers that came due during a capture turn in that turn: their packets share its send', async () => {
    const r = rig(makeConfig())
    const batches: number[] = []
    const send = r.sendIo.send.bind(r.sendIo)
    r.sendIo.send = (n: number): number => {
      batches.push(n)
      return send(n)
    }
    await r.copy.start()
    r.copy.ingest(syn(40000, 1000), LinkType.Raw, 0)
    expect(batches).to.deep.equal([1])
    // The SYN's retransmission timer (100 ms) is due; the process is awake for a packet before its host timer ran.
    r.clock.now = 150
    r.copy.ingest(syn(40001, 1000), LinkType.Raw, 150)
    expect(batches).to.deep.equal([1, 2])
    expect(r.sent.map((p) => tcpOf(p.bytes).sport)).to.deep.equal([40000, 40001, 40000])
    expect(r.copy.stats().packets.retransmitted).to.equal(1)
    // the host timer no longer aims at what already fired
    r.clock.advance(0)
    expect(batches).to.deep.equal([1, 2])
    await r.copy.stop()
  })

  it('takes frames a reader placed in FRAMES with ingestDescribed', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    const core = r.copy.core
    const f = syn(40000, 1000)
    core.bytes.set(f, FRAMES_OFF + 64)
    core.view.setUint32(DESC_OFF, FRAMES_OFF + 64, true)
    core.view.setUint32(DESC_OFF + 4, f.length, true)
    r.copy.ingestDescribed(1, LinkType.Raw, 0)
    expect(r.sent).to.have.length(1)
    await r.copy.stop()
  })

  it('pcap-send (-o): prepends an Ethernet header with the -x MAC addresses', async () => {
    const r = rig(makeConfig({ targets: '80@00:11:22:33:44:55-10.0.1.2:8080@66:77:88:99:aa:bb', outputDevice: 'eth0' }), { kind: 'packet' })
    await r.copy.start()
    r.copy.ingest(syn(), LinkType.Raw, 0)
    const f = r.sent[0]!.bytes
    expect(f.subarray(0, 14)).to.deep.equal(hex('66 77 88 99 aa bb  00 11 22 33 44 55  08 00'))
    expect(tcpOf(f, 14).dport).to.equal(8080)
    await r.copy.stop()
  })

  it('stops with send-failed (TC_ERR_COPY_SEND) when the send socket itself fails (EBADF), as the original exits', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    r.sendIo.failNextSend(9, 'sendmmsg')
    r.copy.ingest(syn(), LinkType.Raw, 0)
    const exit = await r.copy.done
    expect(exit.reason).to.equal('send-failed')
    expect(exit.error?.code).to.equal('TC_ERR_COPY_SEND')
    expect(r.copy.stats().packets.sendDropped).to.equal(1)
    expect(r.log.find(/sending to the target failed.*socket is unusable/, 'error')).to.have.length(1)
  })

  it('counts fragments, non-TCP packets and unmapped destinations', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    const frag = syn()
    frag[6] = 0x20 // MF
    const udp = syn()
    udp[9] = 17
    r.copy.ingest(frag, LinkType.Raw, 0)
    r.copy.ingest(udp, LinkType.Raw, 0)
    r.copy.ingest(packet({ src: CLIENT, dst: ONLINE, sport: 1, dport: 22, seq: 1, flags: SYN }), LinkType.Raw, 0)
    const nr = r.copy.stats().notReplayed
    expect([nr.fragments, nr.notTcp, nr.notMapped]).to.deep.equal([1, 1, 1])
    expect(r.sent).to.have.length(0)
    await r.copy.stop()
  })

  it('counts malformed packets (cut IP header, IHL < 5, doff < 5, IHL past the packet) and cut-short ones (tot_len past the capture), and replays none', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    const good = (): Uint8Array => packet({ src: CLIENT, dst: ONLINE, sport: 40000, dport: 80, seq: 1000, ack: 1, flags: ACK | PSH, payload: 100 })
    const cutIp = good().subarray(0, 12) // 12 bytes: not even an IP header
    const badIhl = good()
    badIhl[0] = 0x44 // IHL 4 (16 bytes)
    const badDoff = good()
    badDoff[32] = 0x40 // doff 4 (16 bytes)
    const ihlPast = good().subarray(0, 30)
    ihlPast[0] = 0x4f // IHL 15 (60 bytes) in a 30-byte packet
    const totPast = good().subarray(0, 80) // tot_len says 160, 80 captured
    for (const f of [cutIp, badIhl, badDoff, ihlPast]) r.copy.ingest(f, LinkType.Raw, 0)
    r.copy.ingest(totPast, LinkType.Raw, 0)
    const nr = r.copy.stats().notReplayed
    expect(nr.malformed).to.equal(4)
    expect(nr.truncated).to.equal(1)
    expect(r.copy.stats().packets.captured).to.equal(5)
    expect(r.copy.stats().sessions.created).to.equal(0)
    expect(r.sent).to.have.length(0)
    expect(r.log.find(/cut short.*raise -S\/--snaplen/, 'warn')).to.have.length(1)
    // a well-formed packet after them is taken
    r.copy.ingest(good(), LinkType.Raw, 0)
    expect(r.copy.stats().sessions.created).to.equal(1)
    await r.copy.stop()
  })

  it('takes only packets from 127.0.0.1 when the target is 127.0.0.1', async () => {
    const r = rig(makeConfig({ targets: '80-127.0.0.1:8080' }))
    await r.copy.start()
    r.copy.ingest(syn(), LinkType.Raw, 0)
    r.copy.ingest(packet({ src: '127.0.0.1', dst: '127.0.0.1', sport: 40000, dport: 80, seq: 1, flags: SYN }), LinkType.Raw, 0)
    expect(r.copy.stats().notReplayed.localhost).to.equal(1)
    expect(r.sent).to.have.length(1)
    await r.copy.stop()
  })

  it('-H: replaces the source 127.0.0.1 when the target is not local', async () => {
    const r = rig(makeConfig({ replaceLocalhost: '10.9.9.9' }))
    await r.copy.start()
    r.copy.ingest(packet({ src: '127.0.0.1', dst: '127.0.0.1', sport: 40000, dport: 80, seq: 1, flags: SYN }), LinkType.Raw, 0)
    expect(tcpOf(r.sent[0]!.bytes).src).to.equal(ip('10.9.9.9'))
    await r.copy.stop()
  })
})

describe('lifecycle', () => {
  it('stop() sends a passive RST to every live session, then closes the control connections', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    r.copy.ingest(syn(40000, 1000), LinkType.Raw, 0)
    r.copy.ingest(syn(40001, 2000), LinkType.Raw, 0)
    r.sent.length = 0
    await r.copy.stop()
    expect(r.sent.map((s) => tcpOf(s.bytes)).map((t) => [t.sport, t.flags & RST, t.seq])).to.deep.equal([[40000, RST, 1001], [40001, RST, 2001]])
    expect(r.sockets.sockets.every((s) => s.destroyed)).to.equal(true)
    expect((await r.copy.done).reason).to.equal('stopped')
    expect(r.exits).to.have.length(1)
  })

  it('-m: stops with TC_ERR_COPY_MEMORY when the memory held exceeds the limit at the 60 s check', async () => {
    let rss = 100 * 1024 * 1024
    const r = rig(makeConfig({ maxMemory: '512' }), { deps: { memoryUsage: () => rss } })
    await r.copy.start()
    r.clock.advance(60000)
    expect(r.copy.state).to.equal('running')
    rss = 600 * 1024 * 1024
    r.clock.advance(60000)
    const exit = await r.copy.done
    expect(exit.reason).to.equal('memory')
    expect(exit.error?.code).to.equal('TC_ERR_COPY_MEMORY')
    expect(exit.error?.message).to.match(/600\.0 MiB \(V8 heap and buffers\), exceeds -m\/--max-memory 512 MiB/)
  })

  it('counts packets given to ingest() before start() as not running', () => {
    const r = rig(makeConfig())
    r.copy.ingest(syn(), LinkType.Raw, 0)
    expect(r.copy.stats().notReplayed.notRunning).to.equal(1)
  })

  it('reports statistics on its timer through onStats', async () => {
    const lines: string[] = []
    const r = rig(makeConfig(), { deps: { statsIntervalMs: 30000, onStats: (_s, line) => { lines.push(line) } } })
    await r.copy.start()
    r.copy.ingest(syn(), LinkType.Raw, 0)
    r.clock.advance(30000)
    expect(lines).to.have.length(1)
    // no SYN-ACK came: the GC ended the session at 3 s (§5.6), and the line says so
    expect(lines[0]).to.match(/sessions: active 0, created 1, closed 1, obsolete 1/)
    await r.copy.stop()
  })
})

describe('sessions from the capture', () => {
  it('drops pure ACKs of established sessions and non-SYN packets without payload and without a session', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    r.copy.ingest(packet({ src: CLIENT, dst: ONLINE, sport: 40000, dport: 80, seq: 1, ack: 1, flags: ACK }), LinkType.Raw, 0)
    r.copy.ingest(packet({ src: CLIENT, dst: ONLINE, sport: 40000, dport: 80, seq: 1, ack: 1, flags: FIN | ACK }), LinkType.Raw, 0)
    expect(r.copy.stats().notReplayed.noSession).to.equal(2)
    expect(r.copy.stats().sessions.created).to.equal(0)
    await r.copy.stop()
  })

  it('creates a session from payload mid-stream and fakes a SYN after CLIENT_ADD (seq − 1, IP ID − 2, MSS only)', async () => {
    const r = rig(makeConfig({ mss: '1400' }))
    await r.copy.start()
    r.events.length = 0
    r.copy.ingest(packet({ src: CLIENT, dst: ONLINE, sport: 40000, dport: 80, seq: 5000, ack: 9, flags: ACK | PSH, ipId: 300, payload: 10 }), LinkType.Raw, 0)
    expect(r.events).to.deep.equal(['write:14', 'send'])
    const b = r.sent[0]!.bytes
    const t = tcpOf(b)
    expect(t.flags).to.equal(SYN)
    expect(t.seq).to.equal(4999)
    expect(new DataView(b.buffer, b.byteOffset).getUint16(4)).to.equal(298)
    expect(b.subarray(20, 20 + 24)).to.deep.equal(hex(`
      9c 40 1f 90 00 00 13 87 00 00 00 00  // 40000 → 8080, seq 4999, ack 0
      60 02 ff ff ${((b[36]! << 8) | b[37]!).toString(16).padStart(4, '0')} 00 00  // doff 6, SYN, window 65535, checksum, urg
      02 04 05 78                           // MSS 1400
    `))
    await r.copy.stop()
  })
})

/**
 * A send PacketIo that behaves like the native one on a per-datagram hard
 * error: send(n) stops at the first datagram to a refused address and
 * returns how many went before it; when that is the first one offered, it
 * throws IoError (EPERM, as from a firewall rule).
 */
class RefusingSendIo implements PacketIo {
  readonly kind = 'raw-ipv4' as const
  closed = false
  readonly sent: Array<{ bytes: Uint8Array, dst: number }> = []
  calls = 0
  constructor (readonly core: ReturnType<typeof createCopyCore>, readonly refuse: (dst: number) => boolean, readonly errno = 1) {}
  receive (): number { return 0 }
  send (n: number): number {
    this.calls++
    const dv = this.core.view
    for (let i = 0; i < n; i++) {
      const d = TX_DESC_OFF + 16 * i
      const off = dv.getUint32(d, true)
      const len = dv.getUint32(d + 4, true)
      const dst = dv.getUint32(d + 8, false)
      if (this.refuse(dst)) {
        if (i > 0) return i
        throw new IoError(`sendmmsg to ${dst >>> 24}.${(dst >>> 16) & 255}.${(dst >>> 8) & 255}.${dst & 255} failed`, 'TC_ERR_IO', this.errno, 'sendmmsg')
      }
      this.sent.push({ bytes: this.core.bytes.slice(off, off + len), dst })
    }
    return n
  }

  onReadable (): void {}
  stats (): PacketIoStats { return { received: 0, sent: this.sent.length, truncated: 0, overruns: 0 } }
  close (): void { this.closed = true }
}

describe('send errors', () => {
  const TWO_TARGETS = { targets: '80-10.0.1.2:8080,81-10.0.1.3:8080' }

  function twoTargetRig (errno = 1): { copy: Copy, io: RefusingSendIo, log: MemoryLogger, clock: FakeClock } {
    const core = createCopyCore()
    const io = new RefusingSendIo(core, (dst) => dst === ip('10.0.1.3'), errno)
    const log = new MemoryLogger()
    const clock = new FakeClock()
    const copy = createCopy(makeConfig(TWO_TARGETS), {
      core, send: io, connect: fakeConnector().connect, clock: clock.clock, timers: clock, log, random: () => 0.5, statsIntervalMs: 0, memoryCheckIntervalMs: 0
    })
    return { copy, io, log, clock }
  }

  /** Places SYNs to port 80 (good target) and 81 (refused target) in FRAMES, alternating, and ingests them in one turn. */
  function ingestMixed (copy: Copy, n: number): void {
    const core = copy.core
    let off = FRAMES_OFF
    for (let i = 0; i < n; i++) {
      const f = packet({ src: CLIENT, dst: ONLINE, sport: 30000 + i, dport: i % 2 === 0 ? 80 : 81, seq: 1000 + i, flags: SYN, mss: 1460 })
      core.bytes.set(f, off)
      core.view.setUint32(DESC_OFF + 8 * i, off, true)
      core.view.setUint32(DESC_OFF + 8 * i + 4, f.length, true)
      off += (f.length + 7) & ~7
    }
    copy.ingestDescribed(n, LinkType.Raw, 0)
  }

  it('offers the rest of a batch again after a short send: only the refused datagrams are lost, the others reach their target', async () => {
    const r = twoTargetRig()
    await r.copy.start()
    ingestMixed(r.copy, 10)
    // 5 SYNs to the good target, each refused one skipped and counted
    expect(r.io.sent.map((s) => tcpOf(s.bytes).sport)).to.deep.equal([30000, 30002, 30004, 30006, 30008])
    const st = r.copy.stats().packets
    expect(st.sendErrors).to.equal(5)
    expect(st.sendDropped).to.equal(5)
    expect(r.copy.state).to.equal('running')
    // logged once, not per packet
    expect(r.log.find(/sending to the target failed.*dropped \(1 refused so far\)/, 'warn')).to.have.length(1)
    expect(r.log.lines.filter((l) => /sending to the target failed/.test(l.message))).to.have.length(1)
    await r.copy.stop()
    expect((await r.copy.done).reason).to.equal('stopped')
  })

  it('keeps running after a refused datagram (EPERM) and sends the next packets', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    r.sendIo.failNextSend(1, 'sendmmsg')
    r.copy.ingest(syn(40000), LinkType.Raw, 0)
    r.copy.ingest(syn(40001), LinkType.Raw, 0)
    expect(r.copy.state).to.equal('running')
    expect(r.sent.map((s) => tcpOf(s.bytes).sport)).to.deep.equal([40001])
    expect(r.copy.stats().packets).to.include({ sendErrors: 1, sendDropped: 1 })
    await r.copy.stop()
  })

  it('a failure in a flush forced mid-turn by a full batch, during stop(): stop() and done still resolve (5000 sessions)', async () => {
    for (const errno of [1, 9]) {
      const r = rig(makeConfig())
      await r.copy.start()
      for (let i = 0; i < 5000; i++) r.copy.ingest(syn(10000 + i, 1000), LinkType.Raw, 0)
      expect(r.copy.stats().sessions.active).to.equal(5000)
      r.sent.length = 0
      r.sendIo.failNextSend(errno, 'sendmmsg')
      await r.copy.stop()
      const exit = await r.copy.done
      expect(exit.reason, `errno ${errno}`).to.equal('stopped')
      expect(r.copy.state).to.equal('stopped')
      const st = r.copy.stats().packets
      if (errno === 1) {
        // one passive RST refused, the other 4999 sent
        expect(r.sent).to.have.length(4999)
        expect(st.sendErrors).to.equal(1)
      } else {
        // the socket broke in the first (forced) flush of 4096 RSTs: those are counted as dropped, and no more are built
        expect(r.sent).to.have.length(0)
        expect(st.sendDropped).to.be.at.least(4096)
      }
    }
  })

  it('a send failure in a timer (SYN retransmission) or while handling records never escapes', async () => {
    const r = rig(makeConfig({ connections: '1' }))
    await r.copy.start()
    r.copy.ingest(syn(40000, 1000), LinkType.Raw, 0)
    r.sendIo.failNextSend(1, 'sendmmsg')
    expect(() => { r.clock.advance(150) }).to.not.throw()
    expect(r.copy.stats().packets.sendErrors).to.equal(1)
    // a SYN-ACK record whose handling sends (the client's ACK waits in the buffer)
    r.copy.ingest(packet({ src: CLIENT, dst: ONLINE, sport: 40000, dport: 80, seq: 1001, ack: 9, flags: ACK }), LinkType.Raw, 1)
    r.sendIo.failNextSend(101, 'sendmmsg')
    const synAck = packet({ src: '10.0.1.2', dst: CLIENT, sport: 8080, dport: 40000, seq: 5000, ack: 1001, flags: SYN | ACK, window: 29200, mss: 1460 })
    const frame = encodeCombinedFrame([encodeRecord(synAck, { dialect: '1.x', payload: false })], { dialect: '1.x', payload: false })
    expect(() => { r.sockets.sockets[0]!.data(frame) }).to.not.throw()
    expect(r.copy.stats().packets.sendErrors).to.equal(2)
    expect(r.copy.state).to.equal('running')
    await r.copy.stop()
  })

  it('a fatal error from a timer stops the engine cleanly with send-failed', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    r.copy.ingest(syn(40000, 1000), LinkType.Raw, 0)
    r.sendIo.failNextSend(9, 'sendmmsg')
    expect(() => { r.clock.advance(150) }).to.not.throw()
    const exit = await r.copy.done
    expect(exit.reason).to.equal('send-failed')
    expect(r.copy.state).to.equal('stopped')
  })
})

describe('control channel robustness', () => {
  it('gives up a connection attempt unanswered for 5 s, naming the address and what to check', async () => {
    const r = rig(makeConfig({ connections: '1' }), { connect: 'none' })
    const started = r.copy.start()
    let failure: unknown
    started.catch((err: unknown) => { failure = err })
    r.clock.advance(4900)
    await flushMicrotasks()
    expect(failure).to.equal(undefined)
    r.clock.advance(100)
    await flushMicrotasks()
    expect(isTcpcopyError(failure, 'TC_ERR_COPY_NO_INTERCEPT')).to.equal(true)
    expect((failure as Error).message).to.match(/10\.0\.2\.1:36524: no answer within 5 s \(connect timed out.*firewall/)
    expect(r.sockets.sockets[0]!.destroyed).to.equal(true)
    expect(r.log.find(/could not be opened: no answer within 5 s/, 'warn')).to.have.length(1)
    expect((await r.copy.done).reason).to.equal('no-intercept')
  })

  it('sends no CLIENT_ADD on a backed-up connection: the other one takes it, and with both backed up the SYN is not forwarded', async () => {
    const r = rig(makeConfig({ connections: '2' }))
    await r.copy.start()
    const [a, b] = r.sockets.sockets
    a!.writableLength = 2 * 1024 * 1024
    r.copy.ingest(syn(40000), LinkType.Raw, 0)
    r.copy.ingest(syn(40001), LinkType.Raw, 0)
    expect(a!.written).to.have.length(1) // the hello only
    expect(b!.written).to.have.length(3)
    expect(r.sent).to.have.length(2)
    b!.writableLength = 2 * 1024 * 1024
    r.copy.ingest(syn(40002), LinkType.Raw, 0)
    expect(r.sent).to.have.length(2)
    const st = r.copy.stats()
    expect(st.notReplayed.noIntercept).to.equal(1)
    expect(st.intercepts.clientAddsNotSent).to.equal(1)
    expect(st.sessions.active).to.equal(2)
    expect(r.log.find(/does not read its control connections.*1 CLIENT_ADD messages not sent/, 'warn')).to.have.length(1)
    await r.copy.stop()
  })

  it('sends the CLIENT_ADD of live sessions again over the other connection when theirs closes, and after a reconnect when none is left (-L)', async () => {
    const r = rig(makeConfig({ connections: '2', lonely: true }))
    await r.copy.start()
    const [a, b] = r.sockets.sockets
    r.copy.ingest(syn(40000), LinkType.Raw, 0) // CLIENT_ADD on b (round-robin starts at the second)
    r.copy.ingest(syn(40001), LinkType.Raw, 0) // on a
    const add40000 = hex('0a 00 00 01 9c 40 00 01 0a 00 01 02 1f 90')
    expect(b!.bytes.subarray(14)).to.deep.equal(add40000)
    b!.drop()
    expect(a!.bytes.subarray(14 + 14)).to.deep.equal(add40000)
    expect(r.copy.stats().intercepts.clientAddsResent).to.equal(1)
    expect(r.log.find(/lost; CLIENT_ADD of its live sessions sent again: 1 over another connection/, 'warn')).to.have.length(1)
    // now the last one goes: both sessions wait, and are announced on the first reconnect
    a!.drop()
    r.clock.advance(1000)
    await flushMicrotasks()
    const c = r.sockets.sockets[2]!
    expect(c.destroyed).to.equal(false)
    const sent = c.bytes.subarray(14)
    expect(sent.length).to.equal(28)
    expect([sent.subarray(0, 14), sent.subarray(14)]).to.deep.include(add40000)
    expect(r.copy.stats().intercepts.clientAddsResent).to.equal(3)
    await r.copy.stop()
  })

  it('forgets the CLIENT_ADD of an ended session', async () => {
    const r = rig(makeConfig({ connections: '2' }))
    await r.copy.start()
    const [a, b] = r.sockets.sockets
    r.copy.ingest(syn(40000), LinkType.Raw, 0)
    r.clock.advance(3100) // no handshake within 3 s: obsolete, time-wait
    expect(r.copy.stats().sessions.active).to.equal(0)
    const before = a!.written.length
    b!.drop()
    expect(a!.written.length).to.equal(before)
    expect(r.copy.stats().intercepts.clientAddsResent).to.equal(0)
    await r.copy.stop()
  })
})

describe('60 s resource report (TCPCOPY.md §8)', () => {
  it('logs user and system CPU time and the memory held', async () => {
    const r = rig(makeConfig(), { deps: { memoryUsage: () => 100 * 1024 * 1024, cpuUsage: () => ({ user: 1_500_000, system: 250_000 }) } })
    await r.copy.start()
    r.clock.advance(60000)
    expect(r.log.find(/^resources: cpu user 1\.50 s, system 0\.25 s; memory held 100\.0 MiB/, 'notice')).to.have.length(1)
    await r.copy.stop()
  })
})

describe('per-session buffer limit', () => {
  it('counts packets refused by a full session buffer as sessionBufferFull, not as unsent at the end', async () => {
    const r = rig(makeConfig(), { deps: { limits: { maxSessionPackets: 2 } } })
    await r.copy.start()
    r.copy.ingest(syn(40000, 1000), LinkType.Raw, 0) // no SYN-ACK comes: the data waits in the buffer
    for (let i = 0; i < 10; i++) {
      r.copy.ingest(packet({ src: CLIENT, dst: ONLINE, sport: 40000, dport: 80, seq: 1001 + 10 * i, ack: 1, flags: ACK | PSH, payload: 10 }), LinkType.Raw, 1)
    }
    // 2 × 2 packets at most: the SYN and 3 data packets
    expect(r.copy.sessions()[0]!.buffered).to.equal(4)
    expect(r.copy.stats().notReplayed.sessionBufferFull).to.equal(7)
    expect(r.copy.stats().notReplayed.unsentAtEnd).to.equal(0)
    expect(r.copy.selfCheck()).to.deep.equal([])
    await r.copy.stop()
    expect(r.copy.stats().notReplayed.unsentAtEnd).to.equal(3)
  })
})

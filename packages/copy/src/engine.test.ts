import { expect } from 'chai'
import { MockPacketIo } from '@tcpcopy/io-mock'
import { LinkType } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF } from '@tcpcopy/wasm'
import { encodeCombinedFrame, encodeRecord } from '@tcpcopy/protocol'
import { isTcpcopyError } from '@tcpcopy/interface'
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

  it('stops with send-failed (TC_ERR_COPY_SEND) on a hard send error, as the original exits', async () => {
    const r = rig(makeConfig())
    await r.copy.start()
    r.sendIo.failNextSend(1, 'sendmmsg')
    r.copy.ingest(syn(), LinkType.Raw, 0)
    const exit = await r.copy.done
    expect(exit.reason).to.equal('send-failed')
    expect(exit.error?.code).to.equal('TC_ERR_COPY_SEND')
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

  it('-m: stops with TC_ERR_COPY_MEMORY when the RSS exceeds the limit at the 60 s check', async () => {
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
    expect(exit.error?.message).to.match(/600\.0 MiB exceeds -m\/--max-memory 512 MiB/)
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

// NFQUEUE through @tcpcopy/native-shim (the socket) and @tcpcopy/core's
// netlink code (config, parse, verdicts), in a namespace whose OUTPUT chain
// queues UDP to 10.202.0.2. The iptables rules live in the namespace and go
// with it.
import { expect } from 'chai'
import { nfqConfigSteps } from '@tcpcopy/core'
import { Netns, vethPair } from './lib/netns.js'
import { bytes, ipFields } from './lib/packets.js'

const Q = '10.202.0.1' // the queueing side (OUTPUT rule, intercept's place)
const R = '10.202.0.2' // the receiver

const text = (hex) => {
  const b = bytes(hex)
  return new TextDecoder().decode(b.subarray(ipFields(b).l4 + 8))
}

describe('NFQUEUE (nfqueue PacketIo + core netlink) in namespaces', function () {
  this.timeout(30_000)
  let nsQ, nsR, q, r
  let seq = 1

  /** The nfnetlink_queue line of queue `num` in nsQ, as numbers: [queue, portid, length, mode, range, dropped, userDropped, lastId, 1]. */
  const procLine = (num) => {
    const out = nsQ.exec('cat', ['/proc/net/netfilter/nfnetlink_queue']).stdout
    const line = out.split('\n').map((l) => l.trim().split(/\s+/).map(Number)).find((f) => f[0] === num)
    return line
  }
  const queueRule = (port, num) => nsQ.exec('iptables', ['-I', 'OUTPUT', '-p', 'udp', '-d', R, '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(num)])

  /** Opens an nfqueue socket and binds `queueNum` with the core's config datagrams; returns its handle. */
  async function bind (cfg, { waitAcks = true, rcvbuf } = {}) {
    const o = await q.request('open', { kind: 'nfqueue', snap: 4096, ...(rcvbuf !== undefined ? { rcvbuf } : {}) })
    const steps = nfqConfigSteps(cfg, seq)
    const sent = await q.request('nfqConfig', { handle: o.handle, seq, ...cfg })
    seq += steps.length
    expect(sent.sent).to.equal(sent.datagrams)
    if (waitAcks) {
      const got = await q.request('nfqCollect', { handle: o.handle, replies: steps.length, ms: 3000 })
      expect(got.errors, JSON.stringify(got.errors)).to.deep.equal([])
      expect(got.acks).to.equal(steps.length)
    }
    return o
  }

  before(async () => {
    nsQ = Netns.create('qa')
    nsR = Netns.create('qb')
    vethPair(nsQ, nsR, `${Q}/24`, `${R}/24`)
    q = await nsQ.agent()
    r = await nsR.agent()
  })
  after(async () => {
    await nsQ?.destroy()
    await nsR?.destroy()
  })

  it('binds a queue: every config step is acked and /proc shows the socket as peer with copy mode 2 and its range', async () => {
    const { handle, portId, rcvbuf } = await bind({ queueNum: 11, copyRange: 256 })
    expect(portId).to.be.greaterThan(0)
    expect(rcvbuf, 'the 16 MiB default buffer, forced past rmem_max (getsockopt reports it doubled)').to.equal(2 * 16 * 1024 * 1024)
    const line = procLine(11)
    expect(line, 'queue 11 in /proc/net/netfilter/nfnetlink_queue').to.not.equal(undefined)
    expect(line.slice(0, 5)).to.deep.equal([11, portId, 0, 2, 256])
    await q.request('close', { handle })
    expect(procLine(11), 'closing the socket unbinds the queue').to.equal(undefined)
  })

  it('verdict ACCEPT delivers a queued packet and DROP does not (10 packets, one verdict datagram)', async () => {
    const { handle } = await bind({ queueNum: 12, copyRange: 256 })
    queueRule(7001, 12)
    await r.request('udpListen', { port: 7001 })
    const sent = Array.from({ length: 10 }, (_, i) => `v-${i}`)
    await q.request('udpSend', { host: R, port: 7001, messages: sent })
    const got = await q.request('nfqCollect', { handle, packets: 10, ms: 3000, quietMs: 200 })
    expect(got.packets).to.have.length(10)
    expect(got.packets.map((p) => text(p.hex))).to.deep.equal(sent)
    expect((await r.request('udpReceived', { port: 7001 })).received, 'nothing passes before a verdict').to.deep.equal([])
    const verdicts = got.packets.map((p, i) => ({ id: p.id, accept: i % 2 === 0 }))
    const v = await q.request('nfqVerdict', { handle, queueNum: 12, seq, verdicts })
    seq += verdicts.length
    expect(v).to.deep.equal({ datagrams: 1, sent: 1 })
    const { received } = await r.request('udpReceived', { port: 7001, count: 5, ms: 3000 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const after = (await r.request('udpReceived', { port: 7001 })).received
    expect(received).to.have.length(5)
    expect(after.sort()).to.deep.equal(['v-0', 'v-2', 'v-4', 'v-6', 'v-8'])
    expect(procLine(12)[2], 'queue empty after the verdicts').to.equal(0)
    await q.request('close', { handle })
  })

  it('the queue max length takes effect: beyond it the kernel drops and counts queue_dropped', async () => {
    const { handle } = await bind({ queueNum: 13, copyRange: 128, maxLen: 3 })
    queueRule(7002, 13)
    await r.request('udpListen', { port: 7002 })
    await q.request('udpSend', { host: R, port: 7002, messages: Array.from({ length: 10 }, (_, i) => `m-${i}`) })
    const got = await q.request('nfqCollect', { handle, packets: 3, ms: 3000, quietMs: 300 })
    expect(got.packets.map((p) => text(p.hex))).to.deep.equal(['m-0', 'm-1', 'm-2'])
    const line = procLine(13)
    expect(line[2], 'queue length').to.equal(3)
    expect(line[5], 'queue_dropped').to.equal(7)
    await q.request('nfqVerdict', { handle, queueNum: 13, seq, verdicts: got.packets.map((p) => ({ id: p.id, accept: true })) })
    seq += got.packets.length
    const { received } = await r.request('udpReceived', { port: 7002, count: 3, ms: 3000 })
    expect(received).to.deep.equal(['m-0', 'm-1', 'm-2'])
    await q.request('close', { handle })
  })

  it('fail-open: packets that do not fit in the queue are accepted instead of dropped', async () => {
    const { handle } = await bind({ queueNum: 14, copyRange: 128, maxLen: 2, failOpen: true })
    queueRule(7003, 14)
    await r.request('udpListen', { port: 7003 })
    const sent = Array.from({ length: 10 }, (_, i) => `f-${i}`)
    await q.request('udpSend', { host: R, port: 7003, messages: sent })
    const early = await r.request('udpReceived', { port: 7003, count: 8, ms: 3000 })
    expect(early.received).to.deep.equal(sent.slice(2)) // delivered without any verdict
    const got = await q.request('nfqCollect', { handle, packets: 2, ms: 3000, quietMs: 200 })
    expect(got.packets.map((p) => text(p.hex))).to.deep.equal(['f-0', 'f-1'])
    await q.request('nfqVerdict', { handle, queueNum: 14, seq, verdicts: got.packets.map((p) => ({ id: p.id, accept: true })) })
    seq += 2
    const all = await r.request('udpReceived', { port: 7003, count: 10, ms: 3000 })
    expect(all.received.sort()).to.deep.equal([...sent].sort())
    await q.request('close', { handle })
  })

  it('a second socket cannot bind a queue another socket holds: the kernel answers EPERM in the ack', async () => {
    const first = await bind({ queueNum: 15, copyRange: 64 })
    const second = await bind({ queueNum: 15, copyRange: 64 }, { waitAcks: false })
    const got = await q.request('nfqCollect', { handle: second.handle, replies: 4, ms: 3000, quietMs: 100 })
    // pf-unbind and pf-bind are acked (no-ops); bind and params are refused
    expect(got.acks).to.equal(2)
    const errors = got.errors.reduce((n, e) => n + e.count, 0)
    expect(errors).to.equal(2)
    for (const e of got.errors) expect(e.errno).to.equal(1) // EPERM, not EBUSY: the queue belongs to another portid
    expect(procLine(15)[1], 'the first socket keeps the queue').to.equal(first.portId)
    await q.request('close', { handle: second.handle })
    await q.request('close', { handle: first.handle })
  })

  it('counts receive-buffer overruns (ENOBUFS) and keeps reading after them', async () => {
    // a tiny buffer (SO_RCVBUFFORCE 4096; the kernel doubles it) and a flood before the first read
    const { handle } = await bind({ queueNum: 16, copyRange: 1500, maxLen: 1000 }, { waitAcks: false, rcvbuf: 4096 })
    queueRule(7004, 16)
    await r.request('udpListen', { port: 7004 })
    // arm the poll watcher first, so the overrun reaches it as POLLERR (libuv then stops the watcher)
    await q.request('nfqCollect', { handle, packets: 0, ms: 50 })
    await q.request('udpSend', { host: R, port: 7004, messages: Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(1000, '#')) })
    const got = await q.request('nfqCollect', { handle, packets: 100, replies: 4, ms: 1500 })
    expect(got.stats.overruns).to.be.at.least(1)
    expect(got.stats.drops, 'an nfqueue socket reports losses as ENOBUFS (overruns), not as counted drops').to.equal(0)
    expect(got.packets.length).to.be.within(1, 99)
    expect(procLine(16)[6], 'user_dropped: the kernel could not deliver those').to.be.greaterThan(0)
    // still working after the overrun: a verdict for what was read lets it through
    await q.request('nfqVerdict', { handle, queueNum: 16, seq, verdicts: got.packets.map((p) => ({ id: p.id, accept: true })) })
    seq += got.packets.length
    const { received } = await r.request('udpReceived', { port: 7004, count: got.packets.length, ms: 3000 })
    expect(received).to.have.length(got.packets.length)
    // packets queued after the overrun still wake the reader (the poll watcher survives POLLERR)
    const marker = Buffer.from('after-').toString('hex')
    const afterCount = (packets) => packets.filter((p) => p.hex.replace(/ /g, '').includes(marker)).length
    await q.request('udpSend', { host: R, port: 7004, messages: Array.from({ length: 5 }, (_, i) => `after-${i}`) })
    const later = await q.request('nfqCollect', { handle, packets: got.packets.length + 5, ms: 3000 })
    expect(afterCount(later.packets), 'packets read after the overrun').to.equal(5)
    await q.request('close', { handle })
  })

  it('leaves no fd open after close (counted in /proc/self/fd)', async () => {
    const before = (await q.request('fds')).count
    for (let i = 0; i < 5; i++) {
      const { handle } = await bind({ queueNum: 20 + i, copyRange: 64 })
      await q.request('close', { handle })
    }
    expect((await q.request('fds')).count).to.equal(before)
  })
})

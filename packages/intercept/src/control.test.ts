// Control connections: hello and dialects, CLIENT_ADD/DEL, bad peers, --allow,
// connection ids, closing and back-pressure. Real loopback sockets.
import { expect } from 'chai'
import * as net from 'node:net'
import { ClientSideDecoder, MessageType, clientMessage, helloMessage } from '@tcpcopy/protocol'
import {
  CLIENT_IP, CLIENT_PORT, ROUTE, TARGET_IP, TARGET_PORT, V3_RECORD_1X, V3_SYN_ACK,
  concat, hex, nfqPacket, toHex, verdictsOf, withDestinationPort
} from './test/fixtures.js'
import { FakeSocket } from './test/fake-socket.js'
import { startHarness, type Harness, type HarnessOptions } from './test/harness.js'
import { settle, waitFor } from './test/peer.js'

const ROUTE_B = { ...ROUTE, clientPort: CLIENT_PORT + 1 }
const SYN_ACK_B = withDestinationPort(V3_SYN_ACK, CLIENT_PORT + 1)

describe('intercept control connections', () => {
  let h: Harness | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
  })

  async function queue (packets: Uint8Array[]): Promise<void> {
    const kq = h!.kq!
    const before = verdictsOf(kq.sent).length
    const base = before + 1
    kq.inject(...packets.map((p, i) => nfqPacket(base + i, p)))
    await waitFor(() => verdictsOf(kq.sent).length >= before + packets.length, 'the verdicts')
  }

  async function addRoutes (n: number): Promise<void> {
    await waitFor(() => h!.intercept.stats().clientAdds >= n, `${n} CLIENT_ADDs`)
  }

  it('logs once at start that anyone may register routes when --allow is empty', async () => {
    h = await startHarness()
    expect(h.log.find(/no --allow given: anyone/, 'warn')).to.have.length(1)
  })

  it('uses 1.x records for an unknown hello version, with a warning (as the originals do)', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const peer = await h.connect()
    peer.hello(9).clientAdd(ROUTE)
    await addRoutes(1)
    await queue([V3_SYN_ACK])
    const [record] = await peer.waitRecords(1)
    expect(toHex(record!)).to.equal(toHex(V3_RECORD_1X))
    expect(h.log.find(/hello announced version 9.*using 1\.x records/, 'warn')).to.have.length(1)
  })

  it('warns about an unknown message type and keeps the connection', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const peer = await h.connect()
    peer.hello(6).message({ ...ROUTE, type: 7 }).clientAdd(ROUTE)
    await addRoutes(1)
    expect(h.log.find(/unknown msg type 7/, 'warn')).to.have.length(1)
    await queue([V3_SYN_ACK])
    await peer.waitRecords(1)
    expect(peer.isClosed).to.equal(false)
  })

  it('ignores CLIENT_DEL (a debug line only), as 0.9 and 1.x do', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const peer = await h.connect()
    peer.hello(6).clientAdd(ROUTE).message({ ...ROUTE, type: MessageType.ClientDel })
    await waitFor(() => h!.log.find(/CLIENT_DEL 10\.0\.0\.1:40000 ignored/, 'debug').length === 1, 'the debug line')
    expect(h.intercept.stats().routes).to.equal(1)
  })

  it('closes a connection that sends garbage while another peer keeps its routes and records', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const good = await h.connect()
    const bad = await h.connect()
    good.hello(6).clientAdd(ROUTE)
    bad.hello(6).clientAdd(ROUTE_B)
    await addRoutes(2)
    for (let i = 0; i < 17; i++) bad.message({ clientIp: 0xdeadbeef, clientPort: i, type: 0xeeee, targetIp: 0, targetPort: 0 })
    await bad.waitClosed()
    expect(h.log.find(/closed: .*unknown type.*TC_ERR_PROTO_GARBAGE.*1 route removed/, 'warn')).to.have.length(1)
    await waitFor(() => h!.intercept.stats().connections === 1, 'one connection left')
    expect(h.intercept.stats().routes).to.equal(1)
    expect(h.intercept.stats().connectionsClosedOnError).to.equal(1)
    await queue([V3_SYN_ACK, SYN_ACK_B])
    const [record] = await good.waitRecords(1)
    expect(toHex(record!)).to.equal(toHex(V3_RECORD_1X))
  })

  it('refuses an old 8-byte (pre-0.9.2) client and tells the user to upgrade', async () => {
    h = await startHarness()
    const old = await h.connect()
    old.write(hex`0a 00 00 01  9c 40  00 01  // CLIENT_ADD, old form without hello`)
    await old.waitClosed()
    const [line] = h.log.find(/refused: .*not a hello.*Upgrade that tcpcopy to 1\.x/, 'error')
    expect(line).to.not.equal(undefined)
    expect(h.intercept.stats().routes).to.equal(0)
  })

  it('closes a connection that ends inside a message, with a log line', async () => {
    h = await startHarness()
    const peer = await h.connect()
    peer.hello(6).write(hex`0a 00 00 01 9c`)
    await settle()
    peer.end()
    await peer.waitClosed()
    await waitFor(() => h!.log.find(/stream ended inside a message/, 'warn').length === 1, 'the warning')
  })

  it('closes a connection that sends faster than intercept takes its messages', async () => {
    h = await startHarness({ limits: { maxPendingInputBytes: 100 } })
    const peer = await h.connect()
    const burst = new Uint8Array(14 * 40)
    peer.hello(6).write(burst)
    await peer.waitClosed()
    expect(h.log.find(/sends faster than intercept can take/, 'warn')).to.have.length(1)
  })

  it('decodes messages split across writes and a big burst spread over several turns', async () => {
    h = await startHarness({ limits: { inputBudgetBytes: 14 * 10 } })
    const peer = await h.connect()
    peer.hello(6)
    const all = new Uint8Array(14 * 300)
    const dv = new DataView(all.buffer)
    for (let i = 0; i < 300; i++) {
      dv.setUint32(14 * i, CLIENT_IP, false)
      dv.setUint16(14 * i + 4, 1000 + i, false)
      dv.setUint16(14 * i + 6, MessageType.ClientAdd, false)
      dv.setUint32(14 * i + 8, TARGET_IP, false)
      dv.setUint16(14 * i + 12, TARGET_PORT, false)
    }
    peer.write(all.subarray(0, 5))
    await settle(5)
    peer.write(all.subarray(5))
    await addRoutes(300)
    expect(h.intercept.stats().routes).to.equal(300)
  })

  it('refuses a peer outside --allow at accept and serves one inside', async () => {
    h = await startHarness({ options: { allow: [{ address: '127.0.0.1', prefixLength: 32 }], batchSize: 1 } })
    expect(h.log.find(/no --allow given/)).to.have.length(0)
    const outside = await h.connect({ localAddress: '127.0.0.2' })
    await outside.waitClosed()
    expect(h.log.find(/refused control connection from 127\.0\.0\.2:\d+: not in --allow 127\.0\.0\.1\/32/, 'warn')).to.have.length(1)
    const inside = await h.connect()
    inside.hello(6).clientAdd(ROUTE)
    await addRoutes(1)
    await queue([V3_SYN_ACK])
    await inside.waitRecords(1)
    expect(h.intercept.stats()).to.deep.include({ connectionsRefused: 1, connectionsAccepted: 1 })
  })

  it('removes the routes of a closed connection', async () => {
    h = await startHarness()
    const peer = await h.connect()
    peer.hello(6).clientAdd(ROUTE).clientAdd(ROUTE_B)
    await addRoutes(2)
    expect(h.intercept.stats().routes).to.equal(2)
    peer.end()
    await waitFor(() => h!.intercept.stats().connections === 0, 'the close')
    expect(h.intercept.stats().routes).to.equal(0)
    expect(h.log.find(/closed by the peer; 2 routes removed/, 'notice')).to.have.length(1)
    await queue([V3_SYN_ACK])
    expect(h.intercept.stats().responses.delayed).to.equal(1) // no route any more: a SYN waits again
  })

  it('on stop() logs its own closing of a connection as such, not as the peer closing it', async () => {
    h = await startHarness()
    const peer = await h.connect()
    peer.hello(6).clientAdd(ROUTE)
    await addRoutes(1)
    await h.intercept.stop()
    expect(h.log.find(/closed \(intercept stopped\); 1 route removed/, 'notice')).to.have.length(1)
    expect(h.log.find(/closed by the peer/)).to.have.length(0)
  })

  it('answers on the connection that sent the latest CLIENT_ADD for a session', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const first = await h.connect()
    const second = await h.connect()
    first.hello(6).clientAdd(ROUTE)
    await addRoutes(1)
    second.hello(6).clientAdd(ROUTE)
    await addRoutes(2)
    await queue([V3_SYN_ACK])
    await second.waitRecords(1)
    await settle()
    expect(first.records).to.have.length(0)
  })

  it('reuses the id of a closed connection and refuses connections beyond the id limit', async () => {
    h = await startHarness({ limits: { maxConnections: 2 } })
    const a = await h.connect()
    await h.connect()
    await waitFor(() => h!.intercept.stats().connections === 2, 'two connections')
    const c = await h.connect()
    await c.waitClosed()
    expect(h.log.find(/all 2 connection ids are in use/, 'warn')).to.have.length(1)
    a.end()
    await waitFor(() => h!.intercept.stats().connections === 1, 'the close')
    await h.connect()
    await waitFor(() => h!.log.find(/control connection #0 from/, 'notice').length === 3, 'id 0 again')
    expect(h.intercept.stats().connections).to.equal(2)
  })

  it('sets TCP_NODELAY on accepted sockets and drops records for a peer that does not read', async () => {
    const sockets: net.Socket[] = []
    h = await startHarness({
      options: { batchSize: 1 },
      limits: { maxPendingOutputBytes: 1000 },
      deps: {
        listen: (onConnection) => net.createServer((socket) => {
          sockets.push(socket)
          const set = socket.setNoDelay.bind(socket)
          ;(socket as unknown as { noDelayCalls: boolean[] }).noDelayCalls = []
          socket.setNoDelay = (v?: boolean) => {
            (socket as unknown as { noDelayCalls: boolean[] }).noDelayCalls.push(v ?? true)
            return set(v)
          }
          onConnection(socket)
        })
      }
    })
    const peer = await h.connect()
    peer.hello(6).clientAdd(ROUTE)
    await addRoutes(1)
    expect((sockets[0] as unknown as { noDelayCalls: boolean[] }).noDelayCalls).to.deep.equal([true])
    // The peer stops reading and the kernel buffers are full: pretend 5000 bytes wait unsent.
    Object.defineProperty(sockets[0], 'writableLength', { get: () => 5000 })
    await queue([V3_SYN_ACK, V3_SYN_ACK, V3_SYN_ACK])
    const s = h.intercept.stats()
    expect(s.records.droppedBackpressure).to.equal(3)
    expect(s.responses.forwarded).to.equal(0)
    expect(h.log.find(/does not read its records: 5000 bytes wait unsent .*dropped and counted as lost \(1 so far\); the connection stays open/, 'warn'))
      .to.have.length(1) // rate-limited
    expect(peer.isClosed).to.equal(false)
  })

  it('keeps serving other peers when one resets its connection', async () => {
    h = await startHarness({ options: { batchSize: 1 } })
    const a = await h.connect()
    const b = await h.connect()
    a.hello(6).clientAdd(ROUTE_B)
    b.hello(6).clientAdd(ROUTE)
    await addRoutes(2)
    a.socket.resetAndDestroy()
    await waitFor(() => h!.intercept.stats().connections === 1, 'the reset')
    await queue([V3_SYN_ACK])
    await b.waitRecords(1)
  })

  describe('hello timeout', () => {
    it('closes a connection that sends no hello within 10 s, with a log line, and frees its id', async () => {
      h = await startHarness({ limits: { maxConnections: 1 } })
      const silent = await h.connect()
      silent.write(hex`00 00 00`) // three bytes, never a whole hello
      await waitFor(() => h!.intercept.stats().connections === 1, 'the accept')
      h.timers.advance(9000)
      await settle()
      expect(silent.isClosed).to.equal(false)
      h.timers.advance(1000)
      await silent.waitClosed()
      expect(h.log.find(/control connection #0 from 127\.0\.0\.1:\d+ closed: no hello within 10 s of the accept .*3 bytes came instead.*not a tcpcopy; 0 routes removed/, 'warn'))
        .to.have.length(1)
      expect(h.intercept.stats()).to.deep.include({ connections: 0, helloTimeouts: 1, connectionsClosedOnError: 1 })
      const next = await h.connect() // the only id is free again
      next.hello(6).clientAdd(ROUTE)
      await addRoutes(1)
    })

    it('leaves a connection alone once its hello came, however long it stays quiet', async () => {
      h = await startHarness({ limits: { helloTimeoutMs: 2000 } })
      const peer = await h.connect()
      peer.hello(6)
      await waitFor(() => h!.log.find(/hello version 6/).length === 1, 'the hello')
      h.timers.advance(60000)
      await settle()
      expect(peer.isClosed).to.equal(false)
      expect(h.intercept.stats().helloTimeouts).to.equal(0)
    })
  })

  describe('connection log lines', () => {
    it('writes at most a burst of refused-connection lines per 10 s, then one summary with the count', async () => {
      h = await startHarness({ options: { allow: [{ address: '127.0.0.1', prefixLength: 32 }] }, limits: { connectionLogBurst: 3 } })
      for (let i = 0; i < 10; i++) await (await h.connect({ localAddress: '127.0.0.2' })).waitClosed()
      expect(h.intercept.stats().connectionsRefused).to.equal(10)
      expect(h.log.find(/refused control connection from 127\.0\.0\.2/, 'warn')).to.have.length(3)
      h.timers.advance(10000)
      const summary = h.log.find(/more "refused" control connection lines/, 'notice')
      expect(summary).to.have.length(1)
      expect(summary[0]!.message).to.match(/^7 more "refused" control connection lines were not written in the last 10 s \(at most 3 per 10 s each; connections so far: 0 accepted, 10 refused\)$/)
      h.timers.advance(10000)
      expect(h.log.find(/more "refused"/)).to.have.length(1) // nothing more to say
      await (await h.connect({ localAddress: '127.0.0.2' })).waitClosed()
      expect(h.log.find(/refused control connection from 127\.0\.0\.2/, 'warn')).to.have.length(4) // a new window
    })

    it('limits the accepted and closed lines the same way, each kind on its own', async () => {
      h = await startHarness({ limits: { connectionLogBurst: 2 } })
      for (let i = 0; i < 5; i++) {
        const p = await h.connect()
        p.end()
        await p.waitClosed()
      }
      await waitFor(() => h!.intercept.stats().connections === 0 && h!.intercept.stats().connectionsAccepted === 5, 'five connects and closes')
      expect(h.log.find(/ accepted$/, 'notice')).to.have.length(2)
      expect(h.log.find(/closed by the peer/, 'notice')).to.have.length(2)
      h.timers.advance(10000)
      expect(h.log.find(/^3 more "accepted" control connection lines/, 'notice')).to.have.length(1)
      expect(h.log.find(/^3 more "closed" control connection lines/, 'notice')).to.have.length(1)
    })
  })

  describe('memory of the output to tcpcopy', () => {
    /** A harness whose control connections are FakeSockets the test accepts itself. */
    async function fakeHarness (options: HarnessOptions): Promise<(route?: typeof ROUTE) => FakeSocket> {
      let accept: ((socket: net.Socket) => void) | undefined
      h = await startHarness({ ...options, deps: { listen: (onConnection) => { accept = onConnection; return net.createServer() } } })
      let port = 41000
      return (route = ROUTE) => {
        const sock = new FakeSocket('127.0.0.1', port++)
        accept!(sock.asSocket())
        sock.receive(concat(helloMessage.encode({ version: 6 }), clientMessage.encode({ ...route, type: MessageType.ClientAdd })))
        return sock
      }
    }

    it('bounds what a peer that never reads holds: exactly sized frames, the per-connection cap counted and logged', async () => {
      const cap = 4096
      const open = await fakeHarness({ limits: { maxPendingOutputBytes: cap } })
      const sock = open()
      const n = 200
      for (let i = 0; i < n; i++) {
        await queue([V3_SYN_ACK]) // one response per millisecond: frames of one record
        h!.timers.advance(1)
      }
      const s = h!.intercept.stats()
      expect(s.responses.forwarded + s.records.droppedBackpressure).to.equal(n)
      expect(s.records.droppedBackpressure).to.be.greaterThan(100)
      for (const w of sock.writes) expect(w.buffer.byteLength, 'each write is exactly one frame').to.equal(w.byteLength)
      expect(sock.retainedBytes, 'the memory the socket keeps alive').to.be.at.most(cap + 66)
      expect(s.output.bytes).to.equal(sock.writableLength)
      expect(s.output.connectionsBackedUp).to.equal(1)
      expect(h!.log.find(/does not read its records: \d+ bytes wait unsent \(cap 4096 per connection\).*the connection stays open/, 'warn')).to.have.length(1)
      expect(h!.intercept.statsLine()).to.match(/records over the output caps \d+ \(per connection \d+, all connections 0\).*records were dropped at the output caps since the last report: tcpcopy reads its records too slowly.*net\.core\.wmem_max/)
      sock.drain() // it reads again
      await queue([V3_SYN_ACK])
      h!.timers.advance(1)
      expect(h!.log.find(/takes records again; \d+ were dropped while its output was over a cap/, 'notice')).to.have.length(1)
      expect(h!.intercept.stats().output.connectionsBackedUp).to.equal(0)
    })

    it('stages what the socket cannot take, up to the cap, and delivers it in order once the peer reads', async () => {
      const cap = 40 * 1024
      const open = await fakeHarness({ limits: { maxPendingOutputBytes: cap } })
      const sock = open()
      const n = 2000
      await queue(Array.from({ length: n }, () => V3_SYN_ACK)) // one batch: full frames of 16 records
      h!.timers.advance(2)
      const s = h!.intercept.stats()
      expect(s.records.droppedBackpressure).to.be.greaterThan(0)
      expect(s.output.bytes, 'socket buffer + staging').to.be.within(cap - 1026, cap + 1026)
      expect(sock.writableLength, 'the socket holds up to its high-water mark').to.be.below(16 * 1024 + 1026)
      sock.drain()
      const decoder = new ClientSideDecoder({ format: { dialect: '1.x', payload: false }, combined: true })
      const records = decoder.push(sock.bytes)
      expect(records).to.have.length(s.responses.forwarded)
      expect(s.responses.forwarded + s.records.droppedBackpressure).to.equal(n)
      for (const r of records) expect(toHex(r)).to.equal(toHex(V3_RECORD_1X))
      for (const w of sock.writes) expect(w.buffer.byteLength).to.equal(w.byteLength)
    })

    it('caps the unsent output of all connections together, counted apart from the per-connection cap', async () => {
      const open = await fakeHarness({ limits: { maxTotalOutputBytes: 20 * 1024 } })
      const a = open(ROUTE)
      const b = open(ROUTE_B)
      await queue(Array.from({ length: 600 }, (_, i) => i % 2 === 0 ? V3_SYN_ACK : SYN_ACK_B))
      const s = h!.intercept.stats()
      expect(s.records.droppedMemoryCap).to.be.greaterThan(0)
      expect(s.records.droppedBackpressure).to.equal(0)
      expect(s.output.bytes).to.equal(a.writableLength + b.writableLength)
      expect(s.output.bytes).to.be.at.most(20 * 1024 + 1026)
      expect(h!.log.find(/control connections hold \d+ bytes of unsent records in all \(cap 20480\): new records are dropped and counted as lost/, 'warn'))
        .to.have.length(1)
    })
  })
})


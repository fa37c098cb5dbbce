// Control connections: hello and dialects, CLIENT_ADD/DEL, bad peers, --allow,
// connection ids, closing and back-pressure. Real loopback sockets.
import { expect } from 'chai'
import * as net from 'node:net'
import { MessageType } from '@tcpcopy/protocol'
import {
  CLIENT_IP, CLIENT_PORT, ROUTE, TARGET_IP, TARGET_PORT, V3_RECORD_1X, V3_SYN_ACK,
  hex, nfqPacket, toHex, verdictsOf, withDestinationPort
} from './test/fixtures.js'
import { startHarness, type Harness } from './test/harness.js'
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
    h = await startHarness({ flags: { batchSize: '1' } })
    const peer = await h.connect()
    peer.hello(9).clientAdd(ROUTE)
    await addRoutes(1)
    await queue([V3_SYN_ACK])
    const [record] = await peer.waitRecords(1)
    expect(toHex(record!)).to.equal(toHex(V3_RECORD_1X))
    expect(h.log.find(/hello announced version 9.*using 1\.x records/, 'warn')).to.have.length(1)
  })

  it('warns about an unknown message type and keeps the connection', async () => {
    h = await startHarness({ flags: { batchSize: '1' } })
    const peer = await h.connect()
    peer.hello(6).message({ ...ROUTE, type: 7 }).clientAdd(ROUTE)
    await addRoutes(1)
    expect(h.log.find(/unknown msg type 7/, 'warn')).to.have.length(1)
    await queue([V3_SYN_ACK])
    await peer.waitRecords(1)
    expect(peer.isClosed).to.equal(false)
  })

  it('ignores CLIENT_DEL (a debug line only), as 0.9 and 1.x do', async () => {
    h = await startHarness({ flags: { batchSize: '1' } })
    const peer = await h.connect()
    peer.hello(6).clientAdd(ROUTE).message({ ...ROUTE, type: MessageType.ClientDel })
    await waitFor(() => h!.log.find(/CLIENT_DEL 10\.0\.0\.1:40000 ignored/, 'debug').length === 1, 'the debug line')
    expect(h.intercept.stats().routes).to.equal(1)
  })

  it('closes a connection that sends garbage while another peer keeps its routes and records', async () => {
    h = await startHarness({ flags: { batchSize: '1' } })
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
    h = await startHarness({ flags: { allow: '127.0.0.1/32', batchSize: '1' } })
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
    h = await startHarness({ flags: { batchSize: '1' } })
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
      flags: { batchSize: '1' },
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
    expect(h.log.find(/does not read its records: 5000 bytes are unsent/, 'warn')).to.have.length(1) // rate-limited
    expect(peer.isClosed).to.equal(false)
  })

  it('keeps serving other peers when one resets its connection', async () => {
    h = await startHarness({ flags: { batchSize: '1' } })
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
})

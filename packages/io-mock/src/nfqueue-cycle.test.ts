// The mock kernel queue wired to a real core, the way intercept wires the
// native nfqueue socket: receive into FRAMES/DESC_OFF, parse and classify in
// the core, send the verdict datagram from TX.
import { expect } from 'chai'
import { createCore, nfqParseBatch, nfqWriteConfig, nfqWriteVerdicts } from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, TX_DESC_OFF, LinkType, MAX_BATCH } from '@tcpcopy/wasm'
import { createMockKernelQueue } from './index.js'
import { hex } from '@tcpcopy/interface'

/** NFQNL_MSG_PACKET, queue 3, id 0x51, payload: a 40-byte SYN-ACK 10.0.1.2:8080 → 10.0.0.1:40000. */
const PACKET = hex(`
  4c 00 00 00  00 03 00 00  00 00 00 00  00 00 00 00  // nlmsghdr: len 76, PACKET, flags 0, seq 0, pid 0
  02 00 00 03                                         // nfgenmsg: AF_INET, version 0, queue 3
  0b 00 01 00  00 00 00 51  08 00 03 00               // NFQA_PACKET_HDR: id 0x51, ETH_P_IP, hook 3, pad
  2c 00 0a 00                                         // NFQA_PAYLOAD, nla_len 44
  45 00 00 28  00 00 40 00  40 06 00 00  0a 00 01 02  0a 00 00 01  // IPv4 10.0.1.2 → 10.0.0.1, TCP
  1f 90 9c 40  00 00 00 01  00 00 00 02  50 12 72 10  00 00 00 00  // 8080 → 40000, SYN+ACK
`)

/** NLMSG_ERROR ack of seq 12 (the BIND message when the config starts at seq 10). */
const ACK_12 = hex(`
  24 00 00 00  02 00 00 01  0c 00 00 00  00 00 00 00  // nlmsghdr: len 36, ERROR, CAPPED, seq 12
  00 00 00 00                                         // error 0
  1c 00 00 00  02 03 05 00  0c 00 00 00  00 00 00 00  // the request header
`)

describe('mock kernel queue with a core', () => {
  it('binds, receives a packet, and answers it with a DROP verdict for its id', () => {
    const core = createCore({ hashSize: 64, maxRoutes: 64, delayTotal: 64 })
    const regions = {
      memory: core.raw.memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF
    }
    const kq = createMockKernelQueue({ regions, snap: 65536 })
    kq.io.send(nfqWriteConfig(core, { queueNum: 3, copyRange: 64 }, 10))
    expect(kq.take().map(d => d.length)).to.deep.equal([28, 28, 28, 32])

    kq.inject(ACK_12, PACKET)
    const n = kq.io.receive(MAX_BATCH)
    expect(n).to.equal(2)
    const batch = nfqParseBatch(core, n)
    expect(batch).to.deep.include({ frames: 1, acks: 1, errors: 0, malformed: 0, noPayload: 0 })
    const verdicts = core.processDescribed(batch.frames, LinkType.Raw, 1)
    expect(Array.from(verdicts)).to.deep.equal([0])
    expect(core.counters().Delayed).to.equal(1) // a SYN-ACK without a route waits for its CLIENT_ADD

    kq.io.send(nfqWriteVerdicts(core, batch.frames, 3, 1))
    const [verdict] = kq.take()
    expect(Array.from(verdict!)).to.deep.equal(Array.from(hex(`
      20 00 00 00  01 03 01 00  01 00 00 00  00 00 00 00  // nlmsghdr: len 32, VERDICT, REQUEST, seq 1
      00 00 00 03                                         // AF_UNSPEC, version 0, queue 3
      0c 00 02 00  00 00 00 00  00 00 00 51               // NFQA_VERDICT_HDR: NF_DROP, id 0x51
    `)))
  })
})

import { expect } from 'chai'
import fc from 'fast-check'
import {
  LinkType, Verdict, MAX_BATCH, DESC_OFF, FRAMES_OFF, FRAMES_SIZE, NFQ_IDS_OFF, TX_DESC_OFF, TX_OFF, VERDICT_OFF
} from '@tcpcopy/wasm'
import { IoError, isTcpcopyError } from '@tcpcopy/interface'
import { createCore, type Core, type RouteKey } from './core.js'
import {
  nfqWriteConfig, nfqParseBatch, nfqWriteVerdicts, nfqCounters, nfqConfigSteps, nfqConfigError, nfqConfigStepFatal, type NfqBatch
} from './nfqueue.js'
import { hex, concat, toHex, ipv4Tcp, V3_SYN_ACK, V4_DATA } from './packet-fixtures.js'

// ---- an independent netlink encoder for the fixtures (plain JS, kernel ABI) -------

function u32le (v: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, v >>> 0, true)
  return b
}
function pad4 (b: Uint8Array): Uint8Array {
  return b.length % 4 === 0 ? b : concat(b, new Uint8Array(4 - (b.length % 4)))
}
/** struct nlattr {u16 len; u16 type} + value, padded to 4 (nla_len is not). */
function nla (type: number, value: Uint8Array): Uint8Array {
  const h = new Uint8Array(4)
  const v = new DataView(h.buffer)
  v.setUint16(0, 4 + value.length, true)
  v.setUint16(2, type, true)
  return pad4(concat(h, value))
}
/** struct nlmsghdr (host order, little-endian) + body; nlmsg_len = 16 + body (unpadded), then padded. */
function nlmsg (type: number, flags: number, seq: number, body: Uint8Array, pid = 0): Uint8Array {
  const h = new Uint8Array(16)
  const v = new DataView(h.buffer)
  v.setUint32(0, 16 + body.length, true)
  v.setUint16(4, type, true)
  v.setUint16(6, flags, true)
  v.setUint32(8, seq >>> 0, true)
  v.setUint32(12, pid, true)
  return pad4(concat(h, body))
}
/** struct nfgenmsg {u8 family; u8 version; be16 res_id}. */
function nfgen (family: number, queue: number): Uint8Array {
  return Uint8Array.of(family, 0, queue >> 8, queue & 0xff)
}
function packetHdr (id: number, hwProto = 0x0800, hook = 3): Uint8Array {
  const b = new Uint8Array(7)
  const v = new DataView(b.buffer)
  v.setUint32(0, id >>> 0)
  v.setUint16(4, hwProto)
  v.setUint8(6, hook)
  return nla(1, b)
}
const MARK = nla(3, Uint8Array.of(0, 0, 0, 5))
const TIMESTAMP = nla(4, new Uint8Array(16).fill(0x11))
const OUTDEV = nla(6, Uint8Array.of(0, 0, 0, 2))
const CT_NESTED = nla(0x800b, nla(1, Uint8Array.of(1, 2, 3, 4))) // NFQA_CT with NLA_F_NESTED
/** A kernel NFQNL_MSG_PACKET for queue 7. */
function packetMsg (id: number | undefined, payload: Uint8Array | undefined, extra: Uint8Array[] = [], queue = 7): Uint8Array {
  const attrs: Uint8Array[] = []
  if (id !== undefined) attrs.push(packetHdr(id))
  attrs.push(...extra)
  if (payload !== undefined) attrs.push(nla(10, payload))
  return nlmsg(0x300, 0, 0, concat(nfgen(2, queue), ...attrs))
}
/** NLMSG_ERROR with the request header echoed (NLM_F_CAPPED, 0x100: no request payload). */
function errorMsg (errno: number, seq: number, requestType = 0x302): Uint8Array {
  const echo = new Uint8Array(16)
  const v = new DataView(echo.buffer)
  v.setUint32(0, 28, true)
  v.setUint16(4, requestType, true)
  v.setUint16(6, 5, true)
  v.setUint32(8, seq, true)
  return nlmsg(2, 0x100, seq, concat(u32le(-errno), echo), 0x4d2)
}

// ---- the core's memory ---------------------------------------------------------------

/** Places datagrams in FRAMES at 8-byte aligned offsets and describes them at DESC_OFF (as PacketIo.receive does). */
function receive (core: Core, datagrams: Uint8Array[], at = FRAMES_OFF): number[] {
  const offs: number[] = []
  datagrams.forEach((d, i) => {
    core.bytes.set(d, at)
    core.view.setUint32(DESC_OFF + 8 * i, at, true)
    core.view.setUint32(DESC_OFF + 8 * i + 4, d.length, true)
    offs.push(at)
    at += (d.length + 7) & ~7
  })
  return offs
}
function frameDescs (core: Core, k: number): Array<[number, number]> {
  return Array.from({ length: k }, (_, i) => [core.view.getUint32(DESC_OFF + 8 * i, true), core.view.getUint32(DESC_OFF + 8 * i + 4, true)])
}
function frameBytes (core: Core, k: number): Uint8Array[] {
  return frameDescs(core, k).map(([o, l]) => core.bytes.slice(o, o + l))
}
function ids (core: Core, k: number): number[] {
  return Array.from({ length: k }, (_, i) => core.view.getUint32(NFQ_IDS_OFF + 4 * i, true))
}
/** The datagrams described at TX_DESC_OFF. */
function sent (core: Core, n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const d = TX_DESC_OFF + 16 * i
    const off = core.view.getUint32(d, true)
    expect(core.view.getUint32(d + 8, true), 'dst').to.equal(0)
    expect(core.view.getUint32(d + 12, true), 'reserved').to.equal(0)
    return core.bytes.slice(off, off + core.view.getUint32(d + 4, true))
  })
}
function same (actual: Uint8Array, expected: Uint8Array): void {
  expect(toHex(actual)).to.equal(toHex(expected))
}
function batchOf (partial: Partial<NfqBatch>): NfqBatch {
  return {
    frames: 0, datagrams: 0, messages: 0, packets: 0, noPayload: 0, acks: 0, errors: 0, lastErrno: 0, lastErrorSeq: 0,
    lastErrorType: 0, malformed: 0, truncated: 0, overflow: 0, ignored: 0, badDatagrams: 0, ...partial
  }
}

// ---- hand-written fixtures (kernel ABI, little-endian host) -------------------------------

/** Queue 7, copy range 64, max length 4096, fail-open, seq 100: six datagrams. */
const CONFIG_Q7 = [
  hex`
    1c 00 00 00  // nlmsg_len 28
    02 03        // nlmsg_type 0x0302: NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG
    05 00        // nlmsg_flags NLM_F_REQUEST | NLM_F_ACK
    64 00 00 00  // nlmsg_seq 100
    00 00 00 00  // nlmsg_pid 0
    00 00 00 00  // nfgenmsg: family AF_UNSPEC, version 0, res_id 0
    08 00 01 00  // nla_len 8, NFQA_CFG_CMD
    04 00 00 02  // command PF_UNBIND, pad, pf AF_INET (be16)
  `,
  hex`
    1c 00 00 00  // nlmsg_len 28
    02 03 05 00  // CONFIG, REQUEST | ACK
    65 00 00 00  // nlmsg_seq 101
    00 00 00 00  // nlmsg_pid 0
    00 00 00 00  // AF_UNSPEC, version 0, res_id 0
    08 00 01 00  // NFQA_CFG_CMD
    03 00 00 02  // command PF_BIND, pad, pf AF_INET
  `,
  hex`
    1c 00 00 00  // nlmsg_len 28
    02 03 05 00  // CONFIG, REQUEST | ACK
    66 00 00 00  // nlmsg_seq 102
    00 00 00 00  // nlmsg_pid 0
    00 00 00 07  // AF_UNSPEC, version 0, res_id 7 (be16): the queue
    08 00 01 00  // NFQA_CFG_CMD
    01 00 00 00  // command BIND, pad, pf 0
  `,
  hex`
    20 00 00 00  // nlmsg_len 32
    02 03 05 00  // CONFIG, REQUEST | ACK
    67 00 00 00  // nlmsg_seq 103
    00 00 00 00  // nlmsg_pid 0
    00 00 00 07  // AF_UNSPEC, version 0, queue 7
    09 00 02 00  // nla_len 9 (packed 5-byte struct), NFQA_CFG_PARAMS
    00 00 00 40  // copy_range 64 (be32)
    02 00 00 00  // copy_mode NFQNL_COPY_PACKET, 3 bytes of padding
  `,
  hex`
    1c 00 00 00  // nlmsg_len 28
    02 03 05 00  // CONFIG, REQUEST | ACK
    68 00 00 00  // nlmsg_seq 104
    00 00 00 00  // nlmsg_pid 0
    00 00 00 07  // AF_UNSPEC, version 0, queue 7
    08 00 03 00  // nla_len 8, NFQA_CFG_QUEUE_MAXLEN
    00 00 10 00  // 4096 (be32)
  `,
  hex`
    24 00 00 00  // nlmsg_len 36
    02 03 05 00  // CONFIG, REQUEST | ACK
    69 00 00 00  // nlmsg_seq 105
    00 00 00 00  // nlmsg_pid 0
    00 00 00 07  // AF_UNSPEC, version 0, queue 7
    08 00 05 00  // nla_len 8, NFQA_CFG_FLAGS
    00 00 00 01  // NFQA_CFG_F_FAIL_OPEN (be32)
    08 00 04 00  // nla_len 8, NFQA_CFG_MASK
    00 00 00 01  // NFQA_CFG_F_FAIL_OPEN (be32)
  `
]

/** A kernel packet message for queue 7, id 42, with MARK, TIMESTAMP and OUTDEV around the payload. */
const PACKET_42 = concat(hex`
  84 00 00 00  // nlmsg_len 132
  00 03        // nlmsg_type 0x0300: NFQNL_MSG_PACKET
  00 00        // nlmsg_flags 0
  00 00 00 00  // nlmsg_seq 0
  00 00 00 00  // nlmsg_pid 0
  02 00 00 07  // nfgenmsg: AF_INET, version 0, queue 7
  0b 00 01 00  // nla_len 11, NFQA_PACKET_HDR
  00 00 00 2a  //   packet_id 42 (be32)
  08 00 03 00  //   hw_protocol ETH_P_IP (be16), hook NF_INET_LOCAL_OUT, 1 byte of padding
  08 00 03 00  // nla_len 8, NFQA_MARK
  00 00 00 05  //   mark 5
  14 00 04 00  // nla_len 20, NFQA_TIMESTAMP
  11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11  // sec, usec (be64 each)
  08 00 06 00  // nla_len 8, NFQA_IFINDEX_OUTDEV
  00 00 00 02  //   ifindex 2
  40 00 0a 00  // nla_len 64, NFQA_PAYLOAD: the 60-byte IPv4 packet follows
`, V3_SYN_ACK)

/** The kernel's ack of the BIND message (seq 102), capped: error 0 and the request header. */
const ACK_102 = hex`
  24 00 00 00  // nlmsg_len 36
  02 00        // nlmsg_type NLMSG_ERROR
  00 01        // nlmsg_flags NLM_F_CAPPED
  66 00 00 00  // nlmsg_seq 102
  d2 04 00 00  // nlmsg_pid 1234 (our port id)
  00 00 00 00  // error 0: ack
  1c 00 00 00  // request: nlmsg_len 28
  02 03 05 00  //   CONFIG, REQUEST | ACK
  66 00 00 00  //   nlmsg_seq 102
  00 00 00 00  //   nlmsg_pid 0
`

/** The kernel's refusal of the BIND message (seq 102): -EBUSY. */
const EBUSY_102 = hex`
  24 00 00 00  // nlmsg_len 36
  02 00 00 01  // NLMSG_ERROR, NLM_F_CAPPED
  66 00 00 00  // nlmsg_seq 102
  d2 04 00 00  // nlmsg_pid 1234
  f0 ff ff ff  // error -16 (EBUSY)
  1c 00 00 00  // request: nlmsg_len 28
  02 03 05 00  //   CONFIG, REQUEST | ACK
  66 00 00 00  //   nlmsg_seq 102
  00 00 00 00  //   nlmsg_pid 0
`

const CLIENT = 0x0a000001 // 10.0.0.1
const TARGET = 0x0a000102 // 10.0.1.2
const KEY: RouteKey = { clientIp: CLIENT, clientPort: 40000, targetIp: TARGET, targetPort: 8080 }

describe('nfqueue netlink', () => {
  let core: Core
  beforeEach(() => { core = createCore({ hashSize: 1024, maxRoutes: 4096, delayTotal: 256 }) })

  describe('config datagrams', () => {
    it('writes PF_UNBIND, PF_BIND, BIND, PARAMS, QUEUE_MAXLEN and FAIL_OPEN byte for byte, one datagram each', () => {
      const n = nfqWriteConfig(core, { queueNum: 7, copyRange: 64, maxLen: 4096, failOpen: true }, 100)
      expect(n).to.equal(6)
      const got = sent(core, n)
      got.forEach((d, i) => same(d, CONFIG_Q7[i]!))
      expect(core.view.getUint32(TX_DESC_OFF, true)).to.equal(TX_OFF)
      expect(nfqCounters(core).configMessages).to.equal(6)
    })

    it('matches the independent encoder', () => {
      const cmd = (c: number, pf: number): Uint8Array => nla(1, Uint8Array.of(c, 0, pf >> 8, pf & 0xff))
      same(CONFIG_Q7[0]!, nlmsg(0x302, 5, 100, concat(nfgen(0, 0), cmd(4, 2))))
      same(CONFIG_Q7[3]!, nlmsg(0x302, 5, 103, concat(nfgen(0, 7), nla(2, Uint8Array.of(0, 0, 0, 64, 2)))))
    })

    it('leaves out QUEUE_MAXLEN and FAIL_OPEN unless asked', () => {
      const n = nfqWriteConfig(core, { queueNum: 7, copyRange: 64 }, 100)
      expect(n).to.equal(4)
      sent(core, n).forEach((d, i) => same(d, CONFIG_Q7[i]!))
    })

    it('numbers the messages from seq without a gap when QUEUE_MAXLEN is left out', () => {
      const n = nfqWriteConfig(core, { queueNum: 7, copyRange: 64, failOpen: true }, 100)
      expect(n).to.equal(5)
      const last = sent(core, n)[4]!
      expect(new DataView(last.buffer).getUint32(8, true)).to.equal(104)
      expect(nfqConfigSteps({ queueNum: 7, copyRange: 64, failOpen: true }, 100).map(s => [s.step, s.seq])).to.deep.equal([
        ['pf-unbind', 100], ['pf-bind', 101], ['bind', 102], ['params', 103], ['fail-open', 104]
      ])
    })

    it('puts every message in one datagram when asked, back to back', () => {
      const n = nfqWriteConfig(core, { queueNum: 7, copyRange: 64, maxLen: 4096, failOpen: true, oneDatagram: true }, 100)
      expect(n).to.equal(1)
      same(sent(core, 1)[0]!, concat(...CONFIG_Q7))
    })

    it('wraps seq past 2^32 - 1', () => {
      nfqWriteConfig(core, { queueNum: 0, copyRange: 80 }, 0xffffffff)
      const d = sent(core, 2)
      expect(new DataView(d[0]!.buffer).getUint32(8, true)).to.equal(0xffffffff)
      expect(new DataView(d[1]!.buffer).getUint32(8, true)).to.equal(0)
    })

    it('refuses a queue number, copy range or max length out of range with a ConfigError', () => {
      for (const opts of [{ queueNum: 65536, copyRange: 64 }, { queueNum: -1, copyRange: 64 }, { queueNum: 1.5, copyRange: 64 },
        { queueNum: 0, copyRange: 0 }, { queueNum: 0, copyRange: 65536 }, { queueNum: 0, copyRange: 64, maxLen: 0 }]) {
        expect(() => nfqWriteConfig(core, opts, 1)).to.throw().with.property('code', 'TC_ERR_CONFIG_NFQUEUE')
      }
    })

    it('returns -BadArgument from the raw export for arguments out of range', () => {
      expect(core.exports.nfqConfigBuild(65536, 64, 0, 0, 1)).to.equal(-11)
      expect(core.exports.nfqConfigBuild(0, 65536, 0, 0, 1)).to.equal(-11)
      expect(core.exports.nfqConfigBuild(0, 64, 0, 1, 1)).to.equal(-11) // QueueMaxLen with maxLen 0
      expect(core.exports.nfqConfigBuild(0, 64, 0, 8, 1)).to.equal(-11) // unknown option bit
    })
  })

  describe('parsing received datagrams', () => {
    it('turns a packet message into a frame descriptor at its payload and its id, skipping other attributes', () => {
      const [at] = receive(core, [PACKET_42])
      same(PACKET_42, packetMsg(42, V3_SYN_ACK, [MARK, TIMESTAMP, OUTDEV]))
      const b = nfqParseBatch(core, 1)
      expect(b).to.deep.equal(batchOf({ frames: 1, datagrams: 1, messages: 1, packets: 1 }))
      expect(frameDescs(core, 1)).to.deep.equal([[at! + 72, 60]])
      expect(ids(core, 1)).to.deep.equal([42])
    })

    it('reads several packet messages in one datagram, in order, with nested and flagged attributes between', () => {
      const d1 = concat(
        packetMsg(1, V3_SYN_ACK, [CT_NESTED]),
        packetMsg(2, V4_DATA, [MARK]), // 57-byte payload: the message is padded to 4
        packetMsg(0xfffffffe, V3_SYN_ACK.subarray(0, 40), [TIMESTAMP, OUTDEV])
      )
      const d2 = packetMsg(4, V4_DATA)
      receive(core, [d1, d2])
      const b = nfqParseBatch(core, 2)
      expect(b).to.deep.equal(batchOf({ frames: 4, datagrams: 2, messages: 4, packets: 4 }))
      expect(ids(core, 4)).to.deep.equal([1, 2, 0xfffffffe, 4])
      const f = frameBytes(core, 4)
      same(f[0]!, V3_SYN_ACK)
      same(f[1]!, V4_DATA)
      same(f[2]!, V3_SYN_ACK.subarray(0, 40))
      same(f[3]!, V4_DATA)
    })

    it('keeps the order when early datagrams hold many packets (the in-place rewrite does not clobber)', () => {
      const grams = [0, 1, 2].map(j => concat(...[0, 1, 2, 3, 4].map(k => packetMsg(j * 10 + k, ipv4Tcp({ ipId: j * 10 + k })))))
      receive(core, grams)
      const b = nfqParseBatch(core, 3)
      expect(b.frames).to.equal(15)
      expect(ids(core, 15)).to.deep.equal([0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24])
      expect(frameBytes(core, 15).map(f => (f[4]! << 8) | f[5]!)).to.deep.equal(ids(core, 15))
    })

    it('counts overflow when a full batch holds more packets than slots, and keeps every frame it wrote right', () => {
      const grams = [concat(packetMsg(0, V3_SYN_ACK), packetMsg(100000, V3_SYN_ACK))]
      for (let j = 1; j < MAX_BATCH; j++) grams.push(packetMsg(j, ipv4Tcp({ ipId: j })))
      receive(core, grams)
      const b = nfqParseBatch(core, MAX_BATCH)
      expect(b.frames).to.equal(MAX_BATCH)
      expect(b.overflow).to.equal(1)
      expect(b.packets).to.equal(MAX_BATCH + 1)
      const got = ids(core, MAX_BATCH)
      expect(got.every((id, i) => id === i)).to.equal(true)
      const f = frameBytes(core, MAX_BATCH)
      expect(f.slice(1).every((p, i) => ((p[4]! << 8) | p[5]!) === i + 1)).to.equal(true)
    })

    it('gives a packet without NFQA_PAYLOAD a zero-length frame, which the classifier drops as malformed', () => {
      const [at] = receive(core, [packetMsg(9, undefined, [MARK])])
      const b = nfqParseBatch(core, 1)
      expect(b).to.deep.equal(batchOf({ frames: 1, datagrams: 1, messages: 1, packets: 1, noPayload: 1 }))
      expect(frameDescs(core, 1)).to.deep.equal([[at!, 0]])
      expect(ids(core, 1)).to.deep.equal([9])
      const before = core.counters().Malformed
      expect(Array.from(core.processDescribed(1, LinkType.Raw, 1))).to.deep.equal([Verdict.Drop])
      expect(core.counters().Malformed).to.equal(before + 1)
    })

    it('skips a packet message without NFQA_PACKET_HDR (no id to answer) and counts it malformed', () => {
      receive(core, [concat(packetMsg(undefined, V3_SYN_ACK), packetMsg(5, V3_SYN_ACK))])
      const b = nfqParseBatch(core, 1)
      expect(b).to.deep.equal(batchOf({ frames: 1, datagrams: 1, messages: 2, packets: 2, malformed: 1 }))
      expect(ids(core, 1)).to.deep.equal([5])
    })

    it('answers a packet whose attribute after the id is broken with a zero-length frame', () => {
      const broken = concat(nfgen(2, 7), packetHdr(6), hex`02 00 03 00`) // nla_len 2 < 4
      const [at] = receive(core, [nlmsg(0x300, 0, 0, broken)])
      const b = nfqParseBatch(core, 1)
      expect(b).to.deep.equal(batchOf({ frames: 1, datagrams: 1, messages: 1, packets: 1, malformed: 1, noPayload: 1 }))
      expect(frameDescs(core, 1)).to.deep.equal([[at!, 0]])
    })

    it('refuses an attribute running past its message unless the message itself was cut', () => {
      const body = concat(nfgen(2, 7), packetHdr(8), hex`40 00 0a 00`, V3_SYN_ACK.subarray(0, 20)) // nla_len 64, 20 bytes
      receive(core, [nlmsg(0x300, 0, 0, body)])
      expect(nfqParseBatch(core, 1)).to.deep.equal(batchOf({ frames: 1, datagrams: 1, messages: 1, packets: 1, malformed: 1, noPayload: 1 }))
    })

    it('still answers a packet message cut by the receive slot, with the payload bytes that arrived', () => {
      const whole = concat(packetMsg(11, V3_SYN_ACK), packetMsg(12, V3_SYN_ACK))
      const first = packetMsg(11, V3_SYN_ACK).length // 96
      // the second message keeps its header, nfgenmsg, PACKET_HDR and 20 of its 60 payload bytes
      const cut = whole.subarray(0, first + 36 + 20)
      const [at] = receive(core, [cut])
      const b = nfqParseBatch(core, 1)
      expect(b).to.deep.equal(batchOf({ frames: 2, datagrams: 1, messages: 2, packets: 2, truncated: 1 }))
      expect(ids(core, 2)).to.deep.equal([11, 12])
      expect(frameDescs(core, 2)[1]).to.deep.equal([at! + first + 36, 20])
    })

    it('drops a message cut before its packet id without a frame (counted truncated)', () => {
      receive(core, [PACKET_42.subarray(0, 26)])
      expect(nfqParseBatch(core, 1)).to.deep.equal(batchOf({ datagrams: 1, messages: 1, packets: 1, truncated: 1 }))
    })

    it('stops at an nlmsg_len below 16 and counts the datagram tail malformed', () => {
      receive(core, [concat(packetMsg(1, V3_SYN_ACK), hex`08 00 00 00 00 03 00 00 00 00 00 00 00 00 00 00`, packetMsg(2, V3_SYN_ACK))])
      expect(nfqParseBatch(core, 1)).to.deep.equal(batchOf({ frames: 1, datagrams: 1, messages: 1, packets: 1, malformed: 1 }))
    })

    it('counts trailing bytes too short for a header as malformed', () => {
      receive(core, [concat(packetMsg(1, V3_SYN_ACK), hex`01 02 03 04 05 06 07 08`)])
      expect(nfqParseBatch(core, 1)).to.deep.equal(batchOf({ frames: 1, datagrams: 1, messages: 1, packets: 1, malformed: 1 }))
    })

    it('records acks and errors with the errno, seq and request type of the last error', () => {
      same(ACK_102, errorMsg(0, 102))
      same(EBUSY_102, errorMsg(16, 102))
      receive(core, [ACK_102, concat(errorMsg(1, 100), EBUSY_102), errorMsg(0, 103)])
      const b = nfqParseBatch(core, 3)
      expect(b).to.deep.equal(batchOf({
        datagrams: 3, messages: 4, acks: 2, errors: 2, lastErrno: 16, lastErrorSeq: 102, lastErrorType: 0x302
      }))
    })

    it('reads an error message without the echoed request, and refuses a positive error', () => {
      receive(core, [nlmsg(2, 0, 9, u32le(-1)), nlmsg(2, 0, 9, u32le(5)), nlmsg(2, 0, 9, new Uint8Array(2))])
      expect(nfqParseBatch(core, 3)).to.deep.equal(batchOf({
        datagrams: 3, messages: 3, errors: 1, lastErrno: 1, lastErrorSeq: 9, malformed: 2
      }))
    })

    it('ignores NOOP, DONE, OVERRUN and other message types', () => {
      receive(core, [concat(nlmsg(1, 0, 0, new Uint8Array(0)), nlmsg(3, 2, 0, u32le(0)), nlmsg(4, 0, 0, new Uint8Array(0)),
        nlmsg(0x302, 0, 0, nfgen(0, 7)), packetMsg(3, V3_SYN_ACK))])
      expect(nfqParseBatch(core, 1)).to.deep.equal(batchOf({ frames: 1, datagrams: 1, messages: 5, packets: 1, ignored: 4 }))
    })

    it('skips a datagram descriptor outside FRAMES and reads the rest', () => {
      receive(core, [packetMsg(1, V3_SYN_ACK), packetMsg(2, V3_SYN_ACK)])
      core.view.setUint32(DESC_OFF, FRAMES_OFF + FRAMES_SIZE - 8, true) // runs past FRAMES
      expect(nfqParseBatch(core, 2)).to.deep.equal(batchOf({ frames: 1, datagrams: 2, messages: 1, packets: 1, badDatagrams: 1 }))
      expect(ids(core, 1)).to.deep.equal([2])
    })

    it('reads nothing from an empty batch and refuses n out of range', () => {
      expect(nfqParseBatch(core, 0)).to.deep.equal(batchOf({}))
      expect(() => nfqParseBatch(core, MAX_BATCH + 1)).to.throw().with.property('code', 'TC_ERR_CONFIG_NFQUEUE')
      expect(core.exports.nfqParseBatch(-1)).to.equal(-11)
      expect(core.exports.nfqParseBatch(MAX_BATCH + 1)).to.equal(-11)
    })

    it('adds each batch to the cumulative counters', () => {
      receive(core, [PACKET_42, ACK_102])
      nfqParseBatch(core, 2)
      receive(core, [EBUSY_102])
      nfqParseBatch(core, 1)
      const c = nfqCounters(core)
      expect([c.datagrams, c.messages, c.packets, c.acks, c.errors]).to.deep.equal([3, 3, 1, 1, 1])
    })
  })

  describe('verdict datagram', () => {
    it('writes one datagram of verdict messages, byte for byte', () => {
      core.view.setUint32(NFQ_IDS_OFF, 42, true)
      core.view.setUint32(NFQ_IDS_OFF + 4, 0xdeadbeef, true)
      core.bytes[VERDICT_OFF] = Verdict.Accept
      core.bytes[VERDICT_OFF + 1] = Verdict.Drop
      expect(nfqWriteVerdicts(core, 2, 7, 500)).to.equal(1)
      const [d] = sent(core, 1)
      same(d!, hex`
        20 00 00 00  // nlmsg_len 32
        01 03        // nlmsg_type 0x0301: NFQNL_MSG_VERDICT
        01 00        // nlmsg_flags NLM_F_REQUEST
        f4 01 00 00  // nlmsg_seq 500
        00 00 00 00  // nlmsg_pid 0
        00 00 00 07  // AF_UNSPEC, version 0, queue 7
        0c 00 02 00  // nla_len 12, NFQA_VERDICT_HDR
        00 00 00 01  //   verdict NF_ACCEPT (be32)
        00 00 00 2a  //   id 42 (be32)
        20 00 00 00  // nlmsg_len 32
        01 03 01 00  // VERDICT, REQUEST
        f5 01 00 00  // nlmsg_seq 501
        00 00 00 00  // nlmsg_pid 0
        00 00 00 07  // AF_UNSPEC, version 0, queue 7
        0c 00 02 00  // NFQA_VERDICT_HDR
        00 00 00 00  //   verdict NF_DROP
        de ad be ef  //   id 0xdeadbeef
      `)
      expect(nfqCounters(core).verdicts).to.equal(2)
    })

    it('fails safe to NF_DROP for a verdict byte other than Accept', () => {
      core.bytes[VERDICT_OFF] = 7
      nfqWriteVerdicts(core, 1, 0, 1)
      expect(sent(core, 1)[0]![27]).to.equal(0)
    })

    it('writes no datagram for no frames and refuses m or the queue out of range', () => {
      expect(nfqWriteVerdicts(core, 0, 7, 1)).to.equal(0)
      expect(() => nfqWriteVerdicts(core, MAX_BATCH + 1, 7, 1)).to.throw().with.property('code', 'TC_ERR_CONFIG_NFQUEUE')
      expect(() => nfqWriteVerdicts(core, 1, 65536, 1)).to.throw().with.property('code', 'TC_ERR_CONFIG_NFQUEUE')
      expect(core.exports.nfqVerdictBuild(1, 65536, 1)).to.equal(-11)
      expect(core.exports.nfqVerdictBuild(-1, 0, 1)).to.equal(-11)
    })

    it('fits a full batch of verdicts in one datagram', () => {
      expect(nfqWriteVerdicts(core, MAX_BATCH, 7, 1)).to.equal(1)
      expect(core.view.getUint32(TX_DESC_OFF + 4, true)).to.equal(MAX_BATCH * 32)
    })
  })

  describe('a whole cycle', () => {
    it('parses, classifies and answers: routed and unroutable responses dropped, a passlisted one accepted, the ack counted', () => {
      core.routerAdd(KEY, 7, 1)
      core.setPasslist([0x0a090909])
      const passed = ipv4Tcp({ dst: [10, 9, 9, 9] })
      const unroutable = ipv4Tcp({ dport: 40001 })
      receive(core, [ACK_102, PACKET_42, concat(packetMsg(43, passed, [MARK]), packetMsg(44, unroutable)), packetMsg(45, undefined)])
      const b = nfqParseBatch(core, 4)
      expect(b).to.deep.equal(batchOf({ frames: 4, datagrams: 4, messages: 5, packets: 4, acks: 1, noPayload: 1 }))
      const verdicts = core.processDescribed(b.frames, LinkType.Raw, 2)
      expect(Array.from(verdicts)).to.deep.equal([Verdict.Drop, Verdict.Accept, Verdict.Drop, Verdict.Drop])
      const c = core.counters()
      expect([c.Routed, c.Passed, c.Unroutable, c.Malformed]).to.deep.equal([1, 1, 1, 1])
      const records: number[] = []
      core.drainOut((conn) => records.push(conn))
      expect(records).to.deep.equal([7])
      expect(nfqWriteVerdicts(core, b.frames, 7, 1000)).to.equal(1)
      const [d] = sent(core, 1)
      const msg = (seq: number, verdict: number, id: number): Uint8Array => {
        const v = new Uint8Array(8)
        new DataView(v.buffer).setUint32(0, verdict)
        new DataView(v.buffer).setUint32(4, id)
        return nlmsg(0x301, 1, seq, concat(nfgen(0, 7), nla(2, v)))
      }
      same(d!, concat(msg(1000, 0, 42), msg(1001, 1, 43), msg(1002, 0, 44), msg(1003, 0, 45)))
    })
  })

  describe('config errors', () => {
    it('turns EBUSY on bind into "already bound by another process" and EPERM into a privileges message', () => {
      const busy = nfqConfigError(16, 'bind', 7)
      expect(busy).to.be.instanceOf(IoError)
      expect(busy.code).to.equal('TC_ERR_NFQ_BUSY')
      expect(busy.message).to.contain('queue 7 is already bound by another process')
      expect(busy.errno).to.equal(16)
      const perm = nfqConfigError(1, 'pf-bind', 7)
      expect(perm.code).to.equal('TC_ERR_NFQ_PERMISSION')
      expect(perm.message).to.contain('CAP_NET_ADMIN')
      expect(isTcpcopyError(nfqConfigError(95, 'fail-open', 0), 'TC_ERR_NFQ_UNSUPPORTED')).to.equal(true)
      expect(nfqConfigError(19, 'params', 0).code).to.equal('TC_ERR_NFQ_CONFIG')
    })

    it('reads EPERM on bind as a queue held by another socket (what the kernel answers then)', () => {
      const held = nfqConfigError(1, 'bind', 3)
      expect(held.code).to.equal('TC_ERR_NFQ_BUSY')
      expect(held.message).to.contain('/proc/net/netfilter/nfnetlink_queue')
      expect(nfqConfigError(1, 'params', 3).code).to.equal('TC_ERR_NFQ_BUSY')
    })

    it('without nfnetlink_queue (every step answered EINVAL): TC_ERR_NFQ_UNSUPPORTED naming the module, and pf-unbind is not harmless', () => {
      // What nfnetlink does when the queue subsystem is missing: each config datagram comes back as an
      // NLMSG_ERROR with -EINVAL, echoing the request. Answer the real config datagrams that way.
      const opts = { queueNum: 7, copyRange: 64 }
      const steps = nfqConfigSteps(opts, 200)
      const n = nfqWriteConfig(core, opts, 200)
      const dv = new DataView(core.raw.memory.buffer)
      const answers = Array.from({ length: n }, (_, i) => {
        const off = dv.getUint32(TX_DESC_OFF + 16 * i, true)
        const type = dv.getUint16(off + 4, true)
        const seq = dv.getUint32(off + 8, true)
        return errorMsg(22, seq, type)
      })
      expect(answers).to.have.length(steps.length)
      // one answer per batch, as they come back one datagram each: the first is pf-unbind's
      receive(core, [answers[0]!])
      const first = nfqParseBatch(core, 1)
      const step = steps.find(s => s.seq === first.lastErrorSeq)!
      expect(step.step).to.equal('pf-unbind')
      expect(step.optional).to.equal(true)
      expect(nfqConfigStepFatal(step, first.lastErrno), 'EINVAL on pf-unbind: no NFQUEUE support').to.equal(true)
      for (const [i, s] of steps.entries()) {
        receive(core, [answers[i]!])
        const b = nfqParseBatch(core, 1)
        expect(b).to.include({ errors: 1, lastErrno: 22, lastErrorSeq: s.seq })
        if (s.step === 'queue-maxlen' || s.step === 'fail-open') continue
        const e = nfqConfigError(b.lastErrno, s.step, 7)
        expect(e).to.be.instanceOf(IoError).and.include({ code: 'TC_ERR_NFQ_UNSUPPORTED', errno: 22, syscall: `nfnetlink_queue ${s.step}` })
        expect(e.message).to.contain('the kernel has no NFQUEUE support').and.contain('modprobe nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE)')
        expect(e.message).to.not.contain('failed with errno 22')
      }
      // all answers in one batch: the last error (params) maps the same way
      receive(core, answers)
      const all = nfqParseBatch(core, answers.length)
      expect(all.errors).to.equal(answers.length)
      const last = steps.find(s => s.seq === all.lastErrorSeq)!
      expect(nfqConfigError(all.lastErrno, last.step, 7).code).to.equal('TC_ERR_NFQ_UNSUPPORTED')
    })

    it('other refusals of an optional step stay harmless, and of a required step stay fatal', () => {
      const [unbind, bind] = nfqConfigSteps({ queueNum: 1, copyRange: 64, maxLen: 10 }, 1)
      const maxlen = nfqConfigSteps({ queueNum: 1, copyRange: 64, maxLen: 10 }, 1).find(s => s.step === 'queue-maxlen')!
      expect(nfqConfigStepFatal(unbind!, 1)).to.equal(false)
      expect(nfqConfigStepFatal(maxlen, 22)).to.equal(false)
      expect(nfqConfigStepFatal(bind!, 22)).to.equal(true)
      expect(nfqConfigError(22, 'fail-open', 1).code).to.equal('TC_ERR_NFQ_UNSUPPORTED') // no NFQA_CFG_F_FAIL_OPEN, not a missing module
      expect(nfqConfigError(22, 'fail-open', 1).message).to.not.contain('modprobe')
    })

    it('maps a parsed error back to its step through the seq', () => {
      const steps = nfqConfigSteps({ queueNum: 7, copyRange: 64 }, 100)
      receive(core, [EBUSY_102])
      const b = nfqParseBatch(core, 1)
      const step = steps.find(s => s.seq === b.lastErrorSeq)
      expect(step?.step).to.equal('bind')
      expect(nfqConfigError(b.lastErrno, step!.step, 7).code).to.equal('TC_ERR_NFQ_BUSY')
    })
  })
})

// ---- fuzzing -------------------------------------------------------------------------

const ATTR = fc.oneof(
  fc.constant(MARK), fc.constant(TIMESTAMP), fc.constant(CT_NESTED),
  fc.integer({ min: 0, max: 0xffffffff }).map(id => packetHdr(id)),
  fc.uint8Array({ maxLength: 80 }).map(p => nla(10, p)),
  fc.uint8Array({ minLength: 0, maxLength: 12 }) // garbage
)
const MESSAGE = fc.oneof(
  fc.tuple(fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }), fc.array(ATTR, { maxLength: 5 }))
    .map(([id, attrs]) => nlmsg(0x300, 0, 0, concat(nfgen(2, 7), ...(id === undefined ? [] : [packetHdr(id)]), ...attrs))),
  fc.tuple(fc.integer({ min: -200, max: 200 }), fc.integer({ min: 0, max: 0xffffffff })).map(([e, s]) => nlmsg(2, 0, s, concat(u32le(e), new Uint8Array(16)))),
  fc.uint8Array({ maxLength: 40 })
)
/** A datagram of messages, then mutated: a cut, and a few bytes overwritten. */
const DATAGRAM = fc.tuple(
  fc.array(MESSAGE, { maxLength: 6 }), fc.integer({ min: 0, max: 1000 }),
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })
).map(([msgs, cut, flips]) => {
  const d = concat(...msgs)
  for (const [at, b] of flips) if (d.length > 0) d[at % d.length] = b
  return d.subarray(0, Math.min(d.length, cut))
})

describe('nfqParseBatch under fuzzing', function () {
  this.timeout(120_000)

  for (const debug of [false, true]) {
    it(`never traps and writes only frames inside the datagrams they came from (${debug ? 'debug' : 'release'} build)`, () => {
      const core = createCore({ debug, hashSize: 64, maxRoutes: 64, delayTotal: 64 })
      fc.assert(fc.property(fc.array(DATAGRAM, { maxLength: 12 }), fc.array(fc.tuple(fc.nat(12), fc.nat(), fc.nat()), { maxLength: 3 }), (grams, bad) => {
        const offs = receive(core, grams)
        const ranges = grams.map((g, i) => [offs[i]!, offs[i]! + g.length] as const)
        const valid = ranges.map(() => true)
        for (const [i, off, len] of bad) {
          if (i >= grams.length) continue
          core.view.setUint32(DESC_OFF + 8 * i, off, true)
          core.view.setUint32(DESC_OFF + 8 * i + 4, len, true)
          valid[i] = off >= FRAMES_OFF && off + len <= FRAMES_OFF + FRAMES_SIZE
          ranges[i] = [off, off + len]
        }
        const b = nfqParseBatch(core, grams.length)
        expect(b.frames).to.be.at.most(b.packets - b.overflow)
        expect(b.packets).to.be.at.most(b.messages)
        expect(b.datagrams).to.equal(grams.length)
        for (const [off, len] of frameDescs(core, b.frames)) {
          const inside = ranges.some(([s, e], i) => valid[i] && off >= s && off + len <= e)
          expect(inside, `frame [${off}, ${len}] outside every datagram`).to.equal(true)
        }
        core.processDescribed(b.frames, LinkType.Raw, 1)
        expect(nfqWriteVerdicts(core, b.frames, 7, 1)).to.equal(b.frames === 0 ? 0 : 1)
      }), { numRuns: 3000 })
    })

    it(`never traps on random bytes at the very end of FRAMES (${debug ? 'debug' : 'release'} build)`, () => {
      const core = createCore({ debug, hashSize: 64, maxRoutes: 64, delayTotal: 64 })
      fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 4 }), (bytes, count) => {
        const at = FRAMES_OFF + FRAMES_SIZE - bytes.length
        core.bytes.set(bytes, at)
        for (let i = 0; i < count; i++) {
          core.view.setUint32(DESC_OFF + 8 * i, at, true)
          core.view.setUint32(DESC_OFF + 8 * i + 4, bytes.length, true)
        }
        const r = core.exports.nfqParseBatch(count)
        expect(r).to.be.at.least(0)
      }), { numRuns: 3000 })
    })
  }
})

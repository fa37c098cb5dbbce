// NFQUEUE over netlink (INTERCEPT.md §4.2, §11): the config datagrams that
// bind a queue, the walk over received datagrams that turns packet messages
// into frame descriptors for batchProcess, and the verdict datagram. The host
// (native shim or mock) only moves datagrams; every netlink byte is read and
// written here.
//
// Wire formats (host order = little-endian for nlmsghdr and nlattr):
//   nlmsghdr  [len u32][type u16][flags u16][seq u32][pid u32]     16 bytes
//   nfgenmsg  [family u8][version u8 = 0][res_id be16 = queue]      4 bytes
//   nlattr    [len u16][type u16] value, padded to 4                 4 + value
// Every message is padded to 4 bytes (NLMSG_ALIGN); several may share a
// datagram.
//
// Regions: received datagrams are in FRAMES, described at DESC_OFF as
// [offset u32, length u32]; nfqParseBatch rewrites DESC_OFF in place into
// frame descriptors [payload offset, payload length] with the packet ids at
// NFQ_IDS_OFF. Config and verdict datagrams are written at TX_OFF with
// descriptors [offset u32, length u32, dst u32 = 0, reserved u32 = 0] at
// TX_DESC_OFF.
//
// Safety: every load is inside a datagram whose descriptor was checked against
// FRAMES, and inside the message and attribute lengths checked before it; no
// input traps, a bad message is counted and skipped.
import { Status } from '../shared/status'
import { DESC_OFF, MAX_BATCH, FRAMES_OFF, FRAMES_SIZE, NFQ_IDS_OFF, TX_DESC_OFF, TX_OFF, VERDICT_OFF } from '../shared/layout'
import { Verdict } from '../shared/enums'
import {
  NLMSG_HDRLEN, NFGENMSG_LEN, NLA_HDRLEN, NLA_TYPE_MASK, NlMsgType, NlmFlag, AF_UNSPEC, AF_INET, NF_ACCEPT, NF_DROP,
  NFQ_TYPE_PACKET, NFQ_TYPE_VERDICT, NFQ_TYPE_CONFIG, NfqAttr, NfqCfgAttr, NfqCfgCmd, NfqCopyMode, NfqCfgFlag,
  NfqConfigOption, NFQ_VERDICT_MSG_LEN, NfqStat, NfqCounter
} from '../shared/netlink'

/** nlmsghdr + nfgenmsg: where the attributes of a queue message start. */
const MSG_BASE: u32 = <u32>NLMSG_HDRLEN + <u32>NFGENMSG_LEN
/** NFQA_PACKET_HDR needs its 7-byte struct: nla_len >= 11. */
const PACKET_HDR_MIN: u32 = <u32>NLA_HDRLEN + 7
/** nlmsgerr: the error word, then the request's nlmsghdr (type at +24). */
const ERR_MIN: u32 = <u32>NLMSG_HDRLEN + 4
const ERR_TYPE_AT: u32 = <u32>NLMSG_HDRLEN + 4 + 4
const ERR_ECHO_MIN: u32 = <u32>NLMSG_HDRLEN + 4 + <u32>NLMSG_HDRLEN
const FRAMES_END: u64 = <u64>FRAMES_OFF + <u64>FRAMES_SIZE
const KNOWN_OPTIONS: u32 = NfqConfigOption.QueueMaxLen | NfqConfigOption.FailOpen | NfqConfigOption.OneDatagram

/** Results of the last nfqParseBatch (u32 each, NfqStat order) and the u64 counters (NfqCounter order). */
const stats: usize = memory.data(<i32>NfqStat.Count * 4, 8)
const counters: usize = memory.data(<i32>NfqCounter.Count * 8, 8)

@inline function be16 (p: usize): u32 { return <u32>bswap<u16>(load<u16>(p)) }
@inline function be32 (p: usize): u32 { return bswap<u32>(load<u32>(p)) }
@inline function align4 (n: u32): u32 { return (n + 3) & ~3 }

@inline function statAdd (field: i32): void {
  const p = stats + (<usize>field << 2)
  store<u32>(p, load<u32>(p) + 1)
}
@inline function statSet (field: i32, v: u32): void { store<u32>(stats + (<usize>field << 2), v) }
@inline function statGet (field: i32): u32 { return load<u32>(stats + (<usize>field << 2)) }
@inline function counterAdd (idx: i32, by: u64): void {
  const p = counters + (<usize>idx << 3)
  store<u64>(p, load<u64>(p) + by)
}

/** A field of the last nfqParseBatch (NfqStat), or 0 for an unknown field. */
export function nfqStat (field: i32): u32 {
  if (field < 0 || field >= NfqStat.Count) return 0
  return statGet(field)
}

/** A cumulative counter (NfqCounter) since the module was instantiated, or 0 for an unknown one. */
export function nfqCounter (idx: i32): u64 {
  if (idx < 0 || idx >= NfqCounter.Count) return 0
  return load<u64>(counters + (<usize>idx << 3))
}

// ---- building ------------------------------------------------------------------

/** Writes nlmsghdr + nfgenmsg at p for a queue message of `len` bytes. */
@inline function putHeader (p: usize, len: u32, type: u32, flags: u32, seq: u32, family: u32, queue: u32): void {
  store<u32>(p, len)
  store<u16>(p, <u16>type, 4)
  store<u16>(p, <u16>flags, 6)
  store<u32>(p, seq, 8)
  store<u32>(p, 0, 12) // nlmsg_pid 0: the kernel
  store<u8>(p, <u8>family, 16)
  store<u8>(p, 0, 17) // NFNETLINK_V0
  store<u16>(p, bswap<u16>(<u16>queue), 18)
}

@inline function putAttrHeader (p: usize, len: u32, type: u32): void {
  store<u16>(p, <u16>len)
  store<u16>(p, <u16>type, 2)
}

/** A config message carrying NFQA_CFG_CMD {cmd, pad, be16 pf}; returns its length (28). */
function putCmd (p: usize, seq: u32, queue: u32, cmd: u32, pf: u32): u32 {
  const len = MSG_BASE + 8
  putHeader(p, len, NFQ_TYPE_CONFIG, NlmFlag.Request | NlmFlag.Ack, seq, AF_UNSPEC, queue)
  putAttrHeader(p + MSG_BASE, 8, NfqCfgAttr.Cmd)
  store<u8>(p + MSG_BASE, <u8>cmd, 4)
  store<u8>(p + MSG_BASE, 0, 5)
  store<u16>(p + MSG_BASE, bswap<u16>(<u16>pf), 6)
  return len
}

/** A config message carrying NFQA_CFG_PARAMS {be32 range, u8 mode} (nla_len 9, padded to 12); returns 32. */
function putParams (p: usize, seq: u32, queue: u32, range: u32): u32 {
  const len = MSG_BASE + 12
  putHeader(p, len, NFQ_TYPE_CONFIG, NlmFlag.Request | NlmFlag.Ack, seq, AF_UNSPEC, queue)
  const a = p + MSG_BASE
  putAttrHeader(a, 9, NfqCfgAttr.Params)
  store<u32>(a, bswap<u32>(range), 4)
  store<u32>(a, <u32>NfqCopyMode.Packet, 8) // mode byte, then 3 zero bytes of padding
  return len
}

/** A config message with one be32 attribute; returns 28. */
function putU32Attr (p: usize, seq: u32, queue: u32, type: u32, v: u32): u32 {
  const len = MSG_BASE + 8
  putHeader(p, len, NFQ_TYPE_CONFIG, NlmFlag.Request | NlmFlag.Ack, seq, AF_UNSPEC, queue)
  putAttrHeader(p + MSG_BASE, 8, type)
  store<u32>(p + MSG_BASE, bswap<u32>(v), 4)
  return len
}

/** A config message with NFQA_CFG_FLAGS then NFQA_CFG_MASK = FAIL_OPEN (libnetfilter_queue's order); returns 36. */
function putFailOpen (p: usize, seq: u32, queue: u32): u32 {
  const len = MSG_BASE + 16
  putHeader(p, len, NFQ_TYPE_CONFIG, NlmFlag.Request | NlmFlag.Ack, seq, AF_UNSPEC, queue)
  const a = p + MSG_BASE
  putAttrHeader(a, 8, NfqCfgAttr.Flags)
  store<u32>(a, bswap<u32>(<u32>NfqCfgFlag.FailOpen), 4)
  putAttrHeader(a + 8, 8, NfqCfgAttr.Mask)
  store<u32>(a + 8, bswap<u32>(<u32>NfqCfgFlag.FailOpen), 4)
  return len
}

@inline function putTxDesc (i: u32, off: usize, len: u32): void {
  const d = <usize>TX_DESC_OFF + (<usize>i << 4)
  store<u32>(d, <u32>off)
  store<u32>(d, len, 4)
  store<u32>(d, 0, 8)
  store<u32>(d, 0, 12)
}

/**
 * Writes the config messages that bind queue `queueNum`, in this order, with
 * nlmsg_seq = seq, seq+1, ...:
 *   PF_UNBIND(AF_INET), PF_BIND(AF_INET)  (no-ops since Linux 3.8, needed before)
 *   BIND queue
 *   PARAMS {copyRange, NFQNL_COPY_PACKET}
 *   QUEUE_MAXLEN maxLen                   (options & NfqConfigOption.QueueMaxLen)
 *   FLAGS/MASK FAIL_OPEN                  (options & NfqConfigOption.FailOpen)
 * Every message asks for an ack (NLM_F_REQUEST | NLM_F_ACK). Messages go to
 * TX_OFF, one datagram each (descriptors at TX_DESC_OFF), or all in one
 * datagram with NfqConfigOption.OneDatagram.
 * Returns the number of datagrams, or -Status.BadArgument (queueNum or
 * copyRange above 0xffff, maxLen 0 with QueueMaxLen, unknown option bits).
 */
export function nfqConfigBuild (queueNum: u32, copyRange: u32, maxLen: u32, options: u32, seq: u32): i32 {
  if (queueNum > 0xffff || copyRange > 0xffff || (options & ~KNOWN_OPTIONS) != 0) return -Status.BadArgument
  if ((options & NfqConfigOption.QueueMaxLen) != 0 && maxLen == 0) return -Status.BadArgument
  const one = (options & NfqConfigOption.OneDatagram) != 0
  let p = <usize>TX_OFF
  let msgs: u32 = 0
  let datagrams: u32 = 0
  let len: u32 = 0
  for (let step: u32 = 0; step < 6; step++) {
    const at = p
    if (step == 0) len = putCmd(p, seq + msgs, 0, NfqCfgCmd.PfUnbind, AF_INET)
    else if (step == 1) len = putCmd(p, seq + msgs, 0, NfqCfgCmd.PfBind, AF_INET)
    else if (step == 2) len = putCmd(p, seq + msgs, queueNum, NfqCfgCmd.Bind, AF_UNSPEC)
    else if (step == 3) len = putParams(p, seq + msgs, queueNum, copyRange)
    else if (step == 4) {
      if ((options & NfqConfigOption.QueueMaxLen) == 0) continue
      len = putU32Attr(p, seq + msgs, queueNum, NfqCfgAttr.QueueMaxLen, maxLen)
    } else {
      if ((options & NfqConfigOption.FailOpen) == 0) continue
      len = putFailOpen(p, seq + msgs, queueNum)
    }
    msgs++
    p += <usize>len
    if (!one) putTxDesc(datagrams++, at, len)
  }
  if (one) putTxDesc(datagrams++, <usize>TX_OFF, <u32>(p - <usize>TX_OFF))
  counterAdd(NfqCounter.ConfigMessages, <u64>msgs)
  return <i32>datagrams
}

/**
 * Writes ONE datagram at TX_OFF (descriptor at TX_DESC_OFF) holding m verdict
 * messages: message i is NFQNL_MSG_VERDICT for queue `queueNum`, nlmsg_seq
 * seq+i, flags NLM_F_REQUEST, with NFQA_VERDICT_HDR {verdict, id} where id is
 * NFQ_IDS_OFF[i] and verdict is NF_ACCEPT when VERDICT_OFF[i] is
 * Verdict.Accept, else NF_DROP (any other byte fails safe to DROP). 32 bytes
 * per message. Returns 1, 0 when m is 0, or -Status.BadArgument.
 */
export function nfqVerdictBuild (m: i32, queueNum: u32, seq: u32): i32 {
  if (m < 0 || m > MAX_BATCH || queueNum > 0xffff) return -Status.BadArgument
  if (m == 0) return 0
  const msgLen: u32 = NFQ_VERDICT_MSG_LEN
  let p = <usize>TX_OFF
  for (let i: i32 = 0; i < m; i++) {
    putHeader(p, msgLen, NFQ_TYPE_VERDICT, NlmFlag.Request, seq + <u32>i, AF_UNSPEC, queueNum)
    const a = p + MSG_BASE
    putAttrHeader(a, 12, NfqAttr.VerdictHdr)
    const v: u32 = load<u8>(<usize>VERDICT_OFF + <usize>i) == <u8>Verdict.Accept ? NF_ACCEPT : NF_DROP
    store<u32>(a, bswap<u32>(v), 4)
    store<u32>(a, bswap<u32>(load<u32>(<usize>NFQ_IDS_OFF + (<usize>i << 2))), 8)
    p += <usize>msgLen
  }
  putTxDesc(0, <usize>TX_OFF, <u32>m * msgLen)
  counterAdd(NfqCounter.Verdicts, <u64>m)
  return 1
}

// ---- parsing -------------------------------------------------------------------

/**
 * Walks the netlink messages of the n datagrams described at DESC_OFF
 * ([offset u32, length u32], each inside FRAMES) and rewrites DESC_OFF in
 * place into one frame descriptor [payload offset, payload length] per
 * NFQNL_MSG_PACKET message that carries a packet id (in order), with the
 * packet id (host order u32) at NFQ_IDS_OFF + 4i. Classify the frames with
 * batchProcess(frames, LinkType.Raw, now), then nfqVerdictBuild(frames, ...).
 *
 * - A packet message without NFQA_PAYLOAD, or with a malformed attribute after
 *   a good NFQA_PACKET_HDR, still needs a verdict: it gets a zero-length
 *   frame at its own offset, which batchProcess counts Malformed and DROPs.
 * - A packet message without a readable NFQA_PACKET_HDR cannot be answered:
 *   counted Malformed, no frame.
 * - A message cut by the receive slot (nlmsg_len beyond the datagram) is read
 *   as far as it goes and counted Truncated: with its id it gets a frame (its
 *   NFQA_PAYLOAD cut to what arrived), so the packet still gets a verdict.
 * - NLMSG_ERROR: error 0 is counted as an ack; a negative error is counted
 *   and its errno, nlmsg_seq and echoed request type kept (NfqStat.Last*).
 * - NOOP, DONE, OVERRUN and other types are counted Ignored.
 * - A message with nlmsg_len < 16 ends the walk of its datagram (Malformed).
 *
 * In place: the n input descriptors are first moved to the end of DESC_OFF
 * (datagram j to slot MAX_BATCH - n + j), so writing frame k to slot k never
 * overwrites a datagram not yet read as long as k <= MAX_BATCH - n + j.
 * Packets beyond that bound are counted Overflow and get no frame (so no
 * verdict: they stay queued in the kernel). The kernel sends one packet per
 * datagram, so real input never overflows; only a full batch (n close to
 * MAX_BATCH) of datagrams holding several packets each can.
 *
 * Returns the frame count, or -Status.BadArgument when n is outside
 * [0, MAX_BATCH]. Results: nfqStat(NfqStat.*); counters: nfqCounter.
 */
export function nfqParseBatch (n: i32): i32 {
  if (n < 0 || n > MAX_BATCH) return -Status.BadArgument
  memory.fill(stats, 0, <usize>NfqStat.Count << 2)
  const moved = <usize>DESC_OFF + (<usize>(MAX_BATCH - n) << 3)
  memory.copy(moved, <usize>DESC_OFF, <usize>n << 3)
  let frames: u32 = 0
  for (let j: i32 = 0; j < n; j++) {
    const d = moved + (<usize>j << 3)
    const off = load<u32>(d)
    const len = load<u32>(d, 4)
    statAdd(NfqStat.Datagrams)
    if (<u64>off < <u64>FRAMES_OFF || <u64>off + <u64>len > FRAMES_END) {
      statAdd(NfqStat.BadDatagrams)
      continue
    }
    frames = walkDatagram(<usize>off, len, frames, <u32>(MAX_BATCH - n + j + 1))
  }
  statSet(NfqStat.Frames, frames)
  counterAdd(NfqCounter.Datagrams, <u64>statGet(NfqStat.Datagrams))
  counterAdd(NfqCounter.Messages, <u64>statGet(NfqStat.Messages))
  counterAdd(NfqCounter.Packets, <u64>statGet(NfqStat.Packets))
  counterAdd(NfqCounter.NoPayload, <u64>statGet(NfqStat.NoPayload))
  counterAdd(NfqCounter.Acks, <u64>statGet(NfqStat.Acks))
  counterAdd(NfqCounter.Errors, <u64>statGet(NfqStat.Errors))
  counterAdd(NfqCounter.Malformed, <u64>statGet(NfqStat.Malformed))
  counterAdd(NfqCounter.Truncated, <u64>statGet(NfqStat.Truncated))
  counterAdd(NfqCounter.Overflow, <u64>statGet(NfqStat.Overflow))
  counterAdd(NfqCounter.Ignored, <u64>statGet(NfqStat.Ignored))
  counterAdd(NfqCounter.BadDatagrams, <u64>statGet(NfqStat.BadDatagrams))
  return <i32>frames
}

/** Walks the messages of the datagram [p, p+len); frame slots below `room` are free. Returns the new frame count. */
function walkDatagram (p: usize, len: u32, frames: u32, room: u32): u32 {
  let at: u32 = 0
  while (len - at >= <u32>NLMSG_HDRLEN) {
    const m = p + <usize>at
    const remain = len - at
    const mlen = load<u32>(m)
    if (mlen < <u32>NLMSG_HDRLEN) {
      statAdd(NfqStat.Malformed)
      return frames
    }
    const cut = mlen > remain
    const end = cut ? remain : mlen
    const type = <u32>load<u16>(m, 4)
    statAdd(NfqStat.Messages)
    if (cut) statAdd(NfqStat.Truncated)
    if (type == NFQ_TYPE_PACKET) frames = packetMessage(m, end, cut, frames, room)
    else if (type == NlMsgType.Error) errorMessage(m, end)
    else statAdd(NfqStat.Ignored)
    if (cut) return frames
    const next = align4(mlen)
    if (next >= remain) return frames
    at += next
  }
  if (at < len) statAdd(NfqStat.Malformed) // 1..15 bytes that cannot hold a header
  return frames
}

/** NFQNL_MSG_PACKET at m, `end` bytes readable. */
function packetMessage (m: usize, end: u32, cut: bool, frames: u32, room: u32): u32 {
  statAdd(NfqStat.Packets)
  if (end < MSG_BASE) {
    if (!cut) statAdd(NfqStat.Malformed)
    return frames
  }
  let a: u32 = MSG_BASE
  let haveId = false
  let id: u32 = 0
  let havePayload = false
  let payOff: usize = 0
  let payLen: u32 = 0
  let bad = false
  while (end - a >= <u32>NLA_HDRLEN) {
    const attr = m + <usize>a
    const alen = <u32>load<u16>(attr)
    const atype = <u32>load<u16>(attr, 2) & <u32>NLA_TYPE_MASK
    const rest = end - a
    if (alen < <u32>NLA_HDRLEN) { bad = true; break }
    if (alen > rest) {
      // Only the cut tail of a truncated message may run past the end, and
      // only a payload is still worth something then.
      if (cut && atype == NfqAttr.Payload && !havePayload) {
        havePayload = true
        payOff = attr + <usize>NLA_HDRLEN
        payLen = rest - <u32>NLA_HDRLEN
      } else if (!cut) {
        bad = true
      }
      break
    }
    if (atype == NfqAttr.PacketHdr) {
      if (alen < PACKET_HDR_MIN) { bad = true; break }
      if (!haveId) { haveId = true; id = be32(attr + <usize>NLA_HDRLEN) }
    } else if (atype == NfqAttr.Payload) {
      if (!havePayload) {
        havePayload = true
        payOff = attr + <usize>NLA_HDRLEN
        payLen = alen - <u32>NLA_HDRLEN
      }
    }
    const next = align4(alen)
    if (next >= rest) break
    a += next
  }
  if (!haveId) {
    if (!cut || bad) statAdd(NfqStat.Malformed)
    return frames
  }
  if (frames >= room) {
    statAdd(NfqStat.Overflow)
    return frames
  }
  if (bad) {
    statAdd(NfqStat.Malformed)
    havePayload = false
  }
  if (!havePayload) {
    statAdd(NfqStat.NoPayload)
    payOff = m
    payLen = 0
  }
  const d = <usize>DESC_OFF + (<usize>frames << 3)
  store<u32>(d, <u32>payOff)
  store<u32>(d, payLen, 4)
  store<u32>(<usize>NFQ_IDS_OFF + (<usize>frames << 2), id)
  return frames + 1
}

/** NLMSG_ERROR at m, `end` bytes readable: an ack (error 0) or an error (negative errno). */
function errorMessage (m: usize, end: u32): void {
  if (end < ERR_MIN) {
    statAdd(NfqStat.Malformed)
    return
  }
  const err = load<i32>(m, NLMSG_HDRLEN)
  if (err == 0) {
    statAdd(NfqStat.Acks)
  } else if (err < 0) {
    statAdd(NfqStat.Errors)
    statSet(NfqStat.LastErrno, <u32>(-err))
    statSet(NfqStat.LastErrorSeq, load<u32>(m, 8))
    statSet(NfqStat.LastErrorType, end >= ERR_ECHO_MIN ? <u32>load<u16>(m + <usize>ERR_TYPE_AT) : 0)
  } else {
    statAdd(NfqStat.Malformed)
  }
}

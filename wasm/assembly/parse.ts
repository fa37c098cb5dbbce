// Frame parser: link layer → IP → TCP, into the PARSE struct (layout P_*).
//
// What it reads and why: INTERCEPT.md §4.3 and TCPCOPY.md §3.2 — IPv4 and
// TCP only, IHL*4 ≥ 20, doff*4 ≥ 20, fragments only classified, tot_len at
// least the header lengths. Captures are truncated snapshots (snaplen,
// NFQUEUE copy range), so tot_len beyond the captured bytes is normal.
//
// Safety: every load is preceded by a check that it lies inside
// [frame, frame+len), and that range is checked against the memory size
// first, so no byte sequence and no argument can trap the module.
//
// The struct is zeroed first, then filled layer by layer; on an error the
// fields read so far stay valid. P_FAMILY is written only once both
// addresses are in place, so P_FAMILY != 0 means "addresses valid" whatever
// the status (the batch path applies its passlist on that).
//
// A malformed TCP option is the one non-fatal status: the IP and TCP headers
// are sound, every field is filled (P_OPT_FLAGS has OptFlag.Malformed and the
// options before the bad one), and parseFrame returns BadTcpOption. Callers
// that forward such packets (the batch path routes and delays them as it
// does Ok ones, delayStore keeps them) treat it as Ok. The parsePacket export
// reports it only when asked with ParseFlag.TcpOptionStatus; without the
// flag it answers Ok, as it did before the status existed, so hosts that
// test `status === Ok` keep accepting these packets.
//
// IPv6 later: add a parseIp6 next to parseIp4 that sets P_FAMILY 6, copies
// the 16-byte addresses and walks the extension headers to the TCP header,
// then calls parseTcp exactly as parseIp4 does. The dispatch in parseLink
// already separates the two families.
import { Status } from '../shared/status'
import { LinkType, OptFlag, ParseFlag } from '../shared/enums'
import {
  PARSE_OFF, PARSE_SIZE, P_STATUS, P_FAMILY, P_L3_OFF, P_IHL, P_TOT_LEN, P_CAP_LEN, P_IP_ID, P_FRAG, P_TTL,
  P_PROTO, P_TOS, P_SRC_ADDR, P_DST_ADDR, P_L4_OFF, P_SPORT, P_DPORT, P_SEQ, P_ACK, P_DOFF, P_TCP_FLAGS,
  P_WINDOW, P_PAYLOAD_OFF, P_PAYLOAD_LEN, P_OPT_FLAGS, P_MSS, P_WSCALE, P_TS_VAL, P_TS_ECR, P_LINK_LEN, P_VLAN
} from '../shared/layout'
import { regionOk } from './checksum'

const ETH_P_IP: u32 = 0x0800
const ETH_P_IPV6: u32 = 0x86dd
const ETH_P_8021Q: u32 = 0x8100
const ETH_P_8021AD: u32 = 0x88a8
/**
 * Pseudo-ethertype of a Raw frame: the IP version nibble decides. Outside the
 * 16 bits of a real one, so that a frame whose link header says 0x0000 is not
 * taken for a Raw one.
 */
const ETH_P_ANY_IP: u32 = 0x10000
const MAX_VLAN_TAGS: u32 = 4
const ETH_HLEN: u32 = 14
const SLL_HLEN: u32 = 16
const SLL2_HLEN: u32 = 20
const IP4_HLEN: u32 = 20
const TCP_HLEN: u32 = 20
const IPPROTO_TCP: u32 = 6

const TCPOPT_EOL: u32 = 0
const TCPOPT_NOP: u32 = 1
const TCPOPT_MSS: u32 = 2
const TCPOPT_WSCALE: u32 = 3
const TCPOPT_SACK_PERM: u32 = 4
const TCPOPT_TIMESTAMP: u32 = 8

@inline function be16 (p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p))
}

@inline function be32 (p: usize): u32 {
  return bswap<u32>(load<u32>(p))
}

/**
 * Parses the frame at [frame, frame+len) of link type `linkType` (LinkType)
 * into the PARSE struct at `out`. Returns the Status, also stored at
 * out+P_STATUS. Offsets in the struct are relative to the frame start.
 */
export function parseFrame (frame: usize, len: i32, linkType: i32, out: usize): i32 {
  for (let i: usize = 0; i < <usize>PARSE_SIZE; i += 8) store<u64>(out + i, 0)
  let st: i32 = Status.BadRegion
  if (regionOk(frame, len)) st = parseLink(frame, <u32>len, linkType, out)
  store<u32>(out, <u32>st, P_STATUS)
  return st
}

/**
 * parseFrame into PARSE_OFF. `flags` (ParseFlag bits; a host that passes only
 * three arguments passes 0): without ParseFlag.TcpOptionStatus a malformed
 * TCP option answers Ok (P_STATUS too), with it BadTcpOption.
 */
export function parsePacket (off: usize, len: i32, linkType: i32, flags: u32): i32 {
  const out = <usize>PARSE_OFF
  let st = parseFrame(off, len, linkType, out)
  if (st == Status.BadTcpOption && (flags & ParseFlag.TcpOptionStatus) == 0) {
    st = Status.Ok
    store<u32>(out, <u32>st, P_STATUS)
  }
  return st
}

/** Link layer: finds the network header and its ethertype, then dispatches on it. */
function parseLink (frame: usize, len: u32, linkType: i32, out: usize): i32 {
  let l3: u32 = 0
  let proto: u32 = ETH_P_ANY_IP
  switch (linkType) {
    case LinkType.Ethernet: {
      if (len < ETH_HLEN) return Status.Truncated
      l3 = ETH_HLEN
      proto = be16(frame + 12)
      let tags: u32 = 0
      while (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
        if (tags == MAX_VLAN_TAGS) return Status.NotIp
        if (len - l3 < 4) return Status.Truncated
        if (tags == 0) store<u16>(out, <u16>(be16(frame + l3) & 0x0fff), P_VLAN)
        proto = be16(frame + l3 + 2)
        l3 += 4
        tags++
      }
      break
    }
    case LinkType.Raw: break
    case LinkType.LinuxSll: {
      if (len < SLL_HLEN) return Status.Truncated
      l3 = SLL_HLEN
      proto = be16(frame + 14)
      break
    }
    case LinkType.LinuxSll2: {
      if (len < SLL2_HLEN) return Status.Truncated
      l3 = SLL2_HLEN
      proto = be16(frame)
      break
    }
    default: return Status.BadLinkType
  }
  store<u32>(out, l3, P_LINK_LEN)
  store<u32>(out, l3, P_L3_OFF)
  const avail = len - l3
  if (proto == ETH_P_ANY_IP) {
    if (avail == 0) return Status.Truncated
    const version = <u32>load<u8>(frame + l3) >> 4
    if (version == 4) return parseIp4(frame, l3, avail, out)
    if (version == 6) return Status.NotIp // IPv6: parseIp6 goes here
    return Status.BadIpHeader
  }
  if (proto == ETH_P_IP) return parseIp4(frame, l3, avail, out)
  if (proto == ETH_P_IPV6) return Status.NotIp // IPv6: parseIp6 goes here
  return Status.NotIp
}

/** IPv4 header at frame+l3 with `avail` bytes present; fills the IP fields, then the TCP ones. */
function parseIp4 (frame: usize, l3: u32, avail: u32, out: usize): i32 {
  const ip = frame + l3
  if (avail == 0) return Status.Truncated
  const vihl = <u32>load<u8>(ip)
  if (vihl >> 4 != 4) return Status.BadIpHeader
  const ihl = (vihl & 15) << 2
  if (ihl < IP4_HLEN) return Status.BadIpHeader
  store<u32>(out, ihl, P_IHL)
  if (avail < IP4_HLEN) return Status.Truncated

  const totLen = be16(ip + 2)
  const capLen = avail < totLen ? avail : totLen
  store<u8>(out, load<u8>(ip, 1), P_TOS)
  store<u32>(out, totLen, P_TOT_LEN)
  store<u32>(out, capLen, P_CAP_LEN)
  store<u16>(out, <u16>be16(ip + 4), P_IP_ID)
  const frag = be16(ip + 6)
  store<u16>(out, <u16>frag, P_FRAG)
  store<u8>(out, load<u8>(ip, 8), P_TTL)
  const proto = <u32>load<u8>(ip, 9)
  store<u8>(out, <u8>proto, P_PROTO)
  // IPv4-mapped ::ffff:a.b.c.d; the address bytes stay in network order.
  store<u64>(out, 0, P_SRC_ADDR)
  store<u32>(out, 0xffff0000, P_SRC_ADDR + 8)
  store<u32>(out, load<u32>(ip, 12), P_SRC_ADDR + 12)
  store<u64>(out, 0, P_DST_ADDR)
  store<u32>(out, 0xffff0000, P_DST_ADDR + 8)
  store<u32>(out, load<u32>(ip, 16), P_DST_ADDR + 12)
  store<u8>(out, 4, P_FAMILY)

  if (totLen < ihl) return Status.BadTotalLength
  if (avail < ihl) return Status.Truncated
  if ((frag & 0x3fff) != 0) return Status.Fragment // MF or a fragment offset
  if (proto != IPPROTO_TCP) return Status.NotTcp
  return parseTcp(frame, l3 + ihl, avail - ihl, totLen - ihl, out)
}

/**
 * TCP header at frame+l4: `avail` bytes present after l4, `segLen` bytes of
 * segment according to the IP header. Shared by IPv4 and (later) IPv6.
 */
function parseTcp (frame: usize, l4: u32, avail: u32, segLen: u32, out: usize): i32 {
  store<u32>(out, l4, P_L4_OFF)
  if (segLen < TCP_HLEN) return Status.BadTotalLength
  if (avail < TCP_HLEN) return Status.Truncated
  const tcp = frame + l4
  store<u16>(out, <u16>be16(tcp), P_SPORT)
  store<u16>(out, <u16>be16(tcp + 2), P_DPORT)
  store<u32>(out, be32(tcp + 4), P_SEQ)
  store<u32>(out, be32(tcp + 8), P_ACK)
  const doff = (<u32>load<u8>(tcp, 12) >> 4) << 2
  store<u32>(out, doff, P_DOFF)
  store<u8>(out, load<u8>(tcp, 13), P_TCP_FLAGS)
  store<u16>(out, <u16>be16(tcp + 14), P_WINDOW)
  if (doff < TCP_HLEN) return Status.BadTcpHeader
  if (doff > segLen) return Status.BadTotalLength
  if (doff > avail) return Status.Truncated
  store<u32>(out, l4 + doff, P_PAYLOAD_OFF)
  store<u32>(out, segLen - doff, P_PAYLOAD_LEN)
  if (doff > TCP_HLEN && (parseOptions(tcp + TCP_HLEN, tcp + doff, out) & OptFlag.Malformed) != 0) return Status.BadTcpOption
  return Status.Ok
}

/**
 * TCP options in [p, end) (all captured: parseTcp checked doff). Known kinds
 * with their RFC lengths are recorded; a known kind with another length is
 * skipped and flagged Malformed; unknown kinds are skipped by their length.
 * A length < 2 or past the header flags Malformed and ends the walk.
 * Returns the flags it stored at P_OPT_FLAGS.
 */
function parseOptions (p: usize, end: usize, out: usize): u32 {
  let flags: u32 = 0
  while (p < end) {
    const kind = <u32>load<u8>(p)
    if (kind == TCPOPT_EOL) break
    if (kind == TCPOPT_NOP) {
      p++
      continue
    }
    if (end - p < 2) {
      flags |= OptFlag.Malformed
      break
    }
    const olen = <usize>load<u8>(p, 1)
    if (olen < 2 || olen > end - p) {
      flags |= OptFlag.Malformed
      break
    }
    if (kind == TCPOPT_MSS) {
      if (olen == 4) {
        store<u16>(out, <u16>be16(p + 2), P_MSS)
        flags |= OptFlag.Mss
      } else flags |= OptFlag.Malformed
    } else if (kind == TCPOPT_WSCALE) {
      if (olen == 3) {
        store<u8>(out, load<u8>(p, 2), P_WSCALE)
        flags |= OptFlag.WScale
      } else flags |= OptFlag.Malformed
    } else if (kind == TCPOPT_SACK_PERM) {
      if (olen == 2) flags |= OptFlag.SackOk
      else flags |= OptFlag.Malformed
    } else if (kind == TCPOPT_TIMESTAMP) {
      if (olen == 10) {
        store<u32>(out, be32(p + 2), P_TS_VAL)
        store<u32>(out, be32(p + 6), P_TS_ECR)
        flags |= OptFlag.Timestamp
      } else flags |= OptFlag.Malformed
    }
    p += olen
  }
  store<u32>(out, flags, P_OPT_FLAGS)
  return flags
}

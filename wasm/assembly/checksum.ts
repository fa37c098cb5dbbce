// Internet checksums (RFC 1071) and their incremental update (RFC 1624).
//
// Every checksum value that crosses this module's boundary is a host-order
// number as the field reads big-endian on the wire (V3's IP checksum is
// 0x25BA). Inside, sums are taken over little-endian loads, several bytes at a
// time: the one's-complement sum does not depend on byte order (RFC 1071
// §2(B)), so the folded 16-bit result only needs one byte swap at the end.
//
// Every function checks its range against the memory size before it loads, so
// no argument can trap the module. Bad input gives 0 (compute/verify) or a
// Status (rewrite functions). The rewrite functions write in place, so their
// range must also be one the host may have the core write to (regionWritable:
// not the static data, not the router and delay tables), else BadRegion.
import { Status } from '../shared/status'
import { regionWritable } from './mode'

const IP_CSUM = 10 //   offset of the IPv4 header checksum
const TCP_CSUM = 16 //  offset of the TCP checksum in the TCP header
const IPPROTO_TCP: u32 = 6

/** True when [off, off+len) is a non-negative range inside the current memory. */
@inline export function regionOk (off: usize, len: i32): bool {
  return len >= 0 && <u64>off + <u64>len <= (<u64>memory.size() << 16)
}

@inline function be16 (p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p))
}

@inline function be32 (p: usize): u32 {
  return bswap<u32>(load<u32>(p))
}

/**
 * Unfolded one's-complement sum of [p, p+n) in little-endian 16-bit words
 * (an odd last byte is padded with a zero byte after it). 16 bytes per
 * round: each u32 half of a u64 load goes into a u64 accumulator, which
 * cannot overflow for any range that fits in a 4 GiB memory.
 */
export function sumLE (p: usize, n: usize): u64 {
  let acc: u64 = 0
  while (n >= 32) {
    const a = load<u64>(p)
    const b = load<u64>(p, 8)
    const c = load<u64>(p, 16)
    const d = load<u64>(p, 24)
    acc += (a & 0xffffffff) + (a >> 32) + (b & 0xffffffff) + (b >> 32) +
      (c & 0xffffffff) + (c >> 32) + (d & 0xffffffff) + (d >> 32)
    p += 32
    n -= 32
  }
  while (n >= 4) {
    acc += <u64>load<u32>(p)
    p += 4
    n -= 4
  }
  if (n >= 2) {
    acc += <u64>load<u16>(p)
    p += 2
    n -= 2
  }
  if (n != 0) acc += <u64>load<u8>(p)
  return acc
}

/** Folds a sum of sumLE to 16 bits and returns it in wire (big-endian) order. */
@inline export function foldLE (acc: u64): u32 {
  while (acc >> 16 != 0) acc = (acc & 0xffff) + (acc >> 16)
  return <u32>bswap<u16>(<u16>acc)
}

/** The checksum of [off, off+len): the complement of the folded sum; 0 for a bad range. */
export function checksumCompute (off: usize, len: i32): u32 {
  if (!regionOk(off, len)) return 0
  return ~foldLE(sumLE(off, <usize>len)) & 0xffff
}

/** ihl in bytes for a plausible IPv4 header at ip with ipLen bytes present, or -Status. */
function ip4HeaderLen (ip: usize, ipLen: i32): i32 {
  if (!regionOk(ip, ipLen)) return -Status.BadRegion
  return ip4HeaderLenIn(ip, ipLen)
}

/** ip4HeaderLen for a packet the core will rewrite: the range must be writable too. */
function ip4WritableHeaderLen (ip: usize, ipLen: i32): i32 {
  if (!regionOk(ip, ipLen) || !regionWritable(ip, <u64>ipLen)) return -Status.BadRegion
  return ip4HeaderLenIn(ip, ipLen)
}

/** ihl of the IPv4 header at ip (ipLen >= 0 bytes present, range already checked), or -Status. */
function ip4HeaderLenIn (ip: usize, ipLen: i32): i32 {
  if (ipLen < 20) return -Status.Truncated
  const vihl = <i32>load<u8>(ip)
  if (vihl >> 4 != 4) return -Status.BadIpHeader
  const ihl = (vihl & 15) << 2
  if (ihl < 20) return -Status.BadIpHeader
  if (ihl > ipLen) return -Status.Truncated
  return ihl
}

/**
 * The value the IPv4 header checksum field at ipOff+10 should hold, over
 * ihlBytes (20..60) of header with the field itself taken as 0. 0 on bad input.
 */
export function ipChecksumCompute (ipOff: usize, ihlBytes: i32): u32 {
  if (ihlBytes < 20 || ihlBytes > 60 || !regionOk(ipOff, ihlBytes)) return 0
  const acc = sumLE(ipOff, IP_CSUM) + sumLE(ipOff + IP_CSUM + 2, <usize>(ihlBytes - IP_CSUM - 2))
  return ~foldLE(acc) & 0xffff
}

/** 1 when the IPv4 header at ipOff (ihlBytes long, 20..60) sums to 0xFFFF, else 0. */
export function ipChecksumVerify (ipOff: usize, ihlBytes: i32): i32 {
  if (ihlBytes < 20 || ihlBytes > 60 || !regionOk(ipOff, ihlBytes)) return 0
  return foldLE(sumLE(ipOff, <usize>ihlBytes)) == 0xffff ? 1 : 0
}

/** Sum of the IPv4 pseudo-header (src, dst, 0, 6, tcpLen) in sumLE's byte order. */
@inline function pseudoLE (ip: usize, tcpLen: u32): u64 {
  return <u64>load<u32>(ip, 12) + <u64>load<u32>(ip, 16) +
    <u64>bswap<u16>(<u16>IPPROTO_TCP) + <u64>bswap<u16>(<u16>tcpLen)
}

/** TCP length for the checksum functions (20..65535 bytes after the IP header), or -1. */
@inline function tcpLenOf (ip: usize, ipLen: i32): i32 {
  const ihl = ip4HeaderLen(ip, ipLen)
  if (ihl < 0) return -1
  const tcpLen = ipLen - ihl
  if (tcpLen < 20 || tcpLen > 0xffff) return -1
  return tcpLen
}

/**
 * The value the TCP checksum field should hold for the IPv4 packet at ipOff
 * whose first ipLen bytes are the datagram (TCP length = ipLen - ihl). The
 * field itself is taken as 0. 0 on bad input.
 */
export function tcpChecksumCompute (ipOff: usize, ipLen: i32): u32 {
  const tcpLen = tcpLenOf(ipOff, ipLen)
  if (tcpLen < 0) return 0
  const tcp = ipOff + <usize>(ipLen - tcpLen)
  const acc = pseudoLE(ipOff, <u32>tcpLen) + sumLE(tcp, TCP_CSUM) +
    sumLE(tcp + TCP_CSUM + 2, <usize>(tcpLen - TCP_CSUM - 2))
  return ~foldLE(acc) & 0xffff
}

/** 1 when the TCP checksum of the IPv4 packet at ipOff (ipLen bytes) is right, else 0. */
export function tcpChecksumVerify (ipOff: usize, ipLen: i32): i32 {
  const tcpLen = tcpLenOf(ipOff, ipLen)
  if (tcpLen < 0) return 0
  const tcp = ipOff + <usize>(ipLen - tcpLen)
  return foldLE(pseudoLE(ipOff, <u32>tcpLen) + sumLE(tcp, <usize>tcpLen)) == 0xffff ? 1 : 0
}

@inline function fold32 (s: u32): u32 {
  s = (s & 0xffff) + (s >> 16)
  s = (s & 0xffff) + (s >> 16)
  return s
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit word m → m'. */
export function checksumAdjust16 (sum: u32, oldWord: u32, newWord: u32): u32 {
  const s = (~sum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)
  return ~fold32(s) & 0xffff
}

/** RFC 1624 eqn. 3 for a 32-bit value (two words) old → new, host-order values. */
export function checksumAdjust32 (sum: u32, oldValue: u32, newValue: u32): u32 {
  const s = (~sum & 0xffff) + (~(oldValue >> 16) & 0xffff) + (~oldValue & 0xffff) +
    (newValue >> 16) + (newValue & 0xffff)
  return ~fold32(s) & 0xffff
}

/**
 * Rewrites the IPv4 source (which=0) or destination (which=1) address of the
 * packet at ipOff (ipLen bytes present) to addr (host order) and adjusts the
 * IP header checksum and, for TCP that is not a non-first fragment, the TCP
 * checksum (the address is in its pseudo-header). Only the checksum field must
 * be present, so a truncated snapshot can be rewritten. Nothing is written
 * unless every field it touches is inside the range; BadRegion when the range
 * is not writable.
 */
export function ipRewriteAddr (ipOff: usize, ipLen: i32, which: u32, addr: u32): i32 {
  if (which > 1) return Status.BadArgument
  const ihl = ip4WritableHeaderLen(ipOff, ipLen)
  if (ihl < 0) return -ihl
  const tcpFix = <u32>load<u8>(ipOff, 9) == IPPROTO_TCP && (be16(ipOff + 6) & 0x1fff) == 0
  if (tcpFix && ipLen < ihl + TCP_CSUM + 2) return Status.Truncated
  const field = ipOff + 12 + (<usize>which << 2)
  const old = be32(field)
  store<u32>(field, bswap<u32>(addr))
  store<u16>(ipOff + IP_CSUM, bswap<u16>(<u16>checksumAdjust32(be16(ipOff + IP_CSUM), old, addr)))
  if (tcpFix) {
    const c = ipOff + <usize>ihl + TCP_CSUM
    store<u16>(c, bswap<u16>(<u16>checksumAdjust32(be16(c), old, addr)))
  }
  return Status.Ok
}

/**
 * Rewrites the TCP source (which=0) or destination (which=1) port of the IPv4
 * packet at ipOff (ipLen bytes present) to port (host order) and adjusts the
 * TCP checksum. NotTcp / Fragment (not the first) / Truncated / BadRegion
 * (a range that is not writable) change nothing.
 */
export function tcpRewritePort (ipOff: usize, ipLen: i32, which: u32, port: u32): i32 {
  if (which > 1 || port > 0xffff) return Status.BadArgument
  const ihl = ip4WritableHeaderLen(ipOff, ipLen)
  if (ihl < 0) return -ihl
  if (<u32>load<u8>(ipOff, 9) != IPPROTO_TCP) return Status.NotTcp
  if ((be16(ipOff + 6) & 0x1fff) != 0) return Status.Fragment
  if (ipLen < ihl + TCP_CSUM + 2) return Status.Truncated
  const tcp = ipOff + <usize>ihl
  const field = tcp + (<usize>which << 1)
  const old = be16(field)
  store<u16>(field, bswap<u16>(<u16>port))
  store<u16>(tcp + TCP_CSUM, bswap<u16>(<u16>checksumAdjust16(be16(tcp + TCP_CSUM), old, port)))
  return Status.Ok
}

// The 40-byte route key (layout KEY_*): client address (16), target address
// (16), client port u16, target port u16, family u8, 3 bytes of padding.
// A key is compared on its first 37 bytes (addresses, ports, family), so an
// IPv4 key and a family-6 key holding the same IPv4-mapped bytes are two
// routes; the padding is never compared.
// All key functions take pointers into linear memory; no allocation.
//
// The hash is keyed by a seed the host passes to coreInit (random by
// default, see packages/core loader.ts), because peers choose the keys of
// CLIENT_ADD: with a known hash they could put every route in one bucket.
// It is NH (the universal hash of UMAC, Black et al. 1999) over the five
// 64-bit words of the key, each split into two 32-bit halves:
//   NH = sum over words w of ((w.lo + Ka) mod 2^32) * ((w.hi + Kb) mod 2^32)   (mod 2^64)
// For two different keys chosen without knowing the K's, the 64-bit sums are
// equal with probability at most 2^-32, whatever the keys. An xor-shift (a
// bijection that folds the high bits into the low ones) and a multiply-shift
// by a seeded odd 64-bit multiplier (Dietzfelbinger et al. 1997: distinct
// inputs meet with probability at most 2^-31) cut the sum to 32 bits, so
// two keys share a hash with probability below 2^-30. Keys with equal
// hashes are still told apart by the full compare.
//
// IPv4 keys (family 4) hold IPv4-mapped addresses (::ffff:a.b.c.d), whose
// words 0 and 2 are zero: for them those two terms are a constant, taken
// from the seed once instead of multiplied out per key. The hash of such a
// key is the same number either way; a family-4 key with other bytes there
// (no packet or CLIENT_ADD makes one) only loses those bytes from its hash,
// and the full compare still tells it apart.

let k0: u64 = 0
let k1: u64 = 0
let k2: u64 = 0
let k3: u64 = 0
let k4: u64 = 0
let k5: u64 = 0
let k6: u64 = 0
let k7: u64 = 0
let k8: u64 = 0
let k9: u64 = 0
/** NH of the two target-address words when they are zero (DNAT mode). */
let noTarget: u64 = 0
/** NH of word 0 when it is zero (an IPv4-mapped client address). */
let v4Word0: u64 = 0
/** NH of words 0 and 2 when they are zero (an IPv4-mapped address pair). */
let v4Words02: u64 = 0
let sm: u64 = 0
/** The odd multiplier of the final multiply-shift. */
let kmul: u64 = 1

/** splitmix64: the next 32 bits of key material from the seed. */
function nextKey (): u64 {
  sm += 0x9e3779b97f4a7c15
  let z = sm
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb
  return (z ^ (z >> 31)) & 0xffffffff
}

/** Derives the hash keys from the host's 64-bit seed (coreInit). */
export function keySeed (seedLo: u32, seedHi: u32): void {
  sm = (<u64>seedHi << 32) | <u64>seedLo
  k0 = nextKey(); k1 = nextKey(); k2 = nextKey(); k3 = nextKey(); k4 = nextKey()
  k5 = nextKey(); k6 = nextKey(); k7 = nextKey(); k8 = nextKey(); k9 = nextKey()
  noTarget = nh(0, k4, k5) + nh(0, k6, k7)
  v4Word0 = nh(0, k0, k1)
  v4Words02 = v4Word0 + nh(0, k4, k5)
  kmul = (nextKey() << 32 | nextKey()) | 1
}

@inline function nh (w: u64, ka: u64, kb: u64): u64 {
  return ((w + ka) & 0xffffffff) * (((w >> 32) + kb) & 0xffffffff)
}

/** Ports (bytes 32..35) and the family byte (36) as one word; the padding is left out. */
@inline function portsWord (k: usize): u64 {
  return <u64>load<u32>(k, 32) | (<u64>load<u8>(k, 36) << 32)
}

@inline function finish (h: u64): u32 {
  return <u32>(((h ^ (h >> 29)) * kmul) >> 32)
}

/** True for a family-4 key (its addresses IPv4-mapped: words 0 and 2 zero). */
@inline function isV4 (k: usize): bool {
  return load<u8>(k, 36) == 4
}

/** Seeded hash of the 37 compared key bytes. */
@inline export function keyHash (k: usize): u32 {
  const h = nh(load<u64>(k, 8), k2, k3) + nh(load<u64>(k, 24), k6, k7) + nh(portsWord(k), k8, k9)
  return finish(h + (isV4(k) ? v4Words02 : nh(load<u64>(k, 0), k0, k1) + nh(load<u64>(k, 16), k4, k5)))
}

/**
 * Hash of the key with the target address taken as zero (DNAT mode): what
 * keyHash gives for the key with its target address zeroed, without touching
 * the key.
 */
@inline export function keyHashNoTarget (k: usize): u32 {
  const h = nh(load<u64>(k, 8), k2, k3) + noTarget + nh(portsWord(k), k8, k9)
  return finish(h + (isV4(k) ? v4Word0 : nh(load<u64>(k, 0), k0, k1)))
}

/** Bytes 32..36 (ports and family) of a u64 loaded at offset 32. */
const TAIL_MASK: u64 = 0xffffffffff

/** True when the 37 compared key bytes at a and b are equal. */
@inline export function keyEquals (a: usize, b: usize): bool {
  return load<u64>(a, 0) == load<u64>(b, 0) &&
    load<u64>(a, 8) == load<u64>(b, 8) &&
    load<u64>(a, 16) == load<u64>(b, 16) &&
    load<u64>(a, 24) == load<u64>(b, 24) &&
    ((load<u64>(a, 32) ^ load<u64>(b, 32)) & TAIL_MASK) == 0
}

/** keyEquals ignoring the target address (DNAT mode): client address, both ports and the family. */
@inline export function keyEqualsNoTarget (a: usize, b: usize): bool {
  return load<u64>(a, 0) == load<u64>(b, 0) &&
    load<u64>(a, 8) == load<u64>(b, 8) &&
    ((load<u64>(a, 32) ^ load<u64>(b, 32)) & TAIL_MASK) == 0
}

/**
 * Copies the 37 compared key bytes from src to dst and zeroes byte 37, with
 * the target address zeroed when clearTarget (the DNAT-normalised key).
 * Bytes 38 and 39 of dst are left alone (the router keeps the conn there).
 */
@inline export function keyStore (dst: usize, src: usize, clearTarget: bool): void {
  store<u64>(dst, load<u64>(src, 0), 0)
  store<u64>(dst, load<u64>(src, 8), 8)
  if (clearTarget) {
    store<u64>(dst, 0, 16)
    store<u64>(dst, 0, 24)
  } else {
    store<u64>(dst, load<u64>(src, 16), 16)
    store<u64>(dst, load<u64>(src, 24), 24)
  }
  store<u32>(dst, load<u32>(src, 32), 32)
  store<u8>(dst, load<u8>(src, 36), 36)
  store<u8>(dst, 0, 37)
}

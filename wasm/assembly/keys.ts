// The 40-byte route key (layout KEY_*): client address (16), target address
// (16), client port u16, target port u16, family u8, 3 bytes zero.
// All key functions take pointers into linear memory; no allocation.
import { KEY_SIZE, KEY_TARGET_ADDR, KEY_CLIENT_PORT, KEY_TARGET_PORT, KEY_FAMILY, KEY_CLIENT_ADDR } from '../shared/layout'

/**
 * Hash of the first 36 bytes (addresses and ports): four u64 words and the
 * port word, each folded in by xor, a 64-bit multiply and an xor-shift, then
 * a finaliser. Every fold step is a bijection of its word, so two keys that
 * differ in a single 8-byte word never collide.
 */
@inline export function keyHash (k: usize): u32 {
  let h: u64 = HASH_SEED
  h = fold(h, load<u64>(k, 0))
  h = fold(h, load<u64>(k, 8))
  h = fold(h, load<u64>(k, 16))
  h = fold(h, load<u64>(k, 24))
  h = fold(h, <u64>load<u32>(k, 32))
  return finish(h)
}

const HASH_SEED: u64 = 0x243f6a8885a308d3

@inline function fold (h: u64, w: u64): u64 {
  h = (h ^ w) * 0x9e3779b97f4a7c15
  return h ^ (h >> 32)
}

@inline function finish (h: u64): u32 {
  h ^= h >> 29
  h *= 0xbf58476d1ce4e5b9
  h ^= h >> 32
  return <u32>h
}

/**
 * Hash of the key with the target address taken as zero (DNAT mode): equal to
 * keyHash of the key after keyClearTarget, without touching the key.
 */
@inline export function keyHashNoTarget (k: usize): u32 {
  let h: u64 = HASH_SEED
  h = fold(h, load<u64>(k, 0))
  h = fold(h, load<u64>(k, 8))
  h = fold(h, 0)
  h = fold(h, 0)
  h = fold(h, <u64>load<u32>(k, 32))
  return finish(h)
}

/** True when the 36 key bytes at a and b are equal. */
@inline export function keyEquals (a: usize, b: usize): bool {
  return load<u64>(a, 0) == load<u64>(b, 0) &&
    load<u64>(a, 8) == load<u64>(b, 8) &&
    load<u64>(a, 16) == load<u64>(b, 16) &&
    load<u64>(a, 24) == load<u64>(b, 24) &&
    load<u32>(a, 32) == load<u32>(b, 32)
}

/** keyEquals ignoring the target address (DNAT mode): client address and both ports. */
@inline export function keyEqualsNoTarget (a: usize, b: usize): bool {
  return load<u64>(a, 0) == load<u64>(b, 0) &&
    load<u64>(a, 8) == load<u64>(b, 8) &&
    load<u32>(a, 32) == load<u32>(b, 32)
}

/**
 * Copies the 36 compared key bytes (not the family word) from src to dst,
 * with the target address zeroed when clearTarget (the DNAT-normalised key).
 */
@inline export function keyCopy36 (dst: usize, src: usize, clearTarget: bool): void {
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
}

/** Copies the 40 key bytes from src to dst. */
@inline export function keyCopy (dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(src, 0), 0)
  store<u64>(dst, load<u64>(src, 8), 8)
  store<u64>(dst, load<u64>(src, 16), 16)
  store<u64>(dst, load<u64>(src, 24), 24)
  store<u64>(dst, load<u64>(src, 32), 32)
}

/** Zeroes the target address (DNAT mode: the route ignores the target IP). */
@inline export function keyClearTarget (k: usize): void {
  store<u64>(k + <usize>KEY_TARGET_ADDR, 0, 0)
  store<u64>(k + <usize>KEY_TARGET_ADDR, 0, 8)
}

/**
 * Writes an IPv4 key: addresses given as the 4 raw network-order bytes read
 * as a little-endian u32 (what load<u32> of the IP header gives), ports in
 * host order.
 */
@inline export function keySetV4 (k: usize, clientAddr: u32, clientPort: u32, targetAddr: u32, targetPort: u32): void {
  store<u64>(k + <usize>KEY_CLIENT_ADDR, 0)
  store<u64>(k + <usize>KEY_CLIENT_ADDR, (<u64>clientAddr << 32) | 0xffff0000, 8)
  store<u64>(k + <usize>KEY_TARGET_ADDR, 0)
  store<u64>(k + <usize>KEY_TARGET_ADDR, (<u64>targetAddr << 32) | 0xffff0000, 8)
  store<u16>(k + <usize>KEY_CLIENT_PORT, <u16>clientPort)
  store<u16>(k + <usize>KEY_TARGET_PORT, <u16>targetPort)
  store<u32>(k + <usize>KEY_FAMILY, 4)
}

export const KEY_BYTES: usize = <usize>KEY_SIZE

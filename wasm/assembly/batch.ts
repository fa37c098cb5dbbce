// Control-path and batch entry points: CLIENT_ADD, and the per-packet
// classification of captured responses (INTERCEPT.md §5) for a whole batch in
// one call.
import { Status } from '../shared/status'
import {
  KEY_OFF, BATCH_KEY_OFF, BATCH_PARSE_OFF, KEY_CLIENT_ADDR, KEY_TARGET_ADDR, KEY_CLIENT_PORT, KEY_TARGET_PORT, KEY_FAMILY,
  P_FAMILY, P_SRC_ADDR, P_DST_ADDR, P_SPORT, P_DPORT, P_TCP_FLAGS, P_L3_OFF, P_CAP_LEN,
  PASSLIST_OFF, PASSLIST_MAX, DESC_OFF, MAX_BATCH, VERDICT_OFF, FRAMES_OFF, FRAMES_SIZE, RESULT_OFF, R_PROCESSED
} from '../shared/layout'
import { Counter, Verdict, TcpFlag } from '../shared/enums'
import { routerAddKey, routerLookupKey } from './router'
import { delayFlush, delayPut } from './delay'
import { parseFrame } from './parse'
import { recordEmit } from './record'
import { count } from './counters'
import { isInitialised } from './core'

let passCount: u32 = 0

/** Empties the passlist (coreInit, which also zeroes its region). */
export function passlistReset (): void {
  passCount = 0
}

/**
 * CLIENT_ADD: adds (or refreshes) the route of the key at KEY_OFF to `conn`,
 * then emits every delayed record of that key to `conn` in arrival order.
 */
export function routeClientAdd (conn: i32, now: u32): i32 {
  if (!isInitialised()) return Status.NotInitialised
  const st = routerAddKey(<usize>KEY_OFF, conn, now)
  if (st != Status.Ok) return st
  delayFlush(<usize>KEY_OFF, conn, now)
  return Status.Ok
}

/** Takes the first n 16-byte addresses after the count word of PASSLIST_OFF as the passlist. */
export function passlistCommit (n: i32): i32 {
  if (n < 0 || n > PASSLIST_MAX) return Status.BadArgument
  passCount = <u32>n
  store<u32>(<usize>PASSLIST_OFF, passCount)
  return Status.Ok
}

@inline function inPasslist (addr: usize): bool {
  if (passCount == 0) return false
  const a0 = load<u64>(addr)
  const a1 = load<u64>(addr, 8)
  let p = <usize>PASSLIST_OFF + 16
  const end = p + (<usize>passCount << 4)
  while (p < end) {
    if (load<u64>(p) == a0 && load<u64>(p, 8) == a1) return true
    p += 16
  }
  return false
}

/**
 * Classifies n captured frames. Descriptor i at DESC_OFF + 8i is
 * [offset u32, length u32], an absolute range inside FRAMES. For each frame:
 *   - destination in the passlist → verdict Accept (not routed). This holds
 *     for every frame whose addresses were read (P_FAMILY set), whatever the
 *     parser found wrong after them (a bad tot_len, a fragment, not TCP, a
 *     cut TCP header): INTERCEPT.md §5 decides on the destination alone;
 *   - otherwise verdict Drop, and a parsed TCP response is routed by
 *     (dst ip, dst port, src ip, src port): a record for its connection goes
 *     to OUT; without a route a SYN or RST waits in the delay table; any other
 *     segment is counted unroutable. A malformed TCP option (BadTcpOption)
 *     does not stop this: the headers are sound, the record carries the
 *     options as they came, and the response is counted in BadTcpOptions.
 * Other malformed frames are counted and dropped. Verdicts go to VERDICT_OFF + i.
 */
export function batchProcess (n: i32, linkType: i32, now: u32): i32 {
  if (!isInitialised()) return Status.NotInitialised
  if (n < 0 || n > MAX_BATCH) return Status.BadArgument
  const ps = <usize>BATCH_PARSE_OFF
  const key = <usize>BATCH_KEY_OFF
  const framesEnd: u64 = <u64>FRAMES_OFF + <u64>FRAMES_SIZE
  for (let i: i32 = 0; i < n; i++) {
    const d = <usize>DESC_OFF + (<usize>i << 3)
    const off = load<u32>(d)
    const len = load<u32>(d, 4)
    const vp = <usize>VERDICT_OFF + <usize>i
    count(Counter.Captured)
    if (<u64>off < <u64>FRAMES_OFF || <u64>off + <u64>len > framesEnd) {
      count(Counter.Malformed)
      store<u8>(vp, Verdict.Drop)
      continue
    }
    const st = parseFrame(<usize>off, <i32>len, linkType, ps)
    if (load<u8>(ps, P_FAMILY) != 0 && inPasslist(ps + <usize>P_DST_ADDR)) {
      count(Counter.Passed)
      store<u8>(vp, Verdict.Accept)
      continue
    }
    store<u8>(vp, Verdict.Drop)
    if (st == Status.BadTcpOption) {
      count(Counter.BadTcpOptions)
    } else if (st != Status.Ok) {
      if (st == Status.NotTcp) count(Counter.NotTcp)
      else if (st == Status.Fragment) count(Counter.Fragments)
      else count(Counter.Malformed)
      continue
    }
    // Route key: client = response destination, target = response source.
    memory.copy(key + <usize>KEY_CLIENT_ADDR, ps + <usize>P_DST_ADDR, 16)
    memory.copy(key + <usize>KEY_TARGET_ADDR, ps + <usize>P_SRC_ADDR, 16)
    store<u16>(key, load<u16>(ps, P_DPORT), KEY_CLIENT_PORT)
    store<u16>(key, load<u16>(ps, P_SPORT), KEY_TARGET_PORT)
    store<u32>(key, <u32>load<u8>(ps, P_FAMILY), KEY_FAMILY)
    const ip = <usize>off + <usize>load<u32>(ps, P_L3_OFF)
    const capLen = load<u32>(ps, P_CAP_LEN)
    const conn = routerLookupKey(key, now)
    if (conn >= 0) {
      if (recordEmit(conn, ip, capLen) == Status.Ok) count(Counter.Routed)
    } else if ((load<u8>(ps, P_TCP_FLAGS) & (TcpFlag.Syn | TcpFlag.Rst)) != 0) {
      if (delayPut(key, ip, capLen, now) == Status.Ok) count(Counter.Delayed)
    } else {
      count(Counter.Unroutable)
    }
  }
  store<u32>(<usize>RESULT_OFF + <usize>R_PROCESSED, <u32>n)
  return Status.Ok
}

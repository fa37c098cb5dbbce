// Lifecycle: checks the layout and lays out the arena (router + delay table).
import { Status } from '../shared/status'
import { REGION_BASE, ARENA_BASE, PAGE_SIZE, FIXED_END, COUNTERS_OFF, COUNTERS_SIZE } from '../shared/layout'
import { routerBytes, routerSetup } from './router'
import { delayBytes, delaySetup } from './delay'
import { outReset } from './record'
import { keySeed } from './keys'
import { passlistReset } from './batch'

let initialised = false
let arenaBytes: usize = 0

export function isInitialised (): bool { return initialised }

/**
 * Sizes and places the router and the delay table, growing the memory as
 * needed, and zeroes every table, counter and the passlist. May be called
 * again to start over with other sizes. The 64-bit seed (seedHi:seedLo) keys
 * the route hash (keys.ts); the host picks it at random so that peers cannot
 * aim their keys at one bucket.
 */
export function coreInit (routerBuckets: u32, maxRoutes: u32, routeTimeoutMs: u32, dnat: u32,
  delayBuckets: u32, delayPerKey: u32, delayTotal: u32, delayExpireMs: u32, seedLo: u32, seedHi: u32): i32 {
  initialised = false
  if (__heap_base > <usize>REGION_BASE) return Status.LayoutOverlap
  if (routerBuckets == 0 || maxRoutes == 0 || delayBuckets == 0 || delayPerKey == 0 || delayTotal == 0) return Status.BadArgument
  if (routerBuckets > 0x2000000 || maxRoutes > 0x1000000 || delayBuckets > 0x1000000 || delayTotal > 0x1000000) return Status.BadArgument
  const rBytes = routerBytes(routerBuckets, maxRoutes)
  const dBytes = delayBytes(delayBuckets, delayTotal)
  const total = <u64>rBytes + <u64>dBytes
  const end: u64 = <u64>ARENA_BASE + total
  if (end > 0x80000000) return Status.NoMemory
  const havePages = <u64>memory.size()
  const needPages = (end + <u64>PAGE_SIZE - 1) / <u64>PAGE_SIZE
  if (needPages > havePages) {
    if (memory.grow(<i32>(needPages - havePages)) < 0) return Status.NoMemory
  }
  // Zero the fixed regions after the static data, then the arena.
  memory.fill(<usize>REGION_BASE, 0, <usize>FIXED_END - <usize>REGION_BASE)
  memory.fill(<usize>ARENA_BASE, 0, <usize>total)
  memory.fill(<usize>COUNTERS_OFF, 0, <usize>COUNTERS_SIZE)
  passlistReset()
  keySeed(seedLo, seedHi)
  routerSetup(<usize>ARENA_BASE, routerBuckets, maxRoutes, routeTimeoutMs, dnat != 0)
  delaySetup(<usize>ARENA_BASE + rBytes, delayBuckets, delayPerKey, delayTotal, delayExpireMs)
  outReset()
  arenaBytes = <usize>total
  initialised = true
  return Status.Ok
}

export function coreArenaBytes (): usize {
  return arenaBytes
}

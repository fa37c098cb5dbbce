// The router (INTERCEPT.md §6): an exact hash map from the 37 compared key
// bytes (client address, target address, both ports, family) to a
// control-connection id, with an LRU cap and an idle timeout. Everything
// lives in the arena at `base`; no allocation.
//
// Arena layout (all pointers are absolute u32 addresses, 0 = none):
//   [base, base + B)        bucket heads, one u32 entry pointer per bucket
//                           (B = buckets * 4 rounded up to 64: base is page
//                           aligned, so every entry fills one cache line)
//   then the entry pool, M = maxRoutes entries of 64 bytes:
//     +0  36 bytes  key addresses and ports (DNAT mode: target address stored as zero)
//     +36 u8        key family
//     +37 u8        zero
//     +38 u16       conn (a control-connection id, < CONNS_MAX)
//     +40 u32       last use (host ms clock)
//     +44 u32       keyHash of the (normalised) key
//     +48 u32       next entry in the bucket chain
//     +52 u32       previous entry in the bucket chain (0: the bucket holds it)
//     +56 u32       LRU: the next older entry (0: this is the oldest)
//     +60 u32       LRU: the next newer entry (0: this is the newest); free-list link when free
//   then M connection links of 8 bytes, one per entry (entry i, link i):
//     +0  u32       next entry of the same conn (0: the last)
//     +4  u32       previous entry of the same conn (0: the conn's head holds it)
//   then CONNS_MAX u32 heads: the first entry of each conn id (0: none)
//
// Entries never used yet are handed out by a bump pointer; removed entries go
// to a free list. The LRU list runs oldest → newest; every add and every hit
// moves the entry to the newest end, so with a monotonic clock the list is
// also ordered by last use and idle expiry pops from the oldest end. The
// per-connection lists let routerDeleteConn remove a closed connection's
// routes in time proportional to their number; every removal (delete,
// expiry, eviction) and every add that moves a route to another connection
// keeps them in step. The links sit outside the entries so that a lookup
// still touches one cache line.
import { Status } from '../shared/status'
import { KEY_OFF, KEY_SIZE, CONNS_MAX } from '../shared/layout'
import { Counter } from '../shared/enums'
import { keyHash, keyHashNoTarget, keyEquals, keyEqualsNoTarget, keyStore } from './keys'
import { count, gaugeSet } from './counters'
import { modeSetDnat, arenaReset, regionReadable, regionWritable } from './mode'

const ENTRY_SIZE: usize = 64
const E_CONN = 38
const E_LAST = 40
const E_HASH = 44
const E_NEXT = 48
const E_PREV = 52
const E_OLDER = 56
const E_NEWER = 60
const LINK_SIZE: usize = 8
const L_NEXT = 0
const L_PREV = 4
// E_CONN is a u16: every conn id (< CONNS_MAX) must fit in it.
if (CONNS_MAX > 65536) ERROR('router entries keep the conn id in 16 bits; widen E_CONN for CONNS_MAX > 65536')

let ready = false
let dnat = false
let bucketsPtr: usize = 0
let nBuckets: u64 = 0
let bump: usize = 0 //     next never-used entry
let poolEnd: usize = 0
let freeHead: usize = 0
let oldest: usize = 0
let newest: usize = 0
let live: u32 = 0
let poolBase: usize = 0
let linksBase: usize = 0
let headsBase: usize = 0
/** An entry is stale when (now - last) > idleMax; 0xffffffff when there is no timeout. */
let idleMax: u32 = 0xffffffff

/** The bucket array, rounded up to 64 bytes so that entries sit on cache lines. */
@inline function bucketsSize (buckets: u32): u64 {
  return ((<u64>buckets << 2) + 63) & ~(<u64>63)
}

/** Bytes the router needs in the arena for `buckets` buckets and `maxRoutes` entries (saturates at 4 GiB − 1). */
export function routerBytes (buckets: u32, maxRoutes: u32): usize {
  const total = bucketsSize(buckets) + <u64>maxRoutes * <u64>(ENTRY_SIZE + LINK_SIZE) + (<u64>CONNS_MAX << 2)
  return total > <u64>0xffffffff ? <usize>0xffffffff : <usize>total
}

/** Places the router at `base` (zeroed memory of routerBytes bytes). May be called again to start over. */
export function routerSetup (base: usize, buckets: u32, maxRoutes: u32, timeoutMs: u32, dnatMode: bool): void {
  ready = buckets != 0 && maxRoutes != 0
  dnat = dnatMode
  modeSetDnat(dnatMode)
  bucketsPtr = base
  nBuckets = <u64>buckets
  bump = base + <usize>bucketsSize(buckets)
  poolBase = bump
  poolEnd = bump + <usize>maxRoutes * ENTRY_SIZE
  linksBase = poolEnd
  headsBase = linksBase + <usize>maxRoutes * LINK_SIZE
  freeHead = 0
  oldest = 0
  newest = 0
  live = 0
  idleMax = timeoutMs == 0 ? 0xffffffff : timeoutMs
  arenaReset(base, headsBase + (<usize>CONNS_MAX << 2))
  gaugeSet(Counter.Routes, 0)
}

// ---- internals ------------------------------------------------------------------

@inline function hashOf (k: usize, dn: bool): u32 {
  return dn ? keyHashNoTarget(k) : keyHash(k)
}

@inline function bucketOf (h: u32): usize {
  return bucketsPtr + (<usize>((<u64>h * nBuckets) >> 32) << 2)
}

@inline function find (k: usize, h: u32, dn: bool): usize {
  let e = <usize>load<u32>(bucketOf(h))
  while (e != 0) {
    if (load<u32>(e, E_HASH) == h && (dn ? keyEqualsNoTarget(k, e) : keyEquals(k, e))) return e
    e = <usize>load<u32>(e, E_NEXT)
  }
  return 0
}

@inline function isStale (e: usize, now: u32): bool {
  return now - load<u32>(e, E_LAST) > idleMax
}

@inline function lruUnlink (e: usize): void {
  const older = <usize>load<u32>(e, E_OLDER)
  const newer = <usize>load<u32>(e, E_NEWER)
  if (older != 0) store<u32>(older, <u32>newer, E_NEWER)
  else oldest = newer
  if (newer != 0) store<u32>(newer, <u32>older, E_OLDER)
  else newest = older
}

@inline function lruPushNewest (e: usize): void {
  store<u32>(e, <u32>newest, E_OLDER)
  store<u32>(e, 0, E_NEWER)
  if (newest != 0) store<u32>(newest, <u32>e, E_NEWER)
  else oldest = e
  newest = e
}

/** Marks e used at `now`: stamps it and moves it to the newest end of the LRU list. */
@inline function touch (e: usize, now: u32): void {
  store<u32>(e, now, E_LAST)
  if (e != newest) {
    lruUnlink(e)
    lruPushNewest(e)
  }
}

@inline function linkOf (e: usize): usize {
  return linksBase + ((e - poolBase) >> 3) // ENTRY_SIZE / LINK_SIZE = 8
}

@inline function headOf (conn: u32): usize {
  return headsBase + (<usize>conn << 2)
}

/** Puts e (whose E_CONN is set) at the head of its connection's list. */
function connPush (e: usize): void {
  const slot = headOf(<u32>load<u16>(e, E_CONN))
  const head = <usize>load<u32>(slot)
  const l = linkOf(e)
  store<u32>(l, <u32>head, L_NEXT)
  store<u32>(l, 0, L_PREV)
  if (head != 0) store<u32>(linkOf(head), <u32>e, L_PREV)
  store<u32>(slot, <u32>e)
}

/** Takes e out of its connection's list (E_CONN must still be the conn it is listed under). */
function connUnlink (e: usize): void {
  const l = linkOf(e)
  const next = <usize>load<u32>(l, L_NEXT)
  const prev = <usize>load<u32>(l, L_PREV)
  if (prev != 0) store<u32>(linkOf(prev), <u32>next, L_NEXT)
  else store<u32>(headOf(<u32>load<u16>(e, E_CONN)), <u32>next)
  if (next != 0) store<u32>(linkOf(next), <u32>prev, L_PREV)
}

/** Unlinks e from its chain, its connection's list and the LRU list and frees it. Does not count. */
function removeEntry (e: usize): void {
  connUnlink(e)
  const next = <usize>load<u32>(e, E_NEXT)
  const prev = <usize>load<u32>(e, E_PREV)
  if (prev != 0) store<u32>(prev, <u32>next, E_NEXT)
  else store<u32>(bucketOf(load<u32>(e, E_HASH)), <u32>next)
  if (next != 0) store<u32>(next, <u32>prev, E_PREV)
  lruUnlink(e)
  store<u32>(e, <u32>freeHead, E_NEWER)
  freeHead = e
  live--
}

/** A free entry: from the free list, the unused tail of the pool, or by pushing out the oldest. */
function takeEntry (now: u32): usize {
  let e = freeHead
  if (e != 0) {
    freeHead = <usize>load<u32>(e, E_NEWER)
    return e
  }
  if (bump < poolEnd) {
    e = bump
    bump += ENTRY_SIZE
    return e
  }
  // Full: push out the least recently used entry (an idle one counts as expired).
  e = oldest
  count(isStale(e, now) ? Counter.RouterExpiries : Counter.RouterEvictions)
  removeEntry(e)
  freeHead = <usize>load<u32>(e, E_NEWER)
  return e
}

@inline function lookupOne (k: usize, now: u32, dn: bool): i32 {
  const e = find(k, hashOf(k, dn), dn)
  if (e == 0) return -1
  if (isStale(e, now)) {
    removeEntry(e)
    count(Counter.RouterExpiries)
    gaugeSet(Counter.Routes, live)
    return -1
  }
  touch(e, now)
  return <i32>load<u16>(e, E_CONN)
}

// ---- internal API (batch.ts) --------------------------------------------------------

/** Adds key k -> conn, or overwrites the conn of an existing entry; either way refreshes it. */
export function routerAddKey (k: usize, conn: i32, now: u32): i32 {
  if (!ready) return Status.NotInitialised
  if (<u32>conn >= <u32>CONNS_MAX) return Status.BadArgument
  const dn = dnat
  const h = hashOf(k, dn)
  let e = find(k, h, dn)
  if (e == 0) {
    e = takeEntry(now)
    keyStore(e, k, dn)
    store<u32>(e, h, E_HASH)
    const slot = bucketOf(h)
    const head = <usize>load<u32>(slot)
    store<u32>(e, <u32>head, E_NEXT)
    store<u32>(e, 0, E_PREV)
    if (head != 0) store<u32>(head, <u32>e, E_PREV)
    store<u32>(slot, <u32>e)
    store<u32>(e, now, E_LAST)
    lruPushNewest(e)
    store<u16>(e, <u16>conn, E_CONN)
    connPush(e)
    live++
    gaugeSet(Counter.Routes, live)
  } else {
    touch(e, now)
    if (<i32>load<u16>(e, E_CONN) != conn) {
      connUnlink(e)
      store<u16>(e, <u16>conn, E_CONN)
      connPush(e)
    }
  }
  count(Counter.RouterAdds)
  return Status.Ok
}

/** Connection of key k, refreshing the entry, or -1 (never added, removed, or idle too long). */
export function routerLookupKey (k: usize, now: u32): i32 {
  if (!ready) return -1
  const conn = lookupOne(k, now, dnat)
  count(conn >= 0 ? Counter.RouterHits : Counter.RouterMisses)
  return conn
}

// ---- exports (key at KEY_OFF) ---------------------------------------------------

/** Adds (or overwrites and refreshes) the route of the key at KEY_OFF. */
export function routerAdd (conn: i32, now: u32): i32 {
  return routerAddKey(<usize>KEY_OFF, conn, now)
}

/** Connection of the key at KEY_OFF (refreshing it), or -1. */
export function routerLookup (now: u32): i32 {
  return routerLookupKey(<usize>KEY_OFF, now)
}

/** Removes the route of the key at KEY_OFF: Ok, or NotFound. */
export function routerDelete (): i32 {
  if (!ready) return Status.NotInitialised
  const k = <usize>KEY_OFF
  const e = find(k, hashOf(k, dnat), dnat)
  if (e == 0) return Status.NotFound
  removeEntry(e)
  count(Counter.RouterDeletes)
  gaugeSet(Counter.Routes, live)
  return Status.Ok
}

/** Removes every route of connection `conn` (it closed); returns how many. O(routes of conn). */
export function routerDeleteConn (conn: i32): i32 {
  if (!ready || <u32>conn >= <u32>CONNS_MAX) return 0
  let n: i32 = 0
  let e = <usize>load<u32>(headOf(<u32>conn))
  while (e != 0) {
    const next = <usize>load<u32>(linkOf(e), L_NEXT)
    removeEntry(e)
    n++
    e = next
  }
  if (n != 0) {
    count(Counter.RouterDeletes, <u64>n)
    gaugeSet(Counter.Routes, live)
  }
  return n
}

/** Removes routes idle for longer than the timeout, oldest first; returns how many. O(removed). */
export function routerExpire (now: u32): i32 {
  if (!ready) return 0
  let n: i32 = 0
  while (oldest != 0 && isStale(oldest, now)) {
    removeEntry(oldest)
    n++
  }
  if (n != 0) {
    count(Counter.RouterExpiries, <u64>n)
    gaugeSet(Counter.Routes, live)
  }
  return n
}

/** Keys per group of a batch lookup (lookupMany). */
const GROUP: usize = 32
/** Per group: each key's hash, then its candidate entry (see lookupMany). */
const groupHash = memory.data(<i32>(GROUP << 2))
const groupCand = memory.data(<i32>(GROUP << 2))

/**
 * The batch lookup, a group of keys at a time. The first passes over a group
 * only read: every key's hash, then every bucket head, then the first entry
 * of each chain and the second where the first does not have the key's
 * hash; the loads of one pass do not depend on each other, and the passes
 * are short (the hashing has one of its own), so their cache misses overlap
 * instead of following one another. They leave each key a
 * candidate: the first of those two entries with its hash (0: none, or the
 * chain goes on). The last pass then does the lookups one by one, with the
 * same effects, in the same order, as routerLookupKey would: a candidate
 * holding the key is the entry (the entries before it in the chain have
 * other hashes); otherwise, and for every key after a removal in the group
 * (which may have changed later chains), the chain is searched again.
 */
@inline function lookupMany (keysOff: usize, n: usize, outOff: usize, now: u32, dn: bool): u32 {
  let hits: u32 = 0
  for (let g: usize = 0; g < n; g += GROUP) {
    const m = n - g < GROUP ? n - g : GROUP
    const k0 = keysOff + g * <usize>KEY_SIZE
    for (let i: usize = 0; i < m; i++) store<u32>(groupHash + (i << 2), hashOf(k0 + i * <usize>KEY_SIZE, dn))
    for (let i: usize = 0; i < m; i++) store<u32>(groupCand + (i << 2), load<u32>(bucketOf(load<u32>(groupHash + (i << 2)))))
    for (let i: usize = 0; i < m; i++) {
      const e = <usize>load<u32>(groupCand + (i << 2))
      if (e != 0 && load<u32>(e, E_HASH) != load<u32>(groupHash + (i << 2))) {
        const e2 = <usize>load<u32>(e, E_NEXT)
        let cand: usize = 0
        if (e2 != 0 && load<u32>(e2, E_HASH) == load<u32>(groupHash + (i << 2))) cand = e2
        store<u32>(groupCand + (i << 2), <u32>cand)
      }
    }
    let removed = false
    for (let i: usize = 0; i < m; i++) {
      const k = k0 + i * <usize>KEY_SIZE
      let e = <usize>load<u32>(groupCand + (i << 2))
      if (removed || e == 0 || !(dn ? keyEqualsNoTarget(k, e) : keyEquals(k, e))) e = find(k, load<u32>(groupHash + (i << 2)), dn)
      let conn: i32 = -1
      if (e != 0) {
        if (isStale(e, now)) {
          removeEntry(e)
          removed = true
          count(Counter.RouterExpiries)
          gaugeSet(Counter.Routes, live)
        } else {
          touch(e, now)
          conn = <i32>load<u16>(e, E_CONN)
          hits++
        }
      }
      store<i32>(outOff + ((g + i) << 2), conn)
    }
  }
  return hits
}

/**
 * Looks up n consecutive 40-byte keys at keysOff and writes n i32 connection
 * ids (-1 for a miss) at outOff, exactly as n routerLookup calls would.
 * BadRegion when a region leaves the memory, the output would overwrite the
 * static data or the tables, or the output starts inside the keys after
 * their start (it would overwrite keys not yet read; in place is fine).
 */
export function routerLookupBatch (keysOff: usize, n: i32, outOff: usize, now: u32): i32 {
  if (!ready) return Status.NotInitialised
  if (n < 0) return Status.BadArgument
  const keyBytes = <u64>n * <u64>KEY_SIZE
  if (!regionReadable(keysOff, keyBytes)) return Status.BadRegion
  if (!regionWritable(outOff, <u64>n << 2)) return Status.BadRegion
  if (outOff > keysOff && <u64>outOff < <u64>keysOff + keyBytes) return Status.BadRegion
  if (n == 0) return Status.Ok
  const hits = dnat
    ? lookupMany(keysOff, <usize>n, outOff, now, true)
    : lookupMany(keysOff, <usize>n, outOff, now, false)
  if (hits != 0) count(Counter.RouterHits, <u64>hits)
  if (<u32>n != hits) count(Counter.RouterMisses, <u64>(<u32>n - hits))
  return Status.Ok
}

// The delay table (INTERCEPT.md §7): SYN and RST responses that arrive before
// the CLIENT_ADD of their key, held as packet copies until the route comes
// (delayFlush) or the key expires. Bounded: at most `perKey` records per key
// and `total` records in all; no allocation.
//
// Arena layout (absolute u32 pointers, 0 = none):
//   [base, base + B)           bucket heads, u32 key-entry pointer each (B = buckets*4 rounded up to 8)
//   then `total` key entries of 80 bytes:
//     +0  36 bytes  key addresses and ports (DNAT mode: target address stored as zero, as in the router)
//     +36 u8        key family
//     +37 3 bytes   zero
//     +40 u32       keyHash of the (normalised) key
//     +44 u32       creation time (host ms clock)
//     +48 u32       records held
//     +52 u32       first (oldest) record
//     +56 u32       last record
//     +60 u32       next entry in the bucket chain; free-list link when free
//     +64 u32       previous entry in the bucket chain (0: the bucket holds it)
//     +68 u32       next older key (creation order; 0: the oldest)
//     +72 u32       next newer key (0: the newest)
//     +76 u32       zero
//   then `total` record slots of 280 bytes:
//     +0  u32       next record of the same key; free-list link when free
//     +4  u32       bytes stored (min(captured bytes, tot_len, 256))
//     +8  u32       the key entry holding the record
//     +12 u32       next newer record of the whole table (arrival order; 0: the newest)
//     +16 u32       next older record of the whole table (0: the oldest)
//     +20 u32       zero
//     +24 256 bytes the IPv4 packet
//
// A key exists only while it holds records, so `total` key entries suffice.
// A key lives expireMs from its creation (I1), flushed or not; the creation
// list is oldest → newest, so expiry pops its head. The arrival list of all
// records is oldest → newest: when the table is full, the oldest record goes
// (its key's first, since each key is FIFO), or the oldest key when it has
// expired.
import { Status } from '../shared/status'
import { KEY_OFF, BATCH_PARSE_OFF, P_CAP_LEN } from '../shared/layout'
import { Counter, LinkType } from '../shared/enums'
import { keyHash, keyHashNoTarget, keyEquals, keyEqualsNoTarget, keyStore } from './keys'
import { count, gaugeSet } from './counters'
import { modeDnat, arenaExtend, regionReadable } from './mode'
import { recordEmit } from './record'
import { parseFrame } from './parse'

/** Bytes of a packet kept per record; longer packets are cut (records need the headers only). */
export const DELAY_DATA_MAX: u32 = 256

const KEY_ENTRY: usize = 80
const K_HASH = 40
const K_CREATED = 44
const K_COUNT = 48
const K_FIRST = 52
const K_LAST = 56
const K_NEXT = 60
const K_PREV = 64
const K_OLDER = 68
const K_NEWER = 72

const R_NEXT = 0
const R_LEN = 4
const R_KEY = 8
const R_NEWER = 12
const R_OLDER = 16
const R_DATA: usize = 24
const REC_SLOT: usize = R_DATA + <usize>DELAY_DATA_MAX

let ready = false
let bucketsPtr: usize = 0
let nBuckets: u64 = 0
let keyBump: usize = 0
let keyEnd: usize = 0
let keyFree: usize = 0
let recBump: usize = 0
let recEnd: usize = 0
let recFree: usize = 0
let oldest: usize = 0
let newest: usize = 0
let recOldest: usize = 0
let recNewest: usize = 0
let nKeys: u32 = 0
let nRecords: u32 = 0
let maxPerKey: u32 = 0
let maxTotal: u32 = 0
/** A key is expired when (now - created) > ageMax; 0xffffffff when there is no expiry. */
let ageMax: u32 = 0xffffffff

@inline function bucketsSize (buckets: u32): u64 {
  return ((<u64>buckets << 2) + 7) & ~(<u64>7)
}

/** Bytes the delay table needs for `buckets` buckets and `total` records (saturates at 4 GiB − 1). */
export function delayBytes (buckets: u32, total: u32): usize {
  const bytes = bucketsSize(buckets) + <u64>total * <u64>(KEY_ENTRY + REC_SLOT)
  return bytes > <u64>0xffffffff ? <usize>0xffffffff : <usize>bytes
}

/** Places the delay table at `base` (zeroed memory of delayBytes bytes). May be called again to start over. */
export function delaySetup (base: usize, buckets: u32, perKey: u32, total: u32, expireMs: u32): void {
  ready = buckets != 0 && perKey != 0 && total != 0
  bucketsPtr = base
  nBuckets = <u64>buckets
  keyBump = base + <usize>bucketsSize(buckets)
  keyEnd = keyBump + <usize>total * KEY_ENTRY
  keyFree = 0
  recBump = keyEnd
  recEnd = recBump + <usize>total * REC_SLOT
  recFree = 0
  oldest = 0
  newest = 0
  recOldest = 0
  recNewest = 0
  nKeys = 0
  nRecords = 0
  maxPerKey = perKey
  maxTotal = total
  ageMax = expireMs == 0 ? 0xffffffff : expireMs
  arenaExtend(base, recEnd)
  gauges()
}

// ---- internals ------------------------------------------------------------------

@inline function gauges (): void {
  gaugeSet(Counter.DelayRecords, nRecords)
  gaugeSet(Counter.DelayKeys, nKeys)
}

@inline function bucketOf (h: u32): usize {
  return bucketsPtr + (<usize>((<u64>h * nBuckets) >> 32) << 2)
}

@inline function isExpired (e: usize, now: u32): bool {
  return now - load<u32>(e, K_CREATED) > ageMax
}

function find (k: usize, h: u32, dn: bool): usize {
  let e = <usize>load<u32>(bucketOf(h))
  while (e != 0) {
    if (load<u32>(e, K_HASH) == h && (dn ? keyEqualsNoTarget(k, e) : keyEquals(k, e))) return e
    e = <usize>load<u32>(e, K_NEXT)
  }
  return 0
}

/** Takes record r out of the arrival list and puts it on the free list. */
function freeRecord (r: usize): void {
  const newer = <usize>load<u32>(r, R_NEWER)
  const older = <usize>load<u32>(r, R_OLDER)
  if (older != 0) store<u32>(older, <u32>newer, R_NEWER)
  else recOldest = newer
  if (newer != 0) store<u32>(newer, <u32>older, R_OLDER)
  else recNewest = older
  store<u32>(r, <u32>recFree, R_NEXT)
  recFree = r
  nRecords--
}

/** Unlinks key entry e (its records already gone) and frees it. */
function freeKey (e: usize): void {
  // bucket chain
  const next = <usize>load<u32>(e, K_NEXT)
  const prev = <usize>load<u32>(e, K_PREV)
  if (prev != 0) store<u32>(prev, <u32>next, K_NEXT)
  else store<u32>(bucketOf(load<u32>(e, K_HASH)), <u32>next)
  if (next != 0) store<u32>(next, <u32>prev, K_PREV)
  // creation list
  const older = <usize>load<u32>(e, K_OLDER)
  const newer = <usize>load<u32>(e, K_NEWER)
  if (older != 0) store<u32>(older, <u32>newer, K_NEWER)
  else oldest = newer
  if (newer != 0) store<u32>(newer, <u32>older, K_OLDER)
  else newest = older
  store<u32>(e, <u32>keyFree, K_NEXT)
  keyFree = e
  nKeys--
}

/** Frees key e and all its records; returns how many records it held. Does not count. */
function dropKey (e: usize): u32 {
  let r = <usize>load<u32>(e, K_FIRST)
  while (r != 0) {
    const next = <usize>load<u32>(r, R_NEXT)
    freeRecord(r)
    r = next
  }
  const n = load<u32>(e, K_COUNT)
  freeKey(e)
  return n
}

/**
 * Frees the oldest record of the table, the first of its key (each key's
 * records are in arrival order), and the key when that was its last record.
 * Returns the key entry when it was freed, else 0. Does not count.
 */
function dropOldestRecord (): usize {
  const r = recOldest
  const e = <usize>load<u32>(r, R_KEY)
  const next = <usize>load<u32>(r, R_NEXT)
  store<u32>(e, <u32>next, K_FIRST)
  if (next == 0) store<u32>(e, 0, K_LAST)
  const left = load<u32>(e, K_COUNT) - 1
  store<u32>(e, left, K_COUNT)
  freeRecord(r)
  if (left != 0) return 0
  freeKey(e)
  return e
}

function newKey (k: usize, h: u32, dn: bool, now: u32): usize {
  let e = keyFree
  if (e != 0) keyFree = <usize>load<u32>(e, K_NEXT)
  else if (keyBump < keyEnd) {
    e = keyBump
    keyBump += KEY_ENTRY
  } else return 0
  keyStore(e, k, dn)
  store<u16>(e, 0, 38)
  store<u32>(e, h, K_HASH)
  store<u32>(e, now, K_CREATED)
  store<u32>(e, 0, K_COUNT)
  store<u32>(e, 0, K_FIRST)
  store<u32>(e, 0, K_LAST)
  const slot = bucketOf(h)
  const head = <usize>load<u32>(slot)
  store<u32>(e, <u32>head, K_NEXT)
  store<u32>(e, 0, K_PREV)
  if (head != 0) store<u32>(head, <u32>e, K_PREV)
  store<u32>(slot, <u32>e)
  store<u32>(e, <u32>newest, K_OLDER)
  store<u32>(e, 0, K_NEWER)
  if (newest != 0) store<u32>(newest, <u32>e, K_NEWER)
  else oldest = e
  newest = e
  nKeys++
  return e
}

/** A free record slot for key e, appended to the arrival list; 0 when none is left. */
function newRecord (e: usize): usize {
  let r = recFree
  if (r != 0) recFree = <usize>load<u32>(r, R_NEXT)
  else if (recBump < recEnd) {
    r = recBump
    recBump += REC_SLOT
  } else return 0
  store<u32>(r, 0, R_NEXT)
  store<u32>(r, <u32>e, R_KEY)
  store<u32>(r, 0, R_NEWER)
  store<u32>(r, <u32>recNewest, R_OLDER)
  if (recNewest != 0) store<u32>(recNewest, <u32>r, R_NEWER)
  else recOldest = r
  recNewest = r
  nRecords++
  return r
}

// ---- internal API (batch.ts) --------------------------------------------------------

/**
 * Stores a copy of the IPv4 packet at `ip` (capLen bytes present, headers
 * already validated, capLen <= tot_len) under key k, after the records
 * already there. CapReached when the key already holds perKey records
 * (counted in DelayDroppedKeyCap). When the table holds `total` records, room
 * is made first: the oldest key goes if it has expired (DelayExpired, all its
 * records), else the oldest record of the table (DelayEvicted, one record).
 */
export function delayPut (k: usize, ip: usize, capLen: u32, now: u32): i32 {
  if (!ready) return Status.NotInitialised
  const dn = modeDnat()
  const h = dn ? keyHashNoTarget(k) : keyHash(k)
  let e = find(k, h, dn)
  if (e != 0 && isExpired(e, now)) {
    count(Counter.DelayExpired, <u64>dropKey(e))
    e = 0
  }
  if (e != 0 && load<u32>(e, K_COUNT) >= maxPerKey) {
    count(Counter.DelayDroppedKeyCap)
    return Status.CapReached
  }
  if (nRecords >= maxTotal) {
    if (isExpired(oldest, now)) {
      // e (if any) has not expired, so it is not the oldest key
      count(Counter.DelayExpired, <u64>dropKey(oldest))
    } else {
      if (dropOldestRecord() == e) e = 0
      count(Counter.DelayEvicted)
    }
  }
  if (e == 0) {
    e = newKey(k, h, dn, now)
    if (e == 0) { gauges(); return Status.NoMemory } // cannot happen: keys <= records < total
  }
  const r = newRecord(e)
  if (r == 0) { gauges(); return Status.NoMemory } // cannot happen: records < total here
  const len = capLen < DELAY_DATA_MAX ? capLen : DELAY_DATA_MAX
  store<u32>(r, len, R_LEN)
  memory.copy(r + R_DATA, ip, <usize>len)
  const last = <usize>load<u32>(e, K_LAST)
  if (last != 0) store<u32>(last, <u32>r, R_NEXT)
  else store<u32>(e, <u32>r, K_FIRST)
  store<u32>(e, <u32>r, K_LAST)
  store<u32>(e, load<u32>(e, K_COUNT) + 1, K_COUNT)
  count(Counter.DelayStored)
  gauges()
  return Status.Ok
}

/**
 * Emits (recordEmit) every record stored under k to `conn` in arrival order,
 * then forgets k; returns how many were emitted. A key older than the expiry
 * (by the clock of the last router/delay call, i.e. the CLIENT_ADD's `now`)
 * is dropped as expired instead.
 */
export function delayFlush (k: usize, conn: i32, now: u32): i32 {
  if (!ready || nKeys == 0) return 0
  const dn = modeDnat()
  const e = find(k, dn ? keyHashNoTarget(k) : keyHash(k), dn)
  if (e == 0) return 0
  if (isExpired(e, now)) {
    count(Counter.DelayExpired, <u64>dropKey(e))
    gauges()
    return 0
  }
  let n: i32 = 0
  let r = <usize>load<u32>(e, K_FIRST)
  while (r != 0) {
    if (recordEmit(conn, r + R_DATA, load<u32>(r, R_LEN)) == Status.Ok) n++
    r = <usize>load<u32>(r, R_NEXT)
  }
  if (n != 0) count(Counter.DelayFlushed, <u64>n)
  dropKey(e)
  gauges()
  return n
}

// ---- exports ------------------------------------------------------------------

/**
 * delayPut of the IPv4 packet at [ipOff, ipOff+capLen) under the key at
 * KEY_OFF. The packet is checked as the batch path checks a captured one
 * (parseFrame, raw IP): it must be an unfragmented IPv4/TCP packet whose IP
 * and TCP headers lie within capLen and within its tot_len; bytes past
 * tot_len are not kept. Otherwise the parser's Status (Truncated,
 * BadIpHeader, BadTotalLength, Fragment, NotTcp, BadTcpHeader) and nothing is
 * stored. A malformed TCP option is no reason to refuse the packet.
 */
export function delayStore (ipOff: usize, capLen: u32, now: u32): i32 {
  if (!ready) return Status.NotInitialised
  if (!regionReadable(ipOff, <u64>capLen) || capLen > <u32>i32.MAX_VALUE) return Status.BadRegion
  const ps = <usize>BATCH_PARSE_OFF
  const st = parseFrame(ipOff, <i32>capLen, LinkType.Raw, ps)
  if (st != Status.Ok && st != Status.BadTcpOption) return st
  return delayPut(<usize>KEY_OFF, ipOff, load<u32>(ps, P_CAP_LEN), now)
}

/** Drops keys created more than the expiry ago, oldest first; returns records dropped. O(dropped). */
export function delayExpire (now: u32): i32 {
  if (!ready) return 0
  let n: u32 = 0
  while (oldest != 0 && isExpired(oldest, now)) n += dropKey(oldest)
  if (n != 0) {
    count(Counter.DelayExpired, <u64>n)
    gauges()
  }
  return <i32>n
}

// State shared by the router and the delay table: the DNAT normalisation and
// the bounds of the arena (so host-supplied output regions can be refused
// when they would overwrite the tables).
import { REGION_BASE } from '../shared/layout'

let dnat = false
let arenaLo: usize = 0
let arenaHi: usize = 0

/** DNAT mode (INTERCEPT.md §6.1): keys ignore the target address. Set by routerSetup. */
export function modeSetDnat (on: bool): void { dnat = on }
@inline export function modeDnat (): bool { return dnat }

/** Records [lo, hi) as (part of) the arena; the first call after coreInit starts over. */
export function arenaReset (lo: usize, hi: usize): void { arenaLo = lo; arenaHi = hi }
export function arenaExtend (lo: usize, hi: usize): void {
  if (lo < arenaLo) arenaLo = lo
  if (hi > arenaHi) arenaHi = hi
}

/** True when [off, off+len) lies inside the memory (u64 arithmetic: never wraps). */
@inline export function regionReadable (off: usize, len: u64): bool {
  return <u64>off + len <= (<u64>memory.size() << 16)
}

/**
 * True when the host may have the core write to [off, off+len): inside the
 * memory, above the static data, and not over the router/delay tables.
 */
export function regionWritable (off: usize, len: u64): bool {
  if (!regionReadable(off, len)) return false
  if (<u64>off < <u64>REGION_BASE) return false
  if (len == 0) return true
  return <u64>off + len <= <u64>arenaLo || <u64>off >= <u64>arenaHi
}

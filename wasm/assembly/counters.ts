// u64 counters in the COUNTERS region, indexed by shared/enums.ts Counter.
import { COUNTERS_OFF } from '../shared/layout'

@inline export function count (idx: i32, by: u64 = 1): void {
  const p = <usize>COUNTERS_OFF + (<usize>idx << 3)
  store<u64>(p, load<u64>(p) + by)
}

@inline export function gaugeAdd (idx: i32, delta: i64): void {
  const p = <usize>COUNTERS_OFF + (<usize>idx << 3)
  store<i64>(p, load<i64>(p) + delta)
}

@inline export function gaugeSet (idx: i32, value: u64): void {
  store<u64>(<usize>COUNTERS_OFF + (<usize>idx << 3), value)
}

@inline export function counterGet (idx: i32): u64 {
  return load<u64>(<usize>COUNTERS_OFF + (<usize>idx << 3))
}

// TCP sequence-number arithmetic: u32 values compared with wrap-around, as
// the kernel's before()/after() do.

/** a comes after b (a > b modulo 2^32). */
export function seqAfter (a: number, b: number): boolean {
  return ((a - b) | 0) > 0
}

/** a comes before b (a < b modulo 2^32). */
export function seqBefore (a: number, b: number): boolean {
  return ((a - b) | 0) < 0
}

/** a + n as a u32. */
export function seqAdd (a: number, n: number): number {
  return (a + n) >>> 0
}

/** a − b as a signed 32-bit distance. */
export function seqDiff (a: number, b: number): number {
  return (a - b) | 0
}

/** The later of a and b. */
export function seqMax (a: number, b: number): number {
  return seqAfter(a, b) ? a : b
}

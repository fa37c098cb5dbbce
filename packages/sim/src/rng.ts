// A small seeded PRNG (sfc32, seeded through splitmix32) so every run of a
// simulation with the same seed makes the same decisions.

export interface Rng {
  /** Uniform in [0, 1). */
  (): number
  /** Integer in [0, n). */
  int (n: number): number
  /** True with probability p. */
  chance (p: number): boolean
  /** A new independent generator derived from this one. */
  fork (): Rng
}

function splitmix32 (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

export function createRng (seed: number): Rng {
  const init = splitmix32(seed)
  let a = init()
  let b = init()
  let c = init()
  let d = init()
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t
  }
  for (let i = 0; i < 12; i++) next()
  const rng = (() => next() / 4294967296) as Rng
  rng.int = (n) => Math.floor(rng() * n)
  rng.chance = (p) => p > 0 && rng() < p
  rng.fork = () => createRng(next())
  return rng
}

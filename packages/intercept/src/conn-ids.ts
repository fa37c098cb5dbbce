// Connection ids for control connections: 0..max-1, the id the core's
// router stores for a route (the original stored the file descriptor).

/** The core keeps a record format for ids 0..65535 (CONNS_MAX). */
export const MAX_CONNECTION_IDS = 65536

/**
 * Hands out the lowest free id. A freed id is reused: the engine removes a
 * closed connection's routes (core.routerDeleteConn) before it frees the id,
 * so no route can point a new connection at an old session.
 */
export class ConnIds {
  readonly #limit: number
  /** Ids below #next that were freed, kept as a min-heap so the lowest is reused first. */
  readonly #free: number[] = []
  #next = 0
  #used = 0

  constructor (limit: number = MAX_CONNECTION_IDS) {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CONNECTION_IDS) {
      throw new RangeError(`connection id limit must be 1..${MAX_CONNECTION_IDS}, got ${limit}`)
    }
    this.#limit = limit
  }

  get limit (): number { return this.#limit }
  get used (): number { return this.#used }

  /** The lowest free id, or undefined when all `limit` ids are in use. */
  take (): number | undefined {
    let id: number | undefined
    if (this.#free.length > 0) id = this.#popMin()
    else if (this.#next < this.#limit) id = this.#next++
    if (id !== undefined) this.#used++
    return id
  }

  release (id: number): void {
    this.#used--
    const h = this.#free
    h.push(id)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (h[p]! <= h[i]!) break
      ;[h[p], h[i]] = [h[i]!, h[p]!]
      i = p
    }
  }

  #popMin (): number {
    const h = this.#free
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && h[l]! < h[m]!) m = l
        if (r < h.length && h[r]! < h[m]!) m = r
        if (m === i) break
        ;[h[m], h[i]] = [h[i]!, h[m]!]
        i = m
      }
    }
    return top
  }
}

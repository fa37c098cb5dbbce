// An indexed binary min-heap: each item knows its position, so a key that
// got smaller moves up in place. Used by the timer queue (and the
// simulator's event queue); allocates nothing per push or pop.

/** An item of an IndexedHeap: `index` is its position, -1 when not in the heap. */
export interface HeapItem {
  index: number
}

export class IndexedHeap<T extends HeapItem> {
  readonly #items: T[] = []
  readonly #less: (a: T, b: T) => boolean

  /** `less(a, b)`: a comes out before b. Equal items keep no particular order. */
  constructor (less: (a: T, b: T) => boolean) {
    this.#less = less
  }

  get size (): number { return this.#items.length }

  /** The first item, without removing it. */
  peek (): T | undefined { return this.#items[0] }

  /** Every item, in heap order (for close-down loops). */
  get items (): readonly T[] { return this.#items }

  push (item: T): void {
    item.index = this.#items.length
    this.#items.push(item)
    this.#up(item.index)
  }

  /** Removes and returns the first item; its index becomes -1. */
  pop (): T | undefined {
    const items = this.#items
    const top = items[0]
    if (top === undefined) return undefined
    const last = items.pop()!
    top.index = -1
    if (last !== top) {
      items[0] = last
      last.index = 0
      this.#down(0)
    }
    return top
  }

  /** The key of `item` (in the heap) got smaller: move it up. */
  decreased (item: T): void {
    this.#up(item.index)
  }

  /** Empties the heap; every item's index becomes -1. */
  clear (): void {
    for (const item of this.#items) item.index = -1
    this.#items.length = 0
  }

  #up (i: number): void {
    const items = this.#items
    const item = items[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = items[p]!
      if (!this.#less(item, parent)) break
      items[i] = parent
      parent.index = i
      i = p
    }
    items[i] = item
    item.index = i
  }

  #down (i: number): void {
    const items = this.#items
    const n = items.length
    const item = items[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      if (r < n && this.#less(items[r]!, items[l]!)) c = r
      const child = items[c]!
      if (!this.#less(child, item)) break
      items[i] = child
      child.index = i
      i = c
    }
    items[i] = item
    item.index = i
  }
}

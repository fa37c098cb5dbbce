import { expect } from 'chai'
import { IndexedHeap } from './heap.js'

interface Item { key: number, id: number, index: number }

describe('IndexedHeap', () => {
  it('pops in key order and keeps every index equal to the position, through pushes, decreases and pops', () => {
    let seed = 12345
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n }
    const heap = new IndexedHeap<Item>((a, b) => a.key < b.key)
    const live = new Set<Item>()
    const popped: number[] = []
    for (let step = 0; step < 3000; step++) {
      const op = rand(10)
      if (op < 4) {
        const it: Item = { key: rand(1000), id: step, index: -1 }
        heap.push(it)
        live.add(it)
      } else if (op < 6 && live.size > 0) {
        const it = [...live][rand(live.size)]!
        it.key -= rand(50)
        heap.decreased(it)
      } else {
        const min = Math.min(...[...live].map((x) => x.key))
        const top = heap.pop()
        if (top === undefined) { expect(live.size).to.equal(0); continue }
        expect(top.key).to.equal(min)
        expect(top.index).to.equal(-1)
        live.delete(top)
        popped.push(top.key)
      }
      expect(heap.size).to.equal(live.size)
      const misplaced = heap.items.findIndex((x, i) => x.index !== i)
      expect(misplaced, `step ${step}`).to.equal(-1)
    }
    expect(popped.length).to.be.greaterThan(800)
  })

  it('clear() empties it and marks every item as out', () => {
    const heap = new IndexedHeap<Item>((a, b) => a.key < b.key)
    const items = [3, 1, 2].map((key, id) => ({ key, id, index: -1 }))
    for (const it of items) heap.push(it)
    expect(heap.peek()!.key).to.equal(1)
    heap.clear()
    expect(heap.size).to.equal(0)
    expect(heap.peek()).to.equal(undefined)
    expect(items.map((x) => x.index)).to.deep.equal([-1, -1, -1])
  })
})

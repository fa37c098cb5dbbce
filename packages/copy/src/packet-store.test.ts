import { expect } from 'chai'
import { PacketStore } from './packet-store.js'

describe('PacketStore', () => {
  it('gives slots of the smallest class that fits and reuses released ones', () => {
    const store = new PacketStore()
    const a = store.alloc(60)
    expect(a.view.length).to.equal(128)
    const b = store.alloc(1500)
    expect(b.view.length).to.equal(2048)
    expect(store.stats().packets).to.equal(2)
    expect(store.stats().bytes).to.equal(1560)
    store.release(a)
    const c = store.alloc(100)
    expect(c).to.equal(a)
    expect(c.skip).to.equal(0)
    expect(c.tsOff).to.equal(-1)
  })

  it('holds packets up to 65536 bytes and refuses larger ones', () => {
    const store = new PacketStore()
    expect(store.alloc(65535).view.length).to.equal(65536)
    expect(() => store.alloc(65537)).to.throw(RangeError)
  })

  it('keeps slots separate (writing one never changes another)', () => {
    const store = new PacketStore()
    const ps = Array.from({ length: 10 }, (_, i) => {
      const p = store.alloc(100)
      p.view.fill(i)
      return p
    })
    ps.forEach((p, i) => { expect(p.view.every((x) => x === i)).to.equal(true) })
    expect(store.stats().reserved).to.be.at.least(1280)
  })
})

describe('PacketStore slab release', () => {
  it('hands back slabs that are empty again beyond the reserve, so a burst does not hold its peak', () => {
    const store = new PacketStore({ keepEmptyBytes: 512 * 1024 })
    const burst = Array.from({ length: 4096 }, () => store.alloc(1500)) // 2048-byte slots, 128 per 256 KiB slab: 32 slabs
    expect(store.stats().reserved).to.equal(32 * 256 * 1024)
    for (const p of burst) store.release(p)
    const st = store.stats()
    expect(st.packets).to.equal(0)
    // two empty slabs kept for the next burst, thirty handed back
    expect(st.reserved).to.equal(2 * 256 * 1024)
    expect(st.emptyReserved).to.equal(2 * 256 * 1024)
    expect(st.slabsReleased).to.equal(30)
    // the kept ones are reused before anything new is allocated
    const again = Array.from({ length: 256 }, () => store.alloc(1500))
    expect(store.stats().reserved).to.equal(2 * 256 * 1024)
    expect(store.stats().emptyReserved).to.equal(0)
    for (const p of again) store.release(p)
  })

  it('keeps a slab while any of its slots is in use', () => {
    const store = new PacketStore({ keepEmptyBytes: 0 })
    const ps = Array.from({ length: 128 }, () => store.alloc(1000))
    for (const p of ps.slice(1)) store.release(p)
    expect(store.stats().reserved).to.equal(256 * 1024)
    ps[0]!.view.fill(7)
    expect(ps[0]!.view.every((x) => x === 7)).to.equal(true)
    store.release(ps[0]!)
    expect(store.stats().reserved).to.equal(0)
    // and allocates again afterwards
    expect(store.alloc(1000).view.length).to.equal(1024)
  })
})

import { expect } from 'chai'
import { PacketQueue } from './packet-queue.js'
import { PacketStore, type BufferedPacket } from './packet-store.js'
import { seqAfter } from './seq.js'

function pkt (store: PacketStore, seq: number, payload: number): BufferedPacket {
  const p = store.alloc(40 + payload)
  p.seq = seq
  p.payload = payload
  return p
}

describe('PacketQueue', () => {
  it('keeps the data and unsent-data counters through insert, send, consume, acknowledge and rewind', () => {
    const store = new PacketStore()
    const q = new PacketQueue()
    const release = (p: BufferedPacket): void => { store.release(p) }
    q.insert(0, pkt(store, 1, 0)) // a pure ACK
    q.insert(1, pkt(store, 1, 100))
    q.insert(2, pkt(store, 201, 100))
    q.insert(2, pkt(store, 101, 100)) // out of order: goes before 201
    expect([q.length, q.dataPackets, q.unsentData]).to.deep.equal([4, 3, 3])
    expect(q.check(seqAfter)).to.deep.equal([])
    const ack = q.removeNext() // the ACK consumed
    expect(ack.payload).to.equal(0)
    release(ack)
    q.advance()
    q.advance()
    expect([q.sent, q.dataPackets, q.unsentData]).to.deep.equal([2, 3, 1])
    q.dropFront(1, release)
    expect([q.length, q.sent, q.dataPackets, q.unsentData]).to.deep.equal([2, 1, 2, 1])
    expect(q.next.seq).to.equal(201)
    q.rewind((p) => p.payload === 0, release, (p) => { p.skip = 0 })
    expect([q.length, q.sent, q.dataPackets, q.unsentData]).to.deep.equal([2, 0, 2, 2])
    expect(q.dropUnsent(release)).to.equal(2)
    expect([q.length, q.dataPackets, q.unsentData]).to.deep.equal([0, 0, 0])
    expect(store.stats().packets).to.equal(0)
    expect(q.check(seqAfter)).to.deep.equal([])
  })

  it('refuses an insert among the packets already sent', () => {
    const store = new PacketStore()
    const q = new PacketQueue()
    q.insert(0, pkt(store, 1, 10))
    q.advance()
    expect(() => { q.insert(0, pkt(store, 0, 1)) }).to.throw(RangeError)
  })

  it('stays consistent over 100000 in-order packets sent and acknowledged in steps (front drops are O(1))', () => {
    const store = new PacketStore()
    const q = new PacketQueue()
    const release = (p: BufferedPacket): void => { store.release(p) }
    let seq = 0
    for (let round = 0; round < 1000; round++) {
      for (let i = 0; i < 100; i++) {
        q.insert(q.length, pkt(store, seq, 10))
        seq += 10
      }
      while (q.hasNext) q.advance()
      q.dropFront(q.sent - (round % 7), release)
    }
    expect(q.check(seqAfter)).to.deep.equal([])
    expect(q.length).to.equal(999 % 7)
    expect(store.stats().packets).to.equal(q.length)
  })

  it('reports a counter that disagrees with the packets', () => {
    const store = new PacketStore()
    const q = new PacketQueue()
    const p = pkt(store, 1, 10)
    q.insert(0, p)
    p.payload = 0 // changed behind the queue's back
    expect(q.check(seqAfter)).to.deep.equal(['data packets: counter 1, counted 0', 'unsent data packets: counter 1, counted 0'])
  })
})

import { expect } from 'chai'
import { ConnOutput, STAGE_BLOCK } from './output.js'
import { FakeSocket } from './test/fake-socket.js'

/** A frame of `n` bytes whose bytes count up from `tag`. */
function frame (n: number, tag: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (tag + i) & 0xff)
}

describe('control connection output', () => {
  it('writes exact copies while the socket takes data, then stages behind it; every byte is counted once', () => {
    const sock = new FakeSocket()
    const out = new ConnOutput(sock)
    const frames = Array.from({ length: 100 }, (_, i) => frame(1000, i))
    const scratch = new Uint8Array(4096) // the sender reuses one buffer: the output must copy
    for (const f of frames) {
      scratch.set(f)
      out.write(scratch.subarray(0, f.length))
      scratch.fill(0)
    }
    // 17 frames reach the 16 KiB high-water mark; the other 83 wait in staging
    expect(sock.writes).to.have.length(17)
    for (const w of sock.writes) expect(w.buffer.byteLength, 'an exactly sized buffer').to.equal(w.byteLength)
    expect(out.staged).to.equal(83 * 1000)
    expect(out.pendingBytes).to.equal(100 * 1000)
    expect(out.stagedCapacity).to.equal(2 * STAGE_BLOCK)
    sock.drain() // the peer reads: staging goes out in exactly sized chunks
    expect(out.staged).to.equal(0)
    expect(out.stagedCapacity).to.equal(0)
    expect(sock.writes.slice(17).map((w) => w.byteLength)).to.deep.equal([STAGE_BLOCK, 83 * 1000 - STAGE_BLOCK])
    for (const w of sock.writes) expect(w.buffer.byteLength).to.equal(w.byteLength)
    expect(Buffer.from(sock.bytes).equals(Buffer.concat(frames))).to.equal(true) // in order, nothing lost or doubled
  })

  it('keeps order: nothing goes straight to the socket while bytes are staged', () => {
    const sock = new FakeSocket()
    const out = new ConnOutput(sock)
    out.write(frame(20000, 1)) // crosses the high-water mark
    out.write(frame(10, 2)) // staged
    sock.drain()
    out.write(frame(10, 3))
    expect(Buffer.from(sock.bytes).equals(Buffer.concat([frame(20000, 1), frame(10, 2), frame(10, 3)]))).to.equal(true)
  })

  it('hands staged bytes over on flush() (shutdown) and forgets them on discard()', () => {
    const sock = new FakeSocket()
    const out = new ConnOutput(sock)
    out.write(frame(20000, 1))
    out.write(frame(300, 2))
    out.flush()
    expect(out.staged).to.equal(0)
    expect(sock.writableLength).to.equal(20300)
    out.write(frame(50, 3))
    expect(out.discard()).to.equal(50)
    expect(out.pendingBytes).to.equal(20300)
  })

  it('writes nothing to a destroyed socket', () => {
    const sock = new FakeSocket()
    const out = new ConnOutput(sock)
    sock.destroy()
    out.write(frame(10, 1))
    expect(sock.writes).to.have.length(0)
    expect(out.pendingBytes).to.equal(0)
  })
})

// The zero-copy premise of the shim: bytes the native code writes into a
// core's memory.buffer are what the WASM code reads, with no copy, and the
// views stay valid because the memory never grows after coreInit.
import { expect } from 'chai'
import { createCore } from '@tcpcopy/core'
import { FRAMES_OFF, FRAMES_SIZE, DESC_OFF, TX_DESC_OFF, TX_OFF, PARSE_OFF, P_STATUS, P_SPORT, P_DPORT, P_TCP_FLAGS, LinkType, Status } from '@tcpcopy/wasm'
import { loadAddon } from './native.js'
import { NativePacketIo } from './native-packet-io.js'
import { checksum, SYN } from './test-helpers.js'

const addon = loadAddon()
const core = createCore({ hashSize: 1024, maxRoutes: 1024, delayTotal: 1024 })
const memory = core.raw.memory

describe('native writes into WebAssembly.Memory', () => {
  it('a native memset in memory.buffer is seen by the WASM checksum without a copy', () => {
    const off = FRAMES_OFF + 1000
    addon.fillForTest(memory.buffer, off, 64, 0xab)
    expect(core.exports.checksumCompute(off, 64)).to.equal(checksum(new Uint8Array(64).fill(0xab)))
    addon.fillForTest(memory.buffer, off, 64, 0x5a) // written again in place: WASM sees the new bytes
    expect(core.exports.checksumCompute(off, 64)).to.equal(checksum(new Uint8Array(64).fill(0x5a)))
  })

  it('a datagram received by recvmmsg straight into FRAMES is parsed by the WASM parser at its descriptor', () => {
    const u8 = new Uint8Array(memory.buffer)
    const dv = new DataView(memory.buffer)
    const io = new NativePacketIo('packet', {
      regions: { memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF },
      snap: 128
    }, {}, class extends addon.NativeSocket { constructor () { super('loopback-test', {}) } })
    try {
      u8.set(SYN, TX_OFF)
      dv.setUint32(TX_DESC_OFF, TX_OFF, true)
      dv.setUint32(TX_DESC_OFF + 4, SYN.length, true)
      u8.fill(0, FRAMES_OFF, FRAMES_OFF + 256)
      expect(io.send(1)).to.equal(1)
      expect(io.receive(8)).to.equal(1)
      const off = dv.getUint32(DESC_OFF, true)
      const len = dv.getUint32(DESC_OFF + 4, true)
      expect([off, len]).to.deep.equal([FRAMES_OFF, 40])
      core.exports.parsePacket(off, len, LinkType.Raw)
      expect(dv.getUint32(PARSE_OFF + P_STATUS, true)).to.equal(Status.Ok)
      expect(dv.getUint16(PARSE_OFF + P_SPORT, true)).to.equal(40000)
      expect(dv.getUint16(PARSE_OFF + P_DPORT, true)).to.equal(8080)
      expect(dv.getUint8(PARSE_OFF + P_TCP_FLAGS)).to.equal(2) // SYN
    } finally {
      io.close()
    }
  })

  it('the memory never grows after coreInit, so memory.buffer and views taken once stay valid', () => {
    const buffer = memory.buffer
    const size = buffer.byteLength
    const view = new Uint8Array(buffer)
    for (let i = 0; i < 100; i++) {
      core.processFrames([SYN], LinkType.Raw, i)
      addon.fillForTest(memory.buffer, FRAMES_OFF, 16, i)
    }
    expect(memory.buffer).to.equal(buffer) // the same ArrayBuffer object: not detached, not replaced
    expect(memory.buffer.byteLength).to.equal(size)
    expect(view[FRAMES_OFF]).to.equal(99)
  })
})

import { expect } from 'chai'
import { ResponseFields, readResponse, FLAG_ACK, FLAG_SYN, FLAG_PSH } from './record.js'
import { hex } from './test/helpers.js'

// PROTOCOL.md §8 V3: the SYN-ACK 10.0.1.2:8080 → 10.0.0.1:40000 as a 1.x record.
const V3 = hex(`
  45 00 00 3c 00 00 40 00 40 06 25 ba 0a 00 01 02  // IPv4, tot_len 60, DF, TTL 64, 10.0.1.2 →
  0a 00 00 01 1f 90 9c 40 11 22 33 44 01 02 03 05  // 10.0.0.1; 8080 → 40000; seq, ack
  a0 12 72 10 fe 9d 00 00 02 04 05 b4 04 02 08 0a  // doff 10, SYN+ACK, window 29200; MSS 1460, SACK-OK, TS
  00 00 ab cd 00 00 12 34 01 03 03 07 00 00 00 00  // TSval 0xabcd TSecr 0x1234, NOP, WS 7; 4 zero bytes
`)

// V4 record 2: PSH+ACK with 17 payload bytes (not carried), tot_len 57.
const V4_2 = hex(`
  45 00 00 39 1a 2b 40 00 40 06 0b 92 0a 00 01 02
  0a 00 00 01 1f 90 9c 40 11 22 33 45 01 02 03 69
  50 18 00 e5 d5 6b 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
`)

describe('readResponse (PROTOCOL.md §3.3)', () => {
  it('reads the V3 SYN-ACK record: session key, seq, ack, flags, window, WS and TS', () => {
    const r = new ResponseFields()
    expect(readResponse(V3, 24, r)).to.equal(true)
    expect(r.daddr).to.equal(0x0a000001)
    expect(r.dport).to.equal(40000)
    expect(r.saddr).to.equal(0x0a000102)
    expect(r.sport).to.equal(8080)
    expect(r.seq).to.equal(0x11223344)
    expect(r.ack).to.equal(0x01020305)
    expect(r.flags).to.equal(FLAG_SYN | FLAG_ACK)
    expect(r.window).to.equal(29200)
    expect(r.wscale).to.equal(7)
    expect(r.hasTs).to.equal(true)
    expect(r.tsVal).to.equal(0xabcd)
    expect(r.tsEcr).to.equal(0x1234)
    expect(r.payload).to.equal(0)
  })

  it('reads the payload length of V4 record 2 from tot_len (17)', () => {
    const r = new ResponseFields()
    expect(readResponse(V4_2, 24, r)).to.equal(true)
    expect(r.payload).to.equal(17)
    expect(r.flags).to.equal(FLAG_PSH | FLAG_ACK)
    expect(r.wscale).to.equal(-1)
    expect(r.hasTs).to.equal(false)
  })

  it('reads an 80-byte 0.9 record (the same 60 bytes, 20 more zeros)', () => {
    const rec = new Uint8Array(80)
    rec.set(V3.subarray(0, 60))
    const r = new ResponseFields()
    expect(readResponse(rec, 40, r)).to.equal(true)
    expect(r.seq).to.equal(0x11223344)
    expect(r.wscale).to.equal(7)
    expect(r.tsVal).to.equal(0xabcd)
  })

  it('refuses bytes that are not a record', () => {
    const r = new ResponseFields()
    const bad = Uint8Array.from(V3)
    bad[0] = 0x60
    expect(readResponse(bad, 24, r)).to.equal(false)
    const short = Uint8Array.from(V3)
    short[3] = 30 // tot_len 30 < 20 + 40
    expect(readResponse(short, 24, r)).to.equal(false)
  })
})

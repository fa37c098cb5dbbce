import { expect } from 'chai'
import fc from 'fast-check'
import { isTcpcopyError } from '@tcpcopy/interface'
import { concat, hex, toHex, V3_PACKET, V3_RECORD_09, V3_RECORD_1X, V4_DATA_PACKET, V4_PAYLOAD, V4_RECORD2_1X } from './fixtures.js'
import { decodeRecord, encodeRecord, optionsAreaLength, recordSize, TcpFlag, type RecordFormat } from './records.js'

const F1X: RecordFormat = { dialect: '1.x', payload: false }
const F09: RecordFormat = { dialect: '0.9', payload: false }
const F1X_P: RecordFormat = { dialect: '1.x', payload: true }
const F09_P: RecordFormat = { dialect: '0.9', payload: true }
const ALL = [F1X, F09, F1X_P, F09_P]

function code (expected: string): (err: unknown) => boolean {
  return (err) => isTcpcopyError(err, expected)
}

/** RFC 1071 sum of 16-bit words, folded */
function sum16 (bytes: Uint8Array, initial = 0): number {
  let sum = initial
  for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum
}

function checksumsHold (packet: Uint8Array): boolean {
  const ipLen = ((packet[0] as number) & 0x0f) * 4
  const tcp = packet.subarray(ipLen)
  const pseudo = concat(packet.subarray(12, 20), hex`00 06`, new Uint8Array([tcp.length >> 8, tcp.length & 0xff]))
  return sum16(packet.subarray(0, ipLen)) === 0xffff && sum16(tcp, sum16(pseudo)) === 0xffff
}

describe('record format', () => {
  it('gives 80 bytes for 0.9, 64 for 1.x and 128 more in payload builds', () => {
    expect(ALL.map(recordSize)).to.deep.equal([64, 80, 192, 208])
    expect(ALL.map(optionsAreaLength)).to.deep.equal([24, 40, 24, 40])
  })
})

describe('response record', () => {
  it('uses fixtures whose IP and TCP checksums hold (a typo check on V3 and V4)', () => {
    expect(checksumsHold(V3_PACKET)).to.equal(true)
    expect(checksumsHold(V4_DATA_PACKET)).to.equal(true)
  })

  it('encodes the V3 SYN-ACK to the 64-byte 1.x record and the 80-byte 0.9 record of the spec', () => {
    expect(toHex(encodeRecord(V3_PACKET, F1X))).to.equal(toHex(V3_RECORD_1X))
    expect(toHex(encodeRecord(V3_PACKET, F09))).to.equal(toHex(V3_RECORD_09))
  })

  it('decodes the V3 record into what tcpcopy uses', () => {
    for (const [record, format] of [[V3_RECORD_1X, F1X], [V3_RECORD_09, F09]] as const) {
      const r = decodeRecord(record, format)
      expect(r).to.deep.equal({
        ihl: 5,
        totLen: 60,
        id: 0,
        ttl: 64,
        saddr: 0x0a000102,
        daddr: 0x0a000001,
        sport: 8080,
        dport: 40000,
        seq: 0x11223344,
        ack: 0x01020305,
        doff: 10,
        flags: TcpFlag.Syn | TcpFlag.Ack,
        window: 29200,
        options: { mss: 1460, sackPermitted: true, tsVal: 0xabcd, tsEcr: 0x1234, windowScale: 7 },
        payloadLength: 0
      })
      // tcpcopy's next ACK number for the target: ISN + 1
      expect((r.seq + 1) >>> 0).to.equal(0x11223345)
    }
  })

  it('encodes and decodes V4 record 2, a data segment whose 17 payload bytes only count', () => {
    expect(toHex(encodeRecord(V4_DATA_PACKET, F1X))).to.equal(toHex(V4_RECORD2_1X))
    const r = decodeRecord(V4_RECORD2_1X, F1X)
    expect([r.totLen, r.id, r.doff, r.flags, r.window, r.seq, r.ack]).to.deep.equal([57, 0x1a2b, 5, TcpFlag.Psh | TcpFlag.Ack, 229, 0x11223345, 0x01020369])
    expect(r.payloadLength).to.equal(17)
    expect(r.payload).to.equal(undefined)
    expect(r.options).to.deep.equal({ sackPermitted: false })
    expect((r.seq + r.payloadLength) >>> 0).to.equal(0x11223356)
  })

  it('carries 1..128 payload bytes right after the TCP header in payload builds', () => {
    for (const format of [F1X_P, F09_P]) {
      const record = encodeRecord(V4_DATA_PACKET, format)
      expect(record.length).to.equal(recordSize(format))
      expect(toHex(record.subarray(0, 57))).to.equal(toHex(V4_DATA_PACKET))
      expect(record.subarray(57).every((b) => b === 0)).to.equal(true)
      const r = decodeRecord(record, format)
      expect(new TextDecoder().decode(r.payload)).to.equal('HTTP/1.1 200 OK\r\n')
      expect(toHex(r.payload ?? new Uint8Array(0))).to.equal(toHex(V4_PAYLOAD))
    }
    // a SYN-ACK has no payload to carry
    expect(decodeRecord(encodeRecord(V3_PACKET, F1X_P), F1X_P).payload).to.equal(undefined)
  })

  it('does not copy a payload longer than 128 bytes, but still counts it', () => {
    const big = buildPacket({ payload: new Uint8Array(129).fill(0x61) })
    const record = encodeRecord(big, F1X_P)
    expect(record.subarray(40).every((b) => b === 0)).to.equal(true)
    const r = decodeRecord(record, F1X_P)
    expect(r.payloadLength).to.equal(129)
    expect(r.payload).to.equal(undefined)
    const just = decodeRecord(encodeRecord(buildPacket({ payload: new Uint8Array(128).fill(0x62) }), F1X_P), F1X_P)
    expect(just.payload?.length).to.equal(128)
  })

  it('writes IHL 5 and takes the IP options out of tot_len when the response had IP options', () => {
    // V4 record 2 with 4 bytes of IP options (NOP NOP NOP EOL): IHL 6, tot_len 61
    const withOptions = concat(hex`46 00 00 3d`, V4_DATA_PACKET.subarray(4, 20), hex`01 01 01 00`, V4_DATA_PACKET.subarray(20))
    const record = encodeRecord(withOptions, F1X)
    expect(toHex(record.subarray(0, 4))).to.equal('45000039')
    expect(toHex(record.subarray(4, 64))).to.equal(toHex(V4_RECORD2_1X.subarray(4)))
    expect(decodeRecord(record, F1X).payloadLength).to.equal(17)
  })

  it('reads an original intercept record that kept IHL 6 with the TCP header at 20 and the right payload length', () => {
    const original = concat(hex`46 00 00 3d`, V4_RECORD2_1X.subarray(4))
    const r = decodeRecord(original, F1X)
    expect([r.ihl, r.sport, r.dport, r.seq, r.payloadLength]).to.deep.equal([6, 8080, 40000, 0x11223345, 17])
  })

  it('caps the TCP header at 20 + options area and reads only the options inside the record', () => {
    // doff 15: MSS, 33 NOPs, then WS in the last 3 of the 40 option bytes
    const options = concat(hex`02 04 05 b4`, new Uint8Array(33).fill(1), hex`03 03 07`)
    const packet = buildPacket({ options })
    const r1 = decodeRecord(encodeRecord(packet, F1X), F1X)
    expect(r1.doff).to.equal(15)
    expect(r1.options).to.deep.equal({ mss: 1460, sackPermitted: false })
    const r9 = decodeRecord(encodeRecord(packet, F09), F09)
    expect(r9.options).to.deep.equal({ mss: 1460, sackPermitted: false, windowScale: 7 })
    expect(toHex(encodeRecord(packet, F1X).subarray(20, 64))).to.equal(toHex(packet.subarray(20, 64)))
  })

  it('stops reading options at EOL and at a malformed option', () => {
    const eol = decodeRecord(encodeRecord(buildPacket({ options: hex`00 00 00 00 03 03 07 00` }), F09), F09)
    expect(eol.options).to.deep.equal({ sackPermitted: false })
    const zeroLen = decodeRecord(encodeRecord(buildPacket({ options: hex`04 02 08 00 03 03 07 00` }), F09), F09)
    expect(zeroLen.options).to.deep.equal({ sackPermitted: true })
  })

  it('encodes at an offset into a larger buffer and round-trips', () => {
    for (const format of ALL) {
      const size = recordSize(format)
      const big = new Uint8Array(size + 20).fill(0xee)
      expect(encodeRecord(V4_DATA_PACKET, format, big, 9)).to.equal(big)
      expect([big[8], big[9 + size]]).to.deep.equal([0xee, 0xee])
      const alone = encodeRecord(V4_DATA_PACKET, format)
      expect(toHex(big.subarray(9, 9 + size))).to.equal(toHex(alone))
      expect(decodeRecord(big, format, 9)).to.deep.equal(decodeRecord(alone, format))
      // a record is itself a packet (IHL 5, tot_len intact): encoding it again gives the same bytes
      expect(toHex(encodeRecord(alone.subarray(0, format.payload ? 57 : 40), format))).to.equal(toHex(alone))
    }
  })

  it('decodes whatever fields any valid packet carries', () => {
    fc.assert(fc.property(
      fc.record({
        seq: fc.integer({ min: 0, max: 0xffffffff }),
        ack: fc.integer({ min: 0, max: 0xffffffff }),
        window: fc.integer({ min: 0, max: 0xffff }),
        flags: fc.integer({ min: 0, max: 0xff }),
        payload: fc.uint8Array({ maxLength: 300 })
      }),
      fc.constantFrom(...ALL),
      ({ seq, ack, window, flags, payload }, format) => {
        const r = decodeRecord(encodeRecord(buildPacket({ seq, ack, window, flags, payload }), format), format)
        expect([r.seq, r.ack, r.window, r.flags, r.payloadLength]).to.deep.equal([seq, ack, window, flags, payload.length])
        if (format.payload && payload.length >= 1 && payload.length <= 128) expect(toHex(r.payload ?? hex``)).to.equal(toHex(payload))
        else expect(r.payload).to.equal(undefined)
      }))
  })

  it('refuses bytes that cannot be a record (TC_ERR_PROTO_RECORD) or are too few (TC_ERR_PROTO_TRUNCATED)', () => {
    expect(() => decodeRecord(new Uint8Array(64), F1X)).to.throw(/0x00/).that.satisfies(code('TC_ERR_PROTO_RECORD'))
    expect(() => decodeRecord(concat(hex`44`, V3_RECORD_1X.subarray(1)), F1X)).to.throw().that.satisfies(code('TC_ERR_PROTO_RECORD'))
    const badDoff = V3_RECORD_1X.slice()
    badDoff[32] = 0x40
    expect(() => decodeRecord(badDoff, F1X)).to.throw().that.satisfies(code('TC_ERR_PROTO_RECORD'))
    const shortTot = V3_RECORD_1X.slice()
    shortTot[3] = 0x3b
    expect(() => decodeRecord(shortTot, F1X)).to.throw(/tot_len 59/).that.satisfies(code('TC_ERR_PROTO_RECORD'))
    expect(() => decodeRecord(V3_RECORD_1X, F09)).to.throw().that.satisfies(code('TC_ERR_PROTO_TRUNCATED'))
  })

  it('refuses packets that are not whole IPv4 TCP headers (TC_ERR_PROTO_PACKET)', () => {
    const udp = V3_PACKET.slice()
    udp[9] = 17
    const cases = [V3_PACKET.subarray(0, 19), V3_PACKET.subarray(0, 59), udp, concat(hex`65`, V3_PACKET.subarray(1)),
      concat(hex`45 00 00 27`, V3_PACKET.subarray(4))]
    for (const packet of cases) {
      expect(() => encodeRecord(packet, F1X), toHex(packet.subarray(0, 4))).to.throw().that.satisfies(code('TC_ERR_PROTO_PACKET'))
    }
    // payload builds need the payload bytes tot_len promises
    expect(() => encodeRecord(V4_DATA_PACKET.subarray(0, 50), F1X_P)).to.throw().that.satisfies(code('TC_ERR_PROTO_PACKET'))
    expect(toHex(encodeRecord(V4_DATA_PACKET.subarray(0, 40), F1X))).to.equal(toHex(V4_RECORD2_1X))
  })
})

/** A response from 10.0.1.2:8080 to 10.0.0.1:40000; checksums left zero (nobody reads them). */
function buildPacket (opts: { seq?: number, ack?: number, window?: number, flags?: number, options?: Uint8Array, payload?: Uint8Array }): Uint8Array {
  const options = opts.options ?? new Uint8Array(0)
  const payload = opts.payload ?? new Uint8Array(0)
  const tcpLen = 20 + options.length
  const out = new Uint8Array(20 + tcpLen + payload.length)
  const view = new DataView(out.buffer)
  out.set(hex`45 00 00 00  00 00 40 00  40 06 00 00  0a 00 01 02  0a 00 00 01`)
  view.setUint16(2, out.length)
  view.setUint16(20, 8080)
  view.setUint16(22, 40000)
  view.setUint32(24, opts.seq ?? 1)
  view.setUint32(28, opts.ack ?? 2)
  out[32] = (tcpLen / 4) << 4
  out[33] = opts.flags ?? TcpFlag.Ack
  view.setUint16(34, opts.window ?? 1000)
  out.set(options, 40)
  out.set(payload, 20 + tcpLen)
  return out
}

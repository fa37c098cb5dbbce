import { expect } from 'chai'
import fc from 'fast-check'
import { isTcpcopyError } from '@tcpcopy/interface'
import { CLIENT_IP, CLIENT_PORT, TARGET_IP, TARGET_PORT, toHex, V1_HELLO_5, V1_HELLO_6, V1_HELLO_8005, V2_CLIENT_ADD, V2_HOST_ORDER_ADD, V2_LEGACY_ADD } from './fixtures.js'
import {
  clientMessage, helloMessage, hostOrderQuirkType, isHello, isKnownMessageType, legacyMessage, messageTypeName,
  MessageType, type ClientMessage, type FixedCodec, type LegacyMessage
} from './messages.js'

const ADD: ClientMessage = { clientIp: CLIENT_IP, clientPort: CLIENT_PORT, type: MessageType.ClientAdd, targetIp: TARGET_IP, targetPort: TARGET_PORT }

function code (expected: string): (err: unknown) => boolean {
  return (err) => isTcpcopyError(err, expected)
}

/** encode → decode → encode, encodingLength, and encoding at an offset into a larger buffer */
function roundTrip<T> (codec: FixedCodec<T>, msg: T): void {
  const bytes = codec.encode(msg)
  expect(bytes.length).to.equal(codec.encodingLength(msg)).and.equal(codec.size)
  const decoded = codec.decode(bytes)
  expect(decoded).to.deep.equal(msg)
  expect(toHex(codec.encode(decoded))).to.equal(toHex(bytes))
  const big = new Uint8Array(codec.size + 13).fill(0xee)
  expect(codec.encode(msg, big, 7)).to.equal(big)
  expect(toHex(big.subarray(7, 7 + codec.size))).to.equal(toHex(bytes))
  expect(big[6]).to.equal(0xee)
  expect(big[7 + codec.size]).to.equal(0xee)
  expect(codec.decode(big, 7)).to.deep.equal(msg)
}

describe('client messages', () => {
  it('encodes V2 CLIENT_ADD to the 14 bytes of the spec and decodes them back', () => {
    expect(toHex(clientMessage.encode(ADD))).to.equal(toHex(V2_CLIENT_ADD))
    expect(clientMessage.decode(V2_CLIENT_ADD)).to.deep.equal(ADD)
  })

  it('encodes the old 8-byte form as the first 8 bytes of V2', () => {
    const legacy: LegacyMessage = { clientIp: CLIENT_IP, clientPort: CLIENT_PORT, type: MessageType.ClientAdd }
    expect(toHex(legacyMessage.encode(legacy))).to.equal(toHex(V2_LEGACY_ADD))
    expect(toHex(V2_CLIENT_ADD.subarray(0, 8))).to.equal(toHex(V2_LEGACY_ADD))
    expect(legacyMessage.decode(V2_LEGACY_ADD)).to.deep.equal(legacy)
  })

  it('decodes the ≤0.6 host-order CLIENT_ADD as unknown type 256 and recognises the quirk', () => {
    const msg = legacyMessage.decode(V2_HOST_ORDER_ADD)
    expect(msg.type).to.equal(256)
    expect(isKnownMessageType(msg.type)).to.equal(false)
    expect(messageTypeName(msg.type)).to.equal('unknown msg type 256')
    expect(hostOrderQuirkType(msg.type)).to.equal(MessageType.ClientAdd)
    expect(hostOrderQuirkType(512)).to.equal(MessageType.ClientDel)
    expect(hostOrderQuirkType(1)).to.equal(undefined)
    expect(hostOrderQuirkType(257)).to.equal(undefined)
  })

  it('keeps unknown types as their number', () => {
    const bytes = clientMessage.encode({ ...ADD, type: 0xbeef })
    expect(clientMessage.decode(bytes).type).to.equal(0xbeef)
    expect(messageTypeName(MessageType.ClientAdd)).to.equal('CLIENT_ADD')
    expect(messageTypeName(MessageType.ClientDel)).to.equal('CLIENT_DEL')
  })

  it('round-trips 14-byte and 8-byte messages, also at an offset', () => {
    roundTrip(clientMessage, ADD)
    roundTrip(legacyMessage, { clientIp: 0xffffffff, clientPort: 65535, type: 2 })
    fc.assert(fc.property(
      fc.record({
        clientIp: fc.integer({ min: 0, max: 0xffffffff }),
        clientPort: fc.integer({ min: 0, max: 0xffff }),
        type: fc.integer({ min: 0, max: 0xffff }),
        targetIp: fc.integer({ min: 0, max: 0xffffffff }),
        targetPort: fc.integer({ min: 0, max: 0xffff })
      }),
      (msg) => { roundTrip(clientMessage, msg) }))
  })

  it('refuses out-of-range fields with TC_ERR_PROTO_FIELD', () => {
    expect(() => clientMessage.encode({ ...ADD, clientPort: 65536 })).to.throw().that.satisfies(code('TC_ERR_PROTO_FIELD'))
    expect(() => clientMessage.encode({ ...ADD, targetIp: -1 })).to.throw().that.satisfies(code('TC_ERR_PROTO_FIELD'))
    expect(() => legacyMessage.encode({ clientIp: 1, clientPort: 1, type: 1.5 })).to.throw().that.satisfies(code('TC_ERR_PROTO_FIELD'))
  })

  it('refuses a buffer that is too small (TC_ERR_PROTO_BUFFER) and a truncated decode (TC_ERR_PROTO_TRUNCATED)', () => {
    expect(() => clientMessage.encode(ADD, new Uint8Array(20), 7)).to.throw().that.satisfies(code('TC_ERR_PROTO_BUFFER'))
    expect(() => clientMessage.encode(ADD, undefined, 3)).to.throw().that.satisfies(code('TC_ERR_PROTO_BUFFER'))
    expect(() => clientMessage.decode(V2_CLIENT_ADD.subarray(0, 13))).to.throw().that.satisfies(code('TC_ERR_PROTO_TRUNCATED'))
    expect(() => clientMessage.decode(V2_CLIENT_ADD, 1)).to.throw().that.satisfies(code('TC_ERR_PROTO_TRUNCATED'))
    expect(() => legacyMessage.decode(V2_LEGACY_ADD, -1)).to.throw().that.satisfies(code('TC_ERR_PROTO_TRUNCATED'))
  })
})

describe('hello', () => {
  it('encodes V1 for versions 6, 5 and 0x8005 and decodes them back', () => {
    expect(toHex(helloMessage.encode({ version: 6 }))).to.equal(toHex(V1_HELLO_6))
    expect(toHex(helloMessage.encode({ version: 5 }))).to.equal(toHex(V1_HELLO_5))
    expect(toHex(helloMessage.encode({ version: 32773 }))).to.equal(toHex(V1_HELLO_8005))
    expect(helloMessage.decode(V1_HELLO_6)).to.deep.equal({ version: 6 })
    expect(helloMessage.decode(V1_HELLO_5)).to.deep.equal({ version: 5 })
    expect(helloMessage.decode(V1_HELLO_8005)).to.deep.equal({ version: 0x8005 })
  })

  it('is a 14-byte message with zero addresses and the version as type', () => {
    expect(clientMessage.decode(V1_HELLO_6)).to.deep.equal({ clientIp: 0, clientPort: 0, type: 6, targetIp: 0, targetPort: 0 })
    expect(isHello(V1_HELLO_6)).to.equal(true)
    expect(isHello(V2_CLIENT_ADD)).to.equal(false)
  })

  it('round-trips, also at an offset, and clears the bytes it owns', () => {
    roundTrip(helloMessage, { version: 6 })
    const dirty = new Uint8Array(14).fill(0xff)
    expect(toHex(helloMessage.encode({ version: 5 }, dirty))).to.equal(toHex(V1_HELLO_5))
  })

  it('refuses to decode a message with an address as a hello (TC_ERR_PROTO_NOT_HELLO)', () => {
    expect(() => helloMessage.decode(V2_CLIENT_ADD)).to.throw(/clt_port 40000/).that.satisfies(code('TC_ERR_PROTO_NOT_HELLO'))
  })
})

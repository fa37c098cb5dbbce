import { expect } from 'chai'
import fc from 'fast-check'
import { isTcpcopyError } from '@tcpcopy/interface'
import { concat, hex, split, V1_HELLO_5, V1_HELLO_6, V1_HELLO_8005, V2_CLIENT_ADD, V2_HOST_ORDER_ADD, V2_LEGACY_ADD } from './fixtures.js'
import { clientMessage, helloMessage, legacyMessage, MessageType } from './messages.js'
import { ServerSideDecoder, type ServerSideDecoderOptions, type ServerSideEvent } from './server-decoder.js'

function code (expected: string): (err: unknown) => boolean {
  return (err) => isTcpcopyError(err, expected)
}

const DEL = clientMessage.encode({ clientIp: 0x0a000001, clientPort: 40001, type: MessageType.ClientDel, targetIp: 0x0a000102, targetPort: 8080 })
const UNKNOWN = clientMessage.encode({ clientIp: 0xc0a80001, clientPort: 1, type: 0xbeef, targetIp: 0, targetPort: 0 })
/** A hello, then CLIENT_ADD (V2), CLIENT_DEL, an unknown type, and a second hello-shaped message */
const STREAM = concat(V1_HELLO_6, V2_CLIENT_ADD, DEL, UNKNOWN, V1_HELLO_5)
const STREAM_EVENTS: ServerSideEvent[] = [
  { kind: 'hello', version: 6, dialect: '1.x' },
  { kind: 'message', clientIp: 0x0a000001, clientPort: 40000, type: 1, targetIp: 0x0a000102, targetPort: 8080 },
  { kind: 'message', clientIp: 0x0a000001, clientPort: 40001, type: 2, targetIp: 0x0a000102, targetPort: 8080 },
  { kind: 'message', clientIp: 0xc0a80001, clientPort: 1, type: 0xbeef, targetIp: 0, targetPort: 0 },
  // after the first 8 bytes, any 14 bytes are a message, as in the original
  { kind: 'message', clientIp: 0, clientPort: 0, type: 5, targetIp: 0, targetPort: 0 }
]

const LEGACY_DEL = legacyMessage.encode({ clientIp: 0x0a000001, clientPort: 40001, type: MessageType.ClientDel })
const LEGACY_STREAM = concat(V2_LEGACY_ADD, LEGACY_DEL, V2_LEGACY_ADD)

/** Feeds the chunks to a new decoder; returns its events and the error, if any. */
function run (chunks: Uint8Array[], options?: ServerSideDecoderOptions): { events: ServerSideEvent[], error: unknown } {
  const decoder = new ServerSideDecoder(options)
  const events: ServerSideEvent[] = []
  try {
    for (const chunk of chunks) {
      decoder.push(chunk, events)
      expect(decoder.buffered).to.be.below(14)
    }
    decoder.end()
  } catch (error) {
    return { events, error }
  }
  return { events, error: undefined }
}

describe('ServerSideDecoder', () => {
  it('decodes a hello and then 14-byte messages, keeping unknown types', () => {
    const decoder = new ServerSideDecoder()
    expect(decoder.mode).to.equal('start')
    expect(decoder.push(STREAM)).to.deep.equal(STREAM_EVENTS)
    expect(decoder.mode).to.equal('hello')
    expect(decoder.buffered).to.equal(0)
  })

  it('gives the same events for the stream split at every byte offset, and byte by byte', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      expect(run(split(STREAM, [cut])), `cut at ${cut}`).to.deep.equal({ events: STREAM_EVENTS, error: undefined })
    }
    const bytes = Array.from(STREAM, (_, i) => STREAM.subarray(i, i + 1))
    expect(run(bytes)).to.deep.equal({ events: STREAM_EVENTS, error: undefined })
  })

  it('gives the same events for any random chunking', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 20 }), (cuts) => {
      expect(run(split(STREAM, cuts))).to.deep.equal({ events: STREAM_EVENTS, error: undefined })
    }))
  })

  it('maps the 0.9 versions to the 0.9 dialect without a warning', () => {
    expect(new ServerSideDecoder().push(V1_HELLO_5)).to.deep.equal([{ kind: 'hello', version: 5, dialect: '0.9' }])
    expect(new ServerSideDecoder().push(V1_HELLO_8005)).to.deep.equal([{ kind: 'hello', version: 0x8005, dialect: '0.9' }])
  })

  it('maps the hellos of tcpcopy 0.9.2 – 0.9.7 (3, 4, 0x8003, 0x8004) to the 0.9 dialect without a warning', () => {
    for (const version of [3, 4, 0x8003, 0x8004]) {
      const events = new ServerSideDecoder().push(concat(helloMessage.encode({ version }), V2_CLIENT_ADD))
      expect(events[0], String(version)).to.deep.equal({ kind: 'hello', version, dialect: '0.9' })
      expect(events[1]).to.include({ kind: 'message', type: 1 })
    }
  })

  it('only warns about an unknown hello version and keeps decoding', () => {
    const events = new ServerSideDecoder().push(concat(helloMessage.encode({ version: 7 }), V2_CLIENT_ADD))
    expect(events[0]).to.deep.equal({
      kind: 'hello', version: 7, dialect: undefined, warning: 'hello announced version 7; this peer speaks 3, 4, 5 (0.9; also with the advanced bit: 0x8003, 0x8004, 0x8005) and 6 (1.x)'
    })
    expect(events[1]).to.include({ kind: 'message', type: 1 })
    const own = new ServerSideDecoder({ knownVersions: [6] }).push(V1_HELLO_5)
    expect(own[0]).to.include({ version: 5, dialect: '0.9', warning: 'hello announced version 5; this peer speaks 6' })
  })

  it('accepts an old client by default: a legacy event, then 8-byte messages from the first byte on', () => {
    const expected: ServerSideEvent[] = [
      { kind: 'legacy', hostOrderQuirk: false, warning: 'the first 8 bytes are not a hello (clt_ip 10.0.0.1, clt_port 40000, type 1): an old (0.7.0 – 0.9.1) tcpcopy; using 8-byte messages on this connection' },
      { kind: 'legacy-message', clientIp: 0x0a000001, clientPort: 40000, type: 1 },
      { kind: 'legacy-message', clientIp: 0x0a000001, clientPort: 40001, type: 2 },
      { kind: 'legacy-message', clientIp: 0x0a000001, clientPort: 40000, type: 1 }
    ]
    for (let cut = 0; cut <= LEGACY_STREAM.length; cut++) {
      expect(run(split(LEGACY_STREAM, [cut])), `cut at ${cut}`).to.deep.equal({ events: expected, error: undefined })
    }
    const decoder = new ServerSideDecoder()
    decoder.push(LEGACY_STREAM.subarray(0, 8))
    expect(decoder.mode).to.equal('legacy')
  })

  it('flags a ≤0.6 client by its host-order type', () => {
    const events = new ServerSideDecoder().push(V2_HOST_ORDER_ADD)
    expect(events[0]).to.include({ kind: 'legacy', hostOrderQuirk: true })
    expect(events[1]).to.deep.equal({ kind: 'legacy-message', clientIp: 0x0a000001, clientPort: 40000, type: 256 })
  })

  it('rejects an old client with TC_ERR_PROTO_LEGACY when rejectLegacy is set, wherever the stream is split', () => {
    for (let cut = 0; cut <= LEGACY_STREAM.length; cut++) {
      const { events, error } = run(split(LEGACY_STREAM, [cut]), { rejectLegacy: true })
      expect(events).to.deep.equal([])
      expect(error).to.satisfy(code('TC_ERR_PROTO_LEGACY'))
    }
    // a client that says hello is unaffected
    expect(run([STREAM], { rejectLegacy: true })).to.deep.equal({ events: STREAM_EVENTS, error: undefined })
  })

  it('keeps throwing the same error after a rejection', () => {
    const decoder = new ServerSideDecoder({ rejectLegacy: true })
    let first: unknown
    try { decoder.push(V2_CLIENT_ADD) } catch (err) { first = err }
    expect(first).to.satisfy(code('TC_ERR_PROTO_LEGACY'))
    expect(() => decoder.push(V1_HELLO_6)).to.throw().that.equals(first)
    expect(decoder.error).to.equal(first)
    expect(decoder.buffered).to.equal(0)
  })

  it('stops a run of unknown types only when maxUnknownTypes is set (TC_ERR_PROTO_GARBAGE)', () => {
    // an HTTP client on the intercept port; 48 bytes, six 8-byte "messages"
    const http = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: intercept:36524\r\nAccept: */*\r\n\r\n').subarray(0, 48)
    const lenient = run([http])
    expect(lenient.error).to.equal(undefined)
    expect(lenient.events[0]).to.include({ kind: 'legacy' })
    const strict = run([http], { maxUnknownTypes: 2 })
    expect(strict.error).to.satisfy(code('TC_ERR_PROTO_GARBAGE'))
    expect(strict.events.filter((e) => e.kind === 'legacy-message')).to.have.length(2)
    // a known type resets the run
    const mixed = concat(V1_HELLO_6, UNKNOWN, UNKNOWN, V2_CLIENT_ADD, UNKNOWN, UNKNOWN)
    expect(run([mixed], { maxUnknownTypes: 2 }).error).to.equal(undefined)
    expect(run([concat(mixed, UNKNOWN)], { maxUnknownTypes: 2 }).error).to.satisfy(code('TC_ERR_PROTO_GARBAGE'))
  })

  it('leaves the events before bad bytes in the array it was given', () => {
    const decoder = new ServerSideDecoder({ maxUnknownTypes: 0 })
    const out: ServerSideEvent[] = []
    expect(() => decoder.push(concat(V1_HELLO_6, V2_CLIENT_ADD, UNKNOWN, V2_CLIENT_ADD), out)).to.throw().that.satisfies(code('TC_ERR_PROTO_GARBAGE'))
    expect(out.map((e) => e.kind)).to.deep.equal(['hello', 'message'])
  })

  it('never rejects a CLIENT_ADD from a real tcpcopy, even with the strictest options', () => {
    fc.assert(fc.property(
      fc.array(fc.record({
        clientIp: fc.integer({ min: 0, max: 0xffffffff }),
        clientPort: fc.integer({ min: 0, max: 0xffff }),
        type: fc.constant(MessageType.ClientAdd),
        targetIp: fc.integer({ min: 0, max: 0xffffffff }),
        targetPort: fc.integer({ min: 0, max: 0xffff })
      }), { minLength: 1, maxLength: 10 }),
      fc.constantFrom(5, 0x8005, 6),
      (messages, version) => {
        const stream = concat(helloMessage.encode({ version }), ...messages.map((m) => clientMessage.encode(m)))
        const { events, error } = run([stream], { rejectLegacy: true, maxUnknownTypes: 0 })
        expect(error).to.equal(undefined)
        expect(events.slice(1)).to.deep.equal(messages.map((m) => ({ kind: 'message', ...m })))
      }))
  })

  it('reports a stream that ends inside a hello or a message as TC_ERR_PROTO_TRUNCATED', () => {
    for (const end of [3, 8, 10, 14 + 5]) {
      const { error } = run([STREAM.subarray(0, end)])
      expect(error, `end at ${end}`).to.satisfy(code('TC_ERR_PROTO_TRUNCATED'))
    }
    expect(run([STREAM.subarray(0, 28)]).error).to.equal(undefined)
    expect(run([]).error).to.equal(undefined)
  })

  it('holds at most one unfinished message after 1 MiB in one chunk', () => {
    const count = Math.ceil((1 << 20) / 14)
    const stream = new Uint8Array(14 + count * 14 + 13)
    helloMessage.encode({ version: 6 }, stream, 0)
    for (let i = 0; i < count; i++) clientMessage.encode({ clientIp: i, clientPort: i & 0xffff, type: 1, targetIp: 1, targetPort: 80 }, stream, 14 + i * 14)
    const decoder = new ServerSideDecoder()
    const events = decoder.push(stream)
    expect(events).to.have.length(1 + count)
    expect(events[count]).to.include({ clientIp: count - 1 })
    expect(decoder.buffered).to.equal(13)
    expect(decoder.push(hex`00`)).to.have.length(1)
    expect(decoder.buffered).to.equal(0)
  })
})

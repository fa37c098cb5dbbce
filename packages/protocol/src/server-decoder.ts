// What intercept runs per accepted connection (PROTOCOL.md §2.2): the first
// 8 bytes decide between a hello (then 14-byte messages) and an old client
// (8-byte messages from the first byte on).
import { ProtocolError } from '@tcpcopy/interface'
import { readU16, readU32 } from './bytes.js'
import { dialectForVersion, KNOWN_HELLO_VERSIONS, versionWarning, type Dialect } from './dialect.js'
import { ipv4ToString } from './ipv4.js'
import { hostOrderQuirkType, isKnownMessageType, LEGACY_MESSAGE_SIZE, MESSAGE_SIZE, type ClientMessage, type LegacyMessage } from './messages.js'
import { Reassembler } from './reassembler.js'

export interface ServerSideDecoderOptions {
  /**
   * Refuse a connection whose first 8 bytes are not a hello, as intercept 1.x
   * does (TC_ERR_PROTO_LEGACY). Default false: accept it and switch to
   * 8-byte messages, as intercept 0.9 does.
   */
  rejectLegacy?: boolean
  /** Versions that raise no warning. Default KNOWN_HELLO_VERSIONS: 3, 4, 5, 0x8003, 0x8004, 0x8005 and 6. */
  knownVersions?: readonly number[]
  /**
   * Unknown message types in a row tolerated before TC_ERR_PROTO_GARBAGE.
   * Default Infinity: the originals log each one and keep the connection.
   * A small number (say 16) cuts off a port scanner or an HTTP client that
   * connected to the intercept port; no real tcpcopy sends unknown types.
   */
  maxUnknownTypes?: number
}

/** The connection opened with a hello; 14-byte messages follow. */
export interface HelloEvent {
  kind: 'hello'
  version: number
  /** The dialect the version implies, or undefined for an unknown version. */
  dialect: Dialect | undefined
  /** Set when the version is not a known one; log it as a warning (the originals do) and go on. */
  warning?: string
}

/** The connection opened without a hello: an old (0.7.0 – 0.9.1) client with 8-byte messages. */
export interface LegacyEvent {
  kind: 'legacy'
  /** A warning to log, as 0.9 does. */
  warning: string
  /** The first type looks like a ≤0.6 client's host-order type (see hostOrderQuirkType). */
  hostOrderQuirk: boolean
}

/** A 14-byte message. */
export interface ClientMessageEvent extends ClientMessage {
  kind: 'message'
}

/** An 8-byte message of an old client. */
export interface LegacyMessageEvent extends LegacyMessage {
  kind: 'legacy-message'
}

export type ServerSideEvent = HelloEvent | LegacyEvent | ClientMessageEvent | LegacyMessageEvent

const HEAD = 0 //       the first 8 bytes of the connection
const HELLO_TAIL = 1 // the 6 bytes that end the hello
const MESSAGES = 2 //   14-byte messages
const LEGACY = 3 //     8-byte messages

const HELLO_TAIL_SIZE = MESSAGE_SIZE - LEGACY_MESSAGE_SIZE
const NO_EVENTS: ServerSideEvent[] = [] // stands in between pushes; never written

/**
 * Decodes the client → intercept stream of one connection, split at any byte
 * boundary. It never waits for more bytes than the next message needs and
 * carries over less than one message (`buffered` ≤ 13).
 *
 * Any 14 bytes are a message, as in the original; only the options can make
 * it stricter. After a ProtocolError every push throws the same error.
 */
export class ServerSideDecoder extends Reassembler {
  readonly #rejectLegacy: boolean
  readonly #knownVersions: readonly number[]
  readonly #maxUnknown: number
  #state = HEAD
  #version = 0
  #unknownRun = 0
  #out: ServerSideEvent[] = NO_EVENTS

  constructor (options: ServerSideDecoderOptions = {}) {
    super(MESSAGE_SIZE)
    this.#rejectLegacy = options.rejectLegacy ?? false
    this.#knownVersions = options.knownVersions ?? KNOWN_HELLO_VERSIONS
    this.#maxUnknown = options.maxUnknownTypes ?? Infinity
  }

  /** 'start' until the first 8 bytes arrived, then 'hello' (14-byte messages) or 'legacy' (8-byte). */
  get mode (): 'start' | 'hello' | 'legacy' {
    if (this.#state === HEAD) return 'start'
    return this.#state === LEGACY ? 'legacy' : 'hello'
  }

  /**
   * Decodes `chunk` and appends the events it completes to `out` (a new array
   * by default), which it returns. When it throws, `out` still holds the
   * events decoded before the bad bytes.
   */
  push (chunk: Uint8Array, out: ServerSideEvent[] = []): ServerSideEvent[] {
    this.#out = out
    try {
      this.feed(chunk)
    } finally {
      this.#out = NO_EVENTS
    }
    return out
  }

  protected need (): number {
    switch (this.#state) {
      case MESSAGES: return MESSAGE_SIZE
      case HELLO_TAIL: return HELLO_TAIL_SIZE
      default: return LEGACY_MESSAGE_SIZE
    }
  }

  protected override midUnit (): boolean {
    return super.midUnit() || this.#state === HELLO_TAIL
  }

  protected unitName (): string {
    return this.#state === HELLO_TAIL ? 'hello' : this.#state === LEGACY ? 'legacy message' : 'message'
  }

  protected unit (buf: Uint8Array, off: number): void {
    switch (this.#state) {
      case MESSAGES: {
        const type = readU16(buf, off + 6)
        this.#countType(type)
        this.#out.push({
          kind: 'message',
          clientIp: readU32(buf, off),
          clientPort: readU16(buf, off + 4),
          type,
          targetIp: readU32(buf, off + 8),
          targetPort: readU16(buf, off + 12)
        })
        return
      }
      case LEGACY:
        this.#legacyMessage(buf, off)
        return
      case HELLO_TAIL: {
        // the original reads these 6 bytes and discards them
        this.#state = MESSAGES
        const version = this.#version
        const event: HelloEvent = { kind: 'hello', version, dialect: dialectForVersion(version) }
        const warning = versionWarning(version, this.#knownVersions)
        if (warning !== undefined) event.warning = warning
        this.#out.push(event)
        return
      }
      default:
        this.#head(buf, off)
    }
  }

  #head (buf: Uint8Array, off: number): void {
    const clientIp = readU32(buf, off)
    const clientPort = readU16(buf, off + 4)
    if (clientIp === 0 && clientPort === 0) {
      this.#version = readU16(buf, off + 6)
      this.#state = HELLO_TAIL
      return
    }
    const type = readU16(buf, off + 6)
    const what = `the first 8 bytes are not a hello (clt_ip ${ipv4ToString(clientIp)}, clt_port ${clientPort}, type ${type})`
    if (this.#rejectLegacy) {
      throw new ProtocolError(
        `${what}: an old (before 0.9.2) tcpcopy or not tcpcopy at all; this intercept accepts only clients that send a hello, as 1.x does`,
        'TC_ERR_PROTO_LEGACY')
    }
    this.#state = LEGACY
    const hostOrderQuirk = hostOrderQuirkType(type) !== undefined
    this.#out.push({
      kind: 'legacy',
      warning: hostOrderQuirk
        ? `${what}: a 0.6 or older tcpcopy (host-order type); it also uses 40-byte records and will not work`
        : `${what}: an old (0.7.0 – 0.9.1) tcpcopy; using 8-byte messages on this connection`,
      hostOrderQuirk
    })
    this.#legacyMessage(buf, off)
  }

  #legacyMessage (buf: Uint8Array, off: number): void {
    const type = readU16(buf, off + 6)
    this.#countType(type)
    this.#out.push({ kind: 'legacy-message', clientIp: readU32(buf, off), clientPort: readU16(buf, off + 4), type })
  }

  #countType (type: number): void {
    if (isKnownMessageType(type)) {
      this.#unknownRun = 0
      return
    }
    if (++this.#unknownRun > this.#maxUnknown) {
      throw new ProtocolError(
        `${this.#unknownRun} messages in a row had an unknown type (last ${type}), more than the ${this.#maxUnknown} allowed: the peer is not speaking the tcpcopy protocol`,
        'TC_ERR_PROTO_GARBAGE')
    }
  }
}

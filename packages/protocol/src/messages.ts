// Client → intercept messages (PROTOCOL.md §2): the 14-byte message, the old
// 8-byte form and the hello. All fields on the wire are network order.
import { ProtocolError } from '@tcpcopy/interface'
import { checkAvailable, checkU16, checkU32, readU16, readU32, target, writeU16, writeU32 } from './bytes.js'

/** Bytes of a client message since 0.9.2 (T0, T1, I1). */
export const MESSAGE_SIZE = 14
/** Bytes of the old client message (0.7.0 – 0.9.1, and ≤0.6 with a host-order type). */
export const LEGACY_MESSAGE_SIZE = 8
/** Bytes of the hello; it is a 14-byte message with zero addresses. */
export const HELLO_SIZE = 14

/** The message types the originals define. Any other u16 can arrive and is kept as a number. */
export enum MessageType {
  /** Add or refresh the route of a session. */
  ClientAdd = 1,
  /** Delete a route; only ≤0.7 sends it, T0 and I1 ignore it. */
  ClientDel = 2,
}

/** A 14-byte client → intercept message. Addresses are u32 host order (see ipv4.ts). */
export interface ClientMessage {
  clientIp: number
  clientPort: number
  /** A MessageType, or any other u16 (the original logs "unknown msg type" and keeps going). */
  type: number
  targetIp: number
  targetPort: number
}

/** An 8-byte message of a pre-0.9.2 client: no target. */
export interface LegacyMessage {
  clientIp: number
  clientPort: number
  type: number
}

/** The hello (version) message every connection starts with (§2.2). */
export interface Hello {
  version: number
}

/** A fixed-size codec in the style of dns-packet. */
export interface FixedCodec<T> {
  /** Bytes of every encoding. */
  readonly size: number
  /** Writes `msg` at `offset` of `buf` (a new buffer when none is given) and returns the buffer. */
  encode: (msg: T, buf?: Uint8Array, offset?: number) => Uint8Array
  /** Reads one message at `offset`. Throws TC_ERR_PROTO_TRUNCATED when the bytes are not all there. */
  decode: (buf: Uint8Array, offset?: number) => T
  /** Bytes `msg` encodes to; always `size`. */
  encodingLength: (msg?: T) => number
}

function checkHead (msg: LegacyMessage): void {
  checkU32(msg.clientIp, 'clientIp')
  checkU16(msg.clientPort, 'clientPort')
  checkU16(msg.type, 'type')
}

/** The 14-byte message: {clt_ip, clt_port, type, target_ip, target_port}. */
export const clientMessage: FixedCodec<ClientMessage> = {
  size: MESSAGE_SIZE,
  encode (msg, buf, offset = 0) {
    checkHead(msg)
    checkU32(msg.targetIp, 'targetIp')
    checkU16(msg.targetPort, 'targetPort')
    const out = target(buf, offset, MESSAGE_SIZE, 'client message')
    writeU32(out, offset, msg.clientIp)
    writeU16(out, offset + 4, msg.clientPort)
    writeU16(out, offset + 6, msg.type)
    writeU32(out, offset + 8, msg.targetIp)
    writeU16(out, offset + 12, msg.targetPort)
    return out
  },
  decode (buf, offset = 0) {
    checkAvailable(buf, offset, MESSAGE_SIZE, 'client message')
    return {
      clientIp: readU32(buf, offset),
      clientPort: readU16(buf, offset + 4),
      type: readU16(buf, offset + 6),
      targetIp: readU32(buf, offset + 8),
      targetPort: readU16(buf, offset + 12)
    }
  },
  encodingLength: () => MESSAGE_SIZE
}

/** The old 8-byte message: {clt_ip, clt_port, type}, type in network order (0.7.0 and later). */
export const legacyMessage: FixedCodec<LegacyMessage> = {
  size: LEGACY_MESSAGE_SIZE,
  encode (msg, buf, offset = 0) {
    checkHead(msg)
    const out = target(buf, offset, LEGACY_MESSAGE_SIZE, 'legacy client message')
    writeU32(out, offset, msg.clientIp)
    writeU16(out, offset + 4, msg.clientPort)
    writeU16(out, offset + 6, msg.type)
    return out
  },
  decode (buf, offset = 0) {
    checkAvailable(buf, offset, LEGACY_MESSAGE_SIZE, 'legacy client message')
    return {
      clientIp: readU32(buf, offset),
      clientPort: readU16(buf, offset + 4),
      type: readU16(buf, offset + 6)
    }
  },
  encodingLength: () => LEGACY_MESSAGE_SIZE
}

/**
 * True when the 8 bytes at `offset` start a hello: clt_ip == 0 and clt_port == 0.
 * This is exactly the test intercept applies to the first 8 bytes of a connection.
 */
export function isHello (buf: Uint8Array, offset = 0): boolean {
  checkAvailable(buf, offset, LEGACY_MESSAGE_SIZE, 'message head')
  for (let i = offset; i < offset + 6; i++) if (buf[i] !== 0) return false
  return true
}

/**
 * The hello: 14 bytes, zero except `type` = version. Decoding reads the
 * version and, like intercept, ignores the last 6 bytes; it throws
 * TC_ERR_PROTO_NOT_HELLO when clt_ip or clt_port is not zero.
 */
export const helloMessage: FixedCodec<Hello> = {
  size: HELLO_SIZE,
  encode (msg, buf, offset = 0) {
    checkU16(msg.version, 'version')
    const out = target(buf, offset, HELLO_SIZE, 'hello')
    out.fill(0, offset, offset + HELLO_SIZE)
    writeU16(out, offset + 6, msg.version)
    return out
  },
  decode (buf, offset = 0) {
    checkAvailable(buf, offset, HELLO_SIZE, 'hello')
    if (!isHello(buf, offset)) {
      throw new ProtocolError(
        `a hello has clt_ip 0 and clt_port 0, got clt_ip 0x${readU32(buf, offset).toString(16)} and clt_port ${readU16(buf, offset + 4)}`,
        'TC_ERR_PROTO_NOT_HELLO')
    }
    return { version: readU16(buf, offset + 6) }
  },
  encodingLength: () => HELLO_SIZE
}

/** 'CLIENT_ADD', 'CLIENT_DEL' or 'unknown msg type 256', for logs. */
export function messageTypeName (type: number): string {
  switch (type) {
    case MessageType.ClientAdd: return 'CLIENT_ADD'
    case MessageType.ClientDel: return 'CLIENT_DEL'
    default: return `unknown msg type ${type}`
  }
}

/** True for CLIENT_ADD and CLIENT_DEL. */
export function isKnownMessageType (type: number): boolean {
  return type === MessageType.ClientAdd || type === MessageType.ClientDel
}

/**
 * Recognises the ≤0.6 host-order quirk (PROTOCOL.md §2.4). Those clients
 * wrote `type` in host order, so on x86 CLIENT_ADD arrives as the bytes
 * `01 00` and decodes (network order, as T0 reads it) to 256, CLIENT_DEL to
 * 512. The decoders keep such a type as the unknown number 256 or 512, which
 * is what T0 did; this helper returns the type the sender meant (1 or 2), or
 * undefined for any other value. A ≤0.6 client also has 40-byte records and no
 * hello, so it cannot work with 0.9 or 1.x anyway; use this for a precise log line.
 */
export function hostOrderQuirkType (type: number): MessageType | undefined {
  if (type === MessageType.ClientAdd << 8) return MessageType.ClientAdd
  if (type === MessageType.ClientDel << 8) return MessageType.ClientDel
  return undefined
}

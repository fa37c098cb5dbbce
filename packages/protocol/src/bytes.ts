// Byte helpers shared by the codecs. Every multi-byte field on the control
// channel is in network (big-endian) order. Not part of the public surface.
import { ProtocolError } from '@tcpcopy/interface'

export function readU16 (buf: Uint8Array, off: number): number {
  return ((buf[off] as number) << 8) | (buf[off + 1] as number)
}

export function readU32 (buf: Uint8Array, off: number): number {
  return (((buf[off] as number) << 24) | ((buf[off + 1] as number) << 16) |
    ((buf[off + 2] as number) << 8) | (buf[off + 3] as number)) >>> 0
}

export function writeU16 (buf: Uint8Array, off: number, value: number): void {
  buf[off] = value >>> 8
  buf[off + 1] = value
}

export function writeU32 (buf: Uint8Array, off: number, value: number): void {
  buf[off] = value >>> 24
  buf[off + 1] = value >>> 16
  buf[off + 2] = value >>> 8
  buf[off + 3] = value
}

/** Returns `buf`, or a new zeroed buffer of `length` bytes; checks `length` bytes fit at `offset`. */
export function target (buf: Uint8Array | undefined, offset: number, length: number, what: string): Uint8Array {
  if (buf === undefined) {
    if (offset !== 0) {
      throw new ProtocolError(`encoding a ${what} at offset ${offset} needs a buffer; none was given`, 'TC_ERR_PROTO_BUFFER')
    }
    return new Uint8Array(length)
  }
  checkRoom(buf, offset, length, what)
  return buf
}

/** Throws unless `length` bytes from `offset` lie inside `buf`. */
export function checkRoom (buf: Uint8Array, offset: number, length: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + length > buf.length) {
    throw new ProtocolError(
      `a ${what} needs ${length} bytes at offset ${String(offset)}, but the buffer holds ${buf.length}`,
      'TC_ERR_PROTO_BUFFER')
  }
}

/** Throws unless `length` bytes from `offset` can be read from `buf`. */
export function checkAvailable (buf: Uint8Array, offset: number, length: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + length > buf.length) {
    const have = Number.isInteger(offset) && offset >= 0 ? Math.max(0, buf.length - offset) : 0
    throw new ProtocolError(
      `a ${what} is ${length} bytes, but only ${have} are available at offset ${String(offset)}`,
      'TC_ERR_PROTO_TRUNCATED')
  }
}

export function checkU16 (value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new ProtocolError(`"${field}" must be an integer 0..65535, got ${String(value)}`, 'TC_ERR_PROTO_FIELD')
  }
}

export function checkU32 (value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new ProtocolError(`"${field}" must be an IPv4 address as an integer 0..0xffffffff, got ${String(value)}`, 'TC_ERR_PROTO_FIELD')
  }
}


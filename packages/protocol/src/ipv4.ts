// IPv4 addresses in the API are u32 numbers in host order: 10.0.0.1 is
// 0x0a000001. On the wire they are the same four bytes, network order.
import { ProtocolError } from '@tcpcopy/interface'

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/

/** Dotted quad of a u32 address: 0x0a000001 → '10.0.0.1'. */
export function ipv4ToString (ip: number): string {
  if (!Number.isInteger(ip) || ip < 0 || ip > 0xffffffff) {
    throw new ProtocolError(`an IPv4 address must be an integer 0..0xffffffff, got ${String(ip)}`, 'TC_ERR_PROTO_IPV4')
  }
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`
}

/** The address as a u32, or undefined when `text` is not a strict dotted quad. */
export function tryParseIpv4 (text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let ip = 0
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined
    const octet = Number(part)
    if (octet > 255) return undefined
    ip = ip * 256 + octet
  }
  return ip
}

/**
 * Parses a strict dotted quad: four decimal octets 0..255, no leading zeros
 * (inet_aton would read `010` as octal), no spaces, no shorthand like `10.1`.
 */
export function parseIpv4 (text: string): number {
  const ip = tryParseIpv4(text)
  if (ip === undefined) {
    throw new ProtocolError(`an IPv4 address must look like 10.0.0.1, got ${JSON.stringify(text)}`, 'TC_ERR_PROTO_IPV4')
  }
  return ip
}

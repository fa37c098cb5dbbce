/** Host-order u32 → "a.b.c.d". */
export function formatIpv4 (ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join('.')
}

/**
 * "a", "a.b", "a.b.c" or "a.b.c.d" (decimal octets 0-255) → the octets, or
 * undefined. A host needs all four; a net may give fewer (`net 10.1` is 10.1.0.0/16).
 */
export function parseDotted (text: string): number[] | undefined {
  if (!/^[0-9]{1,3}(\.[0-9]{1,3}){0,3}$/.test(text)) return undefined
  const parts = text.split('.').map(Number)
  return parts.every((p) => p <= 255) ? parts : undefined
}

/** Octets (1 to 4) → host-order u32 with the given octets at the top. */
export function octetsToU32 (parts: readonly number[]): number {
  let v = 0
  for (let i = 0; i < 4; i++) v = (v * 256) + (parts[i] ?? 0)
  return v >>> 0
}

/** A prefix length 0..32 → netmask as a host-order u32. */
export function prefixMask (bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
}

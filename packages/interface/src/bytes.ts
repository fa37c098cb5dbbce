// Byte helpers shared by the packages and their test fixtures.

/**
 * Bytes from hex text, as a tagged template or a string: whitespace and
 * `//` comments (to the end of a line) are ignored; anything else that is
 * not a pair of hex digits is an error.
 */
export function hex (strings: TemplateStringsArray | string, ...values: unknown[]): Uint8Array {
  const text = typeof strings === 'string' ? strings : String.raw({ raw: strings.raw }, ...values)
  const digits = text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, '')
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex: ${digits}`)
  const out = new Uint8Array(digits.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16)
  return out
}

/** Lower-case hex, two digits a byte, nothing between them. */
export function toHex (bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** Lower-case hex with a space between bytes, for readable diffs. */
export function toSpacedHex (bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ')
}

/** The parts one after the other in a new array. */
export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

import { formatIpv4 } from './ipv4.js'

/**
 * Which address or port of the packet a primitive looks at. `src or dst`
 * is what a primitive without `src`/`dst` means.
 */
export type Direction = 'src' | 'dst' | 'src or dst' | 'src and dst'

/** A parsed filter expression. Addresses and masks are host-order u32. */
export type FilterExpr =
  | { readonly kind: 'ip' }
  | { readonly kind: 'tcp' }
  | { readonly kind: 'host', readonly dir: Direction, readonly addr: number }
  | { readonly kind: 'net', readonly dir: Direction, readonly addr: number, readonly mask: number }
  | { readonly kind: 'port', readonly dir: Direction, readonly port: number }
  | { readonly kind: 'portrange', readonly dir: Direction, readonly low: number, readonly high: number }
  | { readonly kind: 'not', readonly operand: FilterExpr }
  | { readonly kind: 'and' | 'or', readonly left: FilterExpr, readonly right: FilterExpr }

export type FilterPrimitive = Extract<FilterExpr, { kind: 'ip' | 'tcp' | 'host' | 'net' | 'port' | 'portrange' }>

const PRECEDENCE = { or: 1, and: 2, not: 3 } as const

/**
 * Canonical text of an expression, with only the parentheses it needs;
 * `parseFilter(formatFilter(e))` gives `e` back.
 */
export function formatFilter (expr: FilterExpr): string {
  return format(expr, 0)
}

function format (e: FilterExpr, outer: number): string {
  switch (e.kind) {
    case 'and':
    case 'or': {
      const p = PRECEDENCE[e.kind]
      const text = `${format(e.left, p)} ${e.kind} ${format(e.right, p + 1)}`
      return outer > p ? `(${text})` : text
    }
    case 'not':
      return `not ${format(e.operand, PRECEDENCE.not)}`
    default:
      return formatPrimitive(e)
  }
}

function formatPrimitive (e: FilterPrimitive): string {
  switch (e.kind) {
    case 'ip':
    case 'tcp':
      return e.kind
    case 'host':
      return `${dirPrefix(e.dir)}host ${formatIpv4(e.addr)}`
    case 'net': {
      const bits = prefixLength(e.mask)
      return bits === undefined
        ? `${dirPrefix(e.dir)}net ${formatIpv4(e.addr)} mask ${formatIpv4(e.mask)}`
        : `${dirPrefix(e.dir)}net ${formatIpv4(e.addr)}/${bits}`
    }
    case 'port':
      return `${dirPrefix(e.dir)}port ${e.port}`
    case 'portrange':
      return `${dirPrefix(e.dir)}portrange ${e.low}-${e.high}`
  }
}

function dirPrefix (dir: Direction): string {
  return dir === 'src or dst' ? '' : `${dir} `
}

/** The prefix length of a contiguous netmask, or undefined. */
export function prefixLength (mask: number): number | undefined {
  const inverted = (~mask) >>> 0
  if ((inverted & (inverted + 1)) !== 0) return undefined
  return 32 - Math.log2(inverted + 1)
}

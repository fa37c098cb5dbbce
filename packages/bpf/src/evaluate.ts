import type { Direction, FilterExpr } from './ast.js'
import { ETHERTYPE_IPV4, ETHERTYPE_VLAN, LinkType, linkLayout, VLAN_TAG_SIZE } from './link-type.js'
import { parseFilter } from './parser.js'

export interface MatchOptions {
  readonly linkType?: LinkType
  readonly vlan?: boolean
}

/** A read past the end of the captured bytes: the kernel ends the filter with 0. */
class Truncated extends Error {}

/**
 * Evaluates a filter on one frame directly, without BPF: the reference the
 * compiled programs are tested against, also usable as a user-space filter.
 * It follows the compiled program's semantics exactly:
 *
 * - the frame must be IPv4 (ethertype 0x0800, after at most one 802.1Q tag
 *   when `vlan` is on; for raw IP, version nibble 4);
 * - `tcp` is protocol 6; `port`/`portrange` need protocol 6, fragment offset 0
 *   and read the TCP header at IHL*4;
 * - `and`/`or` short-circuit left to right, `src or dst` tests src first;
 * - a field read beyond the end of `frame` rejects the whole packet at that
 *   read (as a BPF load out of bounds does), even under `not`.
 */
export function matchFilter (filter: string | FilterExpr, frame: Uint8Array, options: MatchOptions = {}): boolean {
  const expr = typeof filter === 'string' ? parseFilter(filter) : filter
  const layout = linkLayout(options.linkType ?? LinkType.Ethernet)
  const vlan = options.vlan ?? true

  const u8 = (off: number): number => {
    if (off + 1 > frame.length) throw new Truncated()
    return frame[off] as number
  }
  const u16 = (off: number): number => (u8(off) << 8) | u8(off + 1)
  const u32 = (off: number): number => ((u16(off) << 16) | u16(off + 2)) >>> 0

  const locate = (): number | undefined => {
    if (layout.protoOffset === undefined) return (u8(0) & 0xf0) === 0x40 ? layout.networkOffset : undefined
    const proto = u16(layout.protoOffset)
    if (proto === ETHERTYPE_IPV4) return layout.networkOffset
    if (vlan && proto === ETHERTYPE_VLAN && u16(layout.protoOffset + VLAN_TAG_SIZE) === ETHERTYPE_IPV4) {
      return layout.networkOffset + VLAN_TAG_SIZE
    }
    return undefined
  }

  const sides = (dir: Direction, test: (src: boolean) => boolean): boolean => {
    switch (dir) {
      case 'src': return test(true)
      case 'dst': return test(false)
      case 'src or dst': return test(true) || test(false)
      case 'src and dst': return test(true) && test(false)
    }
  }

  const evaluate = (e: FilterExpr, nh: number): boolean => {
    switch (e.kind) {
      case 'and': return evaluate(e.left, nh) && evaluate(e.right, nh)
      case 'or': return evaluate(e.left, nh) || evaluate(e.right, nh)
      case 'not': return !evaluate(e.operand, nh)
      case 'ip': return true
      case 'tcp': return u8(nh + 9) === 6
      case 'host': return sides(e.dir, (src) => u32(nh + (src ? 12 : 16)) === e.addr)
      case 'net': return sides(e.dir, (src) => ((u32(nh + (src ? 12 : 16)) & e.mask) >>> 0) === e.addr)
      case 'port':
      case 'portrange': {
        if (u8(nh + 9) !== 6) return false
        if ((u16(nh + 6) & 0x1fff) !== 0) return false
        const tcp = nh + (u8(nh) & 0x0f) * 4
        const low = e.kind === 'port' ? e.port : e.low
        const high = e.kind === 'port' ? e.port : e.high
        return sides(e.dir, (src) => {
          const port = u16(tcp + (src ? 0 : 2))
          return port >= low && port <= high
        })
      }
    }
  }

  try {
    const nh = locate()
    return nh !== undefined && evaluate(expr, nh)
  } catch (err) {
    if (err instanceof Truncated) return false
    throw err
  }
}

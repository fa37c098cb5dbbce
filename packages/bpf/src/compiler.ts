import { ConfigError } from '@tcpcopy/interface'
import type { Direction, FilterExpr } from './ast.js'
import { ETHERTYPE_IPV4, ETHERTYPE_VLAN, LinkType, linkLayout, VLAN_TAG_SIZE } from './link-type.js'
import {
  type BpfInsn,
  BPF_ABS, BPF_ALU, BPF_AND, BPF_B, BPF_H, BPF_IND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET,
  BPF_K, BPF_LD, BPF_LDX, BPF_MAXINSNS, BPF_MSH, BPF_RET, BPF_W, isConditionalJump
} from './opcodes.js'
import { parseFilter } from './parser.js'
import { BpfProgram } from './program.js'
import { bpfProblems } from './verifier.js'

/** What an accepted packet returns unless `snaplen` says otherwise (tcpdump's default). */
export const DEFAULT_SNAPLEN = 262144

export interface CompileOptions {
  /** The frames the filter will see. Default Ethernet (AF_PACKET SOCK_RAW on an Ethernet device). */
  readonly linkType?: LinkType
  /**
   * The program's return value for an accepted packet: how many bytes of it
   * the kernel copies to the socket. Default 262144; 1..2^32-1.
   */
  readonly snaplen?: number
  /**
   * Ethernet and Linux SLL: also accept a frame that carries one 802.1Q tag
   * (ethertype 0x8100) in front of the IPv4 ethertype. Default true. The
   * program then holds the expression twice, once per header length.
   */
  readonly vlan?: boolean
}

/** IPv4 header fields, as offsets from the start of the IPv4 header. */
const IP_FRAG = 6 // flags + fragment offset, u16
const IP_PROTO = 9
const IP_SRC = 12
const IP_DST = 16
const IPPROTO_TCP = 6
const IP_OFFMASK = 0x1fff

/**
 * Compiles a filter (text or parsed) to a classic BPF program for the link
 * type in `options`. The program checks the frame is IPv4 first, and returns
 * `snaplen` for a packet the expression accepts and 0 otherwise.
 *
 * Throws a ConfigError: TC_ERR_CONFIG_FILTER for a filter that does not
 * parse, TC_ERR_CONFIG_FILTER_TOO_LARGE when the program would exceed 4096
 * instructions, TC_ERR_CONFIG_SNAPLEN / TC_ERR_CONFIG_LINKTYPE for bad options.
 */
export function compileFilter (filter: string | FilterExpr, options: CompileOptions = {}): BpfProgram {
  const expr = typeof filter === 'string' ? parseFilter(filter) : checkExpr(filter)
  const snaplen = options.snaplen ?? DEFAULT_SNAPLEN
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0xffffffff) {
    throw new ConfigError(`snaplen must be an integer 1..4294967295, got ${snaplen}`, 'TC_ERR_CONFIG_SNAPLEN')
  }
  const layout = linkLayout(options.linkType ?? LinkType.Ethernet)
  const vlan = options.vlan ?? true

  const code = new Code()
  const accept = code.label()
  const reject = code.label()
  const bodies: Array<[number, number]> = [] // [label, network offset]

  if (layout.protoOffset === undefined) {
    // Raw IP: the version nibble must be 4 (what pcap does for DLT_RAW).
    const body = code.label()
    code.stmt(BPF_LD | BPF_B | BPF_ABS, 0)
    code.stmt(BPF_ALU | BPF_AND | BPF_K, 0xf0)
    code.jump(BPF_JEQ, 0x40, body, reject)
    bodies.push([body, layout.networkOffset])
  } else {
    const body = code.label()
    code.stmt(BPF_LD | BPF_H | BPF_ABS, layout.protoOffset)
    if (vlan) {
      const notIp = code.label()
      const tagged = code.label()
      const taggedBody = code.label()
      code.jump(BPF_JEQ, ETHERTYPE_IPV4, body, notIp)
      code.place(notIp)
      code.jump(BPF_JEQ, ETHERTYPE_VLAN, tagged, reject)
      code.place(tagged)
      code.stmt(BPF_LD | BPF_H | BPF_ABS, layout.protoOffset + VLAN_TAG_SIZE)
      code.jump(BPF_JEQ, ETHERTYPE_IPV4, taggedBody, reject)
      bodies.push([body, layout.networkOffset], [taggedBody, layout.networkOffset + VLAN_TAG_SIZE])
    } else {
      code.jump(BPF_JEQ, ETHERTYPE_IPV4, body, reject)
      bodies.push([body, layout.networkOffset])
    }
  }
  for (const [label, nh] of bodies) {
    code.place(label)
    new BodyCompiler(code, nh).emit(expr, accept, reject, {})
  }
  code.place(accept)
  code.stmt(BPF_RET | BPF_K, snaplen)
  code.place(reject)
  code.stmt(BPF_RET | BPF_K, 0)

  const insns = layOut(optimize(code.items))
  if (insns.length > BPF_MAXINSNS) {
    throw new ConfigError(
      `the filter compiles to ${insns.length} BPF instructions, more than the kernel's limit of ${BPF_MAXINSNS}; ` +
      'shorten it' + (vlan && layout.protoOffset !== undefined ? ' or compile with vlan: false (halves the size)' : ''),
      'TC_ERR_CONFIG_FILTER_TOO_LARGE')
  }
  const problems = bpfProblems(insns)
  if (problems.length > 0) throw new Error(`internal error: compiled filter fails verification: ${problems.join('; ')}`)
  return new BpfProgram(insns)
}

/** Checks a hand-built expression has the values the parser would have produced. */
function checkExpr (e: FilterExpr): FilterExpr {
  const bad = (what: string): never => {
    throw new ConfigError(`filter expression: ${what}`, 'TC_ERR_CONFIG_FILTER')
  }
  const u32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff
  const u16 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffff
  const dirs = ['src', 'dst', 'src or dst', 'src and dst']
  const stack: FilterExpr[] = [e]
  while (stack.length > 0) {
    const n = stack.pop() as FilterExpr
    switch (n.kind) {
      case 'and': case 'or': stack.push(n.left, n.right); break
      case 'not': stack.push(n.operand); break
      case 'ip': case 'tcp': break
      case 'host':
        if (!u32(n.addr) || !dirs.includes(n.dir)) bad(`bad host ${JSON.stringify(n)}`)
        break
      case 'net':
        if (!u32(n.addr) || !u32(n.mask) || !dirs.includes(n.dir)) bad(`bad net ${JSON.stringify(n)}`)
        if (((n.addr & ~n.mask) >>> 0) !== 0) bad(`net address has bits outside its mask: ${JSON.stringify(n)}`)
        break
      case 'port':
        if (!u16(n.port) || !dirs.includes(n.dir)) bad(`bad port ${JSON.stringify(n)}`)
        break
      case 'portrange':
        if (!u16(n.low) || !u16(n.high) || n.low > n.high || !dirs.includes(n.dir)) bad(`bad portrange ${JSON.stringify(n)}`)
        break
      default:
        bad(`unknown node ${JSON.stringify(n)}`)
    }
  }
  return e
}

// ------------------------------------------------------------------ code generation

/**
 * What is known about the packet at a point of the program, from tests
 * already passed on every path to it: `tcp` (protocol is / is not 6),
 * `noFrag` (fragment offset is 0), `x` (X holds the IPv4 header length).
 * The compiler uses it to skip repeated loads and tests.
 */
interface Facts {
  readonly tcp?: boolean
  readonly noFrag?: boolean
  readonly x?: boolean
}

function intersect (a: Facts, b: Facts): Facts {
  return {
    ...(a.tcp !== undefined && a.tcp === b.tcp ? { tcp: a.tcp } : {}),
    ...(a.noFrag === true && b.noFrag === true ? { noFrag: true } : {}),
    ...(a.x === true && b.x === true ? { x: true } : {})
  }
}

const afterMemo = new WeakMap<FilterExpr, Map<string, Facts>>()

/** What is known after `e` evaluated to `outcome`, given `entry` before it (memoized: and/or would otherwise revisit subtrees exponentially often). */
function after (e: FilterExpr, outcome: boolean, entry: Facts): Facts {
  let memo = afterMemo.get(e)
  if (memo === undefined) {
    memo = new Map()
    afterMemo.set(e, memo)
  }
  const key = `${String(outcome)}|${String(entry.tcp)}|${String(entry.noFrag)}|${String(entry.x)}`
  let facts = memo.get(key)
  if (facts === undefined) {
    facts = computeAfter(e, outcome, entry)
    memo.set(key, facts)
  }
  return facts
}

function computeAfter (e: FilterExpr, outcome: boolean, entry: Facts): Facts {
  switch (e.kind) {
    case 'tcp':
      return { ...entry, tcp: outcome }
    case 'port':
    case 'portrange':
      if (outcome) return { ...entry, tcp: true, noFrag: true, x: true }
      return entry.tcp === true && entry.noFrag === true ? { ...entry, x: true } : entry
    case 'not':
      return after(e.operand, !outcome, entry)
    case 'and': {
      const leftTrue = after(e.left, true, entry)
      if (outcome) return after(e.right, true, leftTrue)
      return intersect(after(e.left, false, entry), after(e.right, false, leftTrue))
    }
    case 'or': {
      const leftFalse = after(e.left, false, entry)
      if (!outcome) return after(e.right, false, leftFalse)
      return intersect(after(e.left, true, entry), after(e.right, true, leftFalse))
    }
    default:
      return entry
  }
}

type Item =
  | { op: 'label', label: number }
  | { op: 'insn', code: number, k: number, jt: number, jf: number }

/** Straight-line code with symbolic labels; jt/jf of jumps (and jt of ja) are label ids. */
class Code {
  readonly items: Item[] = []
  private labels = 0

  label (): number { return this.labels++ }
  place (label: number): void { this.items.push({ op: 'label', label }) }
  stmt (code: number, k: number): void { this.items.push({ op: 'insn', code, k: k >>> 0, jt: -1, jf: -1 }) }
  jump (op: number, k: number, t: number, f: number): void {
    this.items.push({ op: 'insn', code: BPF_JMP | op | BPF_K, k: k >>> 0, jt: t, jf: f })
  }

  ja (target: number): void { this.items.push({ op: 'insn', code: BPF_JMP | BPF_JA, k: 0, jt: target, jf: -1 }) }
}

type Side = 'src' | 'dst'

/** Emits the expression for one position of the IPv4 header (`nh`). */
class BodyCompiler {
  constructor (private readonly code: Code, private readonly nh: number) {}

  /** Code that jumps to `t` when `e` holds and to `f` otherwise. */
  emit (e: FilterExpr, t: number, f: number, facts: Facts): void {
    const { code, nh } = this
    switch (e.kind) {
      case 'and': {
        const mid = code.label()
        this.emit(e.left, mid, f, facts)
        code.place(mid)
        this.emit(e.right, t, f, after(e.left, true, facts))
        return
      }
      case 'or': {
        const mid = code.label()
        this.emit(e.left, t, mid, facts)
        code.place(mid)
        this.emit(e.right, t, f, after(e.left, false, facts))
        return
      }
      case 'not':
        this.emit(e.operand, f, t, facts)
        return
      case 'ip':
        code.ja(t)
        return
      case 'tcp':
        if (facts.tcp !== undefined) {
          code.ja(facts.tcp ? t : f)
          return
        }
        code.stmt(BPF_LD | BPF_B | BPF_ABS, nh + IP_PROTO)
        code.jump(BPF_JEQ, IPPROTO_TCP, t, f)
        return
      case 'host':
      case 'net': {
        const mask = e.kind === 'net' ? e.mask : 0xffffffff
        this.direction(e.dir, t, f, (side, st, sf) => {
          code.stmt(BPF_LD | BPF_W | BPF_ABS, nh + (side === 'src' ? IP_SRC : IP_DST))
          if (mask !== 0xffffffff) code.stmt(BPF_ALU | BPF_AND | BPF_K, mask)
          code.jump(BPF_JEQ, e.addr, st, sf)
        })
        return
      }
      case 'port':
      case 'portrange': {
        if (!this.tcpHeader(f, facts)) return
        const low = e.kind === 'port' ? e.port : e.low
        const high = e.kind === 'port' ? e.port : e.high
        this.direction(e.dir, t, f, (side, st, sf) => {
          code.stmt(BPF_LD | BPF_H | BPF_IND, nh + (side === 'src' ? 0 : 2))
          if (low === high) {
            code.jump(BPF_JEQ, low, st, sf)
            return
          }
          if (low > 0) {
            const ge = code.label()
            code.jump(BPF_JGE, low, ge, sf)
            code.place(ge)
          }
          if (high < 0xffff) code.jump(BPF_JGT, high, sf, st)
          else code.ja(st)
        })
      }
    }
  }

  /**
   * TCP, not a later fragment, and X = IPv4 header length (pcap's gen_port
   * preamble), skipping what `facts` already guarantees. Returns false when
   * the packet is known not to be TCP (a jump to `f` was emitted instead).
   */
  private tcpHeader (f: number, facts: Facts): boolean {
    const { code, nh } = this
    if (facts.tcp === false) {
      code.ja(f)
      return false
    }
    if (facts.tcp !== true) {
      const isTcp = code.label()
      code.stmt(BPF_LD | BPF_B | BPF_ABS, nh + IP_PROTO)
      code.jump(BPF_JEQ, IPPROTO_TCP, isTcp, f)
      code.place(isTcp)
    }
    if (facts.noFrag !== true) {
      const first = code.label()
      code.stmt(BPF_LD | BPF_H | BPF_ABS, nh + IP_FRAG)
      code.jump(BPF_JSET, IP_OFFMASK, f, first)
      code.place(first)
    }
    if (facts.x !== true) code.stmt(BPF_LDX | BPF_B | BPF_MSH, nh)
    return true
  }

  /** Applies a one-sided test to src, dst, either or both. */
  private direction (dir: Direction, t: number, f: number, test: (side: Side, t: number, f: number) => void): void {
    if (dir === 'src' || dir === 'dst') {
      test(dir, t, f)
      return
    }
    const next = this.code.label()
    if (dir === 'src or dst') test('src', t, next)
    else test('src', next, f)
    this.code.place(next)
    test('dst', t, f)
  }
}

// ------------------------------------------------------------------ clean-up and layout

const JA = BPF_JMP | BPF_JA
const isJump = (code: number): boolean => (code & 0x07) === BPF_JMP
const isRet = (code: number): boolean => (code & 0x07) === BPF_RET

/**
 * Jump threading (a jump to a `ja` goes straight to its target; a test whose
 * branches meet becomes a `ja`), removal of unreachable instructions and of
 * `ja` to the next instruction, until nothing changes.
 */
function optimize (input: readonly Item[]): Item[] {
  let items = input.map((i) => ({ ...i }))
  for (let round = 0; round < 100; round++) {
    let changed = false
    let at = labelIndex(items)
    const insnAt = (label: number): Extract<Item, { op: 'insn' }> => items[at.get(label) as number] as Extract<Item, { op: 'insn' }>
    const thread = (label: number): number => {
      for (let hops = 0; hops < items.length; hops++) {
        const target = insnAt(label)
        if (target.code !== JA) break
        label = target.jt
      }
      return label
    }
    for (const item of items) {
      if (item.op !== 'insn' || !isJump(item.code)) continue
      const jt = thread(item.jt)
      const jf = item.code === JA ? -1 : thread(item.jf)
      if (jt !== item.jt || jf !== item.jf) changed = true
      item.jt = jt
      item.jf = jf
      if (item.code !== JA && jt === jf) {
        Object.assign(item, { code: JA, k: 0, jf: -1 })
        changed = true
      }
    }

    // Reachability from the first instruction.
    const reached = new Set<number>()
    const nextInsn = (i: number): number => {
      let j = i + 1
      while (items[j]?.op === 'label') j++
      return j
    }
    const work = [nextInsn(-1)]
    while (work.length > 0) {
      const i = work.pop() as number
      if (reached.has(i)) continue
      const item = items[i]
      if (item?.op !== 'insn') throw new Error('internal error: control reaches past the last instruction')
      reached.add(i)
      if (isRet(item.code)) continue
      if (item.code === JA) work.push(at.get(item.jt) as number)
      else if (isConditionalJump(item.code)) work.push(at.get(item.jt) as number, at.get(item.jf) as number)
      else work.push(nextInsn(i))
    }
    const kept = items.filter((item, i) => item.op === 'label' || reached.has(i))
    if (kept.length !== items.length) changed = true
    items = kept

    // `ja` to the instruction that follows anyway.
    at = labelIndex(items)
    const dropped = items.filter((item, i) => {
      if (item.op !== 'insn' || item.code !== JA) return true
      let j = i + 1
      while (items[j]?.op === 'label') j++
      return at.get(item.jt) !== j
    })
    if (dropped.length !== items.length) changed = true
    items = dropped
    if (!changed) break
  }
  return items
}

/** label → index of the instruction item it stands before. */
function labelIndex (items: readonly Item[]): Map<number, number> {
  const at = new Map<number, number>()
  const pending: number[] = []
  items.forEach((item, i) => {
    if (item.op === 'label') {
      pending.push(item.label)
    } else {
      for (const l of pending) at.set(l, i)
      pending.length = 0
    }
  })
  return at
}

/**
 * Turns labels into offsets. Walks backwards, so every distance to a later
 * instruction is final when a jump is placed. A conditional branch further
 * than 255 goes through a trampoline right after the jump: a copy of the
 * target when it is a `ret`, otherwise a `ja` (32-bit range); a nearer
 * equivalent trampoline or `ret` already in range is reused instead.
 */
function layOut (items: readonly Item[]): BpfInsn[] {
  const out: BpfInsn[] = [] // reversed
  const remOf = new Map<number, number>() // label → instructions from it to the end
  const nearest = new Map<string, number>() // equivalence key → rem of the closest such instruction
  let count = 0

  const keyOf = (rem: number): string => {
    const insn = out[rem - 1] as BpfInsn
    return isRet(insn.code) ? `ret:${insn.code}:${insn.k}` : `goto:${rem}`
  }
  const push = (insn: BpfInsn): void => {
    out.push(insn)
    count++
    if (isRet(insn.code)) nearest.set(keyOf(count), count)
    else if (insn.code === JA) nearest.set(`goto:${count - 1 - insn.k}`, count)
  }
  /** A target no further than 255 from the jump about to be pushed, equivalent to `rem`. */
  const reach = (rem: number): number => {
    const near = nearest.get(keyOf(rem))
    if (near !== undefined && count - near <= 255) return near
    const target = out[rem - 1] as BpfInsn
    push(isRet(target.code) ? target : { code: JA, jt: 0, jf: 0, k: count - rem })
    return count
  }

  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i] as Item
    if (item.op === 'label') {
      remOf.set(item.label, count)
      continue
    }
    if (item.code === JA) {
      push({ code: JA, jt: 0, jf: 0, k: count - (remOf.get(item.jt) as number) })
    } else if (isConditionalJump(item.code)) {
      let t = remOf.get(item.jt) as number
      let f = remOf.get(item.jf) as number
      for (;;) {
        if (count - t > 255) t = reach(t)
        else if (count - f > 255) f = reach(f)
        else break
      }
      push({ code: item.code, jt: count - t, jf: count - f, k: item.k })
    } else {
      push({ code: item.code, jt: 0, jf: 0, k: item.k })
    }
  }
  return out.reverse()
}

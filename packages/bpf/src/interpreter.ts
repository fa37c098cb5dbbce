import { ConfigError } from '@tcpcopy/interface'
import {
  type BpfInsn,
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ,
  BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MEMWORDS,
  BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB,
  BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR, SKF_LL_OFF
} from './opcodes.js'
import { type BpfProgram, insnsOf } from './program.js'

function invalid (pc: number, what: string): never {
  throw new ConfigError(`BPF instruction ${pc}: ${what}`, 'TC_ERR_CONFIG_FILTER_INVALID')
}

/**
 * Runs a classic BPF program on one packet the way the kernel's socket filter
 * does, and returns the program's return value: 0 = drop, otherwise the
 * number of bytes to keep.
 *
 * - `packet` is what the filter sees (for AF_PACKET SOCK_RAW: the frame from
 *   the link-layer header on); `wirelen` is what `ld #pktlen` loads
 *   (skb->len, default `packet.length`).
 * - A load past the end of `packet` ends the program with 0, as in the kernel.
 * - Division or modulo by X = 0 ends the program with 0, as in the kernel.
 * - Shifts by X use the low 5 bits of X (the kernel interpreter and the x86 JIT).
 * - Ancillary (`SKF_AD_*`) and negative-offset (`SKF_NET_OFF`, `SKF_LL_OFF`)
 *   loads are not emulated: they throw.
 *
 * Programs are not verified first (see `verifyBpf`); an opcode the kernel
 * would refuse, a memory index ≥ 16 or running off the end throws a
 * ConfigError `TC_ERR_CONFIG_FILTER_INVALID`.
 */
export function runBpf (program: BpfProgram | readonly BpfInsn[], packet: Uint8Array, wirelen: number = packet.length): number {
  const insns = insnsOf(program)
  const len = packet.length
  const mem = new Uint32Array(BPF_MEMWORDS)
  let A = 0
  let X = 0
  let pc = 0

  /** Reads `size` bytes big-endian at `off`, or undefined when past the end. */
  const load = (off: number, size: number): number | undefined => {
    if (off >= SKF_LL_OFF) invalid(pc, `ancillary or negative-offset load [${off | 0}] is not emulated`)
    if (off + size > len) return undefined
    if (size === 1) return packet[off] as number
    if (size === 2) return ((packet[off] as number) << 8) | (packet[off + 1] as number)
    return (((packet[off] as number) << 24) | ((packet[off + 1] as number) << 16) |
      ((packet[off + 2] as number) << 8) | (packet[off + 3] as number)) >>> 0
  }
  const sizeOf = (code: number): number => {
    switch (code & 0x18) {
      case BPF_W: return 4
      case BPF_H: return 2
      case BPF_B: return 1
      default: return invalid(pc, `bad load size in opcode 0x${code.toString(16)}`)
    }
  }
  const memIndex = (k: number): number => (k < BPF_MEMWORDS ? k : invalid(pc, `scratch memory index ${k} is not below ${BPF_MEMWORDS}`))

  for (;;) {
    const insn = insns[pc]
    if (insn === undefined) invalid(pc, 'the program ran off its end without a ret')
    const { code } = insn
    if (code > 0xff) invalid(pc, `unknown opcode 0x${code.toString(16)}`)
    const k = insn.k >>> 0
    switch (code & 0x07) {
      case BPF_LD: {
        const mode = code & 0xe0
        if (mode === BPF_ABS || mode === BPF_IND) {
          const off = mode === BPF_ABS ? k : (X + k) >>> 0
          const v = load(off, sizeOf(code))
          if (v === undefined) return 0
          A = v
        } else if (code === (BPF_LD | BPF_W | BPF_LEN)) {
          A = wirelen >>> 0
        } else if (code === (BPF_LD | BPF_IMM)) {
          A = k
        } else if (code === (BPF_LD | BPF_MEM)) {
          A = mem[memIndex(k)] as number
        } else {
          invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        }
        break
      }
      case BPF_LDX:
        if (code === (BPF_LDX | BPF_B | BPF_MSH)) {
          const v = load(k, 1)
          if (v === undefined) return 0
          X = (v & 0xf) << 2
        } else if (code === (BPF_LDX | BPF_W | BPF_LEN)) {
          X = wirelen >>> 0
        } else if (code === (BPF_LDX | BPF_IMM)) {
          X = k
        } else if (code === (BPF_LDX | BPF_MEM)) {
          X = mem[memIndex(k)] as number
        } else {
          invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        }
        break
      case BPF_ST:
        if (code !== BPF_ST) invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        mem[memIndex(k)] = A
        break
      case BPF_STX:
        if (code !== BPF_STX) invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        mem[memIndex(k)] = X
        break
      case BPF_ALU: {
        if (code === (BPF_ALU | BPF_NEG)) {
          A = (-A) >>> 0
          break
        }
        if ((code & ~0xf8) !== BPF_ALU) invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        const byX = (code & BPF_X) !== 0
        const v = byX ? X : k
        switch (code & 0xf0) {
          case BPF_ADD: A = (A + v) >>> 0; break
          case BPF_SUB: A = (A - v) >>> 0; break
          case BPF_MUL: A = Math.imul(A, v) >>> 0; break
          case BPF_DIV:
            if (v === 0) { if (byX) return 0; invalid(pc, 'division by the constant 0') }
            A = Math.floor(A / v) >>> 0
            break
          case BPF_MOD:
            if (v === 0) { if (byX) return 0; invalid(pc, 'modulo by the constant 0') }
            A = (A % v) >>> 0
            break
          case BPF_AND: A = (A & v) >>> 0; break
          case BPF_OR: A = (A | v) >>> 0; break
          case BPF_XOR: A = (A ^ v) >>> 0; break
          case BPF_LSH:
            if (!byX && v >= 32) invalid(pc, `shift by ${v}`)
            A = (A << (v & 31)) >>> 0
            break
          case BPF_RSH:
            if (!byX && v >= 32) invalid(pc, `shift by ${v}`)
            A = A >>> (v & 31)
            break
          default: invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        }
        break
      }
      case BPF_JMP: {
        if (code === (BPF_JMP | BPF_JA)) {
          pc += 1 + k
          continue
        }
        if ((code & ~0xf8) !== BPF_JMP) invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        const v = (code & BPF_X) !== 0 ? X : k
        let taken: boolean
        switch (code & 0xf0) {
          case BPF_JEQ: taken = A === v; break
          case BPF_JGT: taken = A > v; break
          case BPF_JGE: taken = A >= v; break
          case BPF_JSET: taken = (A & v) !== 0; break
          default: return invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        }
        pc += 1 + (taken ? insn.jt : insn.jf)
        continue
      }
      case BPF_RET:
        if (code === (BPF_RET | BPF_K)) return k
        if (code === (BPF_RET | BPF_A)) return A
        return invalid(pc, `unknown opcode 0x${code.toString(16)}`)
      case BPF_MISC:
        if (code === (BPF_MISC | BPF_TAX)) X = A
        else if (code === (BPF_MISC | BPF_TXA)) A = X
        else invalid(pc, `unknown opcode 0x${code.toString(16)}`)
        break
    }
    pc++
  }
}

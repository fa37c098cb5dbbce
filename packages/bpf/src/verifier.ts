import { ConfigError } from '@tcpcopy/interface'
import {
  type BpfInsn,
  BPF_ABS, BPF_ALU, BPF_B, BPF_DIV, BPF_H, BPF_JA, BPF_JMP, BPF_K, BPF_LD, BPF_LDX, BPF_LSH, BPF_MAXINSNS,
  BPF_MEM, BPF_MEMWORDS, BPF_MOD, BPF_RET, BPF_A, BPF_RSH, BPF_ST, BPF_STX, BPF_W, KERNEL_OPCODES,
  SKF_AD_MAX, SKF_AD_OFF, isConditionalJump
} from './opcodes.js'
import { type BpfProgram, insnsOf } from './program.js'

/**
 * What the kernel's `bpf_check_classic()` (net/core/filter.c) would refuse
 * with EINVAL when the program is attached with SO_ATTACH_FILTER, one
 * message per problem; an empty array means the kernel takes it.
 *
 * - 1..BPF_MAXINSNS instructions, each a u16 code, u8 jt/jf, u32 k;
 * - only the opcodes of the kernel's list;
 * - no division or modulo by the constant 0, no shift by a constant ≥ 32;
 * - scratch memory index < 16 for ld/ldx M[k], st/stx;
 * - jumps land inside the program (they are always forward: offsets are unsigned);
 * - ancillary loads (k ≥ SKF_AD_OFF) name a known SKF_AD_* value;
 * - the last instruction is `ret`;
 * - no M[k] is read on a path where it was not written first
 *   (`check_load_and_stores`, with the kernel's conservative flow rule).
 */
export function bpfProblems (program: BpfProgram | readonly BpfInsn[]): string[] {
  const insns = insnsOf(program)
  const flen = insns.length
  const problems: string[] = []
  if (flen === 0) return ['the program is empty']
  if (flen > BPF_MAXINSNS) problems.push(`the program has ${flen} instructions, more than BPF_MAXINSNS (${BPF_MAXINSNS})`)

  insns.forEach((insn, pc) => {
    const at = (what: string): void => { problems.push(`instruction ${pc}: ${what}`) }
    const { code, jt, jf, k } = insn
    if (!isUint(code, 16) || !isUint(jt, 8) || !isUint(jf, 8) || !isUint(k, 32)) {
      at(`fields out of range (code ${code}, jt ${jt}, jf ${jf}, k ${k}): code is u16, jt/jf u8, k u32`)
      return
    }
    if (!KERNEL_OPCODES.has(code)) {
      at(`opcode 0x${code.toString(16)} is not a classic BPF instruction the kernel accepts`)
      return
    }
    switch (code) {
      case BPF_ALU | BPF_DIV | BPF_K:
      case BPF_ALU | BPF_MOD | BPF_K:
        if (k === 0) at('division by the constant 0')
        break
      case BPF_ALU | BPF_LSH | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_K:
        if (k >= 32) at(`shift by the constant ${k}`)
        break
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (k >= BPF_MEMWORDS) at(`scratch memory index ${k} is not below ${BPF_MEMWORDS}`)
        break
      case BPF_LD | BPF_W | BPF_ABS:
      case BPF_LD | BPF_H | BPF_ABS:
      case BPF_LD | BPF_B | BPF_ABS:
        if (k >= SKF_AD_OFF && ((k - SKF_AD_OFF) >= SKF_AD_MAX || (k - SKF_AD_OFF) % 4 !== 0)) {
          at(`unknown ancillary load [${k | 0}]`)
        }
        break
      case BPF_JMP | BPF_JA:
        if (k >= flen - 1 - pc) at(`ja ${k} jumps past the end`)
        break
      default:
        if (isConditionalJump(code) && (pc + jt + 1 >= flen || pc + jf + 1 >= flen)) {
          at(`jt ${jt} / jf ${jf} jumps past the end`)
        }
    }
  })
  if (problems.length > 0) return problems

  const last = insns[flen - 1] as BpfInsn
  if (last.code !== (BPF_RET | BPF_K) && last.code !== (BPF_RET | BPF_A)) {
    return [`instruction ${flen - 1}: the program does not end with ret`]
  }
  return checkLoadAndStores(insns)
}

/** The kernel's check_load_and_stores(): a 16-bit "written" mask per instruction. */
function checkLoadAndStores (insns: readonly BpfInsn[]): string[] {
  const masks = new Uint16Array(insns.length).fill(0xffff)
  let memvalid = 0
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc] as BpfInsn
    memvalid &= masks[pc] as number
    if (code === BPF_ST || code === BPF_STX) {
      memvalid |= 1 << k
    } else if (code === (BPF_LD | BPF_MEM) || code === (BPF_LDX | BPF_MEM)) {
      if ((memvalid & (1 << k)) === 0) return [`instruction ${pc}: M[${k}] may be read before it is written`]
    } else if (code === (BPF_JMP | BPF_JA)) {
      masks[pc + 1 + k] = (masks[pc + 1 + k] as number) & memvalid
      memvalid = 0xffff
    } else if (isConditionalJump(code)) {
      masks[pc + 1 + jt] = (masks[pc + 1 + jt] as number) & memvalid
      masks[pc + 1 + jf] = (masks[pc + 1 + jf] as number) & memvalid
      memvalid = 0xffff
    }
  }
  return []
}

/** Throws a ConfigError `TC_ERR_CONFIG_FILTER_INVALID` naming the first problem `bpfProblems` finds. */
export function verifyBpf (program: BpfProgram | readonly BpfInsn[]): void {
  const problems = bpfProblems(program)
  if (problems.length > 0) {
    throw new ConfigError(`the kernel would refuse this BPF program: ${problems.join('; ')}`, 'TC_ERR_CONFIG_FILTER_INVALID')
  }
}

function isUint (v: number, bits: number): boolean {
  return Number.isInteger(v) && v >= 0 && v < 2 ** bits
}

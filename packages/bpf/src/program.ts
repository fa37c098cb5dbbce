import { ConfigError } from '@tcpcopy/interface'
import {
  type BpfInsn,
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ,
  BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MISC,
  BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX,
  BPF_TXA, BPF_W, BPF_X, BPF_XOR, isConditionalJump
} from './opcodes.js'

/** Size of one `struct sock_filter`. */
export const SOCK_FILTER_SIZE = 8

/**
 * A classic BPF program: what SO_ATTACH_FILTER takes. `instructions` is the
 * plain array; `toBytes()` is the `struct sock_filter[]` for setsockopt and
 * `toText()` the `tcpdump -d` listing.
 */
export class BpfProgram {
  readonly instructions: readonly BpfInsn[]

  constructor (instructions: readonly BpfInsn[]) {
    this.instructions = Object.freeze(instructions.map((i) => Object.freeze({ code: i.code, jt: i.jt, jf: i.jf, k: i.k })))
  }

  get length (): number {
    return this.instructions.length
  }

  /**
   * `struct sock_filter[]`, 8 bytes per instruction: code u16, jt u8, jf u8,
   * k u32. The kernel reads them in host order; every Linux target of this
   * project is little-endian, which is the default.
   */
  toBytes (littleEndian = true): Uint8Array {
    return bpfToBytes(this.instructions, littleEndian)
  }

  /** One line per instruction, as `tcpdump -d` prints them. */
  toText (): string {
    return bpfToText(this.instructions)
  }

  /** The inverse of `toBytes()`. */
  static fromBytes (bytes: Uint8Array, littleEndian = true): BpfProgram {
    return new BpfProgram(bpfFromBytes(bytes, littleEndian))
  }
}

export function bpfToBytes (insns: readonly BpfInsn[], littleEndian = true): Uint8Array {
  const out = new Uint8Array(insns.length * SOCK_FILTER_SIZE)
  const view = new DataView(out.buffer)
  insns.forEach((insn, n) => {
    const off = n * SOCK_FILTER_SIZE
    view.setUint16(off, insn.code, littleEndian)
    view.setUint8(off + 2, insn.jt)
    view.setUint8(off + 3, insn.jf)
    view.setUint32(off + 4, insn.k >>> 0, littleEndian)
  })
  return out
}

export function bpfFromBytes (bytes: Uint8Array, littleEndian = true): BpfInsn[] {
  if (bytes.length % SOCK_FILTER_SIZE !== 0) {
    throw new ConfigError(`a BPF program is a whole number of 8-byte sock_filter structs, got ${bytes.length} bytes`, 'TC_ERR_CONFIG_FILTER_INVALID')
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: BpfInsn[] = []
  for (let off = 0; off < bytes.length; off += SOCK_FILTER_SIZE) {
    out.push({
      code: view.getUint16(off, littleEndian),
      jt: view.getUint8(off + 2),
      jf: view.getUint8(off + 3),
      k: view.getUint32(off + 4, littleEndian)
    })
  }
  return out
}

const hex = (v: number): string => `#0x${(v >>> 0).toString(16)}`
const dec = (v: number): string => `#${v >>> 0}`

const ALU_NAMES: Record<number, [string, (k: number) => string]> = {
  [BPF_ADD]: ['add', dec],
  [BPF_SUB]: ['sub', dec],
  [BPF_MUL]: ['mul', dec],
  [BPF_DIV]: ['div', dec],
  [BPF_MOD]: ['mod', dec],
  [BPF_AND]: ['and', hex],
  [BPF_OR]: ['or', hex],
  [BPF_XOR]: ['xor', hex],
  [BPF_LSH]: ['lsh', dec],
  [BPF_RSH]: ['rsh', dec]
}
const JMP_NAMES: Record<number, string> = { [BPF_JEQ]: 'jeq', [BPF_JGT]: 'jgt', [BPF_JGE]: 'jge', [BPF_JSET]: 'jset' }
const SIZE_SUFFIX: Record<number, string> = { [BPF_W]: '', [BPF_H]: 'h', [BPF_B]: 'b' }

/** Mnemonic and operand of one instruction at index `n`, as libpcap's bpf_image() writes them. */
function image (insn: BpfInsn, n: number): [string, string] {
  const { code, k } = insn
  if (code > 0xff) return ['unimp', `0x${code.toString(16)}`]
  switch (code) {
    case BPF_RET | BPF_K: return ['ret', dec(k)]
    case BPF_RET | BPF_A: return ['ret', '']
    case BPF_LD | BPF_W | BPF_LEN: return ['ld', '#pktlen']
    case BPF_LDX | BPF_W | BPF_LEN: return ['ldx', '#pktlen']
    case BPF_LD | BPF_IMM: return ['ld', hex(k)]
    case BPF_LDX | BPF_IMM: return ['ldx', hex(k)]
    case BPF_LDX | BPF_B | BPF_MSH: return ['ldxb', `4*([${k}]&0xf)`]
    case BPF_LD | BPF_MEM: return ['ld', `M[${k}]`]
    case BPF_LDX | BPF_MEM: return ['ldx', `M[${k}]`]
    case BPF_ST: return ['st', `M[${k}]`]
    case BPF_STX: return ['stx', `M[${k}]`]
    case BPF_JMP | BPF_JA: return ['ja', String(n + 1 + k)]
    case BPF_ALU | BPF_NEG: return ['neg', '']
    case BPF_MISC | BPF_TAX: return ['tax', '']
    case BPF_MISC | BPF_TXA: return ['txa', '']
  }
  const size = SIZE_SUFFIX[code & 0x18]
  if ((code & 0x07) === BPF_LD && size !== undefined) {
    if ((code & 0xe0) === BPF_ABS) return [`ld${size}`, `[${k}]`]
    if ((code & 0xe0) === BPF_IND) return [`ld${size}`, `[x + ${k}]`]
  }
  if ((code & 0x07) === BPF_ALU && (code & ~0xf8) === BPF_ALU) {
    const alu = ALU_NAMES[code & 0xf0]
    if (alu !== undefined) return [alu[0], (code & BPF_X) !== 0 ? 'x' : alu[1](k)]
  }
  if (isConditionalJump(code) && (code & ~0xf8) === BPF_JMP) {
    const name = JMP_NAMES[code & 0xf0]
    if (name !== undefined) return [name, (code & BPF_X) !== 0 ? 'x' : hex(k)]
  }
  return ['unimp', `0x${code.toString(16)}`]
}

/** One line of `tcpdump -d`: `(001) jeq      #0x800           jt 2\tjf 5`. */
export function formatInsn (insn: BpfInsn, n: number): string {
  const [op, operand] = image(insn, n)
  const index = `(${String(n).padStart(3, '0')})`
  if (isConditionalJump(insn.code) && op !== 'unimp') {
    return `${index} ${op.padEnd(8)} ${operand.padEnd(16)} jt ${n + 1 + insn.jt}\tjf ${n + 1 + insn.jf}`
  }
  return `${index} ${op.padEnd(8)} ${operand}`
}

export function bpfToText (insns: readonly BpfInsn[]): string {
  return insns.map(formatInsn).join('\n') + '\n'
}

/** `instructions` of a program or the array itself. */
export function insnsOf (program: BpfProgram | readonly BpfInsn[]): readonly BpfInsn[] {
  return program instanceof BpfProgram ? program.instructions : program
}

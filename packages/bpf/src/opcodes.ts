/**
 * Classic BPF as the Linux kernel takes it (linux/filter.h, linux/bpf_common.h):
 * one `struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }` per
 * instruction, at most BPF_MAXINSNS of them.
 */

/** One instruction: `code` u16, `jt`/`jf` u8 (relative, forward), `k` u32. */
export interface BpfInsn {
  readonly code: number
  readonly jt: number
  readonly jf: number
  readonly k: number
}

/** Most instructions a socket filter may have (linux/bpf_common.h). */
export const BPF_MAXINSNS = 4096
/** Scratch memory cells M[0..15]. */
export const BPF_MEMWORDS = 16

// Instruction classes
export const BPF_LD = 0x00
export const BPF_LDX = 0x01
export const BPF_ST = 0x02
export const BPF_STX = 0x03
export const BPF_ALU = 0x04
export const BPF_JMP = 0x05
export const BPF_RET = 0x06
export const BPF_MISC = 0x07

// ld/ldx operand size
export const BPF_W = 0x00
export const BPF_H = 0x08
export const BPF_B = 0x10

// ld/ldx addressing mode
export const BPF_IMM = 0x00
export const BPF_ABS = 0x20
export const BPF_IND = 0x40
export const BPF_MEM = 0x60
export const BPF_LEN = 0x80
export const BPF_MSH = 0xa0

// alu/jmp operation
export const BPF_ADD = 0x00
export const BPF_SUB = 0x10
export const BPF_MUL = 0x20
export const BPF_DIV = 0x30
export const BPF_OR = 0x40
export const BPF_AND = 0x50
export const BPF_LSH = 0x60
export const BPF_RSH = 0x70
export const BPF_NEG = 0x80
export const BPF_MOD = 0x90
export const BPF_XOR = 0xa0

export const BPF_JA = 0x00
export const BPF_JEQ = 0x10
export const BPF_JGT = 0x20
export const BPF_JGE = 0x30
export const BPF_JSET = 0x40

// operand source (alu/jmp), return value source (ret)
export const BPF_K = 0x00
export const BPF_X = 0x08
export const BPF_A = 0x10

// misc
export const BPF_TAX = 0x00
export const BPF_TXA = 0x80

/** Ancillary loads start here (k of ld [k] seen as u32; SKF_AD_OFF = -0x1000). */
export const SKF_AD_OFF = 0xfffff000
/** Loads relative to the network header (SKF_NET_OFF = -0x100000). */
export const SKF_NET_OFF = 0xfff00000
/** Loads relative to the link-layer header (SKF_LL_OFF = -0x200000). */
export const SKF_LL_OFF = 0xffe00000
/** The ancillary offsets the kernel knows (SKF_AD_PROTOCOL … SKF_AD_VLAN_TPID). */
export const SKF_AD_MAX = 64

export function bpfClass (code: number): number { return code & 0x07 }
export function bpfSize (code: number): number { return code & 0x18 }
export function bpfMode (code: number): number { return code & 0xe0 }
export function bpfOp (code: number): number { return code & 0xf0 }
export function bpfSrc (code: number): number { return code & 0x08 }
export function bpfRval (code: number): number { return code & 0x18 }
export function bpfMiscOp (code: number): number { return code & 0xf8 }

/** `BPF_STMT(code, k)` */
export function bpfStmt (code: number, k = 0): BpfInsn {
  return { code, jt: 0, jf: 0, k: k >>> 0 }
}

/** `BPF_JUMP(code, k, jt, jf)` */
export function bpfJump (code: number, k: number, jt: number, jf: number): BpfInsn {
  return { code, jt, jf, k: k >>> 0 }
}

/** True for a conditional jump (JEQ, JGT, JGE, JSET with K or X). */
export function isConditionalJump (code: number): boolean {
  return bpfClass(code) === BPF_JMP && bpfOp(code) !== BPF_JA
}

/**
 * Every opcode the kernel accepts in a socket filter (net/core/filter.c,
 * `codes[]` in bpf_check_classic). Anything else is refused with EINVAL.
 */
export const KERNEL_OPCODES: ReadonlySet<number> = new Set([
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH]
    .flatMap((op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X]),
  BPF_ALU | BPF_NEG,
  BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_ABS,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LD | BPF_W | BPF_IND, BPF_LD | BPF_H | BPF_IND, BPF_LD | BPF_B | BPF_IND,
  BPF_LD | BPF_IMM, BPF_LD | BPF_MEM,
  BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_B | BPF_MSH, BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM,
  BPF_ST, BPF_STX,
  BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
  BPF_RET | BPF_K, BPF_RET | BPF_A,
  BPF_JMP | BPF_JA,
  ...[BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X])
])

import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import {
  type BpfInsn,
  BPF_A, BPF_ABS, BPF_ALU, BPF_B, BPF_DIV, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_LDX, BPF_LSH,
  BPF_MAXINSNS, BPF_MEM, BPF_MOD, BPF_RET, BPF_ST, BPF_STX, BPF_W, BPF_X, SKF_AD_OFF, bpfJump, bpfStmt
} from './opcodes.js'
import { bpfProblems, verifyBpf } from './verifier.js'

const RET0 = bpfStmt(BPF_RET | BPF_K, 0)
const RET_A = bpfStmt(BPF_RET | BPF_A)

describe('verifyBpf', () => {
  it('accepts a minimal program and one using every kind of instruction', () => {
    expect(bpfProblems([RET0])).to.deep.equal([])
    verifyBpf([
      bpfStmt(BPF_LD | BPF_B | BPF_ABS, 0),
      bpfStmt(BPF_ST, 0),
      bpfJump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 2),
      bpfStmt(BPF_LD | BPF_MEM, 0),
      RET_A,
      bpfStmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + 4), // SKF_AD_PKTTYPE
      RET0
    ])
  })

  const refused: Array<[string, BpfInsn[], RegExp]> = [
    ['an empty program', [], /empty/],
    ['more than 4096 instructions', Array.from({ length: BPF_MAXINSNS + 1 }, () => RET0), /BPF_MAXINSNS/],
    ['a program that does not end with ret', [bpfStmt(BPF_LD | BPF_IMM, 1)], /ret/],
    ['a conditional jump past the end', [bpfJump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), RET0], /past the end/],
    ['a conditional jump onto the end', [bpfJump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), RET0], /past the end/],
    ['a ja past the end', [bpfStmt(BPF_JMP | BPF_JA, 1), RET0], /past the end/],
    ['division by the constant 0', [bpfStmt(BPF_ALU | BPF_DIV | BPF_K, 0), RET0], /division/],
    ['modulo by the constant 0', [bpfStmt(BPF_ALU | BPF_MOD | BPF_K, 0), RET0], /division/],
    ['a shift by 32', [bpfStmt(BPF_ALU | BPF_LSH | BPF_K, 32), RET0], /shift/],
    ['a scratch index of 16 in ld', [bpfStmt(BPF_LD | BPF_MEM, 16), RET0], /scratch memory index 16/],
    ['a scratch index of 16 in st', [bpfStmt(BPF_ST, 16), RET0], /scratch memory index 16/],
    ['a scratch index of 16 in stx', [bpfStmt(BPF_STX, 16), RET0], /scratch memory index 16/],
    ['a scratch index of 16 in ldx', [bpfStmt(BPF_LDX | BPF_MEM, 16), RET0], /scratch memory index 16/],
    ['reading M[k] before writing it', [bpfStmt(BPF_LD | BPF_MEM, 3), RET_A], /M\[3\] may be read before/],
    ['reading M[k] written on one branch only', [
      bpfJump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
      bpfStmt(BPF_ST, 1),
      bpfStmt(BPF_LD | BPF_MEM, 1),
      RET_A
    ], /M\[1\]/],
    ['an unknown opcode', [bpfStmt(0x0e), RET0], /opcode 0xe/],
    ['ret X (not a kernel instruction)', [bpfStmt(BPF_RET | BPF_X)], /opcode/],
    ['an unknown ancillary load', [bpfStmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + 200), RET0], /ancillary/],
    ['a jt that does not fit in u8', [{ code: BPF_JMP | BPF_JEQ | BPF_K, jt: 256, jf: 0, k: 0 }, RET0], /out of range/],
    ['a k that does not fit in u32', [{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 2 ** 32 }], /out of range/]
  ]
  for (const [what, insns, message] of refused) {
    it(`refuses ${what} with TC_ERR_CONFIG_FILTER_INVALID`, () => {
      expect(bpfProblems(insns).join('; ')).to.match(message)
      expect(() => verifyBpf(insns)).to.throw(message).that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_CONFIG_FILTER_INVALID'))
    })
  }

  it('accepts reading M[k] written on every path to the read', () => {
    verifyBpf([
      bpfStmt(BPF_LD | BPF_B | BPF_ABS, 0),
      bpfJump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
      bpfStmt(BPF_ST, 1),
      bpfStmt(BPF_JMP | BPF_JA, 1),
      bpfStmt(BPF_STX, 1),
      bpfStmt(BPF_LDX | BPF_MEM, 1),
      bpfStmt(BPF_RET | BPF_K, 1)
    ])
  })

  it('accepts exactly 4096 instructions', () => {
    verifyBpf(Array.from({ length: BPF_MAXINSNS }, () => RET0))
    verifyBpf([...Array.from({ length: BPF_MAXINSNS - 1 }, () => bpfStmt(BPF_LD | BPF_W | BPF_ABS, 0)), RET0])
  })
})

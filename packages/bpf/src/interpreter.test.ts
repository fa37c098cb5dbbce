import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import { runBpf } from './interpreter.js'
import {
  type BpfInsn,
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ, BPF_JGE,
  BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MISC, BPF_MOD, BPF_MSH,
  BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR,
  SKF_AD_OFF, bpfJump, bpfStmt
} from './opcodes.js'
import { BpfProgram } from './program.js'

const RET_A = bpfStmt(BPF_RET | BPF_A)
const PACKET = new Uint8Array([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x45])

/** Runs `body` followed by `ret a`, returning A. */
function a (body: BpfInsn[], packet = PACKET, wirelen?: number): number {
  return runBpf([...body, RET_A], packet, wirelen)
}
const ldImm = (k: number): BpfInsn => bpfStmt(BPF_LD | BPF_IMM, k)
const ldxImm = (k: number): BpfInsn => bpfStmt(BPF_LDX | BPF_IMM, k)
const alu = (op: number, k: number): BpfInsn => bpfStmt(BPF_ALU | op | BPF_K, k)
const aluX = (op: number): BpfInsn => bpfStmt(BPF_ALU | op | BPF_X)
const invalid = (err: unknown): boolean => isTcpcopyError(err, 'TC_ERR_CONFIG_FILTER_INVALID')

describe('runBpf', () => {
  describe('loads', () => {
    it('loads words, halfwords and bytes big-endian at an absolute offset', () => {
      expect(a([bpfStmt(BPF_LD | BPF_W | BPF_ABS, 1)])).to.equal(0x3456789a)
      expect(a([bpfStmt(BPF_LD | BPF_W | BPF_ABS, 4)])).to.equal(0x9abcdef0)
      expect(a([bpfStmt(BPF_LD | BPF_H | BPF_ABS, 7)])).to.equal(0xf045)
      expect(a([bpfStmt(BPF_LD | BPF_B | BPF_ABS, 8)])).to.equal(0x45)
    })

    it('loads at X + k', () => {
      expect(a([ldxImm(2), bpfStmt(BPF_LD | BPF_W | BPF_IND, 1)])).to.equal(0x789abcde)
      expect(a([ldxImm(6), bpfStmt(BPF_LD | BPF_H | BPF_IND, 0)])).to.equal(0xdef0)
      expect(a([ldxImm(8), bpfStmt(BPF_LD | BPF_B | BPF_IND, 0)])).to.equal(0x45)
    })

    it('ends the program with 0 on a load past the end, as the kernel does', () => {
      expect(a([bpfStmt(BPF_LD | BPF_W | BPF_ABS, 6)])).to.equal(0)
      expect(a([bpfStmt(BPF_LD | BPF_H | BPF_ABS, 8)])).to.equal(0)
      expect(a([bpfStmt(BPF_LD | BPF_B | BPF_ABS, 9)])).to.equal(0)
      expect(a([ldxImm(8), bpfStmt(BPF_LD | BPF_B | BPF_IND, 1)])).to.equal(0)
    })

    it('adds X + k in 32 bits, wrapping like the kernel\'s int offset', () => {
      expect(a([ldxImm(0xffffffff), bpfStmt(BPF_LD | BPF_B | BPF_IND, 2)])).to.equal(0x34)
    })

    it('loads the IPv4 header length into X with ldxb 4*([k]&0xf)', () => {
      expect(runBpf([bpfStmt(BPF_LDX | BPF_B | BPF_MSH, 8), bpfStmt(BPF_MISC | BPF_TXA), RET_A], PACKET)).to.equal(20)
      expect(runBpf([bpfStmt(BPF_LDX | BPF_B | BPF_MSH, 0), bpfStmt(BPF_MISC | BPF_TXA), RET_A], PACKET)).to.equal(8)
      expect(runBpf([bpfStmt(BPF_LDX | BPF_B | BPF_MSH, 9), bpfStmt(BPF_RET | BPF_K, 1)], PACKET)).to.equal(0)
    })

    it('loads the wire length with ld #pktlen and ldx #pktlen', () => {
      expect(a([bpfStmt(BPF_LD | BPF_W | BPF_LEN)])).to.equal(9)
      expect(a([bpfStmt(BPF_LD | BPF_W | BPF_LEN)], PACKET, 1500)).to.equal(1500)
      expect(a([bpfStmt(BPF_LDX | BPF_W | BPF_LEN), bpfStmt(BPF_MISC | BPF_TXA)], PACKET, 60)).to.equal(60)
    })

    it('loads immediates', () => {
      expect(a([ldImm(0xdeadbeef)])).to.equal(0xdeadbeef)
      expect(a([ldxImm(7), bpfStmt(BPF_MISC | BPF_TXA)])).to.equal(7)
    })

    it('stores A and X in scratch memory and loads them back', () => {
      expect(a([ldImm(5), bpfStmt(BPF_ST, 3), ldImm(0), bpfStmt(BPF_LD | BPF_MEM, 3)])).to.equal(5)
      expect(a([ldxImm(9), bpfStmt(BPF_STX, 15), bpfStmt(BPF_LDX | BPF_MEM, 15), bpfStmt(BPF_MISC | BPF_TXA)])).to.equal(9)
    })

    it('refuses ancillary loads it does not emulate', () => {
      expect(() => a([bpfStmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF)])).to.throw().that.satisfies(invalid)
    })
  })

  describe('arithmetic', () => {
    it('computes every ALU operation with K and with X, in 32 bits', () => {
      const cases: Array<[number, number, number, number]> = [
        [BPF_ADD, 0xffffffff, 2, 1],
        [BPF_SUB, 1, 2, 0xffffffff],
        [BPF_MUL, 0x10000, 0x10001, 0x10000],
        [BPF_DIV, 100, 7, 14],
        [BPF_MOD, 100, 7, 2],
        [BPF_AND, 0xf0f0, 0x0ff0, 0x00f0],
        [BPF_OR, 0xf000, 0x000f, 0xf00f],
        [BPF_XOR, 0xff00, 0x0ff0, 0xf0f0],
        [BPF_LSH, 0x80000001, 1, 2],
        [BPF_RSH, 0x80000000, 31, 1]
      ]
      for (const [op, x, y, want] of cases) {
        expect(a([ldImm(x), alu(op, y)]), `op 0x${op.toString(16)} K`).to.equal(want)
        expect(a([ldImm(x), ldxImm(y), aluX(op)]), `op 0x${op.toString(16)} X`).to.equal(want)
      }
      expect(a([ldImm(5), bpfStmt(BPF_ALU | BPF_NEG)])).to.equal(0xfffffffb)
    })

    it('ends the program with 0 when dividing by X = 0, as the kernel does', () => {
      expect(a([ldImm(5), ldxImm(0), aluX(BPF_DIV)])).to.equal(0)
      expect(a([ldImm(5), ldxImm(0), aluX(BPF_MOD)])).to.equal(0)
    })

    it('refuses division by the constant 0 (the verifier does too)', () => {
      expect(() => a([ldImm(5), alu(BPF_DIV, 0)])).to.throw().that.satisfies(invalid)
    })

    it('shifts by the low 5 bits of X', () => {
      expect(a([ldImm(1), ldxImm(33), aluX(BPF_LSH)])).to.equal(2)
    })

    it('copies between A and X with tax and txa', () => {
      expect(a([ldImm(42), bpfStmt(BPF_MISC | BPF_TAX), ldImm(0), bpfStmt(BPF_MISC | BPF_TXA)])).to.equal(42)
    })
  })

  describe('jumps and returns', () => {
    const test = (op: number, acc: number, k: number, useX = false): number => runBpf([
      ldImm(acc),
      ...(useX ? [ldxImm(k)] : []),
      bpfJump(BPF_JMP | op | (useX ? BPF_X : BPF_K), useX ? 0 : k, 0, 1),
      bpfStmt(BPF_RET | BPF_K, 1),
      bpfStmt(BPF_RET | BPF_K, 2)
    ], PACKET)

    it('takes jt or jf by the comparison, unsigned, against K or X', () => {
      for (const useX of [false, true]) {
        expect(test(BPF_JEQ, 5, 5, useX)).to.equal(1)
        expect(test(BPF_JEQ, 5, 6, useX)).to.equal(2)
        expect(test(BPF_JGT, 6, 5, useX)).to.equal(1)
        expect(test(BPF_JGT, 5, 5, useX)).to.equal(2)
        expect(test(BPF_JGT, 0xffffffff, 1, useX)).to.equal(1)
        expect(test(BPF_JGE, 5, 5, useX)).to.equal(1)
        expect(test(BPF_JGE, 4, 5, useX)).to.equal(2)
        expect(test(BPF_JSET, 0x12, 0x02, useX)).to.equal(1)
        expect(test(BPF_JSET, 0x12, 0x04, useX)).to.equal(2)
      }
    })

    it('jumps forward by k with ja', () => {
      expect(runBpf([bpfStmt(BPF_JMP | BPF_JA, 1), bpfStmt(BPF_RET | BPF_K, 1), bpfStmt(BPF_RET | BPF_K, 2)], PACKET)).to.equal(2)
    })

    it('returns K or A as an unsigned number', () => {
      expect(runBpf([bpfStmt(BPF_RET | BPF_K, 0xffffffff)], PACKET)).to.equal(0xffffffff)
      expect(a([ldImm(0x80000000)])).to.equal(0x80000000)
    })

    it('accepts a BpfProgram as well as an array', () => {
      expect(runBpf(new BpfProgram([bpfStmt(BPF_RET | BPF_K, 7)]), PACKET)).to.equal(7)
    })

    it('refuses to run off the end or to run an unknown opcode', () => {
      expect(() => runBpf([ldImm(1)], PACKET)).to.throw().that.satisfies(invalid)
      expect(() => runBpf([bpfStmt(BPF_RET | BPF_X)], PACKET)).to.throw().that.satisfies(invalid)
      expect(() => runBpf([bpfStmt(0xffff)], PACKET)).to.throw().that.satisfies(invalid)
      expect(() => runBpf([bpfStmt(BPF_LD | BPF_MEM, 16), RET_A], PACKET)).to.throw().that.satisfies(invalid)
    })
  })
})

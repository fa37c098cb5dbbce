import { expect } from 'chai'
import { isTcpcopyError } from '@tcpcopy/interface'
import { hex } from './fixtures.js'
import {
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ, BPF_JGT, BPF_JMP,
  BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_MEM, BPF_MISC, BPF_MSH, BPF_NEG, BPF_RET, BPF_ST, BPF_STX,
  BPF_TAX, BPF_TXA, BPF_W, BPF_X, bpfJump, bpfStmt
} from './opcodes.js'
import { BpfProgram, formatInsn } from './program.js'
import { compileChecked } from './test-helpers.js'

describe('BpfProgram', () => {
  const program = new BpfProgram([
    bpfStmt(BPF_LD | BPF_H | BPF_ABS, 12),
    bpfJump(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 1),
    bpfStmt(BPF_RET | BPF_K, 262144),
    bpfStmt(BPF_RET | BPF_K, 0)
  ])
  const BYTES = hex`
    28 00 00 00 0c 00 00 00  // ldh [12]: code 0x0028, jt 0, jf 0, k 12
    15 00 00 01 00 08 00 00  // jeq #0x800: code 0x0015, jt 0, jf 1, k 0x800
    06 00 00 00 00 00 04 00  // ret #262144: code 0x0006, k 0x40000
    06 00 00 00 00 00 00 00  // ret #0
  `

  it('encodes struct sock_filter little-endian, 8 bytes per instruction', () => {
    expect(program.toBytes()).to.deep.equal(BYTES)
  })

  it('encodes big-endian on request', () => {
    expect(Array.from(program.toBytes(false).subarray(0, 8))).to.deep.equal([0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c])
  })

  it('round-trips through bytes: encode, decode, encode again', () => {
    const compiled = compileChecked('tcp and ((dst port 80 and dst host 10.0.0.2) or (dst port 8080))')
    const bytes = compiled.toBytes()
    expect(bytes.length).to.equal(compiled.length * 8)
    const decoded = BpfProgram.fromBytes(bytes)
    expect(decoded.instructions).to.deep.equal(compiled.instructions)
    expect(decoded.toBytes()).to.deep.equal(bytes)
    expect(BpfProgram.fromBytes(compiled.toBytes(false), false).instructions).to.deep.equal(compiled.instructions)
  })

  it('decodes from an offset into a larger buffer', () => {
    const big = new Uint8Array(BYTES.length + 5)
    big.set(BYTES, 3)
    expect(BpfProgram.fromBytes(big.subarray(3, 3 + BYTES.length)).instructions).to.deep.equal(program.instructions)
  })

  it('refuses bytes that are not a whole number of structs', () => {
    expect(() => BpfProgram.fromBytes(new Uint8Array(9))).to.throw().that.satisfies((err: unknown) => isTcpcopyError(err, 'TC_ERR_CONFIG_FILTER_INVALID'))
  })

  it('is immutable', () => {
    expect(Object.isFrozen(program.instructions)).to.equal(true)
    expect(Object.isFrozen(program.instructions[0])).to.equal(true)
  })

  it('prints every instruction the way tcpdump -d does', () => {
    const lines: Array<[ReturnType<typeof bpfStmt>, string]> = [
      [bpfStmt(BPF_LD | BPF_W | BPF_ABS, 26), '(007) ld       [26]'],
      [bpfStmt(BPF_LD | BPF_H | BPF_ABS, 12), '(007) ldh      [12]'],
      [bpfStmt(BPF_LD | BPF_B | BPF_ABS, 23), '(007) ldb      [23]'],
      [bpfStmt(BPF_LD | BPF_W | BPF_IND, 2), '(007) ld       [x + 2]'],
      [bpfStmt(BPF_LD | BPF_H | BPF_IND, 14), '(007) ldh      [x + 14]'],
      [bpfStmt(BPF_LD | BPF_B | BPF_IND, 0), '(007) ldb      [x + 0]'],
      [bpfStmt(BPF_LD | BPF_W | BPF_LEN), '(007) ld       #pktlen'],
      [bpfStmt(BPF_LDX | BPF_W | BPF_LEN), '(007) ldx      #pktlen'],
      [bpfStmt(BPF_LD | BPF_IMM, 255), '(007) ld       #0xff'],
      [bpfStmt(BPF_LDX | BPF_IMM, 4), '(007) ldx      #0x4'],
      [bpfStmt(BPF_LDX | BPF_B | BPF_MSH, 14), '(007) ldxb     4*([14]&0xf)'],
      [bpfStmt(BPF_LD | BPF_MEM, 1), '(007) ld       M[1]'],
      [bpfStmt(BPF_LDX | BPF_MEM, 2), '(007) ldx      M[2]'],
      [bpfStmt(BPF_ST, 3), '(007) st       M[3]'],
      [bpfStmt(BPF_STX, 4), '(007) stx      M[4]'],
      [bpfStmt(BPF_ALU | BPF_ADD | BPF_K, 10), '(007) add      #10'],
      [bpfStmt(BPF_ALU | BPF_AND | BPF_K, 0xffff0000), '(007) and      #0xffff0000'],
      [bpfStmt(BPF_ALU | BPF_ADD | BPF_X), '(007) add      x'],
      [bpfStmt(BPF_ALU | BPF_NEG), '(007) neg      '],
      [bpfStmt(BPF_MISC | BPF_TAX), '(007) tax      '],
      [bpfStmt(BPF_MISC | BPF_TXA), '(007) txa      '],
      [bpfStmt(BPF_JMP | BPF_JA, 3), '(007) ja       11'],
      [bpfJump(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 3), '(007) jeq      #0x800           jt 8\tjf 11'],
      [bpfJump(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 5, 0), '(007) jset     #0x1fff          jt 13\tjf 8'],
      [bpfJump(BPF_JMP | BPF_JGT | BPF_X, 0, 1, 2), '(007) jgt      x                jt 9\tjf 10'],
      [bpfStmt(BPF_RET | BPF_K, 262144), '(007) ret      #262144'],
      [bpfStmt(BPF_RET | BPF_A), '(007) ret      '],
      [bpfStmt(0xff), '(007) unimp    0xff']
    ]
    for (const [insn, text] of lines) expect(formatInsn(insn, 7)).to.equal(text)
  })
})

// Shared by the tests: compile, then check the program is one the kernel takes.
import { expect } from 'chai'
import type { FilterExpr } from './ast.js'
import { type CompileOptions, compileFilter } from './compiler.js'
import { isConditionalJump, BPF_RET } from './opcodes.js'
import type { BpfProgram } from './program.js'
import { bpfProblems } from './verifier.js'

/** compileFilter + every check the kernel makes, so no test runs a program the kernel would refuse. */
export function compileChecked (filter: string | FilterExpr, options: CompileOptions = {}): BpfProgram {
  const program = compileFilter(filter, options)
  expect(bpfProblems(program), typeof filter === 'string' ? filter : JSON.stringify(filter)).to.deep.equal([])
  const insns = program.instructions
  insns.forEach((insn, pc) => {
    if (isConditionalJump(insn.code)) {
      expect(insn.jt).to.be.within(0, 255)
      expect(insn.jf).to.be.within(0, 255)
      expect(pc + 1 + Math.max(insn.jt, insn.jf)).to.be.below(insns.length)
    }
  })
  expect((insns[insns.length - 1]?.code ?? 0) & 0x07).to.equal(BPF_RET)
  return program
}

// Test doubles for the programs' outside world (ProgramIo): output sinks, a
// signal emitter, and a temporary directory per test.
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export class Sink {
  text = ''
  isTTY = false
  write (s: string): void { this.text += s }
}

export interface TestIo {
  dir: string
  stdout: Sink
  stderr: Sink
  signals: EventEmitter
}

/** Registers beforeEach/afterEach that give each test a fresh TestIo (read its fields inside the test). */
export function useTestIo (tag: string): TestIo {
  const io = {} as TestIo
  beforeEach(() => {
    io.dir = mkdtempSync(join(tmpdir(), `tc-${tag}-`))
    io.stdout = new Sink()
    io.stderr = new Sink()
    io.signals = new EventEmitter()
  })
  afterEach(() => { rmSync(io.dir, { recursive: true, force: true }) })
  return io
}

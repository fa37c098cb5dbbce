// Instantiates the WASM core. Uses only WebAssembly and atob, so it runs in
// any JS runtime with WebAssembly (Node, Deno, Bun, browsers, workers).
import { CoreError } from '@tcpcopy/interface'
import { RELEASE_WASM_BASE64, DEBUG_WASM_BASE64, FIXED_PAGES } from '@tcpcopy/wasm'
import type { CoreExports } from './exports.js'

/** Largest memory a core may grow to, in 64 KiB pages (2 GiB). */
export const MAX_CORE_PAGES = 32768

export interface LoadOptions {
  /** Use the debug build (assertions on, names kept). */
  debug?: boolean
  /** A compiled module or bytes to use instead of the embedded build. */
  module?: WebAssembly.Module | BufferSource
}

export interface RawCore {
  readonly exports: CoreExports
  readonly memory: WebAssembly.Memory
}

export function decodeBase64 (text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

let releaseModule: WebAssembly.Module | undefined
let debugModule: WebAssembly.Module | undefined

/** The compiled embedded module, compiled once per process and reused. */
export function embeddedModule (debug = false): WebAssembly.Module {
  if (debug) return (debugModule ??= new WebAssembly.Module(decodeBase64(DEBUG_WASM_BASE64)))
  return (releaseModule ??= new WebAssembly.Module(decodeBase64(RELEASE_WASM_BASE64)))
}

function imports (memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort (msg: number, file: number, line: number, column: number): never {
        throw new CoreError(`WASM core aborted at ${line}:${column} (message@${msg}, file@${file})`,
          'TC_ERR_CORE_ABORT', -1)
      }
    }
  }
}

function newMemory (): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: FIXED_PAGES, maximum: MAX_CORE_PAGES })
}

/** Synchronous instantiation (fine in Node; browsers limit sync compiles of large modules). */
export function instantiateCoreSync (opts: LoadOptions = {}): RawCore {
  const memory = newMemory()
  const mod = opts.module instanceof WebAssembly.Module
    ? opts.module
    : opts.module !== undefined ? new WebAssembly.Module(opts.module) : embeddedModule(opts.debug)
  const instance = new WebAssembly.Instance(mod, imports(memory))
  return { exports: instance.exports as unknown as CoreExports, memory }
}

/** Asynchronous instantiation, for runtimes that disallow sync compilation. */
export async function instantiateCore (opts: LoadOptions = {}): Promise<RawCore> {
  const memory = newMemory()
  let mod: WebAssembly.Module
  if (opts.module instanceof WebAssembly.Module) mod = opts.module
  else if (opts.module !== undefined) mod = await WebAssembly.compile(opts.module)
  else mod = await WebAssembly.compile(decodeBase64(opts.debug === true ? DEBUG_WASM_BASE64 : RELEASE_WASM_BASE64))
  const instance = await WebAssembly.instantiate(mod, imports(memory))
  return { exports: instance.exports as unknown as CoreExports, memory }
}

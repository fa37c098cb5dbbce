// Instantiates the WASM core. Uses only WebAssembly, atob and
// crypto.getRandomValues, so it runs in any JS runtime with WebAssembly
// (Node, Deno, Bun, browsers, workers).
import { ConfigError, CoreError } from '@tcpcopy/interface'
import { RELEASE_WASM_BASE64, DEBUG_WASM_BASE64, FIXED_PAGES } from '@tcpcopy/wasm'
import type { CoreExports } from './exports.js'

/** Largest memory a core may grow to, in 64 KiB pages (2 GiB). */
export const MAX_CORE_PAGES = 32768

export interface LoadOptions {
  /** Use the debug build (assertions on, names kept). */
  debug?: boolean
  /** A compiled module or bytes to use instead of the embedded build. */
  module?: WebAssembly.Module | BufferSource
  /**
   * The 64-bit key of the route hash (0 .. 2^64 - 1). Default: random, from
   * globalThis.crypto.getRandomValues. Peers choose the keys of CLIENT_ADD,
   * so a seed they can guess would let them put every route in one bucket;
   * pass a fixed seed only to make tests repeatable.
   */
  hashSeed?: bigint
}

export interface RawCore {
  readonly exports: CoreExports
  readonly memory: WebAssembly.Memory
  /** The seed to pass to coreInit (LoadOptions.hashSeed, or a random one). */
  readonly hashSeed: bigint
}

const U64_MAX = (1n << 64n) - 1n

/** A random 64-bit hash seed from globalThis.crypto.getRandomValues. */
export function randomHashSeed (): bigint {
  const c = (globalThis as { crypto?: { getRandomValues?: <T extends ArrayBufferView>(a: T) => T } }).crypto
  if (typeof c?.getRandomValues !== 'function') {
    throw new CoreError('this runtime has no globalThis.crypto.getRandomValues to seed the route hash; pass the hashSeed option',
      'TC_ERR_CORE_NO_RANDOM', -1)
  }
  const w = c.getRandomValues(new Uint32Array(2))
  return (BigInt(w[0]!) << 32n) | BigInt(w[1]!)
}

function seedOf (opts: LoadOptions): bigint {
  const seed = opts.hashSeed
  if (seed === undefined) return randomHashSeed()
  if (typeof seed !== 'bigint' || seed < 0n || seed > U64_MAX) {
    throw new ConfigError(`hashSeed must be a bigint 0..2^64-1, e.g. 0x243f6a8885a308d3n, got ${String(seed)}`, 'TC_ERR_CONFIG_CORE')
  }
  return seed
}

/** The two u32 halves of a seed, as coreInit takes them: [lo, hi]. */
export function seedWords (seed: bigint): [number, number] {
  return [Number(seed & 0xffffffffn), Number((seed >> 32n) & 0xffffffffn)]
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
  const hashSeed = seedOf(opts)
  const memory = newMemory()
  const mod = opts.module instanceof WebAssembly.Module
    ? opts.module
    : opts.module !== undefined ? new WebAssembly.Module(opts.module) : embeddedModule(opts.debug)
  const instance = new WebAssembly.Instance(mod, imports(memory))
  return { exports: instance.exports as unknown as CoreExports, memory, hashSeed }
}

/** Asynchronous instantiation, for runtimes that disallow sync compilation. */
export async function instantiateCore (opts: LoadOptions = {}): Promise<RawCore> {
  const hashSeed = seedOf(opts)
  const memory = newMemory()
  let mod: WebAssembly.Module
  if (opts.module instanceof WebAssembly.Module) mod = opts.module
  else if (opts.module !== undefined) mod = await WebAssembly.compile(opts.module)
  else mod = await WebAssembly.compile(decodeBase64(opts.debug === true ? DEBUG_WASM_BASE64 : RELEASE_WASM_BASE64))
  const instance = await WebAssembly.instantiate(mod, imports(memory))
  return { exports: instance.exports as unknown as CoreExports, memory, hashSeed }
}

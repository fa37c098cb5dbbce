import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { FIXED_PAGES, ARENA_BASE, PAGE_SIZE, Status } from '@tcpcopy/wasm'
import { instantiateCore, instantiateCoreSync, embeddedModule, decodeBase64 } from './loader.js'
import { createCore, createCoreAsync } from './core.js'
import { statusCode, toCoreError } from './errors.js'

describe('loader', () => {
  it('uses no Node-only API, so it runs in any runtime with WebAssembly', () => {
    const src = readFileSync(fileURLToPath(new URL('../src/loader.ts', import.meta.url)), 'utf8')
    expect(src).not.to.match(/from 'node:|require\(|\bprocess\.|\bBuffer\b|import\.meta/)
  })

  it('decodes base64 without Buffer', () => {
    expect(Array.from(decodeBase64('AGFzbQ=='))).to.deep.equal([0, 0x61, 0x73, 0x6d])
  })

  it('instantiates synchronously and asynchronously with a memory of the fixed size', async () => {
    const a = instantiateCoreSync()
    const b = await instantiateCore()
    expect(a.memory.buffer.byteLength).to.equal(FIXED_PAGES * PAGE_SIZE)
    expect(b.memory.buffer.byteLength).to.equal(FIXED_PAGES * PAGE_SIZE)
    expect(ARENA_BASE).to.equal(FIXED_PAGES * PAGE_SIZE)
  })

  it('loads the debug build and a caller-given module', async () => {
    const d = instantiateCoreSync({ debug: true })
    expect(d.exports.coreInit(16, 16, 1000, 0, 16, 4, 16, 1000)).to.equal(Status.Ok)
    const c = await createCoreAsync({ module: embeddedModule(), hashSize: 64, maxRoutes: 64 })
    expect(c.counters().Routes).to.equal(0)
  })

  it('grows the memory in coreInit for the tables it is asked for, and no more afterwards', () => {
    const small = createCore({ hashSize: 16, maxRoutes: 16, delayTotal: 16 })
    const big = createCore({ hashSize: 65536, maxRoutes: 1 << 20 })
    expect(big.raw.memory.buffer.byteLength).to.be.greaterThan(small.raw.memory.buffer.byteLength)
    expect(big.raw.memory.buffer.byteLength).to.be.at.least(ARENA_BASE + big.exports.coreArenaBytes())
  })

  it('turns a bad core option into a ConfigError and a failed init into a CoreError', () => {
    expect(() => createCore({ hashSize: 0 })).to.throw().with.property('code', 'TC_ERR_CONFIG_CORE')
    const raw = instantiateCoreSync()
    expect(raw.exports.coreInit(0, 1, 1, 0, 1, 1, 1, 1)).to.equal(Status.BadArgument)
  })

  it('maps every status to a stable TC_ERR_CORE_* code', () => {
    expect(statusCode(Status.BadRegion)).to.equal('TC_ERR_CORE_BAD_REGION')
    expect(statusCode(Status.NoMemory)).to.equal('TC_ERR_CORE_NO_MEMORY')
    expect(statusCode(999)).to.equal('TC_ERR_CORE_UNKNOWN')
    const err = toCoreError(Status.NoMemory, 'coreInit')
    expect(err.status).to.equal(Status.NoMemory)
    expect(err.message).to.match(/^coreInit failed: .*--max-routes/)
  })
})

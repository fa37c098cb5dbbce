import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { FIXED_PAGES, ARENA_BASE, PAGE_SIZE, Status, LinkType, MAX_BATCH } from '@tcpcopy/wasm'
import { CoreError } from '@tcpcopy/interface'
import { instantiateCore, instantiateCoreSync, embeddedModule, decodeBase64, randomHashSeed, seedWords } from './loader.js'
import { createCore, createCoreAsync } from './core.js'
import { statusCode, toCoreError } from './errors.js'
import { ipv4Tcp } from './packet-fixtures.js'

const ACK = 0x10
const SYN = 0x02

describe('loader', () => {
  it('uses no Node-only API in its source, so it runs in any runtime with WebAssembly', () => {
    const src = readFileSync(fileURLToPath(new URL('../src/loader.ts', import.meta.url)), 'utf8')
    expect(src).not.to.match(/from 'node:|require\(|\bprocess\.|\bBuffer\b|import\.meta/)
  })

  it('loads the whole @tcpcopy/core import graph in a bare JS realm (node:vm: WebAssembly, TextEncoder/TextDecoder, atob and crypto only) and routes a packet there', function () {
    this.timeout(30_000)
    const runner = fileURLToPath(new URL('./test/bare-realm.js', import.meta.url))
    const child = spawnSync(process.execPath, ['--experimental-vm-modules', '--no-warnings', runner], { encoding: 'utf8', timeout: 25_000 })
    expect(child.status, child.stderr).to.equal(0)
    const result = JSON.parse(child.stdout) as { globals: Record<string, string>, verdicts: number[], routed: number[], modules: string[] }
    // the realm really was bare: no Node globals to lean on
    expect(result.globals).to.deep.equal({ process: 'undefined', Buffer: 'undefined', require: 'undefined', setTimeout: 'undefined', WebAssembly: 'object' })
    // the routed SYN-ACK became a record for connection 7 and its packet was dropped; the unrouted ACK too
    expect(result.verdicts).to.deep.equal([0, 0])
    expect(result.routed).to.deep.equal([7])
    expect(result.modules.some((m) => m.endsWith('/packages/core/dist/loader.js'))).to.equal(true)
    expect(result.modules.some((m) => m.endsWith('/wasm/dist/src/generated/wasm-bytes.js'))).to.equal(true)
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
    expect(d.exports.coreInit(16, 16, 1000, 0, 16, 4, 16, 1000, 1, 2)).to.equal(Status.Ok)
    const c = await createCoreAsync({ module: embeddedModule(), hashSize: 64, maxRoutes: 64 })
    expect(c.counters().Routes).to.equal(0)
  })

  it('grows the memory in coreInit for the tables it is asked for, and no more afterwards', () => {
    const small = createCore({ hashSize: 16, maxRoutes: 16, delayTotal: 16 })
    const big = createCore({ hashSize: 65536, maxRoutes: 1 << 20 })
    expect(big.raw.memory.buffer.byteLength).to.be.greaterThan(small.raw.memory.buffer.byteLength)
    expect(big.raw.memory.buffer.byteLength).to.be.at.least(ARENA_BASE + big.exports.coreArenaBytes())
    // fill every table past its caps: the memory (and any view over it) stays as it was
    const buffer = small.raw.memory.buffer
    const bytes = buffer.byteLength
    const view = small.bytes
    const key = { clientIp: 0x0a000001, clientPort: 1, targetIp: 0x0a000102, targetPort: 8080 }
    for (let i = 0; i < 200; i++) small.routerAdd({ ...key, clientPort: 1000 + i }, i, i)
    const frames = Array.from({ length: MAX_BATCH }, (_, i) => ipv4Tcp({ dport: 5000 + (i % 300), flags: i % 2 === 0 ? SYN : ACK }))
    for (let round = 0; round < 3; round++) small.processFrames(frames, LinkType.Raw, 300 + round)
    small.drainOut(() => {})
    expect(small.counters().DelayRecords).to.equal(16)
    expect(small.counters().Routes).to.equal(16)
    expect(small.raw.memory.buffer).to.equal(buffer)
    expect(small.raw.memory.buffer.byteLength).to.equal(bytes)
    expect(buffer.byteLength, 'the buffer was detached by a grow').to.equal(bytes)
    expect(view.length).to.equal(bytes)
  })

  it('gives the router twice the -s buckets and the delay table -s (as the 0.6 intercept), and takes the largest -s', () => {
    const arena = (hashSize: number): number => createCore({ hashSize, maxRoutes: 64, delayTotal: 64 }).exports.coreArenaBytes()
    // n more -s buckets: 2n more router bucket words (rounded to 64 bytes) and n more delay bucket words (rounded to 8)
    expect(arena(1024) - arena(512)).to.equal(2 * 512 * 4 + 512 * 4)
    expect(arena(4096) - arena(1024)).to.equal(2 * 3072 * 4 + 3072 * 4)
    expect(() => createCore({ hashSize: 0x1000000, maxRoutes: 16, delayTotal: 16 })).not.to.throw()
    const raw = instantiateCoreSync()
    expect(raw.exports.coreInit(0x2000000, 16, 0, 0, 16, 4, 16, 1000, 1, 2)).to.equal(Status.Ok)
    expect(raw.exports.coreInit(0x2000001, 16, 0, 0, 16, 4, 16, 1000, 1, 2)).to.equal(Status.BadArgument)
  })

  it('turns a bad core option into a ConfigError and a failed init into a CoreError', () => {
    expect(() => createCore({ hashSize: 0 })).to.throw().with.property('code', 'TC_ERR_CONFIG_CORE')
    // 16 Mi routes and 16 Mi delayed records need far more than the 2 GiB a core may grow to
    let err: unknown
    try {
      createCore({ hashSize: 0x1000000, maxRoutes: 0x1000000, delayTotal: 0x1000000 })
    } catch (e) { err = e }
    expect(err).to.be.instanceOf(CoreError)
    expect(err).to.have.property('code', 'TC_ERR_CORE_NO_MEMORY')
    expect(err).to.have.property('status', Status.NoMemory)
    expect((err as Error).message).to.match(/^coreInit failed: .*--hash-size/)
  })

  it('maps every status to a stable TC_ERR_CORE_* code', () => {
    expect(statusCode(Status.BadRegion)).to.equal('TC_ERR_CORE_BAD_REGION')
    expect(statusCode(Status.NoMemory)).to.equal('TC_ERR_CORE_NO_MEMORY')
    expect(statusCode(Status.BadTcpOption)).to.equal('TC_ERR_CORE_BAD_TCP_OPTION')
    expect(statusCode(999)).to.equal('TC_ERR_CORE_UNKNOWN')
    const err = toCoreError(Status.NoMemory, 'coreInit')
    expect(err.status).to.equal(Status.NoMemory)
    expect(err.message).to.match(/^coreInit failed: .*--max-routes/)
  })

  describe('hash seed', () => {
    it('takes a random 64-bit seed per core unless one is given', () => {
      const seeds = new Set(Array.from({ length: 8 }, () => instantiateCoreSync().hashSeed))
      expect(seeds.size).to.equal(8)
      for (const s of seeds) expect(s >= 0n && s < (1n << 64n)).to.equal(true)
      expect(typeof randomHashSeed()).to.equal('bigint')
      expect(instantiateCoreSync({ hashSeed: 42n }).hashSeed).to.equal(42n)
    })

    it('splits the seed into the two u32 words coreInit takes', () => {
      expect(seedWords(0x0123456789abcdefn)).to.deep.equal([0x89abcdef, 0x01234567])
      expect(seedWords((1n << 64n) - 1n)).to.deep.equal([0xffffffff, 0xffffffff])
    })

    it('refuses a seed that is not a bigint in 0..2^64-1 with a ConfigError', () => {
      for (const bad of [-1n, 1n << 64n, 5 as unknown as bigint]) {
        expect(() => instantiateCoreSync({ hashSeed: bad }), String(bad)).to.throw().with.property('code', 'TC_ERR_CONFIG_CORE')
      }
    })
  })
})

import { once } from 'node:events'
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { expect } from 'chai'
import { block, epb, idb, shb } from './fixtures.js'
import { LinkType } from './link-type.js'
import { PcapReader, readPcapFile } from './reader.js'
import { writePcapFile } from './writer.js'

// A real collection before each sample, so heapUsed shows what is kept, not garbage not yet collected.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const MB = 1024 * 1024
const FILE_SIZE = 50 * MB
/** What "bounded" means here: the heap may not grow by more than this while 50 MB stream through. */
const HEAP_GROWTH_LIMIT = 4 * MB

interface Measured { packets: number, bytes: number, heapGrowth: number, externalGrowth: number }

/** Collects, lets V8 free the ArrayBuffer backing stores (it does so after the collection), collects again. */
async function settle (): Promise<NodeJS.MemoryUsage> {
  gc()
  await new Promise((resolve) => setTimeout(resolve, 5))
  gc()
  return process.memoryUsage()
}

async function measure (path: string, keep?: Uint8Array[]): Promise<Measured> {
  const base = await settle()
  const reader = new PcapReader()
  let packets = 0
  let bytes = 0
  let heapGrowth = 0
  let externalGrowth = 0
  let nextSample = 0
  for await (const p of readPcapFile(path, { reader })) {
    packets++
    bytes += p.data.length
    keep?.push(p.data)
    if (p.offset >= nextSample) {
      nextSample += 2 * MB
      const m = await settle()
      heapGrowth = Math.max(heapGrowth, m.heapUsed - base.heapUsed)
      externalGrowth = Math.max(externalGrowth, m.arrayBuffers - base.arrayBuffers)
    }
  }
  expect(reader.bytesConsumed).to.equal(statSync(path).size)
  return { packets, bytes, heapGrowth, externalGrowth }
}

function report (what: string, m: Measured): void {
  console.log(`      ${what}: ${m.packets} packets; heapUsed grew by at most ${(m.heapGrowth / 1024).toFixed(0)} KiB, ` +
    `arrayBuffers by at most ${(m.externalGrowth / 1024).toFixed(0)} KiB (limit ${HEAP_GROWTH_LIMIT / MB} MiB)`)
}

describe('memory', function () {
  this.timeout(120_000)
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'tcpcopy-pcap-mem-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  let pcapPath = ''

  it('streams a 50 MB pcap file with heapUsed and arrayBuffers growth under 4 MiB', async () => {
    const path = join(dir, 'big.pcap')
    const payload = new Uint8Array(1500).fill(0x5a)
    const count = Math.ceil(FILE_SIZE / (16 + 1250)) // data of 1000-1500 bytes, 1250 on average
    async function * packets (): AsyncGenerator<{ timestampNs: bigint, data: Uint8Array }> {
      for (let i = 0; i < count; i++) yield { timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 10_000n, data: payload.subarray(0, 1000 + (i % 501)) }
    }
    await writePcapFile(path, packets(), { linkType: LinkType.Ethernet })
    pcapPath = path
    expect(statSync(path).size).to.be.within(FILE_SIZE * 0.99, FILE_SIZE * 1.01)
    const m = await measure(path)
    report('pcap', m)
    expect(m.packets).to.equal(count)
    expect(m.heapGrowth).to.be.below(HEAP_GROWTH_LIMIT)
    expect(m.externalGrowth).to.be.below(HEAP_GROWTH_LIMIT)
  })

  it('streams a 50 MB pcapng file with blocks larger than a chunk, heapUsed and arrayBuffers growth under 4 MiB', async () => {
    const path = join(dir, 'big.pcapng')
    const out = createWriteStream(path)
    const write = async (b: Uint8Array): Promise<void> => { if (!out.write(b)) await once(out, 'drain') }
    await write(shb())
    await write(idb(LinkType.Ethernet))
    await write(idb(LinkType.Raw, 0, 9))
    const small = new Uint8Array(1400).fill(1)
    const large = new Uint8Array(200_000).fill(2) // spans several 64 KiB chunks
    const skipped = block(0x40000bad, new Uint8Array(300_000)) // skipped, never buffered
    let written = 0
    let expected = 0
    for (let i = 0; written < FILE_SIZE; i++) {
      const b = i % 200 === 199 ? skipped : epb(i & 1, BigInt(i) * 1000n, i % 50 === 49 ? large : small)
      if (b !== skipped) expected++
      await write(b)
      written += b.length
    }
    out.end()
    await once(out, 'close')
    const m = await measure(path)
    report('pcapng', m)
    expect(m.packets).to.equal(expected)
    expect(m.heapGrowth).to.be.below(HEAP_GROWTH_LIMIT)
    expect(m.externalGrowth).to.be.below(HEAP_GROWTH_LIMIT)
  })

  it('would notice a consumer that kept the packets (the measurement is not vacuous)', async function () {
    if (pcapPath === '') this.skip() // the 50 MB file was not written
    const kept: Uint8Array[] = []
    const m = await measure(pcapPath, kept)
    report('pcap, every packet kept', m)
    expect(m.heapGrowth + m.externalGrowth).to.be.above(40 * MB)
    kept.length = 0
  })
})

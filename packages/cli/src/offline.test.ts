import { expect } from 'chai'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodePcap, encodePcapng, PcapReader, readPcap, PcapFormatError, type PcapPacket, type PcapRecordInput } from '@tcpcopy/pcap'
import { silentLogger } from '@tcpcopy/interface'
import { LinkType } from '@tcpcopy/wasm'
import { runOfflineReplay, replayFrame, bar, type OfflineDeps } from './offline.js'

const T0 = 1_700_000_000_000 // ms

/** A minimal Ethernet frame whose byte 14.. carries a marker, so ingests can be told apart. */
function frame (marker: number): Uint8Array {
  const b = new Uint8Array(60)
  b[12] = 0x08; b[14] = 0x45; b[20] = marker
  return b
}

interface Ingest { marker: number, linkType: number, at: number, ts: number | undefined }

/** A virtual clock, a sleep that advances it, and an engine that records what it was given. */
function harness (sessionsLeft = 0): { deps: Omit<OfflineDeps, 'read'>, ingests: Ingest[], now: () => number, sleeps: number[], target: { state: string, open: number } } {
  let now = 0
  const ingests: Ingest[] = []
  const sleeps: number[] = []
  const target = { state: 'running', open: sessionsLeft }
  const deps: Omit<OfflineDeps, 'read'> = {
    copy: {
      get state () { return target.state },
      ingest: (f, linkType, ts) => { ingests.push({ marker: f[linkType === LinkType.Ethernet ? 20 : 6]!, linkType, at: now, ts }) },
      sessions: () => Array.from({ length: target.open }, () => ({ timeWait: false }))
    },
    log: silentLogger,
    clock: () => now,
    sleep: async (ms) => { sleeps.push(ms); now += ms },
    fileSize: () => undefined,
    pollMs: 100
  }
  return { deps, ingests, now: () => now, sleeps, target }
}

function fileOf (bytes: Uint8Array): OfflineDeps['read'] {
  return (_path: string, reader: PcapReader) => readPcap([bytes.subarray(0, 10), bytes.subarray(10)], reader)
}

const CONFIG = { input: { kind: 'offline' as const, file: '/x/requests.pcap' }, accelerate: 1, idleGap: 0, replays: 1, eofWait: 5 }

function packets (times: number[]): PcapRecordInput[] {
  return times.map((t, i) => ({ data: frame(i + 1), timestampMs: T0 + t }))
}

describe('offline replay', () => {
  it('replays every packet in file order at the pace of its timestamps', async () => {
    const h = harness()
    const r = await runOfflineReplay(CONFIG, { ...h.deps, read: fileOf(encodePcap(packets([0, 100, 300]), { linkType: 1 })) })
    expect(h.ingests.map((i) => [i.marker, i.linkType, i.at])).to.deep.equal([[1, LinkType.Ethernet, 0], [2, LinkType.Ethernet, 100], [3, LinkType.Ethernet, 300]])
    expect(h.ingests.map((i) => i.ts)).to.deep.equal([T0, T0 + 100, T0 + 300])
    expect(r.summary).to.include({ packetsRead: 3, packetsReplayed: 3, packetsSkipped: 0, passes: 1 })
    expect(r.error).to.equal(undefined)
    expect(r.line).to.match(/^offline replay: 3 packets read, 3 replayed, 0 skipped/)
  })

  it('replays a pcapng file from disk (the default reader) like a pcap: same frames, order, pace and timestamps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcx-offline-'))
    try {
      const file = join(dir, 'requests.pcapng')
      writeFileSync(file, encodePcapng(packets([0, 100, 300]), { linkType: 1 }))
      const h = harness()
      const r = await runOfflineReplay({ ...CONFIG, input: { kind: 'offline', file } }, { ...h.deps, fileSize: undefined })
      expect(r.error).to.equal(undefined)
      expect(h.ingests.map((i) => [i.marker, i.linkType, i.at, i.ts])).to.deep.equal([
        [1, LinkType.Ethernet, 0, T0], [2, LinkType.Ethernet, 100, T0 + 100], [3, LinkType.Ethernet, 300, T0 + 300]
      ])
      expect(r.summary).to.include({ packetsRead: 3, packetsReplayed: 3, packetsSkipped: 0 })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('-a divides the gaps and -I skips the long ones', async () => {
    const h = harness()
    await runOfflineReplay({ ...CONFIG, accelerate: 2 }, { ...h.deps, read: fileOf(encodePcap(packets([0, 100, 300]), { linkType: 1 })) })
    expect(h.ingests.map((i) => i.at)).to.deep.equal([0, 50, 150])
    const g = harness()
    const r = await runOfflineReplay({ ...CONFIG, idleGap: 1000 }, { ...g.deps, read: fileOf(encodePcap(packets([0, 100, 60_100, 60_200]), { linkType: 1 })) })
    expect(g.ingests.map((i) => i.at)).to.deep.equal([0, 100, 100, 200])
    expect(r.summary.skippedGapMs).to.equal(60_000)
  })

  it('-I: the capture times given to the engine (RTT, -g) have the skipped gaps taken out', async () => {
    const g = harness()
    await runOfflineReplay({ ...CONFIG, idleGap: 1000 }, { ...g.deps, read: fileOf(encodePcap(packets([0, 100, 60_100, 60_200, 61_300.5]), { linkType: 1 })) })
    expect(g.ingests.map((i) => i.ts! - T0)).to.deep.equal([0, 100, 100, 200, 200])
  })

  it('after the end of the file waits for the open sessions, at most --eof-wait, and ends early once they are done', async () => {
    const stuck = harness(1)
    await runOfflineReplay(CONFIG, { ...stuck.deps, read: fileOf(encodePcap(packets([0]), { linkType: 1 })) })
    expect(stuck.now()).to.equal(5000) // the whole --eof-wait 5
    const quick = harness(1)
    const read = fileOf(encodePcap(packets([0]), { linkType: 1 }))
    quick.deps.sleep = async (ms) => { quick.sleeps.push(ms); if (quick.sleeps.length === 3) quick.target.open = 0 }
    let t = 0
    quick.deps.clock = () => (t += 10)
    await runOfflineReplay(CONFIG, { ...quick.deps, read })
    expect(quick.sleeps).to.have.length(3) // polled until the session finished, not 5 s
  })

  it('-T replays the file again after the wait', async () => {
    const h = harness()
    const r = await runOfflineReplay({ ...CONFIG, replays: 3 }, { ...h.deps, read: fileOf(encodePcap(packets([0, 10]), { linkType: 1 })) })
    expect(h.ingests.map((i) => i.marker)).to.deep.equal([1, 2, 1, 2, 1, 2])
    expect(r.summary).to.include({ passes: 3, packetsRead: 6, packetsReplayed: 6 })
  })

  it('skips truncated packets and link types it cannot parse, and counts why', async () => {
    const h = harness()
    const file = encodePcap([
      { data: frame(1), timestampMs: T0 },
      { data: frame(2), timestampMs: T0, originalLength: 1500 },
      { data: frame(3), timestampMs: T0 }
    ], { linkType: 1 })
    const r = await runOfflineReplay(CONFIG, { ...h.deps, read: fileOf(file) })
    expect(h.ingests.map((i) => i.marker)).to.deep.equal([1, 3])
    expect(r.summary.skippedReasons).to.deep.equal({ truncated: 1 })
    expect(r.line).to.contain('1 skipped (truncated 1)')
    const other = harness()
    const r2 = await runOfflineReplay(CONFIG, { ...other.deps, read: fileOf(encodePcap([{ data: frame(1), timestampMs: T0 }], { linkType: 147 })) })
    expect(other.ingests).to.have.length(0)
    expect(r2.summary.skippedReasons).to.deep.equal({ 'link type 147': 1 })
  })

  it('a file corrupt in the middle: the packets before the damage are replayed, then an error naming the byte offset', async () => {
    const h = harness()
    const good = encodePcap(packets([0, 10, 20]), { linkType: 1 })
    const firstTwo = 24 + 2 * (16 + 60)
    const bad = new Uint8Array(good)
    new DataView(bad.buffer).setUint32(firstTwo + 8, 0x7fffffff, true) // the third record's captured length
    const r = await runOfflineReplay(CONFIG, { ...h.deps, read: fileOf(bad) })
    expect(h.ingests.map((i) => i.marker)).to.deep.equal([1, 2])
    expect(r.error).to.be.instanceOf(PcapFormatError)
    expect((r.error as PcapFormatError).offset).to.equal(firstTwo)
    expect(r.error!.message).to.contain(`corrupt at byte offset ${firstTwo}`).and.contain('the 2 packets before it were replayed')
    // and no wait after EOF: the replay ended on the error
    expect(h.now()).to.equal(10) // the second packet was due at 10 ms
  })

  it('a file cut short inside a record: same, with the offset of that record', async () => {
    const h = harness()
    const good = encodePcap(packets([0, 10]), { linkType: 1 })
    const r = await runOfflineReplay(CONFIG, { ...h.deps, read: fileOf(good.subarray(0, good.length - 7)) })
    expect(h.ingests.map((i) => i.marker)).to.deep.equal([1])
    expect((r.error as PcapFormatError).offset).to.equal(24 + 16 + 60)
  })

  it('stops when the signal aborts, and when the engine stopped by itself', async () => {
    const h = harness()
    const ac = new AbortController()
    h.deps.sleep = async () => { ac.abort() }
    const r = await runOfflineReplay(CONFIG, { ...h.deps, signal: ac.signal, read: fileOf(encodePcap(packets([0, 1000, 2000]), { linkType: 1 })) })
    expect(r.aborted).to.equal(true)
    expect(h.ingests.map((i) => i.marker)).to.deep.equal([1])
    const g = harness()
    g.deps.sleep = async (ms) => { g.target.state = 'stopped'; void ms }
    const r2 = await runOfflineReplay(CONFIG, { ...g.deps, read: fileOf(encodePcap(packets([0, 1000]), { linkType: 1 })) })
    expect(g.ingests).to.have.length(1)
    expect(r2.error?.message).to.contain('tcpcopy is stopped')
  })

  it('reports progress about every interval, and a final line with a full bar', async () => {
    const h = harness()
    const lines: Array<[string, boolean]> = []
    const file = encodePcap(packets([0, 600, 1200, 1800, 2400]), { linkType: 1 })
    await runOfflineReplay(CONFIG, { ...h.deps, fileSize: () => file.length, progress: (l, f) => lines.push([l, f]), progressIntervalMs: 1000, read: fileOf(file) })
    expect(lines.filter(([, f]) => !f).length).to.equal(2) // at 1200 and 2400
    const [last, final] = lines[lines.length - 1]!
    expect(final).to.equal(true)
    expect(last).to.contain('[####################]').and.contain('5 packets replayed').and.contain('100.0% of bytes')
  })

  it('maps pcap link types to what the core parses', () => {
    const pkt = (linkType: number, data: Uint8Array, truncated = false): PcapPacket => ({ linkType, data, truncated } as unknown as PcapPacket)
    const ip = new Uint8Array([0x45, 0, 0, 20])
    expect(replayFrame(pkt(12, ip))).to.deep.equal({ frame: ip, linkType: LinkType.Raw })
    expect(replayFrame(pkt(228, ip))).to.deep.equal({ frame: ip, linkType: LinkType.Raw })
    expect(replayFrame(pkt(113, ip))).to.deep.include({ linkType: LinkType.LinuxSll })
    const nullFrame = new Uint8Array([2, 0, 0, 0, ...ip])
    expect(replayFrame(pkt(0, nullFrame))).to.deep.equal({ frame: ip, linkType: LinkType.Raw })
    expect(replayFrame(pkt(0, new Uint8Array([24, 0, 0, 0, ...ip])))).to.equal('not IPv4')
    expect(replayFrame(pkt(1, ip, true))).to.equal('truncated')
  })

  it('draws the bar', () => {
    expect(bar(0, 10)).to.equal('[..........]')
    expect(bar(0.5, 10)).to.equal('[#####.....]')
    expect(bar(undefined, 4)).to.equal('[?   ]')
  })
})

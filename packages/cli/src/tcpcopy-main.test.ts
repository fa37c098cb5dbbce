import { expect } from 'chai'
import { readFileSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TcpcopyError } from '@tcpcopy/interface'
import { resolveConfig, tcpcopyOptions, type TcpcopyConfig } from '@tcpcopy/config'
import { EventEmitter } from 'node:events'
import { createCopy, createCopyCore, type ConnectFn, type Copy, type CopyExit } from '@tcpcopy/copy'
import { encodePcap } from '@tcpcopy/pcap'
import { compileFilter, runBpf, LinkType as BpfLinkType } from '@tcpcopy/bpf'
import type { PacketIo, PacketIoOptions } from '@tcpcopy/interface'
import { runTcpcopyCli, exitCodeForCopy, type TcpcopyCliDeps } from './tcpcopy-main.js'
import { openCopyCapture, openCopySend, copyFilterText, type CopyNatives } from './tcpcopy-capture.js'
import { CAPTURE_RING } from './capture.js'
import { useTestIo } from './test-io.js'
import { EXIT_OK, EXIT_USAGE, EXIT_SYSTEM, EXIT_FAILURE } from './exit-codes.js'

interface Rec { calls: string[], config?: TcpcopyConfig, ingested: number }

/** An engine that records calls; `exit` makes it stop by itself after start. */
function fakeEngine (rec: Rec, opts: { startError?: Error, exit?: CopyExit } = {}): TcpcopyCliDeps['createEngine'] {
  return (config) => {
    rec.config = config
    let state = 'new'
    let resolveDone!: (e: CopyExit) => void
    const done = new Promise<CopyExit>((resolve) => { resolveDone = resolve })
    const engine = {
      config,
      get state () { return state },
      done,
      start: async () => {
        rec.calls.push('start')
        if (opts.startError !== undefined) throw opts.startError
        state = 'running'
        if (opts.exit !== undefined) setTimeout(() => { state = 'stopped'; resolveDone(opts.exit!) }, 5)
      },
      stop: async () => { rec.calls.push('stop'); state = 'stopped'; resolveDone({ reason: 'stopped' }) },
      ingest: () => { rec.ingested++ },
      sessions: () => [],
      reportStats: () => { rec.calls.push('stats'); return 'stats line' },
      stats: () => ({}),
      statsLine: () => ''
    }
    return engine as unknown as Copy
  }
}

describe('tcpcopy command line', () => {
  const io = useTestIo('copy-cli')

  const run = async (args: string[], extra: Partial<TcpcopyCliDeps> = {}): Promise<number> =>
    await runTcpcopyCli(['node', 'tcpcopy', ...args], { stdout: io.stdout, stderr: io.stderr, signals: io.signals, env: {}, ...extra })

  it('prints the options with -h and the version with -v', async () => {
    expect(await run(['-h'])).to.equal(EXIT_OK)
    expect(io.stdout.text).to.contain('--targets').and.to.contain('--intercepts').and.to.contain('--eof-wait')
    io.stdout.text = ''
    expect(await run(['-v'])).to.equal(EXIT_OK)
    expect(io.stdout.text.trim()).to.equal('tcpcopy version:0.1.0')
  })

  for (const [flag, value, words] of [
    ['-x', '80', ['--targets', 'example: -x 80-10.0.0.2:8080']],
    ['-s', '10.0.0', ['--intercepts']],
    ['-c', '*', ['--clients']]
  ] as const) {
    it(`a bad ${flag} value is one line naming the option and an accepted example, exit 2`, async () => {
      const args = flag === '-x' ? ['-x', value, '-s', '10.0.0.1'] : ['-x', '80-10.0.0.2:80', '-s', '10.0.0.1', flag, value]
      expect(await run([...args, '-l', join(io.dir, 'x.log')], { createEngine: () => { throw new Error('must not start') } })).to.equal(EXIT_USAGE)
      for (const w of words) expect(io.stderr.text).to.contain(w)
      expect(io.stderr.text.trim().split('\n')).to.have.length(1)
    })
  }

  it('without -s (1.x) says -s is required, exit 2', async () => {
    expect(await run(['-x', '80-10.0.0.2:80', '-l', join(io.dir, 'x.log')])).to.equal(EXIT_USAGE)
    expect(io.stderr.text).to.contain('-s')
  })

  it('runs the engine, writes the pidfile, logs stats on SIGUSR1 and stops on SIGTERM', async () => {
    const rec: Rec = { calls: [], ingested: 0 }
    const pid = join(io.dir, 'tcpcopy.pid')
    const logPath = join(io.dir, 'tcpcopy.log')
    const done = run(['-x', '80-10.0.0.2:8080', '-s', '10.0.0.3', '-P', pid, '-l', logPath, '-i', 'eth0', '-n', '2'], { createEngine: fakeEngine(rec) })
    while (!existsSync(pid)) await new Promise(r => setTimeout(r, 5))
    expect(readFileSync(pid, 'utf8')).to.equal(`${process.pid}\n`)
    io.signals.emit('SIGUSR1')
    io.signals.emit('SIGTERM')
    expect(await done).to.equal(EXIT_OK)
    expect(rec.calls).to.deep.equal(['start', 'stats', 'stop'])
    expect(rec.config?.copies).to.equal(2)
    expect(existsSync(pid)).to.equal(false)
    const log = readFileSync(logPath, 'utf8')
    expect(log).to.contain('capturing inbound packets on eth0 with the filter "tcp and ((dst port 80))"')
    expect(log).to.contain('busy turns at least 2 ms apart (--wake-interval)')
    expect(log).to.contain('SIGTERM received, stopping')
    expect(io.signals.listenerCount('SIGTERM')).to.equal(0)
  })

  it('no intercept at start-up: one line that names the address, why, and the fix once; exit 3', async () => {
    // the real engine, with a send socket that takes everything and a connect() that is refused
    const refused: ConnectFn = () => {
      const s = Object.assign(new EventEmitter(), { write: () => true, destroy: () => {} })
      queueMicrotask(() => {
        s.emit('error', new Error('connect ECONNREFUSED 10.0.0.3:36524'))
        s.emit('close')
      })
      return s
    }
    const createEngine: TcpcopyCliDeps['createEngine'] = (config, log) => {
      const core = createCopyCore()
      const send: PacketIo = {
        kind: 'raw-ipv4', closed: false, receive: () => 0, send: (n) => n, onReadable: () => {},
        stats: () => ({ received: 0, sent: 0, truncated: 0, overruns: 0 }), close () {}
      }
      return createCopy(config, { core, send, connect: refused, log, statsIntervalMs: 0, memoryCheckIntervalMs: 0 })
    }
    const code = await run(['-x', '80-10.0.0.2:80', '-s', '10.0.0.3', '-C', '1', '-l', join(io.dir, 'x.log')], { createEngine })
    expect(code).to.equal(EXIT_SYSTEM)
    const text = io.stderr.text
    expect(text).to.contain('10.0.0.3:36524: connect ECONNREFUSED')
    expect(text.trim().split('\n')).to.have.length(1)
    // the advice comes once, not twice
    expect(text.match(/-L\/--lonely|run with -L/g)).to.have.length(1)
    expect(text.match(/-s\/--intercepts|check -s and -p/g)).to.have.length(1)
  })

  it('exits with the engine\'s reason when it stops by itself (intercept lost: 3)', async () => {
    const rec: Rec = { calls: [], ingested: 0 }
    const error = new TcpcopyError('no intercept is left', 'TC_ERR_COPY_NO_INTERCEPT')
    const code = await run(['-x', '80-10.0.0.2:80', '-s', '10.0.0.3', '-l', join(io.dir, 'x.log')], { createEngine: fakeEngine(rec, { exit: { reason: 'no-intercept', error } }) })
    expect(code).to.equal(EXIT_SYSTEM)
    expect(io.stderr.text).to.contain('no intercept is left')
    expect(exitCodeForCopy({ reason: 'stopped' })).to.equal(EXIT_OK)
    expect(exitCodeForCopy({ reason: 'memory', error: new TcpcopyError('rss', 'TC_ERR_COPY_MEMORY') })).to.equal(EXIT_FAILURE)
  })

  it('offline: replays the file, prints the summary, stops the engine, exit 0', async () => {
    const rec: Rec = { calls: [], ingested: 0 }
    const file = join(io.dir, 'requests.pcap')
    const frame = new Uint8Array(60); frame[12] = 8; frame[14] = 0x45
    writeFileSync(file, encodePcap([0, 1, 2].map((i) => ({ data: frame, timestampMs: 1e12 + i })), { linkType: 1 }))
    const code = await run(['-x', '80-10.0.0.2:80', '-s', '10.0.0.3', '-i', file, '--eof-wait', '0', '-l', join(io.dir, 'x.log')], { createEngine: fakeEngine(rec) })
    expect(code).to.equal(EXIT_OK)
    expect(rec.ingested).to.equal(3)
    expect(rec.calls).to.deep.equal(['start', 'stop'])
    expect(io.stdout.text).to.match(/^tcpcopy: offline replay: 3 packets read, 3 replayed, 0 skipped/)
    expect(readFileSync(join(io.dir, 'x.log'), 'utf8')).to.contain('offline replay: [####################]')
  })

  it('offline: a truncated file is replayed up to the damage, then one error line with the offset, exit 1', async () => {
    const rec: Rec = { calls: [], ingested: 0 }
    const file = join(io.dir, 'cut.pcap')
    const frame = new Uint8Array(60); frame[12] = 8; frame[14] = 0x45
    const bytes = encodePcap([0, 1].map((i) => ({ data: frame, timestampMs: 1e12 + i })), { linkType: 1 })
    writeFileSync(file, bytes.subarray(0, bytes.length - 5))
    const code = await run(['-x', '80-10.0.0.2:80', '-s', '10.0.0.3', '-i', file, '--eof-wait', '0', '-l', join(io.dir, 'x.log')], { createEngine: fakeEngine(rec) })
    expect(code).to.equal(EXIT_FAILURE)
    expect(rec.ingested).to.equal(1)
    expect(io.stderr.text).to.contain(`corrupt at byte offset ${24 + 16 + 60}`)
    expect(io.stdout.text).to.contain('1 replayed')
  })

  it('offline: a missing file is a system error naming it', async () => {
    const rec: Rec = { calls: [], ingested: 0 }
    const code = await run(['-x', '80-10.0.0.2:80', '-s', '10.0.0.3', '-i', join(io.dir, 'nope.pcap'), '--eof-wait', '0', '-l', join(io.dir, 'x.log')], { createEngine: fakeEngine(rec) })
    expect(code).to.equal(EXIT_SYSTEM)
    expect(io.stderr.text).to.contain('nope.pcap')
  })
})

describe('tcpcopy capture and send sockets', () => {
  const OPTS = { regions: {} as PacketIoOptions['regions'], snap: 65535 + 64 }
  function fakes (): { natives: CopyNatives, opened: Array<Record<string, unknown>> } {
    const opened: Array<Record<string, unknown>> = []
    const io = (kind: string): PacketIo => ({ kind, close: () => { opened.push({ closed: kind }) } }) as unknown as PacketIo
    const natives = {
      createPacketIo: (o: Record<string, unknown>) => {
        if (o.interface === 'bad0') throw new Error('no such interface bad0')
        opened.push({ kind: 'packet', ...o }); return io('packet')
      },
      createRawIpv4Io: (o: Record<string, unknown>) => { opened.push({ kind: 'raw-ipv4', ...o }); return io('raw-ipv4') }
    } as unknown as CopyNatives
    return { natives, opened }
  }
  const config = (flags: Record<string, string | boolean>): TcpcopyConfig => resolveConfig(tcpcopyOptions, { flags: { intercepts: '10.0.0.3', ...flags } })

  /** An IPv4+TCP packet to dst:dport, with an Ethernet header when eth. */
  function packet (dst: number[], dport: number, eth: boolean): Uint8Array {
    const l2 = eth ? 14 : 0
    const b = new Uint8Array(l2 + 40)
    const v = new DataView(b.buffer)
    if (eth) v.setUint16(12, 0x0800)
    b[l2] = 0x45; v.setUint16(l2 + 2, 40); b[l2 + 9] = 6
    b.set([10, 0, 0, 9], l2 + 12); b.set(dst, l2 + 16)
    v.setUint16(l2 + 20, 40000); v.setUint16(l2 + 22, dport); b[l2 + 32] = 0x50
    return b
  }

  it('without -i: one socket on all interfaces, ignoring outgoing packets, filtered by the -x filter for raw IP', () => {
    const { natives, opened } = fakes()
    const c = config({ targets: '10.0.0.1:80-10.0.0.2:8080,443-10.0.0.2:8443' })
    openCopyCapture(c, OPTS, natives)
    expect(opened).to.have.length(1)
    expect(opened[0]).to.include({ kind: 'packet', ignoreOutgoing: true, rcvbuf: 16 * 1024 * 1024 })
    expect(opened[0]!.interface).to.equal(undefined)
    expect(opened[0]!.ring).to.equal(undefined)
    openCopyCapture(config({ targets: '80-10.0.0.2:8080', captureRing: true }), OPTS, natives)
    expect(opened[1]!.ring).to.deep.equal(CAPTURE_RING) // --capture-ring
    expect(copyFilterText(c)).to.equal('tcp and ((dst port 80 and dst host 10.0.0.1) or (dst port 443))')
    const prog = compileFilter(copyFilterText(c), { linkType: BpfLinkType.Raw, snaplen: OPTS.snap })
    expect(Buffer.from(opened[0]!.filter as Uint8Array)).to.deep.equal(Buffer.from(prog.toBytes()))
    expect(runBpf(prog, packet([10, 0, 0, 1], 80, false))).to.be.greaterThan(0)
    expect(runBpf(prog, packet([10, 0, 0, 7], 80, false))).to.equal(0)
    expect(runBpf(prog, packet([10, 0, 0, 7], 443, false))).to.be.greaterThan(0)
  })

  it('-i devs: one socket per device with the Ethernet filter; -F replaces the generated one; a bad device closes the others', () => {
    const { natives, opened } = fakes()
    const ios = openCopyCapture(config({ targets: '80-10.0.0.2:8080', input: 'eth0,eth1', filter: 'tcp and dst port 81', bufferSize: '4' }), OPTS, natives)
    expect(ios).to.be.an('array').with.length(2)
    expect(opened.map((o) => o.interface)).to.deep.equal(['eth0', 'eth1'])
    expect(opened[0]).to.include({ rcvbuf: 4 * 1024 * 1024, ignoreOutgoing: true })
    const prog = compileFilter('tcp and dst port 81', { linkType: BpfLinkType.Ethernet, snaplen: OPTS.snap })
    expect(runBpf(prog, packet([10, 0, 0, 1], 81, true))).to.be.greaterThan(0)
    expect(Buffer.from(opened[0]!.filter as Uint8Array)).to.deep.equal(Buffer.from(prog.toBytes()))
    const f = fakes()
    expect(() => openCopyCapture(config({ targets: '80-10.0.0.2:8080', input: 'eth0,bad0' }), OPTS, f.natives)).to.throw('bad0')
    expect(f.opened.map((o) => o.closed ?? o.interface)).to.deep.equal(['eth0', 'packet'])
  })

  it('-S: the capture keeps at most the snaplen (plus room for the link header), and the filter is built for it', () => {
    const { natives, opened } = fakes()
    openCopyCapture(config({ targets: '10.0.0.1:80-10.0.0.2:8080', input: 'eth0', snaplen: '200' }), OPTS, natives)
    expect(opened[0]).to.include({ interface: 'eth0', snap: 264 })
    const prog = compileFilter('tcp and ((dst port 80 and dst host 10.0.0.1))', { linkType: BpfLinkType.Ethernet, snaplen: 264 })
    expect(Buffer.from(opened[0]!.filter as Uint8Array)).to.deep.equal(Buffer.from(prog.toBytes()))
    // the default 65535 keeps whole packets: the engine's receive slot bounds it
    openCopyCapture(config({ targets: '10.0.0.1:80-10.0.0.2:8080', input: 'eth0' }), OPTS, natives)
    expect(opened[1]).to.include({ snap: 65535 + 64 })
    // and -S without pcap capture is refused
    expect(() => config({ targets: '80-10.0.0.2:8080', snaplen: '200' })).to.throw(/-S\/--snaplen .*applies to pcap capture only/)
  })

  it('sends with a raw IPv4 socket, or with -o Ethernet frames on that device', () => {
    const { natives, opened } = fakes()
    expect(openCopySend(config({ targets: '80-10.0.0.2:8080' }), OPTS, natives).kind).to.equal('raw-ipv4')
    expect(openCopySend(config({ targets: '80@02:00:00:00:00:01-10.0.0.2:8080@02:00:00:00:00:02', outputDevice: 'eth3' }), OPTS, natives).kind).to.equal('packet')
    expect(opened[1]).to.include({ interface: 'eth3' })
  })
})

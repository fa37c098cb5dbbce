// Builds an intercept over a real core, an io-mock capture and a real
// loopback listener, with a fake clock and fake intervals the test drives.
import type { Core } from '@tcpcopy/core'
import { MockPacketIo, createMockKernelQueue, type MockKernelQueue } from '@tcpcopy/io-mock'
import {
  NFQUEUE_SNAP, PACKET_SNAP, coreRegions, createIntercept, createInterceptCore,
  type Intercept, type InterceptDeps, type InterceptLimits, type InterceptTimers
} from '../intercept.js'
import type { Logger, LogLevel } from '../logger.js'
import { DEFAULT_INTERCEPT_OPTIONS, type InterceptOptions } from '../options.js'
import { configStep, netlinkMessages, nlAnswer, type ConfigStepName } from './fixtures.js'
import { Peer, type PeerOptions } from './peer.js'

/** Intervals that run only when the test calls advance(); the clock moves with them. */
export class FakeTimers implements InterceptTimers {
  now = 1_000_000
  #next = 1
  readonly #intervals = new Map<number, { fn: () => void, ms: number, due: number }>()
  readonly clock = (): number => this.now

  setInterval (fn: () => void, ms: number): unknown {
    const id = this.#next++
    this.#intervals.set(id, { fn, ms, due: this.now + ms })
    return id
  }

  clearInterval (handle: unknown): void {
    this.#intervals.delete(handle as number)
  }

  /** Intervals armed now. */
  get active (): number { return this.#intervals.size }

  /** Moves the clock forward by `ms`, firing every interval that falls due, in time order. */
  advance (ms: number): void {
    const end = this.now + ms
    for (;;) {
      let first: { fn: () => void, ms: number, due: number } | undefined
      for (const t of this.#intervals.values()) if (t.due <= end && (first === undefined || t.due < first.due)) first = t
      if (first === undefined) break
      this.now = Math.max(this.now, first.due)
      first.due += first.ms
      first.fn()
    }
    this.now = end
  }
}

export interface LogLine { level: LogLevel, message: string }

export class MemoryLogger implements Logger {
  readonly lines: LogLine[] = []
  error (message: string): void { this.lines.push({ level: 'error', message }) }
  warn (message: string): void { this.lines.push({ level: 'warn', message }) }
  notice (message: string): void { this.lines.push({ level: 'notice', message }) }
  info (message: string): void { this.lines.push({ level: 'info', message }) }
  debug (message: string): void { this.lines.push({ level: 'debug', message }) }

  /** Lines of `level` (any level when undefined) whose text matches. */
  find (pattern: RegExp, level?: LogLevel): LogLine[] {
    return this.lines.filter((l) => (level === undefined || l.level === level) && pattern.test(l.message))
  }
}

/**
 * The defaults with `options` on top, listening on an ephemeral loopback
 * port. The router is smaller than the default (4096 routes instead of
 * 1 Mi) so that each test's core is quick to create. As with -n, the batch
 * size defaults to 6 with payload records.
 */
export function makeOptions (options: Partial<InterceptOptions> = {}): InterceptOptions {
  const payload = options.payload ?? false
  return { ...DEFAULT_INTERCEPT_OPTIONS, maxRoutes: 4096, port: 0, bind: '127.0.0.1', batchSize: payload ? 6 : 16, ...options }
}

/** Advanced mode (the capture PacketIo is the test's). */
export const ADVANCED: Partial<InterceptOptions> = { mode: 'advanced' }

export interface HarnessOptions {
  /** Engine options over the defaults of makeOptions (e.g. { passlist: ['10.0.0.1'], batchSize: 1 }). */
  options?: Partial<InterceptOptions>
  /** Answers each config message: an errno, or 0 for an ack (default: ack all). undefined: no answer at all. */
  answer?: ((step: ConfigStepName) => number) | undefined
  noAnswer?: boolean
  limits?: Partial<InterceptLimits>
  deps?: Partial<InterceptDeps>
}

export interface Harness {
  config: InterceptOptions
  core: Core
  intercept: Intercept
  timers: FakeTimers
  log: MemoryLogger
  /** Traditional mode: the mock kernel side of the NFQUEUE socket. */
  kq: MockKernelQueue | undefined
  /** Advanced mode: the mock packet socket. */
  io: MockPacketIo | undefined
  port: number
  peers: Peer[]
  connect: (options?: Partial<PeerOptions>) => Promise<Peer>
  close: () => Promise<void>
}

/** Creates and starts an intercept; `close()` stops it and the peers. */
export async function startHarness (options: HarnessOptions = {}): Promise<Harness> {
  const h = createHarness(options)
  const { port } = await h.intercept.start()
  h.port = port
  return h
}

export function createHarness (options: HarnessOptions = {}): Harness {
  const config = makeOptions(options.options)
  const core = createInterceptCore(config)
  const timers = new FakeTimers()
  const log = new MemoryLogger()
  let kq: MockKernelQueue | undefined
  let io: MockPacketIo | undefined
  const answer = options.answer ?? (() => 0)
  if (config.mode === 'traditional') {
    kq = createMockKernelQueue({
      regions: coreRegions(core),
      snap: NFQUEUE_SNAP,
      onSent: (datagram, queue) => {
        if (options.noAnswer === true) return
        for (const m of netlinkMessages(datagram)) {
          if (m.type === 0x0302) queue.inject(nlAnswer(m.seq, answer(configStep(m))))
        }
      }
    })
  } else {
    io = new MockPacketIo({ regions: coreRegions(core), snap: PACKET_SNAP, kind: 'packet', name: 'eth0' })
  }
  const intercept = createIntercept(config, {
    core,
    capture: (kq?.io ?? io)!,
    log,
    clock: timers.clock,
    timers,
    statsIntervalMs: 0,
    limits: { stopGraceMs: 500, ...options.limits },
    ...options.deps
  })
  const peers: Peer[] = []
  const h: Harness = {
    config,
    core,
    intercept,
    timers,
    log,
    kq,
    io,
    port: 0,
    peers,
    async connect (peerOptions = {}) {
      const peer = await Peer.connect({ port: h.port, ...peerOptions })
      peers.push(peer)
      return peer
    },
    async close () {
      for (const p of peers) p.destroy()
      await intercept.stop()
    }
  }
  return h
}

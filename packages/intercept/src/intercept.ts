// The intercept engine (INTERCEPT.md): the control server that tcpcopy
// instances connect to, the capture loop that feeds captured responses to the
// WASM core (router, delay table, records, NFQUEUE netlink), and the sender
// that frames the records for each control connection.
//
// No process handling here: the CLI owns signals, the daemon, the pid file,
// the log file and the native sockets, and hands them in as InterceptDeps.
import * as net from 'node:net'
import { performance } from 'node:perf_hooks'
import { CanceledError, ConfigError, IoError, ProtocolError, TcpcopyError, isTcpcopyError, type PacketIo, type PacketIoOptions, type PacketIoRegions, type PacketIoStats } from '@tcpcopy/interface'
import {
  createCore, nfqConfigError, nfqConfigSteps, nfqCounters, nfqParseBatch, nfqWriteConfig, nfqWriteVerdicts,
  LinkType, Verdict,
  type Core, type NfqBatch, type NfqConfigOptions, type NfqConfigStep
} from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, MAX_BATCH, RESULT_OFF, R_OUT_BYTES, TX_DESC_OFF, VERDICT_OFF } from '@tcpcopy/wasm'
import { cidrContains, ipv4ToNumber, type InterceptConfig } from '@tcpcopy/config'
import {
  COMB_MAX_NUM, COMB_MAX_NUM_PAYLOAD, MessageType, ServerSideDecoder, formatVersion, ipv4ToString, recordSize,
  type Dialect, type ServerSideEvent
} from '@tcpcopy/protocol'
import { ConnIds, MAX_CONNECTION_IDS } from './conn-ids.js'
import { createDebugLogger, RateLimitedLog, type Logger } from './logger.js'
import { RecordSender, type SenderTunnel } from './sender.js'
import { dropHint, formatStatsLine, kernelDrops, type InterceptStats, type KernelQueueStats } from './stats.js'

// ---- constants ---------------------------------------------------------------------

/**
 * NFQUEUE copy range: the largest IPv4 header (60) + the largest TCP header
 * (60) + the 128 payload bytes a payload record carries. The originals asked
 * for 64/80 (+128), which cuts TCP options off when the IP header has options.
 */
export const NFQUEUE_COPY_RANGE = 60 + 60 + 128
/**
 * Receive slot for one NFQUEUE datagram: the packet message's netlink header
 * and attributes (~150 bytes) plus NFQUEUE_COPY_RANGE, rounded up. FRAMES
 * holds MAX_BATCH slots of this size.
 */
export const NFQUEUE_SNAP = 1024
/** Receive slot for one captured frame: link header (≤ 30 with VLAN tags) + NFQUEUE_COPY_RANGE, rounded up. */
export const PACKET_SNAP = 512
/** Interval of the push timer of combined sending (I1 CHECK_INTERVAL). */
export const PUSH_INTERVAL_MS = 2
/** The statistics interval of the originals (OUTPUT_INTERVAL). */
export const STATS_INTERVAL_MS = 30000

const EAGAIN = 11
const ETIMEDOUT = 110

// ---- dependencies ------------------------------------------------------------------

/** Timer functions; tests inject fakes to drive time. Missing optional ones fall back to the globals. */
export interface InterceptTimers {
  setInterval (fn: () => void, ms: number): unknown
  clearInterval (handle: unknown): void
  setTimeout? (fn: () => void, ms: number): unknown
  clearTimeout? (handle: unknown): void
  /** Continues work on the next event-loop turn (default: the global setImmediate). */
  setImmediate? (fn: () => void): unknown
}

/** Creates the control-channel server; `onConnection` gets each accepted socket. */
export type ListenFn = (onConnection: (socket: net.Socket) => void) => net.Server

/**
 * Opens the capture on the regions of the core the engine created. Advanced
 * mode may return several PacketIos (one per -i device): they take turns on
 * the same regions, each batch being processed before the next receive.
 */
export type CaptureFactory = (options: PacketIoOptions) => PacketIo | PacketIo[]

/** Bounds and intervals; the defaults suit production, tests shrink them. */
export interface InterceptLimits {
  /** Control connections at most (connection ids 0..n-1). Default 65536, the core's limit. */
  maxConnections: number
  /** Unsent bytes a control socket may hold before further records for it are dropped. Default 4 MiB. */
  maxPendingOutputBytes: number
  /** Received but not yet decoded bytes of one connection before it is closed as a flood. Default 1 MiB. */
  maxPendingInputBytes: number
  /** Control bytes decoded per connection per event-loop turn. Default 16 KiB (1170 messages). */
  inputBudgetBytes: number
  /** Capture batches (each up to MAX_BATCH packets) per wake-up before yielding to the sockets. Default 64. */
  batchesPerTurn: number
  /** How long start() waits for the kernel to answer the NFQUEUE config. Default 5000. */
  configAckTimeoutMs: number
  /** How long stop() lets control connections flush before it destroys them. Default 2000. */
  stopGraceMs: number
  /** Unknown message types in a row that make a connection garbage (TC_ERR_PROTO_GARBAGE). Default 16. */
  maxUnknownTypes: number
}

export const DEFAULT_LIMITS: Readonly<InterceptLimits> = Object.freeze({
  maxConnections: MAX_CONNECTION_IDS,
  maxPendingOutputBytes: 4 * 1024 * 1024,
  maxPendingInputBytes: 1024 * 1024,
  inputBudgetBytes: 16 * 1024,
  batchesPerTurn: 64,
  configAckTimeoutMs: 5000,
  stopGraceMs: 2000,
  maxUnknownTypes: 16
})

export interface InterceptDeps {
  /**
   * The WASM core. Create it with createInterceptCore(config) (or an
   * equivalent createCore call) when you open the capture yourself, since
   * the capture's regions are this core's memory. Absent: the engine creates
   * it from the config, and `capture` must then be a CaptureFactory.
   */
  core?: Core
  /**
   * The capture: kind 'nfqueue' in traditional mode (exactly one), 'packet'
   * in advanced mode (one, or one per -i device), on coreRegions(core)
   * (receive into DESC_OFF/FRAMES_OFF, send from TX_DESC_OFF); or a factory
   * the engine calls in start(). The engine owns them from start() on and
   * closes them in stop().
   */
  capture: PacketIo | PacketIo[] | CaptureFactory
  /** Link type of the captured frames (advanced mode). Default: each capture's `linkType` property, else Ethernet. */
  linkType?: LinkType | number
  /** Where log lines go. Default: the `debug` package (tcpcopy:intercept:<level>). */
  log?: Logger
  /** Milliseconds, monotonic. Default: performance.now(). */
  clock?: () => number
  timers?: InterceptTimers
  /** The kernel's drop counters of the bound queue (from /proc/net/netfilter/nfnetlink_queue); undefined when unknown. */
  kernelQueueStats?: () => KernelQueueStats | undefined
  /** Default: node:net createServer. */
  listen?: ListenFn
  /** Statistics interval; 0 turns the timer off. Default 30000 (the original's 30 s). */
  statsIntervalMs?: number
  /** Receives the periodic statistics. Default: the line is logged at NOTICE. */
  onStats?: (stats: InterceptStats, line: string) => void
  limits?: Partial<InterceptLimits>
}

export type InterceptState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped'

export interface Intercept {
  readonly config: InterceptConfig
  readonly core: Core
  readonly state: InterceptState
  /** Listens on config.bind:config.port, opens/binds the capture; resolves with the bound address. */
  start (): Promise<{ address: string, port: number }>
  /** Stops the capture, flushes buffered records, closes control connections, closes the server. Idempotent. */
  stop (): Promise<void>
  stats (): InterceptStats
  /** The stats line; the kernel-drop hint compares with the previous call. */
  statsLine (): string
  /** What the stats timer does (and what the CLI calls on SIGUSR1): statsLine() to onStats or the log. */
  reportStats (): string
}

// ---- helpers -------------------------------------------------------------------------

/** The PacketIo regions of a core: receive into DESC_OFF/FRAMES_OFF, send from TX_DESC_OFF. */
export function coreRegions (core: Core): PacketIoRegions {
  return { memory: core.raw.memory, rxDescOff: DESC_OFF, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF }
}

/** The core intercept needs for `config`: -s, --max-routes, -t and --dnat. */
export function createInterceptCore (config: InterceptConfig): Core {
  return createCore({ hashSize: config.hashSize, maxRoutes: config.maxRoutes, routeTimeoutSec: config.timeout, dnat: config.dnat })
}

/** The receive slot size (PacketIoOptions.snap) for the capture of `config.mode`. */
export function captureSnap (config: Pick<InterceptConfig, 'mode'>): number {
  return config.mode === 'traditional' ? NFQUEUE_SNAP : PACKET_SNAP
}

/** '::ffff:10.0.0.1' → '10.0.0.1'. */
function plainAddress (address: string | undefined): string {
  if (address === undefined) return 'unknown'
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function listenError (err: NodeJS.ErrnoException, bind: string, port: number): IoError {
  const code = err.code ?? 'EUNKNOWN'
  const hint = code === 'EADDRINUSE'
    ? ': the port is in use (another intercept?); stop that program or choose another -p/--port'
    : code === 'EACCES'
      ? ': ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another -p/--port'
      : code === 'EADDRNOTAVAIL'
        ? ': -b/--bind is not an address of this host'
        : ''
  return new IoError(`cannot listen on ${bind}:${port} for tcpcopy connections: ${code}${hint}`, 'TC_ERR_LISTEN',
    Math.abs(err.errno ?? 0), err.syscall ?? 'listen', { cause: err })
}

// ---- control connections -------------------------------------------------------------

class Tunnel implements SenderTunnel {
  combineBuf: Uint8Array | undefined = undefined
  combineCount = 0
  combineRecordSize = 0
  lastAccessMs: number
  dialect: Dialect | undefined = undefined
  /** Not-yet-decoded input (only while a turn's budget ran out). */
  readonly input: Uint8Array[] = []
  inputBytes = 0
  resumeScheduled = false
  ended = false
  /** Set once the engine stopped using this connection (its routes are gone, its id is free). */
  released = false
  closing = false
  /** Records dropped for this connection because the peer does not read. */
  dropped = 0
  readonly dropLog: RateLimitedLog

  constructor (
    readonly id: number,
    readonly socket: net.Socket,
    readonly peer: string,
    readonly decoder: ServerSideDecoder,
    nowMs: number,
    warn: (m: string) => void,
    clock: () => number
  ) {
    this.lastAccessMs = nowMs
    this.dropLog = new RateLimitedLog(warn, clock)
  }

  get name (): string { return `control connection #${this.id} from ${this.peer}` }

  write (bytes: Uint8Array): void {
    if (this.closing) return
    this.socket.write(bytes)
  }
}

interface CaptureSlot {
  readonly io: PacketIo
  readonly linkType: number
  pumping: boolean
  scheduled: boolean
}

// ---- the engine ----------------------------------------------------------------------

class InterceptEngine implements Intercept {
  readonly config: InterceptConfig
  readonly core: Core
  #state: InterceptState = 'new'
  readonly #log: Logger
  readonly #clock: () => number
  readonly #timers: InterceptTimers
  readonly #limits: InterceptLimits
  readonly #listenFn: ListenFn
  readonly #captureDep: PacketIo | PacketIo[] | CaptureFactory
  readonly #linkTypeDep: number | undefined
  readonly #kernelQueueStats: (() => KernelQueueStats | undefined) | undefined
  readonly #statsIntervalMs: number
  readonly #onStats: ((stats: InterceptStats, line: string) => void) | undefined
  readonly #traditional: boolean
  readonly #payload: boolean
  readonly #ids: ConnIds
  readonly #tunnels = new Map<number, Tunnel>()
  readonly #sender: RecordSender

  #server: net.Server | undefined
  #captures: CaptureSlot[] = []
  /** nlmsg_seq of the next netlink message the engine sends. */
  #nlSeq = 1
  #configWait: {
    steps: NfqConfigStep[]
    answered: number
    resolve: () => void
    reject: (err: Error) => void
  } | undefined

  #pushTimer: unknown = undefined
  #expireTimer: unknown = undefined
  #statsTimer: unknown = undefined
  #stopPromise: Promise<void> | undefined
  #startPromise: Promise<{ address: string, port: number }> | undefined
  #stopRequested = false
  #drainNow = 0

  // counters kept here (the core keeps the per-packet ones)
  #accepted = 0
  #refused = 0
  #closedOnError = 0
  #clientAdds = 0
  #dropBackpressure = 0
  #dropNoConnection = 0
  #dropOnClose = 0
  #verdicts = 0
  #verdictsLost = 0
  #kernelErrors = 0
  #lastDrops = 0
  #lastOverruns = 0

  readonly #orphanLog: RateLimitedLog
  readonly #captureErrorLog: RateLimitedLog
  readonly #verdictLog: RateLimitedLog
  readonly #kernelErrorLog: RateLimitedLog
  readonly #unknownTypeLog: RateLimitedLog

  constructor (config: InterceptConfig, deps: InterceptDeps) {
    this.config = config
    this.#log = deps.log ?? createDebugLogger()
    this.#clock = deps.clock ?? (() => performance.now())
    this.#timers = deps.timers ?? { setInterval, clearInterval }
    this.#limits = { ...DEFAULT_LIMITS, ...deps.limits }
    this.#listenFn = deps.listen ?? ((onConnection) => net.createServer({ noDelay: true }, onConnection))
    this.#kernelQueueStats = deps.kernelQueueStats
    this.#statsIntervalMs = deps.statsIntervalMs ?? STATS_INTERVAL_MS
    this.#onStats = deps.onStats
    this.#traditional = config.mode === 'traditional'
    this.#payload = config.payload
    this.#linkTypeDep = deps.linkType

    if (typeof deps.capture !== 'function' && deps.core === undefined) {
      throw new ConfigError('a capture PacketIo works on the memory of one core: pass that core as deps.core, ' +
        'or pass a capture factory and let the engine create the core', 'TC_ERR_CONFIG_INTERCEPT')
    }
    if (typeof deps.capture !== 'function') this.#checkCaptures(deps.capture)
    this.#captureDep = deps.capture
    this.core = deps.core ?? createInterceptCore(config)
    this.#ids = new ConnIds(this.#limits.maxConnections)
    this.#sender = new RecordSender({
      combined: config.combined,
      maxCount: config.payload ? COMB_MAX_NUM_PAYLOAD : COMB_MAX_NUM,
      startCount: config.batchSize,
      onPending: () => { this.#armPush() }
    })
    const warn = (m: string): void => { this.#log.warn(m) }
    const error = (m: string): void => { this.#log.error(m) }
    this.#orphanLog = new RateLimitedLog(warn, this.#clock)
    this.#captureErrorLog = new RateLimitedLog(error, this.#clock)
    this.#verdictLog = new RateLimitedLog(error, this.#clock)
    this.#kernelErrorLog = new RateLimitedLog(warn, this.#clock)
    this.#unknownTypeLog = new RateLimitedLog(warn, this.#clock)
  }

  get state (): InterceptState { return this.#state }

  #checkCaptures (capture: PacketIo | PacketIo[]): PacketIo[] {
    const list = Array.isArray(capture) ? capture : [capture]
    if (list.length === 0 || (this.#traditional && list.length !== 1)) {
      throw new ConfigError(`${this.config.mode} mode needs ${this.#traditional ? 'exactly one' : 'at least one'} capture PacketIo, got ${list.length}`,
        'TC_ERR_CONFIG_CAPTURE')
    }
    const want = this.#traditional ? 'nfqueue' : 'packet'
    for (const io of list) {
      if (io.kind !== want) {
        throw new ConfigError(`${this.config.mode} mode captures with a PacketIo of kind "${want}", got "${io.kind}"`, 'TC_ERR_CONFIG_CAPTURE')
      }
    }
    return list
  }

  // ---- start -----------------------------------------------------------------------

  start (): Promise<{ address: string, port: number }> {
    if (this.#state !== 'new') {
      return Promise.reject(new TcpcopyError(`start() works once, on a new intercept; this one is ${this.#state}`, 'TC_ERR_INTERCEPT_STATE'))
    }
    this.#state = 'starting'
    this.#startPromise = this.#start()
    return this.#startPromise
  }

  async #start (): Promise<{ address: string, port: number }> {
    try {
      this.#checkCore()
      if (this.#traditional) this.core.setPasslist(this.config.passlist.map(ipv4ToNumber))
      const address = await this.#listen()
      this.#checkNotStopped()
      this.#log.notice(`listening for tcpcopy on ${address.address}:${address.port}; ${this.#describeMode()}`)
      if (this.config.allow.length === 0) {
        this.#log.warn(`no --allow given: anyone who can reach port ${address.port} may register routes and receive the target's response headers; ` +
          'limit it with --allow <cidr,...>')
      }
      this.#openCapture()
      if (this.#traditional) await this.#configureQueue()
      this.#checkNotStopped()
      this.#startTimers()
      this.#lastDrops = kernelDrops(this.stats())
      this.#state = 'running'
      return address
    } catch (err) {
      if (!(err instanceof CanceledError)) this.#log.error(`start failed: ${errorText(err)}`)
      this.#state = 'stopping'
      await this.#teardown(false)
      this.#state = 'stopped'
      throw err
    }
  }

  #checkNotStopped (): void {
    if (this.#stopRequested) throw new CanceledError('stop() was called while start() was running')
  }

  #checkCore (): void {
    const o = this.core.options
    const c = this.config
    const diffs: string[] = []
    if (o.routeTimeoutSec !== c.timeout) diffs.push(`route timeout ${o.routeTimeoutSec} s, config -t ${c.timeout}`)
    if (o.dnat !== c.dnat) diffs.push(`dnat ${String(o.dnat)}, config --dnat ${String(c.dnat)}`)
    if (o.maxRoutes !== c.maxRoutes) diffs.push(`max routes ${o.maxRoutes}, config --max-routes ${c.maxRoutes}`)
    if (o.hashSize !== c.hashSize) diffs.push(`hash size ${o.hashSize}, config -s ${c.hashSize}`)
    if (diffs.length > 0) this.#log.warn(`the core was created with other settings than the config (${diffs.join('; ')}); the core's settings apply`)
  }

  #describeMode (): string {
    const c = this.config
    const capture = this.#traditional
      ? `traditional mode (NFQUEUE queue ${c.queueNum}, copy range ${NFQUEUE_COPY_RANGE}${c.queueMaxlen !== undefined ? `, queue maxlen ${c.queueMaxlen}` : ''}, ` +
        `${c.passlist.length} passlist addresses)`
      : 'advanced mode (passive capture)'
    const framing = c.combined ? `combined records (batch ${this.#sender.batchSize} of ${this.#sender.maxCount})` : 'plain records (--no-combined)'
    return `${capture}, ${framing}${c.payload ? ', payload records' : ''}${c.dnat ? ', dnat' : ''}, route timeout ${c.timeout} s`
  }

  #listen (): Promise<{ address: string, port: number }> {
    const server = this.#listenFn((socket) => { this.#onConnection(socket) })
    this.#server = server
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.off('listening', onListening)
        reject(listenError(err, this.config.bind, this.config.port))
      }
      const onListening = (): void => {
        server.off('error', onError)
        server.on('error', (err) => { this.#log.error(`control server: ${errorText(err)}`) })
        const a = server.address()
        if (a !== null && typeof a === 'object') resolve({ address: a.address, port: a.port })
        else resolve({ address: this.config.bind, port: this.config.port })
      }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen({ host: this.config.bind, port: this.config.port })
    })
  }

  #openCapture (): void {
    const dep = this.#captureDep
    const opened = typeof dep === 'function' ? dep({ regions: coreRegions(this.core), snap: captureSnap(this.config) }) : dep
    // Owned from here on (closed by the teardown), even when the check below fails.
    const list = Array.isArray(opened) ? opened : [opened]
    this.#captures = list.map((io) => {
      const own = (io as { linkType?: unknown }).linkType
      return { io, linkType: this.#linkTypeDep ?? (typeof own === 'number' ? own : LinkType.Ethernet), pumping: false, scheduled: false }
    })
    this.#checkCaptures(opened)
    for (const slot of this.#captures) slot.io.onReadable(() => { this.#pump(slot) })
  }

  /** Sends the NFQUEUE config (INTERCEPT.md §4.2) and waits for the kernel's answer to each message. */
  #configureQueue (): Promise<void> {
    const io = this.#captures[0]!.io
    const c = this.config
    const opts: NfqConfigOptions = { queueNum: c.queueNum, copyRange: NFQUEUE_COPY_RANGE }
    if (c.queueMaxlen !== undefined) opts.maxLen = c.queueMaxlen
    const seq = this.#nlSeq
    const steps = nfqConfigSteps(opts, seq)
    const datagrams = nfqWriteConfig(this.core, opts, seq)
    this.#nlSeq = (seq + steps.length) >>> 0
    return new Promise<void>((resolve, reject) => {
      const setT = this.#timers.setTimeout ?? setTimeout
      const clearT = this.#timers.clearTimeout ?? ((h: unknown) => { clearTimeout(h as NodeJS.Timeout) })
      const timer = setT(() => {
        this.#configWait = undefined
        reject(new IoError(`NFQUEUE queue ${c.queueNum}: the kernel did not answer the config messages within ${this.#limits.configAckTimeoutMs} ms`,
          'TC_ERR_NFQ_TIMEOUT', ETIMEDOUT, 'nfnetlink_queue config'))
      }, this.#limits.configAckTimeoutMs)
      this.#configWait = {
        steps,
        answered: 0,
        resolve: () => { clearT(timer); this.#configWait = undefined; resolve() },
        reject: (err) => { clearT(timer); this.#configWait = undefined; reject(err) }
      }
      try {
        const sent = io.send(datagrams)
        if (sent < datagrams) {
          throw new IoError(`NFQUEUE queue ${c.queueNum}: the kernel took ${sent} of ${datagrams} config datagrams`, 'TC_ERR_NFQ_CONFIG', EAGAIN, 'sendmmsg')
        }
      } catch (err) {
        this.#configWait.reject(err as Error)
      }
    })
  }

  #startTimers (): void {
    const t = this.#timers
    this.#expireTimer = t.setInterval(() => { this.#expire() }, 1000)
    if (this.#statsIntervalMs > 0) this.#statsTimer = t.setInterval(() => { this.reportStats() }, this.#statsIntervalMs)
  }

  #expire (): void {
    this.#checkOverruns()
    try {
      const now = this.#clock()
      const routes = this.core.routerExpire(now)
      const records = this.core.delayExpire(now)
      if (routes > 0 || records > 0) this.#log.debug(`expired ${routes} idle routes and ${records} delayed records`)
    } catch (err) {
      this.#log.error(`route expiry failed: ${errorText(err)}`)
    }
  }

  /** The original logs ENOBUFS as "losing packets"; here once a second at most, with the count. */
  #checkOverruns (): void {
    if (this.#captures.length === 0) return
    const overruns = this.#captureStats().overruns
    if (overruns > this.#lastOverruns) {
      const lost = overruns - this.#lastOverruns
      this.#log.warn(`the capture socket is losing packets: ${lost} receive-buffer overruns in the last second (${overruns} in all); ` +
        dropHint(this.config.mode, this.config.captureRing))
    }
    this.#lastOverruns = overruns
  }

  #armPush (): void {
    if (this.#pushTimer !== undefined || this.#state === 'stopped') return
    this.#pushTimer = this.#timers.setInterval(() => { this.#pushTick() }, PUSH_INTERVAL_MS)
  }

  #pushTick (): void {
    this.#sender.push(this.#clock())
    if (!this.#sender.hasPending && this.#pushTimer !== undefined) {
      this.#timers.clearInterval(this.#pushTimer)
      this.#pushTimer = undefined
    }
  }

  // ---- capture loop ----------------------------------------------------------------

  #pump (slot: CaptureSlot): void {
    const io = slot.io
    if (slot.pumping || io.closed) return
    slot.pumping = true
    let more = true
    try {
      for (let i = 0; i < this.#limits.batchesPerTurn && more; i++) more = this.#oneBatch(slot)
    } catch (err) {
      more = false
      this.#captureErrorLog.write(() => `capture: ${errorText(err)}`)
    } finally {
      slot.pumping = false
    }
    // Budget spent with packets still waiting: go on after the sockets had their turn.
    if (more && !slot.scheduled) {
      slot.scheduled = true
      const later = this.#timers.setImmediate ?? setImmediate
      later(() => {
        slot.scheduled = false
        this.#pump(slot)
      })
    }
  }

  /** One receive + classify (+ verdicts) + send round; false when nothing was pending. */
  #oneBatch (slot: CaptureSlot): boolean {
    const io = slot.io
    if (io.closed) return false
    // While the config answers are due, one datagram at a time: nfqParseBatch
    // reports only the last error of a batch, and each must meet its step.
    const n = io.receive(this.#configWait !== undefined ? 1 : MAX_BATCH)
    if (n === 0) return false
    if (this.#traditional) this.#nfqueueBatch(io, n)
    else this.#packetBatch(n, slot.linkType)
    return true
  }

  #packetBatch (n: number, linkType: number): void {
    const now = this.#clock()
    this.core.processDescribed(n, linkType, now)
    this.#drain(now)
  }

  #nfqueueBatch (io: PacketIo, n: number): void {
    const batch = nfqParseBatch(this.core, n)
    if (batch.acks > 0 || batch.errors > 0) this.#netlinkAnswers(batch)
    if (batch.overflow > 0) {
      this.#verdictLog.write(() => `NFQUEUE: ${batch.overflow} packets found no descriptor slot and got no verdict (datagrams holding several packets)`)
    }
    const m = batch.frames
    if (m === 0) return
    const now = this.#clock()
    try {
      this.core.processDescribed(m, LinkType.Raw, now)
    } catch (err) {
      // Never leave a queued packet without a verdict: DROP the whole batch.
      this.core.bytes.fill(Verdict.Drop, VERDICT_OFF, VERDICT_OFF + m)
      this.#captureErrorLog.write(() => `classifying ${m} queued packets failed, they are dropped: ${errorText(err)}`)
    }
    // The verdict goes out before any record is handed to a control socket (§12).
    this.#sendVerdicts(io, m)
    this.#drain(now)
  }

  #sendVerdicts (io: PacketIo, m: number): void {
    const datagrams = nfqWriteVerdicts(this.core, m, this.config.queueNum, this.#nlSeq)
    this.#nlSeq = (this.#nlSeq + m) >>> 0
    let sent = 0
    let failure = ''
    for (let attempt = 0; attempt < 3 && sent < datagrams; attempt++) {
      try {
        sent = io.send(datagrams)
      } catch (err) {
        failure = `: ${errorText(err)}`
        break
      }
    }
    if (sent < datagrams) {
      this.#verdictsLost += m
      this.#verdictLog.write(() => `NFQUEUE: the verdicts of ${m} packets could not be sent${failure || ' (the kernel took none)'}; ` +
        'they stay queued until the kernel drops them')
    } else {
      this.#verdicts += m
    }
  }

  #netlinkAnswers (batch: NfqBatch): void {
    const wait = this.#configWait
    if (wait !== undefined) {
      wait.answered += batch.acks + batch.errors
      if (batch.errors > 0) {
        const step = wait.steps.find((s) => s.seq === batch.lastErrorSeq)
        if (step === undefined) {
          this.#log.warn(`NFQUEUE: the kernel answered message seq ${batch.lastErrorSeq} with errno ${batch.lastErrno}`)
        } else if (step.optional) {
          if (step.step === 'queue-maxlen') {
            this.#log.warn(`NFQUEUE: the kernel refused -q ${String(this.config.queueMaxlen)} (errno ${batch.lastErrno}); ` +
              'it may not support NFQA_CFG_QUEUE_MAXLEN, so the queue keeps its default length 1024')
          } else {
            this.#log.debug(`NFQUEUE ${step.step}: errno ${batch.lastErrno} (harmless)`)
          }
        } else {
          wait.reject(nfqConfigError(batch.lastErrno, step.step, this.config.queueNum))
          return
        }
      }
      if (wait.answered >= wait.steps.length) wait.resolve()
      return
    }
    if (batch.errors > 0) {
      this.#kernelErrors += batch.errors
      const what = batch.lastErrorType === 0x301 ? 'a verdict' : `message seq ${batch.lastErrorSeq}`
      const why = batch.lastErrno === 2 ? ' (the packet id is unknown to the kernel)' : ''
      this.#kernelErrorLog.write(() => `NFQUEUE: the kernel refused ${what} with errno ${batch.lastErrno}${why}`)
    }
  }

  /** Hands every record the core wrote to OUT to its connection. */
  #drain (now: number): void {
    if (this.core.view.getUint32(RESULT_OFF + R_OUT_BYTES, true) === 0) return
    this.#drainNow = now
    try {
      this.core.drainOut(this.#dispatch)
    } catch (err) {
      // Never hand the same records out twice: empty OUT whatever happened.
      this.core.exports.outReset()
      this.#captureErrorLog.write(() => `handing records to control connections failed: ${errorText(err)}`)
    }
  }

  readonly #dispatch = (conn: number, record: Uint8Array): void => {
    const t = this.#tunnels.get(conn)
    if (t === undefined || t.closing) {
      this.#dropNoConnection++
      this.#orphanLog.write(() => `records for control connection #${conn}, which is gone, were dropped`)
      return
    }
    if (t.socket.writableLength > this.#limits.maxPendingOutputBytes) {
      t.dropped++
      this.#dropBackpressure++
      t.dropLog.write(() => `${t.name} does not read its records: ${t.socket.writableLength} bytes are unsent, ` +
        `so records for it are dropped (${t.dropped} so far)`)
      return
    }
    this.#sender.add(t, record, this.#drainNow)
  }

  // ---- control connections ---------------------------------------------------------

  #onConnection (socket: net.Socket): void {
    const address = plainAddress(socket.remoteAddress)
    const peer = `${address}:${socket.remotePort ?? 0}`
    if (this.#state !== 'running' && this.#state !== 'starting') {
      socket.destroy()
      return
    }
    if (this.config.allow.length > 0 && !(net.isIPv4(address) && cidrContains(this.config.allow, address))) {
      this.#refused++
      this.#log.warn(`refused control connection from ${peer}: not in --allow ` +
        this.config.allow.map((c) => `${c.address}/${c.prefixLength}`).join(','))
      socket.destroy()
      return
    }
    const id = this.#ids.take()
    if (id === undefined) {
      this.#refused++
      this.#log.warn(`refused control connection from ${peer}: all ${this.#ids.limit} connection ids are in use`)
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    const decoder = new ServerSideDecoder({ rejectLegacy: true, maxUnknownTypes: this.#limits.maxUnknownTypes })
    const t = new Tunnel(id, socket, peer, decoder, Math.floor(this.#clock()), (m) => { this.#log.warn(m) }, this.#clock)
    this.#tunnels.set(id, t)
    this.#accepted++
    this.#log.notice(`${t.name} accepted`)
    socket.on('data', (chunk: Buffer) => { this.#onData(t, chunk) })
    socket.on('end', () => { this.#onEnd(t) })
    socket.on('error', (err) => {
      if (t.released) return
      this.#release(t, 'warn', `failed: ${errorText(err)}`)
    })
    socket.on('close', () => {
      if (!t.released) this.#release(t, 'notice', 'closed')
    })
  }

  #onData (t: Tunnel, chunk: Uint8Array): void {
    if (t.closing) return
    t.input.push(chunk)
    t.inputBytes += chunk.length
    if (t.inputBytes > this.#limits.maxPendingInputBytes) {
      this.#closedOnError++
      this.#release(t, 'warn', `closed: it sends faster than intercept can take its messages (${t.inputBytes} bytes waiting, ` +
        `limit ${this.#limits.maxPendingInputBytes})`)
      return
    }
    if (!t.resumeScheduled) this.#consume(t)
  }

  #onEnd (t: Tunnel): void {
    t.ended = true
    if (t.input.length === 0 && !t.resumeScheduled) this.#finishEnd(t)
  }

  #finishEnd (t: Tunnel): void {
    if (t.released) return
    try {
      t.decoder.end()
    } catch (err) {
      this.#closedOnError++
      this.#release(t, 'warn', `closed by the peer: ${errorText(err)}`)
      return
    }
    // closing without released: stop() sent our FIN first, and this is the peer's answer to it
    this.#release(t, 'notice', t.closing ? 'closed (intercept stopped)' : 'closed by the peer')
  }

  /** Decodes up to one turn's budget of the connection's input; the rest waits for the next turn. */
  #consume (t: Tunnel): void {
    let budget = this.#limits.inputBudgetBytes
    const events: ServerSideEvent[] = []
    while (t.input.length > 0 && budget > 0 && !t.closing) {
      const chunk = t.input[0]!
      let part = chunk
      if (chunk.length > budget) {
        part = chunk.subarray(0, budget)
        t.input[0] = chunk.subarray(budget)
      } else {
        t.input.shift()
      }
      t.inputBytes -= part.length
      budget -= part.length
      events.length = 0
      let failure: unknown
      try {
        t.decoder.push(part, events)
      } catch (err) {
        failure = err
      }
      this.#handleEvents(t, events)
      if (failure !== undefined) {
        this.#protocolFailure(t, failure)
        return
      }
    }
    if (t.closing) return
    if (t.input.length > 0) {
      t.socket.pause()
      t.resumeScheduled = true
      const later = this.#timers.setImmediate ?? setImmediate
      later(() => {
        t.resumeScheduled = false
        if (t.closing) return
        t.socket.resume()
        this.#consume(t)
      })
    } else if (t.ended) {
      this.#finishEnd(t)
    }
  }

  #protocolFailure (t: Tunnel, err: unknown): void {
    if (t.released) return
    this.#closedOnError++
    if (isTcpcopyError(err, 'TC_ERR_PROTO_LEGACY')) {
      // An 0.7.0-0.9.1 client. 0.9's "old" mode would switch the route key of
      // EVERY connection to (client ip, client port) once one such client
      // connected (INTERCEPT.md §6.1), so one stale tcpcopy could misroute
      // everybody else's sessions: refuse it, as intercept 1.x does.
      this.#release(t, 'error', `refused: ${errorText(err)}. Upgrade that tcpcopy to 1.x (or 0.9.2 or later, which sends a hello)`)
      return
    }
    const code = err instanceof ProtocolError ? ` [${err.code}]` : ''
    this.#release(t, 'warn', `closed: ${errorText(err)}${code}`)
  }

  #handleEvents (t: Tunnel, events: ServerSideEvent[]): void {
    for (const ev of events) {
      if (t.closing) return
      switch (ev.kind) {
        case 'hello':
          this.#hello(t, ev.version, ev.dialect, ev.warning)
          break
        case 'message':
          if (ev.type === MessageType.ClientAdd) this.#clientAdd(t, ev.clientIp, ev.clientPort, ev.targetIp, ev.targetPort)
          else if (ev.type === MessageType.ClientDel) {
            this.#log.debug(`${t.name}: CLIENT_DEL ${ipv4ToString(ev.clientIp)}:${ev.clientPort} ignored (as in 0.9 and 1.x)`)
          } else {
            const type = ev.type
            this.#unknownTypeLog.write(() => `${t.name}: unknown msg type ${type}, ignored`)
          }
          break
        default:
          // legacy events cannot come: the decoder refuses old clients (rejectLegacy)
          break
      }
    }
  }

  #hello (t: Tunnel, version: number, dialect: Dialect | undefined, warning: string | undefined): void {
    const use: Dialect = dialect ?? '1.x'
    if (warning !== undefined) this.#log.warn(`${t.name}: ${warning}; using 1.x records (${recordSize({ dialect: use, payload: this.#payload })} bytes)`)
    try {
      this.core.setConnFormat(t.id, use, this.#payload)
    } catch (err) {
      this.#release(t, 'error', `closed: cannot set its record format: ${errorText(err)}`)
      return
    }
    t.dialect = use
    t.lastAccessMs = Math.floor(this.#clock())
    this.#log.info(`${t.name}: hello version ${formatVersion(version)}, tcpcopy ${use}, ` +
      `${recordSize({ dialect: use, payload: this.#payload })}-byte records`)
  }

  #clientAdd (t: Tunnel, clientIp: number, clientPort: number, targetIp: number, targetPort: number): void {
    const now = this.#clock()
    try {
      this.core.clientAdd({ clientIp, clientPort, targetIp, targetPort }, t.id, now)
    } catch (err) {
      this.#log.error(`${t.name}: CLIENT_ADD ${ipv4ToString(clientIp)}:${clientPort} failed: ${errorText(err)}`)
      return
    }
    this.#clientAdds++
    // The delayed SYN/RST records of this key, if any, go to this connection now.
    this.#drain(now)
  }

  /** Stops using a connection: its buffered records, routes and id go; the socket is destroyed. */
  #release (t: Tunnel, level: 'error' | 'warn' | 'notice', why: string): void {
    if (t.released) return
    t.released = true
    t.closing = true
    t.input.length = 0
    t.inputBytes = 0
    const buffered = this.#sender.forget(t)
    this.#dropOnClose += buffered
    let routes = 0
    try {
      routes = this.core.routerDeleteConn(t.id)
    } catch (err) {
      this.#log.error(`removing the routes of ${t.name} failed: ${errorText(err)}`)
    }
    this.#tunnels.delete(t.id)
    this.#ids.release(t.id)
    t.socket.destroy()
    const extra = buffered > 0 ? `, ${buffered} buffered records dropped` : ''
    this.#log[level](`${t.name} ${why}; ${routes} route${routes === 1 ? '' : 's'} removed${extra}`)
  }

  // ---- stop ------------------------------------------------------------------------

  stop (): Promise<void> {
    if (this.#stopPromise !== undefined) return this.#stopPromise
    this.#stopRequested = true
    if (this.#state === 'new') {
      this.#state = 'stopped'
      this.#stopPromise = Promise.resolve()
      return this.#stopPromise
    }
    // A start() still binding the queue gives up now; its own cleanup runs first.
    this.#configWait?.reject(new CanceledError('stop() was called while start() was binding the NFQUEUE queue'))
    this.#stopPromise = (async () => {
      if (this.#startPromise !== undefined) await this.#startPromise.catch(() => {})
      if (this.#state === 'stopped') return // start() failed and cleaned up
      this.#state = 'stopping'
      await this.#teardown(true)
      this.#state = 'stopped'
      this.#log.notice(`stopped; ${this.statsLine()}`)
    })()
    return this.#stopPromise
  }

  /** INTERCEPT.md §10, in this order: capture, buffered records, control connections, server; timers always. */
  async #teardown (graceful: boolean): Promise<void> {
    this.#clearTimers()
    for (const { io } of this.#captures) {
      if (io.closed) continue
      try {
        io.close()
      } catch (err) {
        this.#log.error(`closing the capture failed: ${errorText(err)}`)
      }
    }
    if (graceful) this.#sender.flushAll()
    await this.#closeTunnels(graceful)
    const server = this.#server
    if (server !== undefined) {
      this.#server = undefined
      await new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve()
          return
        }
        server.close(() => { resolve() })
      })
    }
    this.#clearTimers()
  }

  async #closeTunnels (graceful: boolean): Promise<void> {
    const tunnels = [...this.#tunnels.values()]
    if (tunnels.length === 0) return
    if (!graceful) {
      for (const t of tunnels) this.#release(t, 'notice', 'closed (intercept stopped)')
      return
    }
    const closed = tunnels.map((t) => new Promise<void>((resolve) => {
      if (t.socket.destroyed) {
        resolve()
        return
      }
      t.socket.once('close', () => { resolve() })
    }))
    // end() sends what is buffered, then FIN; the peer's EOF closes the socket.
    for (const t of tunnels) {
      t.closing = true
      t.socket.end()
    }
    const setT = this.#timers.setTimeout ?? setTimeout
    const clearT = this.#timers.clearTimeout ?? ((h: unknown) => { clearTimeout(h as NodeJS.Timeout) })
    let timer: unknown
    await Promise.race([
      Promise.all(closed),
      new Promise<void>((resolve) => { timer = setT(resolve, this.#limits.stopGraceMs) })
    ])
    clearT(timer)
    for (const t of tunnels) this.#release(t, 'notice', 'closed (intercept stopped)')
  }

  #clearTimers (): void {
    const t = this.#timers
    for (const h of [this.#pushTimer, this.#expireTimer, this.#statsTimer]) if (h !== undefined) t.clearInterval(h)
    this.#pushTimer = undefined
    this.#expireTimer = undefined
    this.#statsTimer = undefined
  }

  // ---- statistics ------------------------------------------------------------------

  stats (): InterceptStats {
    const c = this.core.counters()
    const s = this.#sender.stats()
    const io = this.#captureStats()
    const out: InterceptStats = {
      mode: this.config.mode,
      captureRing: this.config.captureRing,
      connections: this.#tunnels.size,
      connectionsAccepted: this.#accepted,
      connectionsRefused: this.#refused,
      connectionsClosedOnError: this.#closedOnError,
      clientAdds: this.#clientAdds,
      routes: c.Routes,
      responses: {
        captured: c.Captured,
        forwarded: s.records,
        passed: c.Passed,
        dropped: this.#traditional ? c.Captured - c.Passed : 0,
        delayed: c.Delayed,
        unroutable: c.Unroutable,
        malformed: c.Malformed,
        notTcp: c.NotTcp,
        fragments: c.Fragments
      },
      router: { hits: c.RouterHits, misses: c.RouterMisses, evictions: c.RouterEvictions, expiries: c.RouterExpiries, deletes: c.RouterDeletes },
      delay: {
        records: c.DelayRecords,
        keys: c.DelayKeys,
        stored: c.DelayStored,
        flushed: c.DelayFlushed,
        expired: c.DelayExpired,
        dropped: c.DelayDroppedKeyCap + c.DelayEvicted
      },
      records: {
        routed: c.Routed,
        writes: s.writes,
        droppedBackpressure: this.#dropBackpressure,
        droppedNoConnection: this.#dropNoConnection,
        droppedOutOverflow: c.OutOverflow,
        droppedOnClose: this.#dropOnClose
      },
      batchSize: this.#sender.batchSize,
      capture: { received: io.received, truncated: io.truncated, overruns: io.overruns }
    }
    if (this.#traditional) {
      out.nfqueue = { verdicts: this.#verdicts, verdictsLost: this.#verdictsLost, kernelErrors: this.#kernelErrors, malformed: nfqCounters(this.core).malformed }
      let k: KernelQueueStats | undefined
      try {
        k = this.#kernelQueueStats?.()
      } catch {
        k = undefined
      }
      if (k !== undefined) out.kernelQueue = { queueDropped: k.queueDropped, userDropped: k.userDropped }
    }
    return out
  }

  #captureStats (): PacketIoStats {
    const sum: PacketIoStats = { received: 0, sent: 0, truncated: 0, overruns: 0 }
    for (const { io } of this.#captures) {
      const s = io.stats()
      sum.received += s.received
      sum.sent += s.sent
      sum.truncated += s.truncated
      sum.overruns += s.overruns
    }
    return sum
  }

  statsLine (): string {
    const s = this.stats()
    const drops = kernelDrops(s)
    const grew = drops > this.#lastDrops ? drops - this.#lastDrops : 0
    this.#lastDrops = drops
    return formatStatsLine(s, grew)
  }

  reportStats (): string {
    const line = this.statsLine()
    if (this.#onStats !== undefined) {
      try {
        this.#onStats(this.stats(), line)
      } catch (err) {
        this.#log.error(`the stats callback failed: ${errorText(err)}`)
      }
    } else {
      this.#log.notice(line)
    }
    return line
  }
}

/**
 * Creates an intercept engine. Nothing happens until start(): no socket is
 * opened and no timer runs.
 */
export function createIntercept (config: InterceptConfig, deps: InterceptDeps): Intercept {
  return new InterceptEngine(config, deps)
}


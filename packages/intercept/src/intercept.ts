// The intercept engine (INTERCEPT.md): the control server that tcpcopy
// instances connect to, the capture loop that feeds captured responses to the
// WASM core (router, delay table, records, NFQUEUE netlink), and the sender
// that frames the records for each control connection.
//
// No process handling here: the CLI owns signals, the daemon, the pid file,
// the log file and the native sockets, and hands them in as InterceptDeps.
// The options are a plain object (InterceptOptions); the CLI maps its config
// onto it.
import * as net from 'node:net'
import { performance } from 'node:perf_hooks'
import { CanceledError, ConfigError, IoError, ProtocolError, TcpcopyError, isTcpcopyError, type PacketIo, type PacketIoOptions, type PacketIoRegions, type PacketIoStats } from '@tcpcopy/interface'
import {
  createCore, nfqConfigError, nfqConfigStepFatal, nfqConfigSteps, nfqCounters, nfqParseBatch, nfqWriteConfig, nfqWriteVerdicts,
  LinkType, Verdict,
  type Core, type NfqBatch, type NfqConfigOptions, type NfqConfigStep
} from '@tcpcopy/core'
import { DESC_OFF, FRAMES_OFF, FRAMES_SIZE, MAX_BATCH, NFQ_IDS_OFF, RESULT_OFF, R_OUT_BYTES, TX_DESC_OFF, VERDICT_OFF } from '@tcpcopy/wasm'
import {
  COMB_MAX_NUM, COMB_MAX_NUM_PAYLOAD, MessageType, ServerSideDecoder, formatVersion, helloVersionInfo, ipv4ToString, optionsAreaLength, recordSize,
  type Dialect, type ServerSideEvent
} from '@tcpcopy/protocol'
import { ConnIds, MAX_CONNECTION_IDS } from './conn-ids.js'
import { BurstLimitedLog, createDebugLogger, RateLimitedLog, type Logger } from './logger.js'
import { allowMatcher, checkInterceptOptions, passlistNumbers, type AllowMatcher, type InterceptOptions } from './options.js'
import { ConnOutput } from './output.js'
import { RecordSender, type SenderTunnel } from './sender.js'
import { OUTPUT_HINT, dropHint, formatStatsLine, type InterceptStats, type KernelQueueStats, type StatsGrowth } from './stats.js'

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
/** Interval of the retry of verdicts whose send failed, while some wait. */
export const VERDICT_RETRY_MS = 10
/** Offset in a record of the TCP data-offset byte (the TCP header starts at 20, PROTOCOL.md §3.2). */
const TCP_DOFF_BYTE = 20 + 12

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
  /**
   * Unsent bytes one control connection may hold (its socket buffer and the
   * staging behind it) before further records for it are dropped and counted
   * (records.droppedBackpressure); the connection stays open. Default 4 MiB.
   */
  maxPendingOutputBytes: number
  /** The same for all control connections together (records.droppedMemoryCap). Default 256 MiB. */
  maxTotalOutputBytes: number
  /** A connection that has not sent its hello this long after the accept is closed (it holds a connection id). Default 10000. */
  helloTimeoutMs: number
  /** Verdicts whose send failed kept for retrying; beyond that the oldest are given up (nfqueue.verdictsLost). Default 65536. */
  maxPendingVerdicts: number
  /** Connection log lines (accepted, refused, closed) written per kind per 10 s; the rest are counted in one summary line. Default 20. */
  connectionLogBurst: number
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
  maxTotalOutputBytes: 256 * 1024 * 1024,
  helloTimeoutMs: 10000,
  maxPendingVerdicts: 65536,
  connectionLogBurst: 20,
  maxPendingInputBytes: 1024 * 1024,
  inputBudgetBytes: 16 * 1024,
  batchesPerTurn: 64,
  configAckTimeoutMs: 5000,
  stopGraceMs: 2000,
  maxUnknownTypes: 16
})

export interface InterceptDeps {
  /**
   * The WASM core. Create it with createInterceptCore(options) (or an
   * equivalent createCore call) when you open the capture yourself, since
   * the capture's regions are this core's memory. Absent: the engine creates
   * it from the options, and `capture` must then be a CaptureFactory.
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
  readonly options: InterceptOptions
  readonly core: Core
  readonly state: InterceptState
  /** Listens on options.bind:options.port, opens/binds the capture; resolves with the bound address. */
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
  return { memory: core.raw.memory, rxDescOff: DESC_OFF, rxDescCount: MAX_BATCH, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF }
}

/** The core intercept needs for `options`: -s, --max-routes, -t and --dnat. */
export function createInterceptCore (options: Pick<InterceptOptions, 'hashSize' | 'maxRoutes' | 'timeout' | 'dnat'>): Core {
  return createCore({ hashSize: options.hashSize, maxRoutes: options.maxRoutes, routeTimeoutSec: options.timeout, dnat: options.dnat })
}

/** The receive slot size (PacketIoOptions.snap) for the capture of `options.mode`. */
export function captureSnap (options: Pick<InterceptOptions, 'mode'>): number {
  return options.mode === 'traditional' ? NFQUEUE_SNAP : PACKET_SNAP
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
  /** Engine clock at the accept (the hello timeout counts from here). */
  readonly acceptedAt: number
  dialect: Dialect | undefined = undefined
  /** TCP header bytes its records hold: 20 + the options area (44 for 1.x, the core's default, 60 for 0.9). */
  tcpRoom = 20 + optionsAreaLength({ dialect: '1.x', payload: false })
  /** Not-yet-decoded input (only while a turn's budget ran out). */
  readonly input: Uint8Array[] = []
  inputBytes = 0
  resumeScheduled = false
  ended = false
  /** Set once the engine stopped using this connection (its routes are gone, its id is free). */
  released = false
  closing = false
  /** Records dropped for this connection at the output caps. */
  dropped = 0
  /** Records dropped since it last took one: > 0 while its output is over a cap. */
  dropStreak = 0
  /** Output bytes last counted in the engine's total. */
  accounted = 0
  readonly out: ConnOutput
  readonly dropLog: RateLimitedLog
  readonly recoverLog: RateLimitedLog

  constructor (
    readonly id: number,
    readonly socket: net.Socket,
    readonly peer: string,
    readonly decoder: ServerSideDecoder,
    nowMs: number,
    log: Logger,
    clock: () => number,
    readonly onOutput: (t: Tunnel) => void
  ) {
    this.lastAccessMs = Math.floor(nowMs)
    this.acceptedAt = nowMs
    this.out = new ConnOutput(socket)
    this.out.onChange = () => { onOutput(this) }
    this.dropLog = new RateLimitedLog((m) => { log.warn(m) }, clock)
    this.recoverLog = new RateLimitedLog((m) => { log.notice(m) }, clock)
  }

  get name (): string { return `control connection #${this.id} from ${this.peer}` }

  write (bytes: Uint8Array): void {
    if (this.closing) return
    this.out.write(bytes)
    this.onOutput(this)
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
  readonly options: InterceptOptions
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
  readonly #allowed: AllowMatcher
  readonly #ids: ConnIds
  readonly #tunnels = new Map<number, Tunnel>()
  /** Connections that have not sent their hello yet (the hello timeout). */
  readonly #awaitingHello = new Set<Tunnel>()
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
  #verdictTimer: unknown = undefined
  #stopPromise: Promise<void> | undefined
  #startPromise: Promise<{ address: string, port: number }> | undefined
  #stopRequested = false
  #drainNow = 0

  // counters kept here (the core keeps the per-packet ones)
  #accepted = 0
  #refused = 0
  #closedOnError = 0
  #helloTimeouts = 0
  #clientAdds = 0
  #dropBackpressure = 0
  #dropMemoryCap = 0
  #dropNoConnection = 0
  #dropOnClose = 0
  #tcpHeaderCut = 0
  #verdicts = 0
  #dropVerdicts = 0
  #verdictsRetried = 0
  #verdictsLost = 0
  /** Verdicts whose first send failed (each counted once). */
  #verdictSendFailures = 0
  #kernelErrors = 0
  #lastOverruns = 0
  /** What the previous stats line saw, for the hints about what grew. */
  #last = { queueFull: 0, socketFull: 0, verdictSendFailures: 0, outputDrops: 0 }

  // unsent output of all connections (sum of Tunnel.accounted)
  #outputBytes = 0
  #outputPeak = 0
  #outputRecountAt = -Infinity

  // verdicts whose send failed, oldest first: packet ids and verdict bytes, from #verdictHead on
  #verdictIds: number[] = []
  #verdictValues: number[] = []
  #verdictHead = 0

  readonly #orphanLog: RateLimitedLog
  readonly #captureErrorLog: RateLimitedLog
  readonly #verdictLog: RateLimitedLog
  readonly #kernelErrorLog: RateLimitedLog
  readonly #unknownTypeLog: RateLimitedLog
  readonly #memoryCapLog: RateLimitedLog
  readonly #headerCutLog: RateLimitedLog
  readonly #verdictRetryLog: RateLimitedLog
  /** Connection lines (accepted, refused, closed): a burst per 10 s each, then a summary. */
  readonly #connLog: Record<'accepted' | 'refused' | 'closed', BurstLimitedLog>

  constructor (options: InterceptOptions, deps: InterceptDeps) {
    checkInterceptOptions(options)
    this.options = options
    this.#log = deps.log ?? createDebugLogger()
    this.#clock = deps.clock ?? (() => performance.now())
    this.#timers = deps.timers ?? { setInterval, clearInterval }
    this.#limits = { ...DEFAULT_LIMITS, ...deps.limits }
    this.#listenFn = deps.listen ?? ((onConnection) => net.createServer({ noDelay: true }, onConnection))
    this.#kernelQueueStats = deps.kernelQueueStats
    this.#statsIntervalMs = deps.statsIntervalMs ?? STATS_INTERVAL_MS
    this.#onStats = deps.onStats
    this.#traditional = options.mode === 'traditional'
    this.#payload = options.payload
    this.#allowed = allowMatcher(options.allow)
    this.#linkTypeDep = deps.linkType

    if (typeof deps.capture !== 'function' && deps.core === undefined) {
      throw new ConfigError('a capture PacketIo works on the memory of one core: pass that core as deps.core, ' +
        'or pass a capture factory and let the engine create the core', 'TC_ERR_CONFIG_INTERCEPT')
    }
    if (typeof deps.capture !== 'function') this.#checkCaptures(deps.capture)
    this.#captureDep = deps.capture
    this.core = deps.core ?? createInterceptCore(options)
    this.#ids = new ConnIds(this.#limits.maxConnections)
    this.#sender = new RecordSender({
      combined: options.combined,
      maxCount: options.payload ? COMB_MAX_NUM_PAYLOAD : COMB_MAX_NUM,
      startCount: options.batchSize,
      onPending: () => { this.#armPush() }
    })
    const warn = (m: string): void => { this.#log.warn(m) }
    const error = (m: string): void => { this.#log.error(m) }
    this.#orphanLog = new RateLimitedLog(warn, this.#clock)
    this.#captureErrorLog = new RateLimitedLog(error, this.#clock)
    this.#verdictLog = new RateLimitedLog(error, this.#clock)
    this.#kernelErrorLog = new RateLimitedLog(warn, this.#clock)
    this.#unknownTypeLog = new RateLimitedLog(warn, this.#clock)
    this.#memoryCapLog = new RateLimitedLog(warn, this.#clock)
    this.#headerCutLog = new RateLimitedLog((m) => { this.#log.notice(m) }, this.#clock)
    this.#verdictRetryLog = new RateLimitedLog((m) => { this.#log.notice(m) }, this.#clock)
    const burst = (kind: string) => new BurstLimitedLog((n, ms) => {
      this.#log.notice(`${n} more "${kind}" control connection lines were not written in the last ${ms / 1000} s ` +
        `(at most ${this.#limits.connectionLogBurst} per ${ms / 1000} s each; connections so far: ${this.#accepted} accepted, ${this.#refused} refused)`)
    }, this.#clock, this.#limits.connectionLogBurst)
    this.#connLog = { accepted: burst('accepted'), refused: burst('refused'), closed: burst('closed') }
  }

  get state (): InterceptState { return this.#state }

  #checkCaptures (capture: PacketIo | PacketIo[]): PacketIo[] {
    const list = Array.isArray(capture) ? capture : [capture]
    if (list.length === 0 || (this.#traditional && list.length !== 1)) {
      throw new ConfigError(`${this.options.mode} mode needs ${this.#traditional ? 'exactly one' : 'at least one'} capture PacketIo, got ${list.length}`,
        'TC_ERR_CONFIG_CAPTURE')
    }
    const want = this.#traditional ? 'nfqueue' : 'packet'
    for (const io of list) {
      if (io.kind !== want) {
        throw new ConfigError(`${this.options.mode} mode captures with a PacketIo of kind "${want}", got "${io.kind}"`, 'TC_ERR_CONFIG_CAPTURE')
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
      if (this.#traditional) this.core.setPasslist(passlistNumbers(this.options))
      const address = await this.#listen()
      this.#checkNotStopped()
      this.#log.notice(`listening for tcpcopy on ${address.address}:${address.port}; ${this.#describeMode()}`)
      if (this.options.allow.length === 0) {
        this.#log.warn(`no --allow given: anyone who can reach port ${address.port} may register routes and receive the target's response headers; ` +
          'limit it with --allow <cidr,...>')
      }
      this.#openCapture()
      if (this.#traditional) await this.#configureQueue()
      this.#checkNotStopped()
      this.#startTimers()
      this.#growth(this.stats()) // the hints count from here
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
    const c = this.options
    const diffs: string[] = []
    if (o.routeTimeoutSec !== c.timeout) diffs.push(`route timeout ${o.routeTimeoutSec} s, config -t ${c.timeout}`)
    if (o.dnat !== c.dnat) diffs.push(`dnat ${String(o.dnat)}, config --dnat ${String(c.dnat)}`)
    if (o.maxRoutes !== c.maxRoutes) diffs.push(`max routes ${o.maxRoutes}, config --max-routes ${c.maxRoutes}`)
    if (o.hashSize !== c.hashSize) diffs.push(`hash size ${o.hashSize}, config -s ${c.hashSize}`)
    if (diffs.length > 0) this.#log.warn(`the core was created with other settings than the options (${diffs.join('; ')}); the core's settings apply`)
  }

  #describeMode (): string {
    const c = this.options
    const capture = this.#traditional
      ? `traditional mode (NFQUEUE queue ${c.queueNum}, copy range ${NFQUEUE_COPY_RANGE}${c.queueMaxlen !== undefined ? `, queue maxlen ${c.queueMaxlen}` : ''}, ` +
        `${c.passlist.length} passlist addresses)`
      : `advanced mode (passive capture ${c.captureRing === false ? 'with recvmmsg from the socket buffer, --no-capture-ring' : 'through a TPACKET_V3 ring'})`
    const framing = c.combined ? `combined records (batch ${this.#sender.batchSize} of ${this.#sender.maxCount})` : 'plain records (--no-combined)'
    return `${capture}, ${framing}${c.payload ? ', payload records' : ''}${c.dnat ? ', dnat' : ''}, route timeout ${c.timeout} s`
  }

  #listen (): Promise<{ address: string, port: number }> {
    const server = this.#listenFn((socket) => { this.#onConnection(socket) })
    this.#server = server
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.off('listening', onListening)
        reject(listenError(err, this.options.bind, this.options.port))
      }
      const onListening = (): void => {
        server.off('error', onError)
        server.on('error', (err) => { this.#log.error(`control server: ${errorText(err)}`) })
        const a = server.address()
        if (a !== null && typeof a === 'object') resolve({ address: a.address, port: a.port })
        else resolve({ address: this.options.bind, port: this.options.port })
      }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen({ host: this.options.bind, port: this.options.port })
    })
  }

  #openCapture (): void {
    const dep = this.#captureDep
    const opened = typeof dep === 'function' ? dep({ regions: coreRegions(this.core), snap: captureSnap(this.options) }) : dep
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
    const c = this.options
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

  /** Every second: route and delay expiry, the hello timeout, the log summaries, the output total, pending verdicts. */
  #expire (): void {
    this.#checkOverruns()
    const now = this.#clock()
    try {
      const routes = this.core.routerExpire(now)
      const records = this.core.delayExpire(now)
      if (routes > 0 || records > 0) this.#log.debug(`expired ${routes} idle routes and ${records} delayed records`)
    } catch (err) {
      this.#log.error(`route expiry failed: ${errorText(err)}`)
    }
    this.#checkHelloTimeouts(now)
    for (const limiter of Object.values(this.#connLog)) limiter.tick()
    this.#recountOutput()
    if (this.#pendingVerdicts > 0) this.#retryVerdicts()
  }

  /** Closes the connections that sent no hello within helloTimeoutMs: each holds one of the 65,536 connection ids. */
  #checkHelloTimeouts (now: number): void {
    const limit = this.#limits.helloTimeoutMs
    for (const t of this.#awaitingHello) {
      if (now - t.acceptedAt < limit) continue
      this.#awaitingHello.delete(t)
      this.#closedOnError++
      this.#helloTimeouts++
      this.#release(t, 'warn', `closed: no hello within ${limit / 1000} s of the accept (a tcpcopy sends it at once; ` +
        `${t.decoder.buffered} bytes came instead): a port scan, a health check or not a tcpcopy`)
    }
  }

  /** The original logs ENOBUFS as "losing packets"; here once a second at most, with the count. */
  #checkOverruns (): void {
    if (this.#captures.length === 0) return
    const overruns = this.#captureStats().overruns
    if (overruns > this.#lastOverruns) {
      const lost = overruns - this.#lastOverruns
      this.#log.warn(`the capture socket is losing packets: ${lost} receive-buffer overruns in the last second (${overruns} in all); ` +
        dropHint(this.options.mode, this.options.captureRing))
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
      // Verdicts that failed before go first (once per wake-up), while their regions are free.
      if (this.#traditional && this.#pendingVerdicts > 0) this.#retryVerdicts()
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

  /** Sends the verdicts of this batch (VERDICT_OFF, NFQ_IDS_OFF); a failed send keeps them for the retry. */
  #sendVerdicts (io: PacketIo, m: number): void {
    const failure = this.#trySendVerdicts(io, m)
    if (failure === undefined) return
    this.#verdictSendFailures += m
    this.#keepVerdicts(m)
    const waiting = this.#pendingVerdicts
    this.#verdictLog.write(() => `NFQUEUE: sending the verdicts of ${m} packets failed${failure}; they are kept and retried every ` +
      `${VERDICT_RETRY_MS} ms (${waiting} waiting), and until then the packets wait in the kernel queue`)
  }

  /** Builds and sends m verdicts from VERDICT_OFF/NFQ_IDS_OFF; undefined when sent, else why not. */
  #trySendVerdicts (io: PacketIo, m: number): string | undefined {
    if (io.closed) return ': the NFQUEUE socket is closed'
    const datagrams = nfqWriteVerdicts(this.core, m, this.options.queueNum, this.#nlSeq)
    this.#nlSeq = (this.#nlSeq + m) >>> 0
    let sent = 0
    try {
      sent = io.send(datagrams)
    } catch (err) {
      return `: ${errorText(err)}`
    }
    if (sent < datagrams) return ' (the kernel took none)'
    this.#verdicts += m
    const v = this.core.bytes
    let drops = 0
    for (let i = VERDICT_OFF; i < VERDICT_OFF + m; i++) if (v[i] !== Verdict.Accept) drops++
    this.#dropVerdicts += drops
    return undefined
  }

  get #pendingVerdicts (): number { return this.#verdictIds.length - this.#verdictHead }

  /** Copies the m verdicts of VERDICT_OFF/NFQ_IDS_OFF to the retry queue; the oldest beyond the bound are given up. */
  #keepVerdicts (m: number): void {
    const dv = this.core.view
    const bytes = this.core.bytes
    for (let i = 0; i < m; i++) {
      this.#verdictIds.push(dv.getUint32(NFQ_IDS_OFF + 4 * i, true))
      this.#verdictValues.push(bytes[VERDICT_OFF + i]!)
    }
    const over = this.#pendingVerdicts - this.#limits.maxPendingVerdicts
    if (over > 0) {
      this.#verdictHead += over
      this.#verdictsLost += over
      this.#compactVerdicts()
      this.#log.error(`NFQUEUE: more than ${this.#limits.maxPendingVerdicts} verdicts wait for a retry; the ${over} oldest were given up: ` +
        'their packets stay in the kernel queue without a verdict until intercept stops (unbinding the queue drops them), ' +
        'and the queue fills sooner; ' + dropHint('traditional'))
    }
    if (this.#verdictTimer === undefined && this.#state !== 'stopped') {
      this.#verdictTimer = this.#timers.setInterval(() => { this.#retryVerdicts() }, VERDICT_RETRY_MS)
    }
  }

  #compactVerdicts (): void {
    if (this.#verdictHead === 0) return
    if (this.#verdictHead >= this.#verdictIds.length) {
      this.#verdictIds = []
      this.#verdictValues = []
    } else {
      this.#verdictIds = this.#verdictIds.slice(this.#verdictHead)
      this.#verdictValues = this.#verdictValues.slice(this.#verdictHead)
    }
    this.#verdictHead = 0
  }

  /**
   * Sends the waiting verdicts, oldest first, up to MAX_BATCH per datagram.
   * Runs only between batches (the timer, the start of a capture round),
   * when VERDICT_OFF and NFQ_IDS_OFF hold nothing else.
   */
  #retryVerdicts (): void {
    const io = this.#captures[0]?.io
    while (this.#pendingVerdicts > 0) {
      if (io === undefined || io.closed) break
      const k = Math.min(this.#pendingVerdicts, MAX_BATCH)
      const dv = this.core.view
      const bytes = this.core.bytes
      for (let i = 0; i < k; i++) {
        dv.setUint32(NFQ_IDS_OFF + 4 * i, this.#verdictIds[this.#verdictHead + i]!, true)
        bytes[VERDICT_OFF + i] = this.#verdictValues[this.#verdictHead + i]!
      }
      let failure: string | undefined
      try {
        failure = this.#trySendVerdicts(io, k)
      } catch (err) {
        failure = `: ${errorText(err)}`
      }
      if (failure !== undefined) {
        const waiting = this.#pendingVerdicts
        this.#verdictLog.write(() => `NFQUEUE: the retry of ${waiting} waiting verdicts failed${failure}; retrying every ${VERDICT_RETRY_MS} ms`)
        break
      }
      this.#verdictHead += k
      this.#verdictsRetried += k
      const left = this.#pendingVerdicts
      const retried = this.#verdictsRetried
      this.#verdictRetryLog.write(() => `NFQUEUE: ${k} verdicts whose send had failed went out on a retry (${left} still waiting, ${retried} retried in all)`)
    }
    this.#compactVerdicts()
    if (this.#pendingVerdicts === 0 && this.#verdictTimer !== undefined) {
      this.#timers.clearInterval(this.#verdictTimer)
      this.#verdictTimer = undefined
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
        } else if (!nfqConfigStepFatal(step, batch.lastErrno)) {
          if (step.step === 'queue-maxlen') {
            this.#log.warn(`NFQUEUE: the kernel refused -q ${String(this.options.queueMaxlen)} (errno ${batch.lastErrno}); ` +
              'it may not support NFQA_CFG_QUEUE_MAXLEN, so the queue keeps its default length 1024')
          } else {
            this.#log.debug(`NFQUEUE ${step.step}: errno ${batch.lastErrno} (harmless)`)
          }
        } else {
          wait.reject(nfqConfigError(batch.lastErrno, step.step, this.options.queueNum))
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
    // Caps on unsent output: a record over a cap is dropped and counted, the connection stays open.
    const pending = t.out.pendingBytes
    if (pending > this.#limits.maxPendingOutputBytes) {
      t.dropped++
      t.dropStreak++
      this.#dropBackpressure++
      t.dropLog.write(() => `${t.name} does not read its records: ${pending} bytes wait unsent (cap ${this.#limits.maxPendingOutputBytes} ` +
        `per connection), so records for it are dropped and counted as lost (${t.dropped} so far); the connection stays open, ` +
        `and records go to it again once it reads. ${OUTPUT_HINT}`)
      return
    }
    if (this.#outputBytes > this.#limits.maxTotalOutputBytes && this.#recountOutput() > this.#limits.maxTotalOutputBytes) {
      t.dropped++
      t.dropStreak++
      this.#dropMemoryCap++
      const total = this.#outputBytes
      this.#memoryCapLog.write(() => `control connections hold ${total} bytes of unsent records in all (cap ${this.#limits.maxTotalOutputBytes}): ` +
        `new records are dropped and counted as lost (${this.#dropMemoryCap} so far) until they read. ${OUTPUT_HINT}`)
      return
    }
    if (t.dropStreak > 0) {
      const n = t.dropStreak
      t.dropStreak = 0
      t.recoverLog.write(() => `${t.name} takes records again; ${n} were dropped while its output was over a cap`)
    }
    this.#checkHeaderCut(t, record)
    this.#sender.add(t, record, this.#drainNow)
  }

  /** Counts (and notes) a TCP header longer than the record holds: 1.x records keep 44 bytes of it (PROTOCOL.md §3.2). */
  #checkHeaderCut (t: Tunnel, record: Uint8Array): void {
    const doff = (record[TCP_DOFF_BYTE]! >> 4) * 4
    const room = t.tcpRoom
    if (doff <= room) return
    this.#tcpHeaderCut++
    const n = this.#tcpHeaderCut
    this.#headerCutLog.write(() => `${t.name}: a response's TCP header has ${doff} bytes, a ${t.dialect ?? '1.x'} record holds ${room}: ` +
      `its last ${doff - room} option bytes were cut, as intercept 1.x does (tcpcopy still finds MSS, window scale and timestamps when they come first); ` +
      `${n} headers cut so far`)
  }

  /** Updates the engine's total of unsent output with what `t` holds now. */
  readonly #accountOutput = (t: Tunnel): void => {
    if (t.released) return
    const now = t.out.pendingBytes
    this.#outputBytes += now - t.accounted
    t.accounted = now
    if (this.#outputBytes > this.#outputPeak) this.#outputPeak = this.#outputBytes
  }

  /**
   * The exact total (sockets hand data to the kernel without telling, so the
   * running total only errs high); at most once per millisecond. Returns it.
   */
  #recountOutput (): number {
    const now = Math.floor(this.#clock())
    if (now === this.#outputRecountAt) return this.#outputBytes
    this.#outputRecountAt = now
    let total = 0
    for (const t of this.#tunnels.values()) {
      t.accounted = t.out.pendingBytes
      total += t.accounted
    }
    this.#outputBytes = total
    return total
  }

  // ---- control connections ---------------------------------------------------------

  #onConnection (socket: net.Socket): void {
    const address = plainAddress(socket.remoteAddress)
    const peer = `${address}:${socket.remotePort ?? 0}`
    if (this.#state !== 'running' && this.#state !== 'starting') {
      socket.destroy()
      return
    }
    if (!this.#allowed(address)) {
      this.#refused++
      if (this.#connLog.refused.allow()) {
        this.#log.warn(`refused control connection from ${peer}: not in --allow ` +
          this.options.allow.map((c) => `${c.address}/${c.prefixLength}`).join(','))
      }
      socket.destroy()
      return
    }
    const id = this.#ids.take()
    if (id === undefined) {
      this.#refused++
      if (this.#connLog.refused.allow()) {
        this.#log.warn(`refused control connection from ${peer}: all ${this.#ids.limit} connection ids are in use ` +
          `(connections that send no hello are closed after ${this.#limits.helloTimeoutMs / 1000} s)`)
      }
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    const decoder = new ServerSideDecoder({ rejectLegacy: true, maxUnknownTypes: this.#limits.maxUnknownTypes })
    const t = new Tunnel(id, socket, peer, decoder, this.#clock(), this.#log, this.#clock, this.#accountOutput)
    this.#tunnels.set(id, t)
    this.#awaitingHello.add(t)
    this.#accepted++
    if (this.#connLog.accepted.allow()) this.#log.notice(`${t.name} accepted`)
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
    this.#awaitingHello.delete(t)
    const use: Dialect = dialect ?? '1.x'
    const size = recordSize({ dialect: use, payload: this.#payload })
    if (warning !== undefined) {
      // PROTOCOL.md §2.2, §5: the originals only warn about a version they do not know and go on.
      this.#log.warn(`${t.name}: ${warning}; no tcpcopy release sends it, so it is treated as 1.x, as intercept 1.x would: ` +
        `using 1.x records (${size} bytes). If the peer reads 80-byte records (0.9), its stream will not parse`)
    }
    try {
      this.core.setConnFormat(t.id, use, this.#payload)
    } catch (err) {
      this.#release(t, 'error', `closed: cannot set its record format: ${errorText(err)}`)
      return
    }
    t.dialect = use
    t.tcpRoom = 20 + optionsAreaLength({ dialect: use, payload: false })
    t.lastAccessMs = Math.floor(this.#clock())
    const info = helloVersionInfo(version)
    let about = ''
    if (info.dialect === '0.9' && info.release !== undefined) {
      about = ` (${info.release}`
      if (info.combMaxNum !== undefined && info.combMaxNum > this.#sender.maxCount) {
        about += `; it reads up to ${info.combMaxNum} records per combined frame, intercept sends at most ${this.#sender.maxCount}`
      }
      about += ')'
    }
    const line = `${t.name}: hello version ${formatVersion(version)}, tcpcopy ${use}, ${size}-byte records${about}`
    // The hellos of 0.9.2 - 0.9.7 are rare enough to be worth a notice.
    if (info.combMaxNum !== undefined && info.combMaxNum > COMB_MAX_NUM) this.#log.notice(line)
    else this.#log.info(line)
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
    this.#awaitingHello.delete(t)
    const buffered = this.#sender.forget(t)
    this.#dropOnClose += buffered
    t.out.discard()
    this.#outputBytes -= t.accounted
    t.accounted = 0
    let routes = 0
    try {
      routes = this.core.routerDeleteConn(t.id)
    } catch (err) {
      this.#log.error(`removing the routes of ${t.name} failed: ${errorText(err)}`)
    }
    this.#tunnels.delete(t.id)
    this.#ids.release(t.id)
    // The line is written before the socket closes: whoever sees the close
    // (the peer, an operator watching both) finds its reason already logged.
    if (this.#connLog.closed.allow()) {
      const extra = buffered > 0 ? `, ${buffered} buffered records dropped` : ''
      this.#log[level](`${t.name} ${why}; ${routes} route${routes === 1 ? '' : 's'} removed${extra}`)
    }
    t.socket.destroy()
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
    if (this.#pendingVerdicts > 0) {
      // A last try; what is left stays queued until the close below unbinds the queue.
      if (graceful) this.#retryVerdicts()
      const left = this.#pendingVerdicts
      if (left > 0) {
        this.#verdictsLost += left
        this.#verdictHead += left
        this.#compactVerdicts()
        this.#log.warn(`NFQUEUE: ${left} verdicts still could not be sent at stop; the kernel drops those packets when the queue is unbound`)
      }
    }
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
    for (const limiter of Object.values(this.#connLog)) limiter.summarize()
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
    // end() sends what is buffered (staged bytes first), then FIN; the peer's EOF closes the socket.
    for (const t of tunnels) {
      t.out.flush()
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
    for (const h of [this.#pushTimer, this.#expireTimer, this.#statsTimer, this.#verdictTimer]) if (h !== undefined) t.clearInterval(h)
    this.#pushTimer = undefined
    this.#expireTimer = undefined
    this.#statsTimer = undefined
    this.#verdictTimer = undefined
  }

  // ---- statistics ------------------------------------------------------------------

  stats (): InterceptStats {
    const c = this.core.counters()
    const s = this.#sender.stats()
    const io = this.#captureStats()
    const out: InterceptStats = {
      mode: this.options.mode,
      captureRing: this.options.captureRing !== false,
      connections: this.#tunnels.size,
      connectionsAccepted: this.#accepted,
      connectionsRefused: this.#refused,
      connectionsClosedOnError: this.#closedOnError,
      helloTimeouts: this.#helloTimeouts,
      clientAdds: this.#clientAdds,
      routes: c.Routes,
      responses: {
        captured: c.Captured,
        forwarded: s.records,
        passed: c.Passed,
        dropped: this.#dropVerdicts,
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
        droppedMemoryCap: this.#dropMemoryCap,
        droppedNoConnection: this.#dropNoConnection,
        droppedOutOverflow: c.OutOverflow,
        droppedOnClose: this.#dropOnClose,
        tcpHeaderCut: this.#tcpHeaderCut
      },
      output: { bytes: this.#outputBytes, peakBytes: this.#outputPeak, connectionsBackedUp: this.#backedUp() },
      batchSize: this.#sender.batchSize,
      capture: { received: io.received, truncated: io.truncated, overruns: io.overruns }
    }
    if (this.#traditional) {
      out.nfqueue = {
        verdicts: this.#verdicts,
        verdictsRetried: this.#verdictsRetried,
        verdictsPending: this.#pendingVerdicts,
        verdictsLost: this.#verdictsLost,
        kernelErrors: this.#kernelErrors,
        malformed: nfqCounters(this.core).malformed
      }
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

  #backedUp (): number {
    let n = 0
    for (const t of this.#tunnels.values()) if (t.dropStreak > 0) n++
    return n
  }

  /** What grew since the previous call (for the tuning hints), and remembers the new values. */
  #growth (s: InterceptStats): StatsGrowth {
    const k = s.kernelQueue
    const now = {
      queueFull: k?.queueDropped ?? 0,
      socketFull: (k?.userDropped ?? 0) + s.capture.overruns,
      verdictSendFailures: this.#verdictSendFailures,
      outputDrops: s.records.droppedBackpressure + s.records.droppedMemoryCap
    }
    const last = this.#last
    this.#last = now
    const grew = (a: number, b: number): number => a > b ? a - b : 0
    return {
      queueFull: grew(now.queueFull, last.queueFull),
      socketFull: grew(now.socketFull, last.socketFull),
      verdictSendFailures: grew(now.verdictSendFailures, last.verdictSendFailures),
      outputDrops: grew(now.outputDrops, last.outputDrops)
    }
  }

  statsLine (): string {
    const s = this.stats()
    return formatStatsLine(s, this.#growth(s))
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
export function createIntercept (options: InterceptOptions, deps: InterceptDeps): Intercept {
  return new InterceptEngine(options, deps)
}


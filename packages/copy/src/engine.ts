// The tcpcopy engine (TCPCOPY.md, T1 = 1.x): captured client packets are
// filtered (§3.2), split (§3.3), replicated (§3.3, §3.4), buffered per
// session and replayed to the target with the rewrites of §4, paced by the
// target's responses that intercept reports over the control channel (§5).
//
// No process handling here: the CLI owns signals, the log file, the native
// sockets and the exit code; it hands them in as CopyDeps and reads
// `done` to learn why the engine stopped.
import { performance } from 'node:perf_hooks'
import { CanceledError, TcpcopyError, type PacketIo, type PacketIoOptions, type PacketIoRegions } from '@tcpcopy/interface'
import { createCore, type Core } from '@tcpcopy/core'
import {
  DESC_OFF, FRAMES_OFF, FRAMES_SIZE, MAX_BATCH, TX_DESC_OFF, LinkType, OptFlag, Status,
  PARSE_OFF, P_DOFF, P_DPORT, P_DST_ADDR, P_IHL, P_IP_ID, P_L3_OFF, P_OPT_FLAGS, P_PAYLOAD_LEN, P_SEQ, P_ACK,
  P_SPORT, P_SRC_ADDR, P_TCP_FLAGS, P_TOT_LEN, P_CAP_LEN, P_WINDOW, P_WSCALE, P_TS_VAL
} from '@tcpcopy/wasm'
import type { TcpcopyConfig } from '@tcpcopy/config'
import {
  CONNECT_TIMEOUT_MS, InterceptLinks, MAX_QUEUED_CONTROL_BYTES, RECONNECT_DELAY_MS, RETRY_INTERVAL_MS, defaultConnect, type ConnectFn
} from './control.js'
import {
  ClientPool, LOCALHOST, TargetTable, addPort, gradualPercent, ipv4ToU32, keepSession, nextPort,
  replicaAddition, shiftAddition, u32ToIpv4, type TargetEntry
} from './filter.js'
import { silentLogger, type Logger } from './logger.js'
import { PacketStore, type BufferedPacket } from './packet-store.js'
import { FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, ResponseFields, readResponse } from './record.js'
import { seqAdd, seqAfter, seqBefore, seqDiff, seqMax } from './seq.js'
import {
  HS_CLOSED, HS_SYN_CONFIRM, HS_SYN_SENT, Session, T_GC, T_PACING, T_RTO, type SessionInfo
} from './session.js'
import { emptyNotReplayed, formatStatsLine, type CopyStats, type NotReplayed } from './stats.js'
import { TimerQueue, defaultTimers, type CopyTimers, type TimerSlot } from './timers.js'
import { Tx } from './tx.js'

// ---- constants -----------------------------------------------------------------

/** Receive slot for live capture: the largest IPv4 packet plus a link header (VLAN tags included). */
export const CAPTURE_SNAP = 65535 + 64

/**
 * The default clock: perf_hooks' performance.now, bound once. Through the
 * global `performance` every call also ran Node's lazy getter for it (a
 * property lookup and hasOwnProperty); the engine reads its clock a few times
 * per packet, and perf put those reads at about 4 % of tcpcopy's CPU.
 */
const hostNow: () => number = performance.now.bind(performance)

const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4))
/** Blocks the thread for `ms`: the event loop waits and the CPU is free (the cell is never notified). */
function blockingSleep (ms: number): void { Atomics.wait(SLEEP_CELL, 0, 0, ms) }

/** Statistics interval of the original (§8). */
export const STATS_INTERVAL_MS = 30000
/** RSS check interval of the original (§8). */
export const MEMORY_CHECK_INTERVAL_MS = 60000
/** IP lengths T1 takes as a "full-sized" response segment (§5.5), besides -M and ≥ 2048. */
const FULL_SIZES = [576, 1492, 1500]
const MIB = 1024 * 1024
const SYN_ANSWER_WINDOW_MS = 600000
const JUMP_CONFLICT = 16 * MIB
const JUMP_REPEAT = 64 * 1024
/** Largest window scale shift (RFC 7323 §2.3). */
const MAX_WSCALE = 14
/** How far beyond the data we saw a RST's seq may be (lost response records) and still be this incarnation's. */
const STALE_RST_WINDOW = 16 * MIB
/** Longest a client RST waits for the target to answer the requests sent before it. */
export const RST_HOLD_MS = 2000
/**
 * How long the faked ACK of a one-segment response may wait, when the
 * pacing timer has nothing else to do (rtt <= 1, nothing buffered):
 * Linux's shortest delayed ACK (TCP_DELACK_MIN). The next captured packet
 * usually goes out first and carries the acknowledgement; the faked ACK then
 * is not sent at all.
 */
export const ACK_DELAY_MS = 40

const STOP = 0
const SENT = 1
const CONSUMED = 2
const END = 3

// ---- dependencies and API ------------------------------------------------------------

/** Opens the capture on the core's regions (live capture). */
export type CaptureFactory = (options: PacketIoOptions) => PacketIo | PacketIo[]
/** Opens the send socket on the core's regions. */
export type SendFactory = (options: PacketIoOptions) => PacketIo

/** Bounds and intervals (TCPCOPY.md values by default; tests shrink them). */
export interface CopyLimits {
  /** Retransmission timeout after a data send (§5.5). Default 100. */
  rtoMs: number
  /** Longest RTO after doubling on repeated timeouts. Default 3200. */
  rtoMaxMs: number
  /** First GC check after creation (§5.6). Default 3000. */
  gcFirstMs: number
  /** Later GC checks (§5.6). Default 6000. */
  gcIntervalMs: number
  /** Time-wait (TCP_MS_TIMEOUT). Default 6000. */
  timeWaitMs: number
  /** Retry interval of lost intercepts (RETRY_INTERVAL). Default 12000. */
  retryIntervalMs: number
  /** First reconnect after a working control connection dropped. Default 1000. */
  reconnectDelayMs: number
  /** A control connection attempt unanswered for this long is given up. Default 5000; 0 = never. */
  connectTimeoutMs: number
  /** Bytes a control connection may have queued before it takes no more CLIENT_ADDs. Default 1 MiB. */
  maxQueuedControlBytes: number
  /** Reconstructs/replays in a row without the target acknowledging data, before the session is given up. Default 8. */
  maxReconstructs: number
  /** Buffered packets that make a session obsolete (65536 while the window is full). Default 32768. */
  maxSessionPackets: number
  /** How long a capture gap (missing client packet) may last (§5.6). Default 10000. */
  lostCaptureMs: number
  /**
   * A session waiting for a response (or holding unsent requests) with nothing
   * from the target for this long sends a probe (an ACK with an old seq): a
   * live connection answers with an ACK, a vanished one with a RST, which
   * starts a reconstruct. Doubles up to 60 s. 0 turns probing off. Default 1000.
   */
  probeIdleMs: number
  /** Capture batches per wake-up before yielding. Default 64. */
  batchesPerTurn: number
}

export const DEFAULT_COPY_LIMITS: Readonly<CopyLimits> = Object.freeze({
  rtoMs: 100,
  rtoMaxMs: 3200,
  gcFirstMs: 3000,
  gcIntervalMs: 6000,
  timeWaitMs: 6000,
  retryIntervalMs: RETRY_INTERVAL_MS,
  reconnectDelayMs: RECONNECT_DELAY_MS,
  connectTimeoutMs: CONNECT_TIMEOUT_MS,
  maxQueuedControlBytes: MAX_QUEUED_CONTROL_BYTES,
  maxReconstructs: 8,
  maxSessionPackets: 32768,
  lostCaptureMs: 10000,
  probeIdleMs: 1000,
  batchesPerTurn: 64
})

export interface CopyDeps {
  /**
   * The core whose memory the PacketIos use (create it with createCopyCore()).
   * Absent: the engine creates one, and capture/send must be factories.
   */
  core?: Core
  /**
   * Live capture on copyRegions(core): frames arrive in FRAMES, described at
   * DESC_OFF. One PacketIo, several (one per device), or a factory called in
   * start(). Absent for offline replay and the simulator, which call ingest().
   * Owned by the engine from start() on (closed by stop()).
   */
  capture?: PacketIo | PacketIo[] | CaptureFactory
  /** Link type of captured frames. Default: the capture's `linkType` property, else Ethernet. */
  linkType?: number
  /**
   * Where packets to the target go: kind 'raw-ipv4' (IP_HDRINCL; the
   * descriptor's dst word is the target) or 'packet' (pcap-send, -o: an
   * Ethernet header with the -x MACs is prepended). On copyRegions(core).
   * Owned by the engine from start() on.
   */
  send: PacketIo | SendFactory
  /** Opens a control connection to an intercept. Default node:net. */
  connect?: ConnectFn
  /** Milliseconds, monotonic. Default performance.now(). */
  clock?: () => number
  /**
   * Blocks the thread for this many ms: the pause between two busy turns of
   * live capture (--wake-interval). Default: a real wait (Atomics.wait, no
   * CPU) when the clock is the default one, none with an injected clock (a
   * fake clock would not see the time pass).
   */
  sleep?: (ms: number) => void
  timers?: CopyTimers
  log?: Logger
  /** Uniform [0, 1); seeds R of §3.3. Default Math.random. */
  random?: () => number
  /**
   * Bytes the process holds, for -m: the V8 heap in use plus the buffers
   * outside it (packet slabs, the WASM memory). Default heldMemory(). The
   * RSS is not used: the allocator may keep pages freed after a burst, and
   * -m would then stop a tcpcopy that holds little.
   */
  memoryUsage?: () => number
  /** CPU time used, µs (process.cpuUsage()), for the 60 s report. */
  cpuUsage?: () => { user: number, system: number }
  /** Statistics interval; 0 turns the timer off. Default 30000. */
  statsIntervalMs?: number
  /** -m check interval; 0 turns it off. Default 60000. */
  memoryCheckIntervalMs?: number
  /** Receives the periodic statistics. Default: the line is logged at NOTICE. */
  onStats?: (stats: CopyStats, line: string) => void
  /** Called once when the engine has stopped, for whatever reason. */
  onExit?: (exit: CopyExit) => void
  limits?: Partial<CopyLimits>
}

export type CopyState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped'

/**
 * Why the engine stopped. The CLI maps it to an exit code:
 * 'stopped' (stop() was called), 'memory' (-m exceeded, TC_ERR_COPY_MEMORY),
 * 'no-intercept' (every intercept lost without -L, TC_ERR_COPY_NO_INTERCEPT),
 * 'send-failed' (a hard raw-send error, §3.5), 'error' (anything else).
 */
export interface CopyExit {
  reason: 'stopped' | 'memory' | 'no-intercept' | 'send-failed' | 'error'
  error?: TcpcopyError
}

export interface Copy {
  readonly config: TcpcopyConfig
  readonly core: Core
  readonly state: CopyState
  /** Resolves once the engine has stopped, with the reason. Never rejects. */
  readonly done: Promise<CopyExit>
  /** Connects to the intercepts and starts capturing; resolves when one intercept is up (or at once with -L). */
  start (): Promise<void>
  /** Passive RST to every live session, then closes capture, send and control connections. Idempotent. */
  stop (): Promise<void>
  /**
   * Offline replay and simulation: one captured frame of `linkType`, with
   * its capture time (ms; used for the RTT measurement and -g, divided by -a).
   */
  ingest (frame: Uint8Array, linkType: number, timestampMs?: number): void
  /** The same for n frames already placed in FRAMES and described at DESC_OFF (zero-copy readers). */
  ingestDescribed (n: number, linkType: number, timestampMs?: number): void
  stats (): CopyStats
  statsLine (): string
  /** What the stats timer does (and what the CLI calls on SIGUSR1). */
  reportStats (): string
  /** The live sessions (time-wait included). */
  sessions (): SessionInfo[]
  /**
   * Checks the engine's bookkeeping against a recount: each session's
   * packet counters and order, and the packet store's count against the
   * packets the sessions hold. [] when consistent (tests, diagnostics).
   */
  selfCheck (): string[]
}

/** The PacketIo regions of a core: capture into DESC_OFF/FRAMES_OFF, send from TX_DESC_OFF. */
export function copyRegions (core: Core): PacketIoRegions {
  return { memory: core.raw.memory, rxDescOff: DESC_OFF, rxDescCount: MAX_BATCH, rxDataOff: FRAMES_OFF, rxDataSize: FRAMES_SIZE, txDescOff: TX_DESC_OFF }
}

/** Bytes the process holds: the V8 heap in use and the memory of ArrayBuffers and other objects outside it. */
export function heldMemory (): number {
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

/** The core tcpcopy needs: parsing and checksums only, so the router and delay tables are minimal. */
export function createCopyCore (): Core {
  return createCore({ hashSize: 1, maxRoutes: 1, routeTimeoutSec: 0, delayPerKey: 1, delayTotal: 1, delayExpireSec: 1 })
}

export function createCopy (config: TcpcopyConfig, deps: CopyDeps): Copy {
  return new CopyEngine(config, deps)
}

// ---- the engine ------------------------------------------------------------------------

interface CaptureSlot {
  io: PacketIo
  linkType: number
  pumping: boolean
  scheduled: boolean
  /** The largest batch this socket has delivered: a smaller one means it was drained. */
  largest: number
  /** When a read last drained this socket: what the next read returns came later. */
  drainedAt: number
}

/**
 * The options read for every packet, copied out of the config: the config
 * object the CLI builds is in dictionary mode (filled key by key from the
 * option table), so each read of it is a hash lookup; this literal is a
 * plain fixed-shape object.
 */
interface HotConfig {
  readonly mtu: number
  readonly mss: number
  readonly copies: number
  readonly wait: boolean
  readonly gradual: boolean
  readonly percentage: number
  readonly accelerate: number
  readonly onlyComplete: boolean
  readonly rtt: number
  readonly portShift: number
}

function hotConfig (c: TcpcopyConfig): HotConfig {
  return {
    mtu: c.mtu,
    mss: c.mss,
    copies: c.copies,
    wait: c.wait,
    gradual: c.gradual,
    percentage: c.percentage,
    accelerate: c.accelerate,
    onlyComplete: c.onlyComplete,
    rtt: c.rtt,
    portShift: c.portShift
  }
}

/** The captured segment being dispatched (reused; no object per packet). */
class Segment {
  ipOff = 0
  ihl = 0
  doff = 0
  /** Offset of this segment's payload in core memory, and its length. */
  payOff = 0
  payLen = 0
  seq = 0
  ack = 0
  flags = 0
  window = 0
  ipId = 0
  /** TS option offset from the IP header, -1 when absent. */
  tsOff = -1
  tsVal = 0
  wscale = -1
  time = 0
  /**
   * The earliest time the segment can have arrived: live capture reads in
   * batches, so a segment read at `time` came after the last read that
   * drained its socket. Offline and injected segments: `time`.
   */
  earliest = 0
  /** Captured source and its port; the mapped client address. */
  srcIp = 0
  sport = 0
  clientIp = 0
  target: TargetEntry | undefined = undefined
}

class CopyEngine implements Copy {
  readonly config: TcpcopyConfig
  readonly core: Core
  readonly done: Promise<CopyExit>
  #resolveDone!: (exit: CopyExit) => void
  #state: CopyState = 'new'
  readonly #deps: CopyDeps
  readonly #log: Logger
  readonly #clock: () => number
  readonly #timers: CopyTimers
  readonly #limits: CopyLimits
  readonly #bytes: Uint8Array
  readonly #dv: DataView
  readonly #tx: Tx
  readonly #store = new PacketStore()
  readonly #release = (p: BufferedPacket): void => { this.#store.release(p) }
  readonly #targets: TargetTable
  readonly #pool: ClientPool | undefined
  readonly #replaceLocalhost: number | undefined
  readonly #links: InterceptLinks
  readonly #queue: TimerQueue<Session>
  /** R of §3.3: one random number 0..511 per process. */
  readonly #r: number
  readonly #c: HotConfig
  readonly #sessions = new Map<number, Session>()
  readonly #origins = new Map<number, Array<Session | undefined>>()
  readonly #seg = new Segment()
  readonly #resp = new ResponseFields()
  #captures: CaptureSlot[] = []
  #sendIo: PacketIo | undefined
  #firstPacketTime = -1
  /** --wake-interval (ms), and the sleep that spaces busy turns (undefined: turns are not spaced). */
  readonly #wakeMs: number
  readonly #sleep: ((ms: number) => void) | undefined
  /** When the current wake-up window began (#clock ms). */
  #windowStart = Number.NEGATIVE_INFINITY
  #statsTimer: unknown = undefined
  #memoryTimer: unknown = undefined
  #exit: CopyExit | undefined
  #stopPromise: Promise<void> | undefined

  // counters
  readonly #nr: NotReplayed = emptyNotReplayed()
  #created = 0
  #closed = 0
  #obsolete = 0
  #timedOut = 0
  #establishedCount = 0
  #fakedSyns = 0
  #reconstructCount = 0
  #captured = 0
  #accepted = 0
  #clientSyns = 0
  #clientData = 0
  #clientRetrans = 0
  /**
   * --wake-interval, live capture: how much later the timers that do not
   * hold back a request may fire, so that a capture or control turn usually
   * handles them instead of a wake-up of their own. The queue adds it to
   * every retransmission/probe (T_RTO) and cleanup (T_GC) slot; of the
   * pacing slot only the delayed ACK of a complete response takes it. The
   * response-end timer that sends the next buffered request stays exact.
   */
  #lax = 0
  #sent = 0
  #contentSent = 0
  #synSent = 0
  #finSent = 0
  #rstSent = 0
  #fakedAcks = 0
  #retransmitted = 0
  #fastRetransmits = 0
  #probes = 0
  #responses = 0
  #respData = 0
  #respFin = 0
  #respRst = 0
  #respNoSession = 0
  #respStale = 0

  constructor (config: TcpcopyConfig, deps: CopyDeps) {
    this.config = config
    this.#c = hotConfig(config)
    this.#deps = deps
    this.#log = deps.log ?? silentLogger
    this.#clock = deps.clock ?? hostNow
    this.#wakeMs = config.wakeInterval
    this.#sleep = config.wakeInterval > 0 ? deps.sleep ?? (deps.clock === undefined ? blockingSleep : undefined) : undefined
    this.#timers = deps.timers ?? defaultTimers
    this.#limits = { ...DEFAULT_COPY_LIMITS, ...deps.limits }
    this.done = new Promise((resolve) => { this.#resolveDone = resolve })
    if (deps.core === undefined && (typeof deps.send !== 'function' || (deps.capture !== undefined && typeof deps.capture !== 'function'))) {
      throw new TcpcopyError('a PacketIo works on the memory of one core: pass that core as deps.core (createCopyCore()), ' +
        'or pass factories and let the engine create the core', 'TC_ERR_CONFIG_COPY')
    }
    this.core = deps.core ?? createCopyCore()
    this.#bytes = this.core.bytes
    this.#dv = this.core.view
    this.#tx = new Tx(this.core, (err, fatal) => { this.#onSendError(err, fatal) })
    this.#targets = new TargetTable(config.targets)
    this.#pool = config.clients.length > 0 ? new ClientPool(config.clients.map(ipv4ToU32)) : undefined
    this.#replaceLocalhost = config.replaceLocalhost === undefined ? undefined : ipv4ToU32(config.replaceLocalhost)
    this.#r = Math.floor((deps.random ?? Math.random)() * 512) & 511
    this.#lax = this.#sleep !== undefined && deps.capture !== undefined ? this.#wakeMs : 0
    const late: number[] = []
    late[T_RTO] = this.#lax
    late[T_GC] = this.#lax
    this.#queue = new TimerQueue<Session>(this.#clock, this.#timers, (slot) => { this.#onTimer(slot) }, () => { this.#endTurn() }, late)
    this.#links = new InterceptLinks({
      intercepts: config.intercepts,
      connections: config.connections,
      dialect: config.protocol,
      combined: config.combined,
      payload: config.payload,
      lonely: config.lonely,
      retryIntervalMs: this.#limits.retryIntervalMs,
      reconnectDelayMs: this.#limits.reconnectDelayMs,
      connectTimeoutMs: this.#limits.connectTimeoutMs,
      maxQueuedBytes: this.#limits.maxQueuedControlBytes,
      connect: deps.connect ?? defaultConnect,
      timers: this.#timers,
      log: this.#log,
      onRecord: (record) => { this.#onRecord(record) },
      onChunkDone: () => {
        this.#endIoTurn()
        this.#spaceTurns()
      },
      onAllLost: (error) => { this.#fatal('no-intercept', error) },
      onUp: () => { if (this.#state === 'starting') this.#state = 'running' }
    })
  }

  get state (): CopyState { return this.#state }

  // ---- lifecycle -------------------------------------------------------------------

  async start (): Promise<void> {
    if (this.#state !== 'new') throw new TcpcopyError(`start() works once, on a new engine; this one is ${this.#state}`, 'TC_ERR_COPY_STATE')
    this.#state = 'starting'
    try {
      const send = this.#deps.send
      const regions = copyRegions(this.core)
      this.#sendIo = typeof send === 'function' ? send({ regions, snap: 65536 }) : send
      if (this.#sendIo.kind !== 'raw-ipv4' && this.#sendIo.kind !== 'packet') {
        throw new TcpcopyError(`tcpcopy sends with a PacketIo of kind "raw-ipv4" or "packet" (pcap-send), got "${this.#sendIo.kind}"`, 'TC_ERR_CONFIG_COPY')
      }
      if (this.#sendIo.kind === 'packet' && this.#targets.entries.some((t) => t.nextHopMac === undefined)) {
        this.#log.warn('sending Ethernet frames (pcap-send) but -x carries no MAC addresses: the frames get zero MACs')
      }
      this.#tx.attach(this.#sendIo)
      this.#logStart()
      this.#openCapture()
      this.#startTimers()
      await this.#links.start()
    } catch (err) {
      const error = err instanceof TcpcopyError ? err : new TcpcopyError(`start failed: ${String(err)}`, 'TC_ERR_COPY_START', { cause: err })
      if (!(err instanceof CanceledError) && error.code !== 'TC_ERR_CANCELED') this.#log.error(error.message)
      this.#exit ??= { reason: error.code === 'TC_ERR_COPY_NO_INTERCEPT' ? 'no-intercept' : 'error', error }
      await this.stop()
      throw error
    }
    if (this.#state === 'starting') this.#state = 'running'
  }

  stop (): Promise<void> {
    this.#stopPromise ??= this.#stop()
    return this.#stopPromise
  }

  async #stop (): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped'
      this.#finish()
      return
    }
    this.#state = 'stopping'
    // Each step is on its own: whatever one of them throws, the others run and done resolves.
    const step = (what: string, fn: () => void): void => {
      try { fn() } catch (err) { this.#log.error(`stop: ${what}: ${err instanceof Error ? err.message : String(err)}`) }
    }
    for (const slot of this.#captures) {
      try { slot.io.close() } catch { /* closing is best effort */ }
    }
    // §5.6 shutdown: every live session gets a passive RST.
    step('resetting the sessions', () => {
      for (const s of [...this.#sessions.values()]) {
        if (!s.timeWait) this.#endSession(s, false)
      }
    })
    step('sending', () => { this.#endTurn() })
    step('timers', () => {
      this.#queue.close()
      if (this.#statsTimer !== undefined) this.#timers.clearTimeout(this.#statsTimer)
      if (this.#memoryTimer !== undefined) this.#timers.clearTimeout(this.#memoryTimer)
      this.#statsTimer = undefined
      this.#memoryTimer = undefined
    })
    step('control connections', () => { this.#links.stop() })
    step('sessions', () => { for (const s of [...this.#sessions.values()]) this.#destroy(s) })
    try { this.#sendIo?.close() } catch { /* best effort */ }
    step('statistics', () => { this.#log.notice(`tcpcopy stopped: ${this.statsLine()}`) })
    this.#state = 'stopped'
    this.#finish()
  }

  #finish (): void {
    const exit = this.#exit ?? { reason: 'stopped' }
    this.#resolveDone(exit)
    try { this.#deps.onExit?.(exit) } catch (err) { this.#log.error(`onExit: ${String(err)}`) }
  }

  #fatal (reason: CopyExit['reason'], error: TcpcopyError): void {
    if (this.#state === 'stopping' || this.#state === 'stopped') return
    this.#log.error(error.message)
    this.#exit ??= { reason, error }
    void this.stop()
  }

  #logStart (): void {
    const c = this.config
    this.#log.notice(`tcpcopy engine: targets ${this.#targets.entries.map((t) => `${t.onlineIp === undefined ? '' : `${u32ToIpv4(t.onlineIp)}:`}${t.onlinePort}-${t.text}`).join(',')}; ` +
      `intercepts ${c.intercepts.map((i) => `${i.ip}:${i.port}`).join(',')} (${c.connections} connections each, protocol ${c.protocol}, ` +
      `${c.combined ? 'combined' : 'plain'}${c.payload ? ', payload' : ''}); session timeout ${c.sessionTimeout} s, keepalive timeout ${c.keepaliveTimeout} s; ` +
      `copies ${c.copies}, port shift ${c.portShift}, percentage ${c.percentage}${c.gradual ? ' (gradual)' : ''}, mtu ${c.mtu}, mss ${c.mss}` +
      `${c.onlyComplete ? ', only complete sessions' : ''}${c.wait ? '' : ', no waiting for responses'}${c.lonely ? ', lonely' : ''}`)
  }

  #startTimers (): void {
    const statsMs = this.#deps.statsIntervalMs ?? STATS_INTERVAL_MS
    if (statsMs > 0) {
      const tick = (): void => {
        this.#statsTimer = this.#timers.setTimeout(tick, statsMs)
        if (this.#captured > 0) this.reportStats()
      }
      this.#statsTimer = this.#timers.setTimeout(tick, statsMs)
    }
    const memMs = this.#deps.memoryCheckIntervalMs ?? MEMORY_CHECK_INTERVAL_MS
    if (memMs > 0) {
      const tick = (): void => {
        this.#memoryTimer = this.#timers.setTimeout(tick, memMs)
        this.#checkMemory()
      }
      this.#memoryTimer = this.#timers.setTimeout(tick, memMs)
    }
  }

  #checkMemory (): void {
    const held = (this.#deps.memoryUsage ?? heldMemory)()
    const cpu = (this.#deps.cpuUsage ?? (() => process.cpuUsage()))()
    const limit = this.config.maxMemory * MIB
    const mib = (held / MIB).toFixed(1)
    const st = this.#store.stats()
    this.#log.notice(`resources: cpu user ${(cpu.user / 1e6).toFixed(2)} s, system ${(cpu.system / 1e6).toFixed(2)} s; ` +
      `memory held ${mib} MiB (rss ${(process.memoryUsage.rss() / MIB).toFixed(1)} MiB); ${st.packets} buffered packets ` +
      `(${(st.bytes / MIB).toFixed(1)} MiB, slabs ${(st.reserved / MIB).toFixed(1)} MiB of which ${(st.emptyReserved / MIB).toFixed(1)} MiB empty, ${st.slabsReleased} released)`)
    if (held > limit) {
      this.#fatal('memory', new TcpcopyError(`the memory held, ${mib} MiB (V8 heap and buffers), exceeds -m/--max-memory ${this.config.maxMemory} MiB ` +
        `(${this.#sessions.size} sessions, ${st.packets} buffered packets); stopping. Raise -m, lower -n/--copies or -r/--percentage, ` +
        'or lower -t/--session-timeout so stuck sessions are dropped sooner', 'TC_ERR_COPY_MEMORY'))
    }
  }

  // ---- capture --------------------------------------------------------------------------

  #openCapture (): void {
    const dep = this.#deps.capture
    if (dep === undefined) return
    const opened = typeof dep === 'function' ? dep({ regions: copyRegions(this.core), snap: CAPTURE_SNAP }) : dep
    const list = Array.isArray(opened) ? opened : [opened]
    this.#captures = list.map((io) => {
      const own = (io as { linkType?: unknown }).linkType
      return { io, linkType: this.#deps.linkType ?? (typeof own === 'number' ? own : LinkType.Ethernet), pumping: false, scheduled: false, largest: 0, drainedAt: -Infinity }
    })
    for (const slot of this.#captures) slot.io.onReadable(() => { this.#pumpCapture(slot) })
  }

  #pumpCapture (slot: CaptureSlot): void {
    const io = slot.io
    if (slot.pumping || io.closed || (this.#state !== 'running' && this.#state !== 'starting')) return
    slot.pumping = true
    let more = true
    try {
      for (let b = 0; b < this.#limits.batchesPerTurn && more; b++) {
        const n = io.receive(MAX_BATCH)
        if (n === 0) {
          slot.drainedAt = this.#clock()
          more = false
          break
        }
        const now = this.#clock()
        const dv = this.#dv
        const earliest = slot.drainedAt
        for (let i = 0; i < n; i++) {
          this.#ingestAt(dv.getUint32(DESC_OFF + 8 * i, true), dv.getUint32(DESC_OFF + 8 * i + 4, true), slot.linkType, now, earliest)
        }
        this.#endIoTurn()
        // A batch smaller than the largest one the socket has delivered means
        // it is drained: one more receive() would only cost a syscall that
        // finds nothing. The poll is level-triggered, so packets that came
        // meanwhile call us again.
        if (n < slot.largest) {
          slot.drainedAt = now
          more = false
          break
        }
        slot.largest = n
      }
    } catch (err) {
      more = false
      this.#log.error(`capture: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      slot.pumping = false
    }
    if (!more) this.#spaceTurns()
    else if (!slot.scheduled) {
      slot.scheduled = true
      const later = this.#timers.setImmediate ?? ((fn: () => void) => this.#timers.setTimeout(fn, 0))
      later(() => {
        slot.scheduled = false
        this.#pumpCapture(slot)
      })
    }
  }

  ingest (frame: Uint8Array, linkType: number, timestampMs?: number): void {
    if (this.#state !== 'running' && this.#state !== 'starting') {
      this.#nr.notRunning++
      return
    }
    if (frame.length > FRAMES_SIZE) {
      this.#captured++
      this.#nr.malformed++
      return
    }
    this.#bytes.set(frame, FRAMES_OFF)
    const t = timestampMs ?? this.#clock()
    this.#ingestAt(FRAMES_OFF, frame.length, linkType, t, t)
    this.#endIoTurn()
  }

  ingestDescribed (n: number, linkType: number, timestampMs?: number): void {
    if (this.#state !== 'running' && this.#state !== 'starting') {
      this.#nr.notRunning += n
      return
    }
    const t = timestampMs ?? this.#clock()
    const dv = this.#dv
    for (let i = 0; i < n && i < MAX_BATCH; i++) {
      this.#ingestAt(dv.getUint32(DESC_OFF + 8 * i, true), dv.getUint32(DESC_OFF + 8 * i + 4, true), linkType, t, t)
    }
    this.#endIoTurn()
  }

  /** §3.2 acceptance, then §3.3 splitting and replication, for the frame at [off, off+len). */
  #ingestAt (off: number, len: number, linkType: number, time: number, earliest: number): void {
    this.#captured++
    if (this.#firstPacketTime < 0) this.#firstPacketTime = time
    const ex = this.core.exports
    const dv = this.#dv
    const st = ex.parsePacket(off, len, linkType)
    if (st !== Status.Ok) {
      if (st === Status.Fragment) this.#nr.fragments++
      else if (st === Status.NotTcp || st === Status.NotIp) this.#nr.notTcp++
      else this.#nr.malformed++
      return
    }
    const P = PARSE_OFF
    const dstIp = dv.getUint32(P + P_DST_ADDR + 12, false)
    const dport = dv.getUint16(P + P_DPORT, true)
    const target = this.#targets.lookup(dstIp, dport)
    if (target === undefined) {
      this.#nr.notMapped++
      return
    }
    const srcIp = dv.getUint32(P + P_SRC_ADDR + 12, false)
    if (target.targetIp === LOCALHOST && srcIp !== LOCALHOST) {
      this.#nr.localhost++
      return
    }
    let clientIp = srcIp
    if (srcIp === LOCALHOST && target.targetIp !== LOCALHOST && this.#replaceLocalhost !== undefined) clientIp = this.#replaceLocalhost
    if (this.#pool !== undefined) clientIp = this.#pool.map(clientIp)
    const sport = dv.getUint16(P + P_SPORT, true)
    const c = this.#c
    const percent = c.gradual ? gradualPercent((time - this.#firstPacketTime) / c.accelerate, c.percentage) : c.percentage
    if (!keepSession(clientIp, sport, percent)) {
      this.#nr.sampledOut++
      return
    }
    const totLen = dv.getUint32(P + P_TOT_LEN, true)
    if (dv.getUint32(P + P_CAP_LEN, true) < totLen) {
      this.#nr.truncated++
      if (this.#nr.truncated === 1 || this.#nr.truncated % 1000 === 0) {
        this.#log.warn(`captured packets are cut short (snaplen or GRO): ${this.#nr.truncated} dropped; raise -S/--snaplen or turn GRO off`)
      }
      return
    }
    const ipOff = off + dv.getUint32(P + P_L3_OFF, true)
    const ihl = dv.getUint32(P + P_IHL, true)
    const doff = dv.getUint32(P + P_DOFF, true)
    const payload = dv.getUint32(P + P_PAYLOAD_LEN, true)
    const optFlags = dv.getUint32(P + P_OPT_FLAGS, true)
    const seg = this.#seg
    seg.ipOff = ipOff
    seg.ihl = ihl
    seg.doff = doff
    seg.ack = dv.getUint32(P + P_ACK, true)
    seg.window = dv.getUint16(P + P_WINDOW, true)
    seg.time = time
    seg.earliest = earliest
    seg.srcIp = srcIp
    seg.sport = sport
    seg.clientIp = clientIp
    seg.target = target
    seg.wscale = (optFlags & OptFlag.WScale) !== 0 ? dv.getUint8(P + P_WSCALE) : -1
    seg.tsOff = -1
    if ((optFlags & OptFlag.Timestamp) !== 0) {
      seg.tsVal = dv.getUint32(P + P_TS_VAL, true)
      seg.tsOff = this.#findTimestamp(ipOff, ihl, doff)
    }
    const flags = dv.getUint8(P + P_TCP_FLAGS)
    const seq = dv.getUint32(P + P_SEQ, true)
    const ipId = dv.getUint16(P + P_IP_ID, true)
    const payOff = ipOff + ihl + doff
    const mtu = c.mtu
    if (totLen <= mtu || payload === 0) {
      this.#accepted++
      this.#dispatch(payOff, payload, seq, ipId, flags)
      return
    }
    // §3.3: cut a GSO/GRO super-packet into -M sized segments.
    const chunk = mtu - ihl - doff
    if (chunk <= 0) {
      this.#nr.malformed++
      return
    }
    const count = Math.ceil(payload / chunk)
    for (let k = 0; k < count; k++) {
      const from = k * chunk
      const segLen = Math.min(chunk, payload - from)
      const last = k === count - 1
      this.#accepted++
      this.#dispatch(payOff + from, segLen, seqAdd(seq, from), (ipId + k) & 0xffff, last ? flags : flags & ~FLAG_FIN)
    }
  }

  /** Offset of the TCP timestamp option from the IP header (the parser says it is there). */
  #findTimestamp (ipOff: number, ihl: number, doff: number): number {
    const b = this.#bytes
    let i = ipOff + ihl + 20
    const end = ipOff + ihl + doff
    while (i < end) {
      const kind = b[i]!
      if (kind === 0) break
      if (kind === 1) { i++; continue }
      const l = b[i + 1]!
      if (l < 2) break
      if (kind === 8 && l === 10) return i - ipOff
      i += l
    }
    return -1
  }

  /** One (possibly split) captured segment: the session itself and its -n replicas. */
  #dispatch (payOff: number, payLen: number, seq: number, ipId: number, flags: number): void {
    const seg = this.#seg
    seg.payOff = payOff
    seg.payLen = payLen
    seg.seq = seq
    seg.ipId = ipId
    seg.flags = flags
    if ((flags & FLAG_SYN) !== 0) this.#clientSyns++
    if (payLen > 0) this.#clientData++
    const copies = this.#c.copies
    for (let i = 0; i < copies; i++) this.#toSession(i, false)
  }

  /** Session entry of §5.1 for replica `replica` of the current segment. */
  #toSession (replica: number, retried: boolean): void {
    const seg = this.#seg
    const now = this.#clock()
    const origin = seg.srcIp * 65536 + seg.sport
    const list = this.#origins.get(origin)
    let s = list?.[replica]
    const syn = (seg.flags & FLAG_SYN) !== 0
    let keepRtt = -1
    if (s !== undefined && s.timeWait) {
      if (syn) {
        this.#destroy(s)
      } else if (seg.payLen > 0 && (!s.contentSent || seqAfter(seg.seq, s.lastContentSeq))) {
        keepRtt = s.rtt
        this.#destroy(s)
      } else {
        this.#destroy(s)
        this.#nr.timeWait++
        return
      }
      s = undefined
    }
    if (s === undefined) {
      if ((seg.flags & FLAG_RST) !== 0 || (!syn && seg.payLen === 0)) {
        this.#nr.noSession++
        return
      }
      if (!syn && this.#c.onlyComplete) {
        this.#nr.onlyComplete++
        return
      }
      s = this.#createSession(replica, origin, now)
      if (s === undefined) return
      if (keepRtt >= 0) s.rtt = keepRtt
      if (syn) {
        // §5.1: CLIENT_ADD to every intercept before the SYN is forwarded.
        if (this.#links.clientAdd(s.clientIp, s.clientPort, s.target.targetIp, s.target.targetPort) === 0) {
          this.#nr.noIntercept++
          this.#destroy(s)
          return
        }
        s.capturedSyn = true
        s.capturedSynSeq = seg.seq
        s.clientWs = seg.wscale
        if (this.#c.rtt === 0) s.rttStart = seg.time
      }
    } else if (syn) {
      if (s.capturedSyn && seg.seq === s.capturedSynSeq) {
        this.#clientRetrans++
        return
      }
      if ((s.clientFinSent || s.over) && !retried) {
        // The old connection was closed by the client: end it and start the new one.
        this.#endSession(s, false)
        this.#destroy(s)
        this.#toSession(replica, true)
        return
      }
      s.blocked = true
      this.#nr.reusedWhileLive++
      return
    } else {
      if (s.blocked) {
        this.#nr.reusedWhileLive++
        return
      }
      // §3.2 step 7: pure ACKs of established sessions are not needed (tcpcopy ACKs itself).
      if (seg.payLen === 0 && (seg.flags & (FLAG_FIN | FLAG_RST)) === 0 && s.established) {
        this.#nr.pureAck++
        return
      }
      if (s.capturedSyn && s.hs < HS_SYN_CONFIRM && seqBefore(seg.seq, s.capturedSynSeq) && now - s.created < SYN_ANSWER_WINDOW_MS) {
        this.#nr.staleBeforeSyn++
        return
      }
      if (s.rttStart >= 0) {
        // The least round trip the two capture times allow (§5.5 RTT): the
        // SYN came by the read that returned it, this packet after the read
        // that last drained the socket before. With batched reads (and with
        // --wake-interval spacing them) the read times alone would add up to
        // a turn's length, or a stall's, to a LAN round trip: a session with
        // rtt > 1 waits out a response-end timer before every request.
        s.rtt = Math.round(Math.max(0, seg.earliest - s.rttStart) / this.#c.accelerate)
        s.rttStart = -1
      }
    }
    if (this.#buffer(s)) this.#pump(s)
  }

  #createSession (replica: number, origin: number, now: number): Session | undefined {
    const seg = this.#seg
    const c = this.#c
    let ip = seg.clientIp
    let port = seg.sport
    if (replica > 0) {
      const add = replicaAddition(replica, this.#r)
      port = addPort(port, add)
      if (this.#pool !== undefined) ip = this.#pool.mapReplica(seg.srcIp, add)
    }
    if (c.portShift > 0) port = addPort(port, shiftAddition(c.portShift, this.#r))
    // Never two live sessions on one 4-tuple: move on to the next free port.
    let tries = 0
    while (this.#sessions.has(ip * 65536 + port)) {
      port = nextPort(port)
      if (++tries > 64512) {
        this.#nr.reusedWhileLive++
        return undefined
      }
    }
    const s = new Session(ip, port, seg.target!, origin, replica, now)
    if (c.rtt > 0) s.rtt = c.rtt
    this.#sessions.set(s.key, s)
    let list = this.#origins.get(origin)
    if (list === undefined) {
      list = []
      this.#origins.set(origin, list)
    }
    list[replica] = s
    this.#created++
    this.#queue.arm(s.gc, now + this.#limits.gcFirstMs)
    return s
  }

  /** Stores the current segment in the session's buffer in seq order; false when it is a duplicate. */
  #buffer (s: Session): boolean {
    const seg = this.#seg
    const f = seg.flags
    const len = seg.payLen
    const seqLen = len + ((f & (FLAG_SYN | FLAG_FIN)) !== 0 ? 1 : 0)
    // Fully sent already (a client retransmission of something the target has or will get).
    if (s.hs !== HS_CLOSED && (f & FLAG_SYN) === 0 && seqLen > 0 && !seqAfter(seqAdd(seg.seq, seqLen), s.nxt)) {
      this.#clientRetrans++
      return false
    }
    const buf = s.q
    let pos = buf.length
    while (pos > buf.sent && seqAfter(buf.at(pos - 1).seq, seg.seq)) pos--
    for (let i = pos - 1; i >= buf.sent && buf.at(i).seq === seg.seq; i--) {
      const q = buf.at(i)
      if (q.payload === len && (q.flags & (FLAG_SYN | FLAG_FIN | FLAG_RST)) === (f & (FLAG_SYN | FLAG_FIN | FLAG_RST))) {
        this.#clientRetrans++
        return false
      }
    }
    if (buf.length >= 2 * this.#limits.maxSessionPackets) {
      this.#nr.sessionBufferFull++
      return false
    }
    const hdr = seg.ihl + seg.doff
    const p = this.#store.alloc(hdr + len)
    const b = this.#bytes
    if (seg.payOff === seg.ipOff + hdr) {
      p.view.set(b.subarray(seg.ipOff, seg.ipOff + hdr + len), 0)
    } else {
      p.view.set(b.subarray(seg.ipOff, seg.ipOff + hdr), 0)
      p.view.set(b.subarray(seg.payOff, seg.payOff + len), hdr)
    }
    p.ihl = seg.ihl
    p.doff = seg.doff
    p.seq = seg.seq
    p.ack = seg.ack
    p.flags = f
    p.payload = len
    p.ipId = seg.ipId
    p.window = seg.window
    p.tsOff = seg.tsOff
    p.tsVal = seg.tsVal
    p.time = seg.time
    buf.insert(pos, p)
    return true
  }

  // ---- the send loop (§5.2) ----------------------------------------------------------------

  #pump (s: Session): void {
    if (s.over || s.timeWait || s.replayPending) return
    const buf = s.q
    while (buf.hasNext) {
      const v = this.#evaluate(s, buf.next)
      if (v === STOP || v === END) return
      if (v === SENT) buf.advance()
      else this.#store.release(buf.removeNext())
    }
  }

  /** proc_clt_pack (§5.2): what to do with the next unsent packet. */
  #evaluate (s: Session, p: BufferedPacket): number {
    const f = p.flags
    const wait = this.#c.wait
    // 1. waiting for the SYN-ACK, or the target's window is full
    if (s.hs === HS_SYN_SENT || s.windowFull) return STOP
    // 2. RST
    if ((f & FLAG_RST) !== 0) {
      if (s.waiting && wait) return STOP
      // The client reset after its last answer came, but the copy may be behind, with requests
      // in flight (rtt <= 1 ends "waiting" at the first response data): a RST now makes the
      // target throw away requests its application has not read yet. Hold it until the target
      // has acknowledged all we sent and answered after that, at most RST_HOLD_MS.
      if (wait && s.contentSent && s.hs !== HS_CLOSED && (seqBefore(s.repAck, s.nxt) || seqBefore(s.respDataAck, s.nxt))) {
        const now = this.#clock()
        if (s.rstHeldSince < 0) s.rstHeldSince = now
        const left = s.rstHeldSince + RST_HOLD_MS - now
        if (left > 0) {
          this.#queue.armBefore(s.pacing, now + Math.min(left, Math.max(1, s.rtt) * 4))
          return STOP
        }
      }
      if (s.hs === HS_CLOSED) {
        this.#endSession(s, true)
        return END
      }
      if (seqBefore(p.seq, s.nxt)) {
        p.seq = s.nxt
        s.q.dropNextPayload()
      }
      this.#send(s, p, false)
      s.q.advance()
      this.#endSession(s, true)
      return END
    }
    // 3. SYN
    if ((f & FLAG_SYN) !== 0) {
      if (s.hs !== HS_CLOSED) return CONSUMED
      this.#send(s, p, false)
      return SENT
    }
    // 5. no SYN went out yet: fake one
    if (s.hs === HS_CLOSED) {
      this.#fakeSyn(s, p)
      return STOP
    }
    // 4. FIN without payload
    if ((f & FLAG_FIN) !== 0 && p.payload === 0) {
      if (s.greetAwaited) return STOP
      if (seqBefore(p.seq, s.nxt)) return CONSUMED
      if (s.waiting && wait) {
        if (s.lastAckValid && p.ack === s.lastAckSent) {
          s.delayedSend = true
          this.#queue.armBefore(s.pacing, this.#clock() + Math.max(1, s.rtt))
        }
        return STOP
      }
      if (p.seq === s.nxt && s.repAck === p.seq) {
        this.#send(s, p, false)
        if (s.serverFin) {
          s.q.advance()
          this.#endSession(s, true)
          return END
        }
        return SENT
      }
      return STOP
    }
    // pure ACK: only the one completing the handshake goes out (rule 8)
    if (p.payload === 0) {
      if (s.hs === HS_SYN_CONFIRM && !s.established && p.seq === s.nxt) {
        this.#send(s, p, false)
        s.established = true
        return SENT
      }
      return CONSUMED
    }
    // 6. server-first protocol: wait for the target's greeting
    if (!s.contentSent && !s.greetReceived && s.lastAckValid && seqAfter(p.ack, s.lastAckSent) && p.seq === s.nxt) {
      s.greetAwaited = true
      return STOP
    }
    // 7. data: ordering against what was sent
    const start = seqAdd(p.seq, p.skip)
    if (seqAfter(start, s.nxt)) {
      this.#captureGap(s, seqDiff(start, s.nxt))
      return STOP
    }
    if (!seqAfter(seqAdd(p.seq, p.payload), s.nxt)) {
      this.#clientRetrans++
      return CONSUMED
    }
    if (seqBefore(start, s.nxt)) p.skip = seqDiff(s.nxt, p.seq)
    s.lostSince = -1
    s.jumped = false
    s.established = true
    // flow control
    if (seqDiff(s.nxt, s.repAck) + p.payload - p.skip > s.peerWindow) {
      s.delayedSend = true
      // Nothing in flight to bring a window update: probe after an RTO.
      if (!seqBefore(s.repAck, s.nxt)) this.#queue.armBefore(s.rto, this.#clock() + this.#rto(s))
      return STOP
    }
    // request boundary: a new request waits for the previous response (unless -W)
    if (s.waiting && wait && p.ack !== s.lastContentAck) return STOP
    this.#send(s, p, false)
    s.waiting = true
    s.contentSent = true
    s.lastContentAck = p.ack
    s.lastContentSeq = p.seq
    return SENT
  }

  /** A client packet is missing from the capture (§5.2 "seq ahead"), with jump detection. */
  #captureGap (s: Session, gap: number): void {
    if (s.lostSince < 0) s.lostSince = this.#clock()
    if (gap > JUMP_CONFLICT || (gap > JUMP_REPEAT && s.jumped)) {
      // A conflict: the tail is from another incarnation of this ip:port.
      this.#nr.jumpDiscarded += s.q.dropUnsent(this.#release)
      s.lostSince = -1
      s.jumped = false
      return
    }
    if (gap > JUMP_REPEAT) s.jumped = true
  }

  // ---- writing packets -----------------------------------------------------------------------

  /** Sends a buffered packet with the rewrites of §4. */
  #send (s: Session, p: BufferedPacket, retransmit: boolean): void {
    const b = this.#bytes
    const dv = this.#dv
    const hdr = p.ihl + p.doff
    const sendLen = p.payload - p.skip
    const len = hdr + sendLen
    const off = this.#tx.reserve(len)
    if (p.skip === 0) {
      // Headers and payload are contiguous in the slot: one copy.
      b.set(p.view.subarray(0, len), off)
    } else {
      b.set(p.view.subarray(0, hdr), off)
      if (sendLen > 0) b.set(p.view.subarray(hdr + p.skip, hdr + p.payload), off + hdr)
    }
    dv.setUint16(off + 2, len)
    dv.setUint16(off + 4, p.ipId)
    dv.setUint32(off + 12, s.clientIp)
    dv.setUint32(off + 16, s.target.targetIp)
    const t = off + p.ihl
    const seq = seqAdd(p.seq, p.skip)
    dv.setUint16(t, s.clientPort)
    dv.setUint16(t + 2, s.target.targetPort)
    dv.setUint32(t + 4, seq)
    const f = p.flags
    if ((f & FLAG_ACK) !== 0) {
      dv.setUint32(t + 8, s.ack)
      s.ackOwed = false
      s.owedSegments = 0
    }
    b[t + 13] = f
    if (s.fakedSyn) dv.setUint16(t + 14, 65535)
    if (p.tsOff >= 0) {
      let v = p.tsVal
      if (s.tsValSeen && seqBefore(v, s.tsVal)) v = s.tsVal
      else {
        s.tsVal = v
        s.tsValSeen = true
      }
      dv.setUint32(off + p.tsOff + 2, v)
      if ((f & FLAG_SYN) === 0) dv.setUint32(off + p.tsOff + 6, s.tsEcr)
    }
    this.#tx.commit(off, len, p.ihl, s.target)
    this.#sent++
    const synFin = (f & (FLAG_SYN | FLAG_FIN)) !== 0
    if ((f & FLAG_SYN) !== 0) {
      this.#synSent++
      s.hs = HS_SYN_SENT
      s.synSeq = p.seq
      s.nxt = seqAdd(p.seq, 1)
      s.ipId = p.ipId
    }
    if ((f & FLAG_FIN) !== 0) {
      this.#finSent++
      s.clientFinSent = true
    }
    if ((f & FLAG_RST) !== 0) this.#rstSent++
    if (retransmit) {
      this.#retransmitted++
    } else {
      if ((f & FLAG_SYN) === 0) s.nxt = seqMax(s.nxt, seqAdd(seq, sendLen + (synFin ? 1 : 0)))
      s.lastAckSent = p.ack
      s.lastAckValid = true
      s.ipId = p.ipId
      if (sendLen > 0) this.#contentSent++
    }
    if (sendLen > 0 || synFin) this.#queue.arm(s.rto, this.#clock() + this.#rto(s))
  }

  /**
   * A packet built from scratch (§4): IPv4 IHL 5, DF, TTL 64; window 65535;
   * MSS only on a SYN (doff 6), else NOP NOP TS when timestamps are on (doff 8).
   */
  #sendFaked (s: Session, flags: number, seq: number, ack: number): void {
    const b = this.#bytes
    const dv = this.#dv
    const syn = (flags & FLAG_SYN) !== 0
    const optLen = syn ? 4 : (s.tsOn ? 12 : 0)
    const len = 40 + optLen
    const off = this.#tx.reserve(len)
    if (!syn) s.ipId = (s.ipId + 1) & 0xffff
    dv.setUint32(off, 0x45000000 | len)
    dv.setUint32(off + 4, (s.ipId << 16) | 0x4000)
    dv.setUint32(off + 8, (64 << 24) | (6 << 16))
    dv.setUint32(off + 12, s.clientIp)
    dv.setUint32(off + 16, s.target.targetIp)
    const t = off + 20
    dv.setUint16(t, s.clientPort)
    dv.setUint16(t + 2, s.target.targetPort)
    dv.setUint32(t + 4, seq)
    dv.setUint32(t + 8, (flags & FLAG_ACK) !== 0 ? ack : 0)
    b[t + 12] = ((20 + optLen) >> 2) << 4
    b[t + 13] = flags
    dv.setUint16(t + 14, 65535)
    dv.setUint32(t + 16, 0)
    if (syn) {
      dv.setUint32(t + 20, 0x02040000 | (this.#c.mss & 0xffff))
    } else if (optLen > 0) {
      dv.setUint32(t + 20, 0x0101080a)
      dv.setUint32(t + 24, s.tsVal)
      dv.setUint32(t + 28, s.tsEcr)
    }
    this.#tx.commit(off, len, 20, s.target)
    if ((flags & FLAG_ACK) !== 0 && ack === s.ack) {
      s.ackOwed = false
      s.owedSegments = 0
    }
    this.#sent++
    if (syn) this.#synSent++
    if ((flags & FLAG_RST) !== 0) this.#rstSent++
    else if (!syn) this.#fakedAcks++
  }

  /** Faked SYN (§5.3): CLIENT_ADD first; seq = first seq − 1, IP ID = captured − 2, MSS only. */
  #fakeSyn (s: Session, p: BufferedPacket): void {
    if (this.#links.clientAdd(s.clientIp, s.clientPort, s.target.targetIp, s.target.targetPort) === 0) {
      this.#nr.noIntercept++
      return
    }
    s.fakedSyn = true
    s.synSeq = seqAdd(p.seq, p.skip - 1)
    s.nxt = seqAdd(s.synSeq, 1)
    s.ipId = (p.ipId - 2) & 0xffff
    s.hs = HS_SYN_SENT
    this.#fakedSyns++
    this.#sendFaked(s, FLAG_SYN, s.synSeq, 0)
    this.#queue.arm(s.rto, this.#clock() + this.#rto(s))
  }

  #sendFakedAck (s: Session): void {
    // seq = rep_ack_seq (§5.5); after our FIN went out, our next seq, so that the target takes it.
    const seq = s.clientFinSent ? s.nxt : s.repAck
    this.#sendFaked(s, FLAG_ACK, seq, s.ack)
  }

  /** Passive RST (§5.4 reconstruct, §5.6): seq = next seq, minus 1 when an unacknowledged FIN was sent. */
  #sendPassiveRst (s: Session): void {
    const seq = s.clientFinSent && seqBefore(s.repAck, s.nxt) ? seqAdd(s.nxt, -1) : s.nxt
    this.#sendFaked(s, FLAG_RST | FLAG_ACK, seq, s.ack)
  }

  #rto (s: Session): number {
    return Math.min(this.#limits.rtoMaxMs, this.#limits.rtoMs * (1 << Math.min(s.rtoBackoff, 16)))
  }

  /** Retransmits the sent packet that covers rep_ack_seq (§5.5). */
  #retransmit (s: Session): boolean {
    const buf = s.q
    let first: BufferedPacket | undefined
    for (let i = 0; i < buf.sent; i++) {
      const p = buf.at(i)
      const n = p.payload - p.skip + ((p.flags & (FLAG_SYN | FLAG_FIN)) !== 0 ? 1 : 0)
      if (n === 0) continue
      first ??= p
      const start = seqAdd(p.seq, p.skip)
      if (!seqAfter(start, s.repAck) && seqAfter(seqAdd(start, n), s.repAck)) {
        this.#send(s, p, true)
        return true
      }
    }
    if (first !== undefined) {
      this.#send(s, first, true)
      return true
    }
    return false
  }

  // ---- responses (§5.4) ----------------------------------------------------------------------

  #onRecord (record: Uint8Array): void {
    if (this.#state !== 'running' && this.#state !== 'starting') return
    const r = this.#resp
    if (!readResponse(record, this.#links.optionsArea, r)) {
      this.#respNoSession++
      return
    }
    this.#responses++
    const s = this.#sessions.get(r.daddr * 65536 + r.dport)
    if (s === undefined) {
      this.#respNoSession++
      return
    }
    this.#onResponse(s, r)
  }

  #onResponse (s: Session, r: ResponseFields): void {
    const len = r.payload
    if (len > 0) this.#respData++
    if ((r.flags & FLAG_FIN) !== 0) this.#respFin++
    if ((r.flags & FLAG_RST) !== 0) this.#respRst++
    if (s.timeWait) {
      // §5.4: the first stray is ignored; later non-RST ones get a faked RST.
      if (s.twResponses++ > 0 && (r.flags & FLAG_RST) === 0) this.#sendFaked(s, FLAG_RST | FLAG_ACK, r.ack, seqAdd(r.seq, len))
      return
    }
    const now = this.#clock()
    if (s.hs === HS_SYN_CONFIRM && this.#stale(s, r)) {
      this.#respStale++
      return
    }
    if ((r.flags & FLAG_RST) !== 0) {
      if (s.hs === HS_CLOSED) return
      s.lastResponse = now
      // The RST's ack says what the target had received: that much is done.
      if ((r.flags & FLAG_ACK) !== 0 && s.hs === HS_SYN_CONFIRM && seqAfter(r.ack, s.repAck) && !seqAfter(r.ack, s.nxt)) {
        s.repAck = r.ack
        this.#dropAcked(s)
      }
      s.over = true
      if (this.#hasPendingData(s)) this.#reconstruct(s)
      else this.#endSession(s, true)
      return
    }
    if ((r.flags & FLAG_SYN) !== 0) {
      this.#onSynAck(s, r)
      return
    }
    if (s.hs !== HS_SYN_CONFIRM) {
      // A leftover of an earlier incarnation: faked RST, then a new handshake after rtt.
      if (s.hs === HS_SYN_SENT || s.replayPending) {
        this.#sendFaked(s, FLAG_RST | FLAG_ACK, r.ack, seqAdd(r.seq, len))
        if (s.hs === HS_SYN_SENT) this.#replayLater(s)
      }
      return
    }
    // Progress for -t/-k (§5.6): anything but a pure ACK repeating what we knew (the answer to a probe).
    const windowChanged = r.window !== s.lastWindow
    if (len > 0 || (r.flags & FLAG_FIN) !== 0 || seqAfter(r.ack, s.repAck) || windowChanged) s.lastResponse = now
    s.lastWindow = r.window
    // window, window scale, timestamps
    const oldWindow = s.peerWindow
    s.peerWindow = r.window << s.wscale
    if (r.hasTs) s.tsEcr = r.tsVal
    // A window that opened lets a flow-controlled packet go.
    let resume = s.peerWindow > oldWindow && s.delayedSend
    if (seqAfter(r.ack, s.repAck)) {
      s.repAck = r.ack
      s.repSeq = r.seq
      s.dupAcks = 0
      s.fastRetransmitted = false
      s.rtoBackoff = 0
      s.reconstructs = 0
      s.probes = 0
      this.#dropAcked(s)
      if (seqBefore(s.repAck, s.nxt)) {
        if (s.recovering) this.#retransmit(s)
        this.#queue.arm(s.rto, now + this.#rto(s))
      } else {
        s.recovering = false
        this.#armProbe(s, now)
      }
      resume = true
    } else if (r.ack === s.repAck && len === 0 && (r.flags & FLAG_FIN) === 0 && seqBefore(s.repAck, s.nxt) && r.window !== 0 && !windowChanged) {
      // the same seq, ack and window again, no data: a duplicate ACK (RFC 5681 §2; a window update is not one)
      if (r.seq === s.lastDupSeq) s.dupAcks++
      else s.dupAcks = 1
      s.lastDupSeq = r.seq
      if (s.dupAcks >= 3 && !s.fastRetransmitted) {
        s.fastRetransmitted = true
        s.recovering = true
        this.#fastRetransmits++
        this.#retransmit(s)
        this.#queue.arm(s.rto, now + Math.max(this.#rto(s), s.rtt))
      }
    }
    // zero window
    if (r.window === 0) {
      s.windowFull = true
      this.#queue.armBefore(s.rto, now + this.#rto(s))
    } else if (s.windowFull) {
      s.windowFull = false
      resume = true
    }
    // data from the target
    if (len > 0) {
      const end = seqAdd(r.seq, len)
      s.respDataAck = r.ack
      if (seqAfter(end, s.ack)) {
        s.ack = end
        s.ackOwed = true
        s.owedSegments++
      } else {
        // The target retransmitted: our ACK got lost. ACK at once.
        if (s.rtt > 1) s.rtt = Math.max(1, s.rtt >> 1)
        this.#sendFakedAck(s)
      }
      s.respNew = true
      s.probes = 0
      s.lastRespFull = this.#fullSized(r.totLen)
      if (!s.contentSent) {
        // Data before any request: the greeting of a server-first protocol.
        s.greetReceived = true
        s.greetAwaited = false
      }
      if (r.window === 0) this.#sendFakedAck(s)
      if (s.internalUsage && s.waiting) {
        s.waiting = false
        resume = true
      }
      // The timer's only job is the ACK when the response looks complete
      // (one segment, not full-sized) and the session neither waits for its
      // end nor has anything to send: then the ACK may wait as a TCP
      // receiver's delayed ACK does (which acknowledges at least every second
      // segment at once, RFC 1122 §4.2.3.2). Otherwise it runs on rtt (§5.5).
      const ackOnly = s.internalUsage && s.owedSegments < 2 && !s.lastRespFull && r.window !== 0 &&
        !s.delayedSend && !s.windowFull && !s.q.hasNext
      this.#queue.armBefore(s.pacing, now + (ackOnly ? ACK_DELAY_MS + this.#lax : Math.max(1, s.rtt)))
    } else if ((r.flags & FLAG_FIN) === 0 && s.clientFinSent && seqDiff(r.seq, s.ack) === 1 && !seqBefore(s.repAck, s.nxt)) {
      // After our FIN, a pure ACK one byte past what we saw is the target's FIN whose record was lost.
      // (T1 adopts any later seq of a pure ACK; that can acknowledge a lost FIN without noticing it, so
      // otherwise the target's retransmission brings the segments we did not see.)
      s.ack = r.seq
      s.serverFin = true
      this.#sendFakedAck(s)
      this.#endSession(s, true)
      return
    }
    if ((r.flags & FLAG_FIN) !== 0) {
      const finEnd = seqAdd(r.seq, len + 1)
      if (seqAfter(finEnd, s.ack)) s.ack = finEnd
      s.serverFin = true
      if (s.clientFinSent) {
        this.#sendFakedAck(s)
        this.#endSession(s, true)
        return
      }
      this.#sendFakedAck(s)
      if (this.#hasPendingData(s)) {
        this.#reconstruct(s)
        return
      }
      this.#pump(s)
      if (!s.timeWait) this.#endSession(s, false)
      return
    }
    if (resume) {
      s.delayedSend = false
      this.#pump(s)
    }
  }

  #onSynAck (s: Session, r: ResponseFields): void {
    const now = this.#clock()
    if (s.hs === HS_SYN_SENT) {
      if (r.ack !== seqAdd(s.synSeq, 1)) {
        // Not for our SYN: a stale SYN-ACK of an earlier incarnation.
        this.#sendFaked(s, FLAG_RST | FLAG_ACK, r.ack, seqAdd(r.seq, 1))
        return
      }
      s.hs = HS_SYN_CONFIRM
      s.ack = seqAdd(r.seq, 1)
      s.repAck = r.ack
      s.repSeq = r.seq
      // RFC 7323 §2.3: a shift above 14 is taken as 14.
      s.wscale = !s.fakedSyn && s.clientWs >= 0 && r.wscale >= 0 ? Math.min(r.wscale, MAX_WSCALE) : 0
      s.tsOn = r.hasTs
      if (r.hasTs) s.tsEcr = r.tsVal
      s.peerWindow = r.window
      s.lastWindow = r.window
      s.rtoBackoff = 0
      this.#queue.cancel(s.rto)
      this.#dropAcked(s)
      this.#establishedCount++
      if (s.fakedSyn) {
        // §5.3: faked third ACK (seq = SYN-ACK.ack, ack = SYN-ACK.seq + 1), then the buffer.
        this.#sendFaked(s, FLAG_ACK, r.ack, s.ack)
        s.established = true
      }
      s.lastResponse = now
      this.#pump(s)
      return
    }
    if (s.hs === HS_SYN_CONFIRM && r.ack === seqAdd(s.synSeq, 1)) {
      // A retransmitted SYN-ACK: the target did not get our third ACK.
      this.#sendFaked(s, FLAG_ACK, r.ack, seqAdd(r.seq, 1))
    }
  }

  /**
   * A response of an earlier incarnation of this ip:port (after a reconstruct
   * the port is reused): its ack lies outside [our SYN + 1, next seq], or a
   * RST's seq is far from the target's seq we know. Such packets are ignored.
   */
  #stale (s: Session, r: ResponseFields): boolean {
    if ((r.flags & FLAG_ACK) !== 0 && (seqBefore(r.ack, seqAdd(s.synSeq, 1)) || seqAfter(r.ack, s.nxt))) return true
    if ((r.flags & FLAG_RST) !== 0) {
      const d = seqDiff(r.seq, s.ack)
      if (d < -65536 || d > STALE_RST_WINDOW) return true
    }
    return false
  }

  #fullSized (totLen: number): boolean {
    return totLen >= 2048 || totLen === this.#c.mtu || FULL_SIZES.includes(totLen)
  }

  /** Removes the sent packets the target's ACK covers (update_retrans_packs). */
  #dropAcked (s: Session): void {
    const buf = s.q
    let k = 0
    while (k < buf.sent) {
      const p = buf.at(k)
      const end = seqAdd(p.seq, p.payload + ((p.flags & (FLAG_SYN | FLAG_FIN)) !== 0 ? 1 : 0))
      if (seqAfter(end, s.repAck)) break
      k++
    }
    if (k > 0) buf.dropFront(k, this.#release)
  }

  /** Client data the target has not acknowledged: unsent, or sent and not (yet) received. */
  #hasPendingData (s: Session): boolean {
    return s.q.dataPackets > 0
  }

  #hasUnsentData (s: Session): boolean {
    return s.q.unsentData > 0
  }

  /**
   * Reconstruct (§5.4): passive RST, clear the state, and after rtt replay
   * the buffer from the start (CLIENT_ADD + faked SYN on the same port).
   */
  #reconstruct (s: Session): void {
    if (++s.reconstructs > this.#limits.maxReconstructs) {
      this.#log.debug(`session ${u32ToIpv4(s.clientIp)}:${s.clientPort}: ${s.reconstructs - 1} reconstructs without progress; giving up`)
      this.#endSession(s, s.over)
      return
    }
    if (!s.over) this.#sendPassiveRst(s)
    this.#reconstructCount++
    this.#resetConnection(s)
    this.#replayLater(s)
  }

  /** Back to CLOSED with the buffer intact, replayed from its start after rtt. */
  #replayLater (s: Session): void {
    if (s.hs === HS_SYN_SENT && !s.replayPending) {
      if (++s.reconstructs > this.#limits.maxReconstructs) {
        this.#endSession(s, false)
        return
      }
    }
    this.#resetConnection(s)
    s.replayPending = true
    this.#queue.arm(s.pacing, this.#clock() + Math.max(1, s.rtt))
  }

  #resetConnection (s: Session): void {
    s.hs = HS_CLOSED
    s.over = false
    s.established = false
    s.waiting = false
    s.contentSent = false
    s.clientFinSent = false
    s.serverFin = false
    s.fakedSyn = false
    s.greetReceived = false
    s.greetAwaited = false
    s.respNew = false
    s.delayedSend = false
    s.windowFull = false
    s.dupAcks = 0
    s.fastRetransmitted = false
    s.recovering = false
    s.rtoBackoff = 0
    s.tsOn = false
    s.wscale = 0
    s.peerWindow = 65535
    s.lastAckValid = false
    s.lostSince = -1
    s.jumped = false
    // Packets wholly sent and not data (pure ACKs) need no replay.
    s.q.rewind((p) => p.payload === 0 && (p.flags & (FLAG_SYN | FLAG_FIN | FLAG_RST)) === 0, this.#release, (p) => { p.skip = 0 })
    this.#queue.cancel(s.rto)
    this.#queue.cancel(s.pacing)
  }

  // ---- timers ------------------------------------------------------------------------------

  #onTimer (slot: TimerSlot<Session>): void {
    const s = slot.owner
    if (this.#sessions.get(s.key) !== s) return
    switch (slot.kind) {
      case T_PACING: this.#onPacing(s); break
      case T_RTO: this.#onRto(s); break
      case T_GC: this.#onGc(s); break
    }
  }

  /** The delayed-ACK / response-end timer (§5.5). */
  #onPacing (s: Session): void {
    if (s.over || s.timeWait) return
    if (s.replayPending) {
      s.replayPending = false
      this.#pump(s)
      return
    }
    if (s.respNew) {
      s.respNew = false
      if (s.ackOwed) this.#sendFakedAck(s)
      // The response-end firing would only end a wait and send what is
      // buffered: with no wait and nothing buffered it has nothing to do, so
      // it is not armed (a session with rtt <= 1 ends its wait at the first
      // response data, so this is the common case on a LAN). More response
      // data arms the timer again; a captured packet is sent at once.
      if (!s.waiting && !s.delayedSend && !s.q.hasNext) return
      const rtt = Math.max(1, s.rtt)
      const next = s.lastRespFull ? (this.#hasUnsentData(s) ? rtt / 2 : rtt) : rtt / 2
      this.#queue.arm(s.pacing, this.#clock() + Math.max(1, Math.floor(next)))
      return
    }
    // No more response data for a while: the response is complete (RCV_REP).
    s.waiting = false
    s.delayedSend = false
    this.#pump(s)
  }

  #onRto (s: Session): void {
    if (s.over || s.timeWait || s.replayPending || s.hs === HS_CLOSED) return
    const now = this.#clock()
    if (s.hs === HS_SYN_SENT) {
      if (s.fakedSyn) {
        this.#sendFaked(s, FLAG_SYN, s.synSeq, 0)
        this.#retransmitted++
      } else {
        const syn = s.q.find((p) => (p.flags & FLAG_SYN) !== 0)
        if (syn === undefined) return
        this.#send(s, syn, true)
      }
    } else if (s.windowFull || (s.delayedSend && !seqBefore(s.repAck, s.nxt))) {
      // Zero-window probe: an old seq makes the target answer with its window.
      this.#sendFaked(s, FLAG_ACK, seqAdd(s.nxt, -1), s.ack)
    } else if (seqBefore(s.repAck, s.nxt)) {
      if (!this.#retransmit(s)) return
      s.recovering = true
    } else {
      // Nothing in flight: probe a session that waits for the target.
      const probe = this.#limits.probeIdleMs
      if (probe <= 0 || s.hs !== HS_SYN_CONFIRM || !(s.waiting || this.#hasUnsentData(s))) return
      const due = s.lastResponse + Math.min(60000, Math.max(probe, 4 * s.rtt) * (1 << Math.min(s.probes, 6)))
      if (due > now) {
        this.#queue.arm(s.rto, due)
        return
      }
      s.probes++
      this.#probes++
      this.#sendFaked(s, FLAG_ACK, seqAdd(s.nxt, -1), s.ack)
      this.#queue.arm(s.rto, now + Math.min(60000, Math.max(probe, 4 * s.rtt) * (1 << Math.min(s.probes, 6))))
      return
    }
    s.rtoBackoff++
    this.#queue.arm(s.rto, now + this.#rto(s))
  }

  /** With nothing in flight, the RTO slot serves the idle probe (see CopyLimits.probeIdleMs). */
  #armProbe (s: Session, now: number): void {
    const probe = this.#limits.probeIdleMs
    if (probe > 0 && (s.waiting || this.#hasUnsentData(s))) this.#queue.arm(s.rto, now + Math.max(probe, 4 * s.rtt))
    else this.#queue.cancel(s.rto)
  }

  /** GC (§5.6): obsolete sessions end; sessions in time-wait are deleted. */
  #onGc (s: Session): void {
    if (s.timeWait) {
      this.#destroy(s)
      return
    }
    const now = this.#clock()
    const c = this.config
    let why = ''
    if (!s.gcStarted) {
      s.gcStarted = true
      if (!s.established && !s.replayPending) why = `no handshake within ${this.#limits.gcFirstMs / 1000} s`
    }
    if (why === '') {
      const idle = now - s.lastResponse
      const n = s.q.length
      if (idle > c.sessionTimeout * 1000 && (n > 0 || !s.contentSent || s.waiting)) {
        why = `no response for ${c.sessionTimeout} s (-t) ${n > 0 ? `with ${n} packets pending` : s.contentSent ? 'to a request' : 'before any request'}`
        this.#timedOut++
      } else if (idle > c.keepaliveTimeout * 1000) {
        why = `idle for ${c.keepaliveTimeout} s (-k, keep-alive timeout)`
        this.#timedOut++
      } else if (n >= (s.windowFull ? 2 : 1) * this.#limits.maxSessionPackets) {
        why = `${n} packets buffered`
      } else if (s.lostSince >= 0 && now - s.lostSince > this.#limits.lostCaptureMs) why = `a client packet has been missing from the capture for ${this.#limits.lostCaptureMs / 1000} s`
    }
    if (why !== '') {
      this.#obsolete++
      this.#log.debug(`session ${u32ToIpv4(s.clientIp)}:${s.clientPort} obsolete: ${why}`)
      this.#endSession(s, false)
      return
    }
    this.#queue.arm(s.gc, now + this.#limits.gcIntervalMs)
  }

  // ---- session end ---------------------------------------------------------------------------

  /** sess_post_disp (§5.6): passive RST unless over, then time-wait. */
  #endSession (s: Session, over: boolean): void {
    if (s.timeWait) return
    if (!over && !s.over && s.hs !== HS_CLOSED && !this.#tx.broken) this.#sendPassiveRst(s)
    s.over = true
    this.#queue.cancel(s.pacing)
    this.#queue.cancel(s.rto)
    s.q.clear((p, unsent) => {
      if (unsent && p.payload > 0) this.#nr.unsentAtEnd++
      this.#store.release(p)
    })
    s.timeWait = true
    s.twResponses = 0
    s.replayPending = false
    this.#links.forget(s.clientIp, s.clientPort)
    this.#closed++
    this.#queue.arm(s.gc, this.#clock() + this.#limits.timeWaitMs)
  }

  #destroy (s: Session): void {
    this.#queue.cancel(s.pacing)
    this.#queue.cancel(s.rto)
    this.#queue.cancel(s.gc)
    if (!s.timeWait) {
      s.q.clear(this.#release)
      s.timeWait = true
    }
    if (this.#sessions.get(s.key) === s) {
      this.#sessions.delete(s.key)
      this.#links.forget(s.clientIp, s.clientPort)
    }
    const list = this.#origins.get(s.origin)
    if (list !== undefined && list[s.replica] === s) {
      list[s.replica] = undefined
      if (list.every((x) => x === undefined)) this.#origins.delete(s.origin)
    }
  }

  // ---- turns ---------------------------------------------------------------------------------

  /** The end of every entry point: hand the packets written in TX to the send socket (never throws). */
  #endTurn (): void {
    if (this.#tx.pending > 0) this.#tx.flush()
  }

  /** The end of a capture or control turn: the timers that came due meanwhile fire first, so one send carries it all. */
  #endIoTurn (): void {
    this.#queue.runDue()
    this.#endTurn()
  }

  /**
   * --wake-interval, once per live wake-up (a capture read to the end, or a
   * control chunk), after it has sent what it had: a turn that ends less than the interval after the window began
   * waits out the rest of it, so the next wake-up finds all that came
   * meanwhile instead of one packet. A turn after a quiet spell begins a new
   * window and does not wait: an idle tcpcopy still answers at once.
   * Offline replay and the simulator (no live capture) are never spaced.
   */
  #spaceTurns (): void {
    const sleep = this.#sleep
    if (sleep === undefined || this.#captures.length === 0 || this.#state !== 'running') return
    const now = this.#clock()
    const rest = this.#windowStart + this.#wakeMs - now
    if (rest <= 0) {
      this.#windowStart = now
      return
    }
    sleep(rest)
    this.#windowStart = this.#clock()
  }

  /**
   * Every send failure ends here (Tx reports them, whichever flush met them).
   * A refused datagram is counted, dropped and logged (the first, then every
   * 1000th), and the engine goes on. A fatal one (the socket is unusable)
   * stops the engine with 'send-failed' once the current turn is over.
   */
  #onSendError (err: unknown, fatal: boolean): void {
    const msg = err instanceof Error ? err.message : String(err)
    if (fatal) {
      const error = new TcpcopyError(`sending to the target failed: ${msg}; the send socket is unusable, so tcpcopy stops ` +
        '(as the original does on a raw-send error); check -o/--output-device and that the device is up', 'TC_ERR_COPY_SEND', { cause: err })
      queueMicrotask(() => { this.#fatal('send-failed', error) })
      return
    }
    const n = this.#tx.errors
    if (n === 1 || n % 1000 === 0) {
      this.#log.warn(`sending to the target failed: ${msg}; the packet is dropped (${n} refused so far) and tcpcopy goes on. ` +
        'Check firewall rules on this host (EPERM), the routes to the target (EHOSTUNREACH, ENETUNREACH) and -M/--mtu (EMSGSIZE)')
    }
  }

  // ---- reports -------------------------------------------------------------------------------

  stats (): CopyStats {
    let active = 0
    let timeWait = 0
    for (const s of this.#sessions.values()) {
      if (s.timeWait) timeWait++
      else active++
    }
    const l = this.#links.stats()
    const m = this.#store.stats()
    return {
      state: this.#state,
      sessions: {
        active,
        created: this.#created,
        closed: this.#closed,
        obsolete: this.#obsolete,
        timedOut: this.#timedOut,
        timeWait,
        established: this.#establishedCount,
        fakedSyns: this.#fakedSyns,
        reconstructs: this.#reconstructCount
      },
      packets: {
        captured: this.#captured,
        accepted: this.#accepted,
        clientSyns: this.#clientSyns,
        clientData: this.#clientData,
        clientRetransmissions: this.#clientRetrans,
        sent: this.#sent,
        contentSent: this.#contentSent,
        synSent: this.#synSent,
        finSent: this.#finSent,
        rstSent: this.#rstSent,
        fakedAcks: this.#fakedAcks,
        retransmitted: this.#retransmitted,
        fastRetransmits: this.#fastRetransmits,
        probes: this.#probes,
        sendDropped: this.#tx.dropped,
        sendErrors: this.#tx.errors
      },
      responses: {
        received: this.#responses,
        withData: this.#respData,
        fin: this.#respFin,
        rst: this.#respRst,
        noSession: this.#respNoSession,
        stale: this.#respStale
      },
      notReplayed: { ...this.#nr },
      intercepts: {
        configured: l.intercepts,
        active: l.activeIntercepts,
        connections: l.connections,
        connected: l.connectedConnections,
        reconnects: l.reconnects,
        clientAdds: l.clientAdds,
        clientAddFailures: l.clientAddFailures,
        clientAddsNotSent: l.clientAddsNotSent,
        clientAddsResent: l.clientAddsResent,
        records: l.records
      },
      memory: { bufferedPackets: m.packets, bufferedBytes: m.bytes, reservedBytes: m.reserved }
    }
  }

  statsLine (): string {
    return formatStatsLine(this.stats())
  }

  reportStats (): string {
    const stats = this.stats()
    const line = formatStatsLine(stats)
    if (this.#deps.onStats !== undefined) this.#deps.onStats(stats, line)
    else this.#log.notice(line)
    let est = 0
    let active = 0
    for (const s of this.#sessions.values()) {
      if (s.timeWait || this.#clock() - s.created < this.#limits.gcFirstMs) continue
      active++
      if (s.established) est++
    }
    if (active > 0 && est < active * 0.8) {
      this.#log.warn(`only ${est} of ${active} sessions older than 3 s are established with the target: ` +
        'check that intercept sees the responses (routes, -s) and that the target is reachable')
    }
    return line
  }

  selfCheck (): string[] {
    const problems: string[] = []
    let held = 0
    for (const s of this.#sessions.values()) {
      held += s.q.length
      for (const p of s.q.check(seqAfter)) problems.push(`session ${u32ToIpv4(s.clientIp)}:${s.clientPort}: ${p}`)
      if (s.timeWait && s.q.length > 0) problems.push(`session ${u32ToIpv4(s.clientIp)}:${s.clientPort}: ${s.q.length} packets held in time-wait`)
    }
    const stored = this.#store.stats().packets
    if (stored !== held) problems.push(`the packet store counts ${stored} packets, the sessions hold ${held}`)
    return problems
  }

  sessions (): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => ({
      clientIp: u32ToIpv4(s.clientIp),
      clientPort: s.clientPort,
      targetIp: u32ToIpv4(s.target.targetIp),
      targetPort: s.target.targetPort,
      originPort: s.origin % 65536,
      replica: s.replica,
      state: s.state,
      timeWait: s.timeWait,
      fakedSyn: s.fakedSyn,
      rtt: s.rtt,
      buffered: s.q.length
    }))
  }
}

// createSimulation: the tcpcopy engine (@tcpcopy/copy) on a virtual clock,
// fed with scripted captures of "online" clients, sending through an io-mock
// raw-IPv4 PacketIo over an impaired link to a simulated target TCP stack,
// whose answers go over a second impaired link to intercept's routing in the
// WASM core, which reports them over in-memory control connections.
//
//   client scripts ──ingest──► tcpcopy ──MockPacketIo──► link ──► target stack ──► app
//                                 ▲                                   │
//                                 └── control sockets ◄── intercept ◄─┘ link
import { resolveConfig, tcpcopyOptions, type TcpcopyConfig } from '@tcpcopy/config'
import {
  MemoryLogger, copyRegions, createCopy, createCopyCore,
  type Copy, type CopyExit, type CopyLimits, type CopyStats
} from '@tcpcopy/copy'
import { LinkType } from '@tcpcopy/core'
import { MockPacketIo } from '@tcpcopy/io-mock'
import { FRAMES_OFF } from '@tcpcopy/wasm'
import { httpApp, echoApp, requestPath, takeRequests, type HttpAppOptions } from './apps.js'
import { buildClientScript, type ClientOptions, type ClientScript } from './client.js'
import { EventQueue } from './events.js'
import { SimIntercept, type SimInterceptStats } from './intercept.js'
import { Link, type LinkOptions, type LinkStats } from './link.js'
import { parseSegment, type ParsedSegment } from './packet.js'
import { createRng, type Rng } from './rng.js'
import { createConnector, type SimListener } from './socket.js'
import { TargetStack, type TargetApp, type TargetConnection, type TargetStats } from './target.js'

export interface SimulationOptions {
  /** Seed of every random decision (ports, ISNs, loss, reordering, R). Default 1. */
  seed?: number
  target?: {
    /** Default 10.0.1.2. */
    ip?: string
    /** Default 8080. */
    port?: number
    /** The application: an HttpAppOptions object for the built-in HTTP-like server, 'echo', or your own. Default HTTP-like. */
    app?: TargetApp | HttpAppOptions | 'echo'
    mss?: number
    receiveBuffer?: number
    wscale?: number
    timestamps?: boolean
    rtoMs?: number
    maxRetries?: number
    timeWaitMs?: number
    maxInFlight?: number
  }
  /** The online server the captured requests went to. Default 10.0.0.80:80. */
  online?: { ip?: string, port?: number }
  intercept?: {
    /** First intercept address (more are numbered up from it). Default 10.0.2.1:36524. */
    ip?: string
    port?: number
    /** Intercepts (all get CLIENT_ADD; the first captures the target's answers). Default 1. */
    count?: number
  }
  /** Both paths at once; toTarget / toIntercept override per path. */
  network?: LinkOptions & { toTarget?: LinkOptions, toIntercept?: LinkOptions, controlDelayMs?: number }
  /** Reordering and duplication of the captured client packets (capture order, online retransmissions). */
  capture?: { reorderRate?: number, dupRate?: number, reorderDelayMs?: number }
  /** Command-line style values for resolveConfig (e.g. { copies: '3', clients: '10.88.0.x' }). */
  flags?: Record<string, unknown>
  /** Fields of the resolved TcpcopyConfig to override. */
  copy?: Partial<TcpcopyConfig>
  limits?: Partial<CopyLimits>
  /** RSS the engine sees for -m, bytes. Default 64 MiB. */
  memoryUsage?: () => number
  /** Defaults for every sim.client(). */
  client?: ClientOptions
  /** Keep every packet tcpcopy sends in `sent` (default true). */
  recordPackets?: boolean
  /** The engine's random source (decides R of §3.3). Default: derived from the seed. */
  copyRandom?: () => number
}

/** A packet tcpcopy sent, as it left the engine. */
export interface SentPacket extends ParsedSegment {
  time: number
  /** The descriptor's destination word (the target, network order bytes). */
  dst4: number
  ipChecksumOk: boolean
  tcpChecksumOk: boolean
  bytes: Uint8Array
}

export interface RequestReport {
  /** Requests the online clients made, times -n. */
  expected: number
  /** Of those, how many reached the target application (each copy at most once counted). */
  delivered: number
  missing: number
  /** Deliveries beyond the expected count (the same request reaching the application again). */
  duplicated: number
  /** missing / expected. */
  lossRatio: number
  /** Up to 20 missing paths. */
  missingPaths: string[]
  /** Request-shaped text at the application that was not a whole request (a replay starting mid-request). */
  fragments: number
}

export interface SimulationReport {
  nowMs: number
  requests: RequestReport
  copy: CopyStats
  target: TargetStats
  links: { toTarget: LinkStats, toIntercept: LinkStats, capture: LinkStats }
  intercepts: SimInterceptStats[]
  checksums: { checked: number, badIp: number, badTcp: number }
  exit: CopyExit | undefined
}

export interface Simulation {
  readonly queue: EventQueue
  readonly now: number
  readonly config: TcpcopyConfig
  readonly copy: Copy
  readonly target: TargetStack
  readonly intercepts: SimIntercept[]
  readonly log: MemoryLogger
  readonly rng: Rng
  /** Every packet tcpcopy sent (when recordPackets). */
  readonly sent: SentPacket[]
  /** Every packet the target sent that intercept captured (when recordPackets), at capture time. */
  readonly responses: Array<ParsedSegment & { time: number }>
  /** The network paths (tests cut them, or drop chosen packets with dropNext). */
  readonly links: { toTarget: Link, toIntercept: Link, capture: Link }
  readonly clientScripts: ClientScript[]
  /** copy.start(); a rejection is kept here (and in `exit`), never unhandled. */
  readonly started: Promise<void>
  /** Set once the engine stopped. */
  readonly exit: CopyExit | undefined
  /** Per request path: how often it reached the target application. */
  readonly deliveries: Map<string, number>
  /** Adds one online client connection (scheduled on the capture). */
  client (options?: ClientOptions): ClientScript
  /** Adds n clients, started `spacingMs` apart. */
  clients (n: number, options?: ClientOptions & { spacingMs?: number }): ClientScript[]
  /** Feeds one frame to tcpcopy's capture at `timeMs` (default now). */
  inject (frame: Uint8Array, timeMs?: number, linkType?: number): void
  /** Runs the clock to `untilMs` (or for `forMs`). */
  run (options: { untilMs?: number, forMs?: number }): void
  /** Runs until every client script has played and the engine is idle, at most `maxMs` more. */
  runToEnd (maxMs?: number): void
  stop (): Promise<void>
  report (): SimulationReport
}

function ipNumber (text: string): number {
  const p = text.split('.').map(Number)
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0
}

function ipText (ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`
}

export function createSimulation (options: SimulationOptions = {}): Simulation {
  return new SimulationImpl(options)
}

class SimulationImpl implements Simulation {
  readonly queue = new EventQueue()
  readonly config: TcpcopyConfig
  readonly copy: Copy
  readonly target: TargetStack
  readonly intercepts: SimIntercept[] = []
  readonly log = new MemoryLogger()
  readonly rng: Rng
  readonly sent: SentPacket[] = []
  readonly responses: Array<ParsedSegment & { time: number }> = []
  readonly clientScripts: ClientScript[] = []
  readonly started: Promise<void>
  readonly deliveries = new Map<string, number>()
  exit: CopyExit | undefined
  readonly #o: SimulationOptions
  readonly #toTarget: Link
  readonly #toIntercept: Link
  readonly #capture: Link
  readonly #online: { ip: number, port: number }
  readonly #checksums = { checked: 0, badIp: 0, badTcp: 0 }
  #fragments = 0
  readonly #usedPorts = new Set<number>()
  #nextPort = 20000

  constructor (o: SimulationOptions) {
    this.#o = o
    this.rng = createRng(o.seed ?? 1)
    const targetIp = o.target?.ip ?? '10.0.1.2'
    const targetPort = o.target?.port ?? 8080
    const onlineIp = o.online?.ip ?? '10.0.0.80'
    const onlinePort = o.online?.port ?? 80
    this.#online = { ip: ipNumber(onlineIp), port: onlinePort }
    const icIp = o.intercept?.ip ?? '10.0.2.1'
    const icPort = o.intercept?.port ?? 36524
    const icCount = o.intercept?.count ?? 1
    const icAddrs = Array.from({ length: icCount }, (_, i) => `${ipText(ipNumber(icIp) + i)}:${icPort}`)
    const resolved = resolveConfig(tcpcopyOptions, {
      flags: { targets: `${onlineIp}:${onlinePort}-${targetIp}:${targetPort}`, intercepts: icAddrs.join(','), ...o.flags },
      env: {}
    })
    this.config = { ...resolved, ...o.copy }

    // network paths
    const net = o.network ?? {}
    const base: LinkOptions = { ...net }
    delete (base as Record<string, unknown>).toTarget
    delete (base as Record<string, unknown>).toIntercept
    delete (base as Record<string, unknown>).controlDelayMs
    this.#toTarget = new Link({ ...base, ...net.toTarget }, this.queue, this.rng.fork())
    this.#toIntercept = new Link({ ...base, ...net.toIntercept }, this.queue, this.rng.fork())
    this.#capture = new Link({ delayMs: 0, reorderRate: o.capture?.reorderRate ?? 0, dupRate: o.capture?.dupRate ?? 0, reorderDelayMs: o.capture?.reorderDelayMs ?? 0.5 }, this.queue, this.rng.fork())

    // intercepts
    const listeners = new Map<string, SimListener>()
    for (const a of icAddrs) {
      const [ip, port] = a.split(':')
      const ic = new SimIntercept({ ip: ipNumber(ip!), port: Number(port), combined: this.config.combined, payload: this.config.payload }, this.queue)
      this.intercepts.push(ic)
      listeners.set(a, ic)
    }

    // target
    const appOpt = o.target?.app
    let app: TargetApp
    if (appOpt === 'echo') app = echoApp()
    else if (appOpt !== undefined && typeof (appOpt as TargetApp).data === 'function') app = appOpt as TargetApp
    else app = httpApp({ schedule: (ms, fn) => { this.queue.after(ms, fn) }, ...(appOpt as HttpAppOptions | undefined) })
    const t = o.target ?? {}
    this.target = new TargetStack({
      ip: ipNumber(targetIp),
      port: targetPort,
      app: this.#ledgerApp(app),
      ...(t.mss !== undefined ? { mss: t.mss } : {}),
      ...(t.receiveBuffer !== undefined ? { receiveBuffer: t.receiveBuffer } : {}),
      ...(t.wscale !== undefined ? { wscale: t.wscale } : {}),
      ...(t.timestamps !== undefined ? { timestamps: t.timestamps } : {}),
      ...(t.rtoMs !== undefined ? { rtoMs: t.rtoMs } : {}),
      ...(t.maxRetries !== undefined ? { maxRetries: t.maxRetries } : {}),
      ...(t.timeWaitMs !== undefined ? { timeWaitMs: t.timeWaitMs } : {}),
      ...(t.maxInFlight !== undefined ? { maxInFlight: t.maxInFlight } : {})
    }, this.queue, this.rng.fork(), (packet) => {
      this.#toIntercept.send(packet, (b) => {
        if (this.#o.recordPackets !== false) {
          const seg = parseSegment(b)
          if (seg !== undefined) this.responses.push({ ...seg, time: this.queue.now })
        }
        this.intercepts[0]?.capture(b)
      })
    })

    // tcpcopy
    const core = createCopyCore()
    const sendIo = new MockPacketIo({
      kind: 'raw-ipv4',
      name: 'tcpcopy-send',
      regions: copyRegions(core),
      snap: 65536,
      sink: (bytes, dst) => { this.#fromCopy(bytes, dst) }
    })
    this.copy = createCopy(this.config, {
      core,
      send: sendIo,
      connect: createConnector(this.queue, net.controlDelayMs ?? 0.1, listeners),
      clock: () => this.queue.now,
      timers: this.queue.timers(),
      log: this.log,
      random: o.copyRandom ?? this.rng.fork(),
      memoryUsage: o.memoryUsage ?? (() => 64 * 1024 * 1024),
      statsIntervalMs: 0,
      ...(o.limits !== undefined ? { limits: o.limits } : {}),
      onExit: (exit) => { this.exit = exit }
    })
    this.started = this.copy.start()
    this.started.catch(() => {})
  }

  get now (): number { return this.queue.now }

  /** Wraps the application so that every whole request reaching it is counted. */
  #ledgerApp (app: TargetApp): TargetApp {
    const observe = (conn: TargetConnection, bytes: Uint8Array): void => {
      for (const req of takeRequests(conn, 'ledger', bytes)) {
        const path = requestPath(req)
        if (path === undefined) {
          this.#fragments++
          continue
        }
        this.deliveries.set(path, (this.deliveries.get(path) ?? 0) + 1)
      }
    }
    return {
      ...(app.accept !== undefined ? { accept: (c: TargetConnection) => { app.accept!(c) } } : {}),
      data: (c, b) => {
        observe(c, b)
        app.data(c, b)
      },
      ...(app.end !== undefined ? { end: (c: TargetConnection) => { app.end!(c) } } : {}),
      ...(app.reset !== undefined ? { reset: (c: TargetConnection) => { app.reset!(c) } } : {})
    }
  }

  #fromCopy (bytes: Uint8Array, dst: number): void {
    const core = this.intercepts[0]?.core
    let ipOk = true
    let tcpOk = true
    if (core !== undefined) {
      core.bytes.set(bytes, FRAMES_OFF)
      const ihl = (bytes[0]! & 15) * 4
      ipOk = core.exports.ipChecksumVerify(FRAMES_OFF, ihl) === 1
      tcpOk = core.exports.tcpChecksumVerify(FRAMES_OFF, bytes.length) === 1
      this.#checksums.checked++
      if (!ipOk) this.#checksums.badIp++
      if (!tcpOk) this.#checksums.badTcp++
    }
    const seg = parseSegment(bytes)
    if (seg !== undefined && this.#o.recordPackets !== false) {
      this.sent.push({ ...seg, time: this.queue.now, dst4: dst, ipChecksumOk: ipOk, tcpChecksumOk: tcpOk, bytes })
    }
    this.#toTarget.send(bytes, (b) => {
      const s = parseSegment(b)
      if (s !== undefined) this.target.receive(s)
    })
  }

  #freePort (ip: number): number {
    for (;;) {
      const p = this.#nextPort
      this.#nextPort = this.#nextPort >= 60000 ? 20000 : this.#nextPort + 1 + this.rng.int(3)
      const key = ip * 65536 + p
      if (!this.#usedPorts.has(key)) {
        this.#usedPorts.add(key)
        return p
      }
    }
  }

  client (options: ClientOptions = {}): ClientScript {
    const o = { ...this.#o.client, ...options }
    const id = this.clientScripts.length + 1
    const ip = o.ip !== undefined ? ipNumber(o.ip) : ((10 << 24) | (1 << 16) | (((id >> 8) & 255) << 8) | (id & 255)) >>> 0
    const port = o.port ?? this.#freePort(ip)
    const script = buildClientScript(id, o, this.#online, this.queue.now, this.rng, port)
    this.clientScripts.push(script)
    for (const p of script.packets) {
      this.queue.at(p.time, () => {
        this.#capture.send(p.bytes, (b) => { this.#ingest(b, LinkType.Raw) })
      })
    }
    return script
  }

  clients (n: number, options: ClientOptions & { spacingMs?: number } = {}): ClientScript[] {
    const out: ClientScript[] = []
    const start = options.startMs ?? this.queue.now + 20
    for (let i = 0; i < n; i++) out.push(this.client({ ...options, startMs: start + i * (options.spacingMs ?? 1) }))
    return out
  }

  inject (frame: Uint8Array, timeMs?: number, linkType: number = LinkType.Raw): void {
    this.queue.at(timeMs ?? this.queue.now, () => { this.#ingest(frame, linkType) })
  }

  #ingest (frame: Uint8Array, linkType: number): void {
    this.copy.ingest(frame, linkType, this.queue.now)
  }

  run (options: { untilMs?: number, forMs?: number }): void {
    const until = options.untilMs ?? this.queue.now + (options.forMs ?? 0)
    this.queue.run(until)
  }

  runToEnd (maxMs = 600000): void {
    const end = Math.max(...this.clientScripts.map((c) => c.endMs), this.queue.now) + 1
    this.queue.run(Math.min(end, this.queue.now + maxMs))
    // then until the sessions are quiet (time-wait and GC included)
    const limit = this.queue.now + maxMs
    while (this.queue.now < limit && this.queue.pending > 0) {
      const st = this.copy.stats()
      if (st.sessions.active === 0 && st.sessions.timeWait === 0) break
      this.queue.run(Math.min(limit, this.queue.now + 1000))
    }
  }

  async stop (): Promise<void> {
    await this.copy.stop()
    this.queue.run(this.queue.now + 10)
  }

  report (): SimulationReport {
    const copies = this.config.copies
    let expected = 0
    let delivered = 0
    let missing = 0
    let duplicated = 0
    const missingPaths: string[] = []
    for (const c of this.clientScripts) {
      for (const path of c.paths) {
        expected += copies
        const got = this.deliveries.get(path) ?? 0
        delivered += Math.min(got, copies)
        if (got < copies) {
          missing += copies - got
          if (missingPaths.length < 20) missingPaths.push(path)
        } else if (got > copies) {
          duplicated += got - copies
        }
      }
    }
    return {
      nowMs: this.queue.now,
      requests: { expected, delivered, missing, duplicated, lossRatio: expected === 0 ? 0 : missing / expected, missingPaths, fragments: this.#fragments },
      copy: this.copy.stats(),
      target: { ...this.target.stats },
      links: { toTarget: { ...this.#toTarget.stats }, toIntercept: { ...this.#toIntercept.stats }, capture: { ...this.#capture.stats } },
      intercepts: this.intercepts.map((i) => ({ ...i.stats })),
      checksums: { ...this.#checksums },
      exit: this.exit
    }
  }

  /** The links, for tests that cut or impair them mid-run. */
  get links (): { toTarget: Link, toIntercept: Link, capture: Link } {
    return { toTarget: this.#toTarget, toIntercept: this.#toIntercept, capture: this.#capture }
  }
}

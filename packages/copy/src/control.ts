// The control channel to intercept (PROTOCOL.md §1, §2, §4): -C connections
// to every -s intercept, a hello first on each, CLIENT_ADD on the next
// connection of each active intercept (round-robin), and the response
// records read back with the protocol package's ClientSideDecoder.
//
// Losing a connection is detected by its close; a connection attempt that
// gets no answer within 5 s is given up (an address whose SYNs are dropped
// would otherwise wait for the kernel's ~2 min). An intercept is active while
// one of its connections is up. Lost connections are reconnected (1 s after a
// working one dropped, then every 12 s). When no intercept is left active the
// engine stops with TC_ERR_COPY_NO_INTERCEPT, unless -L (lonely) was given.
//
// intercept ties a route to the connection its CLIENT_ADD came on and drops
// it when that connection closes. So the CLIENT_ADDs of the live sessions
// are remembered per connection: when one closes, they are sent again over
// another live connection of that intercept, or, when none is left, over
// the first one that comes back (an improvement on the original, whose
// sessions go deaf until intercept's route times out).
//
// A connection whose send queue holds more than maxQueuedBytes (intercept
// does not read) takes no more CLIENT_ADDs: they go to another connection,
// or, when every connection of an intercept is backed up, are counted and
// logged as not sent, and that intercept does not count as having taken the
// session (a SYN is forwarded only when some intercept took it, §5.1).
import * as net from 'node:net'
import { ProtocolError, TcpcopyError } from '@tcpcopy/interface'
import type { InterceptAddress } from '@tcpcopy/config'
import {
  ClientSideDecoder, MessageType, clientMessage, helloMessage, helloVersionFor, type Dialect
} from '@tcpcopy/protocol'
import type { Logger } from './logger.js'
import type { CopyTimers } from './timers.js'
import { u32ToIpv4 } from './filter.js'

/**
 * What the engine needs of a control connection: node:net's Socket has it;
 * the simulator passes in-memory ones. Events: 'connect', 'data' (chunk;
 * not needed when the chunks go to the onData given to ConnectFn), 'error'
 * (err), 'close'.
 */
export interface ControlSocket {
  write (data: Uint8Array): unknown
  /** Bytes written and not yet handed to the kernel (node:net's Socket); absent: taken as 0. */
  readonly writableLength?: number
  destroy (): void
  on (event: string, listener: (...args: any[]) => void): unknown
  setNoDelay? (noDelay?: boolean): unknown
}

/**
 * Opens a control connection to intercept host:port. A socket may hand what
 * it reads to `onData` (the chunk is valid during the call only) instead of
 * emitting 'data'.
 */
export type ConnectFn = (host: string, port: number, onData?: (chunk: Uint8Array) => void) => ControlSocket

/**
 * Where every default control connection reads into. The records of a chunk
 * are handled before the call returns (the decoder copies a partial record
 * it carries over), so one buffer serves all connections.
 */
const READ_BUFFER = new Uint8Array(64 * 1024)

/**
 * node:net, TCP_NODELAY as both originals set it. With onData, the socket
 * reads through node:net's `onread` into READ_BUFFER: no Buffer per read and
 * no stream machinery (push, 'data' event, read-ahead tick) between the
 * kernel and the decoder.
 */
export const defaultConnect: ConnectFn = (host, port, onData) => {
  if (onData === undefined) return net.connect({ host, port, noDelay: true })
  return net.connect({
    host,
    port,
    noDelay: true,
    onread: {
      buffer: READ_BUFFER,
      callback: (n: number, buf: Uint8Array): boolean => {
        onData(buf.subarray(0, n))
        return true // keep reading
      }
    }
  })
}

/** The 12 s retry interval of the original (RETRY_INTERVAL). */
export const RETRY_INTERVAL_MS = 12000
/** First reconnect attempt after a working connection dropped. */
export const RECONNECT_DELAY_MS = 1000
/** How long a connection attempt may go unanswered. */
export const CONNECT_TIMEOUT_MS = 5000
/** Bytes a control connection may have queued (unsent) before it takes no more CLIENT_ADDs. */
export const MAX_QUEUED_CONTROL_BYTES = 1024 * 1024

export interface ControlOptions {
  intercepts: readonly InterceptAddress[]
  connections: number
  dialect: Dialect
  combined: boolean
  payload: boolean
  lonely: boolean
  retryIntervalMs: number
  reconnectDelayMs: number
  /** Default CONNECT_TIMEOUT_MS; 0 = none. */
  connectTimeoutMs?: number
  /** Default MAX_QUEUED_CONTROL_BYTES. */
  maxQueuedBytes?: number
  connect: ConnectFn
  timers: CopyTimers
  log: Logger
  /** A record arrived (a view, valid during the call). */
  onRecord: (record: Uint8Array) => void
  /** A chunk of records was handed over (the engine flushes its packets). */
  onChunkDone: () => void
  /** No intercept is active any more and -L was not given. */
  onAllLost: (error: TcpcopyError) => void
  /** A connection came up (called synchronously, before start() resolves). */
  onUp: () => void
}

/** A CLIENT_ADD of a live session and the connection it went over (undefined: waiting for one). */
interface Route {
  clientIp: number
  clientPort: number
  targetIp: number
  targetPort: number
  conn: Conn | undefined
}

class Conn {
  socket: ControlSocket | undefined = undefined
  connected = false
  decoder: ClientSideDecoder | undefined = undefined
  retry: unknown = undefined
  connectTimer: unknown = undefined
  /** Keys (clientIp * 65536 + clientPort) of the routes whose CLIENT_ADD went over this connection. */
  readonly routes = new Set<number>()
  /** Attempts since the last success. */
  failures = 0
  everConnected = false
  lastError = ''

  constructor (readonly link: Link, readonly index: number) {}

  get name (): string { return `control connection ${this.index + 1}/${this.link.conns.length} to intercept ${this.link.name}` }
}

class Link {
  readonly conns: Conn[] = []
  rr = 0
  readonly routes = new Map<number, Route>()
  /** Routes whose connection closed while no other one was up: sent again on the next connect. */
  readonly orphans = new Set<number>()
  /** Why the last attempt to reach it failed. */
  lastError = ''
  constructor (readonly address: InterceptAddress) {}
  get name (): string { return `${this.address.ip}:${this.address.port}` }
  get active (): boolean { return this.conns.some((c) => c.connected) }
}

export interface ControlStats {
  intercepts: number
  activeIntercepts: number
  connections: number
  connectedConnections: number
  reconnects: number
  clientAdds: number
  clientAddFailures: number
  /** CLIENT_ADDs not sent to an intercept because every connection to it was backed up. */
  clientAddsNotSent: number
  /** CLIENT_ADDs sent again after the connection that carried them closed. */
  clientAddsResent: number
  records: number
  protocolErrors: number
}

export class InterceptLinks {
  readonly #o: ControlOptions
  readonly #links: Link[]
  readonly #views: Uint8Array[] = []
  readonly #optionsArea: number
  #started = false
  #stopped = false
  #startWait: { resolve: () => void, reject: (err: Error) => void } | undefined
  #reconnects = 0
  #clientAdds = 0
  #clientAddFailures = 0
  #clientAddsNotSent = 0
  #clientAddsResent = 0
  #records = 0
  #protocolErrors = 0
  #lonelyWarned = false

  constructor (options: ControlOptions) {
    this.#o = options
    this.#optionsArea = options.dialect === '0.9' ? 40 : 24
    this.#links = options.intercepts.map((a) => new Link(a))
    for (const l of this.#links) for (let i = 0; i < Math.max(1, options.connections); i++) l.conns.push(new Conn(l, i))
  }

  /** Bytes of the options area of the records (24 for 1.x, 40 for 0.9). */
  get optionsArea (): number { return this.#optionsArea }

  get activeIntercepts (): number { return this.#links.filter((l) => l.active).length }

  /**
   * Connects everything. Resolves when the first connection is up; when every
   * first attempt failed it rejects with TC_ERR_COPY_NO_INTERCEPT, or, with -L,
   * resolves and keeps retrying every 12 s.
   */
  start (): Promise<void> {
    if (this.#started) return Promise.reject(new TcpcopyError('the control channel was started already', 'TC_ERR_COPY_STATE'))
    this.#started = true
    if (this.#links.length === 0) {
      if (this.#o.lonely) return Promise.resolve()
      return Promise.reject(new TcpcopyError('no intercept to connect to: give -s/--intercepts', 'TC_ERR_COPY_NO_INTERCEPT'))
    }
    const p = new Promise<void>((resolve, reject) => { this.#startWait = { resolve, reject } })
    for (const l of this.#links) for (const c of l.conns) this.#open(c)
    return p
  }

  stop (): void {
    this.#stopped = true
    for (const l of this.#links) {
      for (const c of l.conns) {
        if (c.retry !== undefined) this.#o.timers.clearTimeout(c.retry)
        c.retry = undefined
        this.#clearConnectTimer(c)
        const s = c.socket
        c.socket = undefined
        c.connected = false
        s?.destroy()
      }
    }
    this.#startWait?.reject(new TcpcopyError('stopped before any intercept was reached', 'TC_ERR_CANCELED'))
    this.#startWait = undefined
  }

  /**
   * CLIENT_ADD for a session as the target sees it (§2.3): to every active
   * intercept, on its next connection that is not backed up. Returns how
   * many intercepts took it. The route is remembered until forget().
   */
  clientAdd (clientIp: number, clientPort: number, targetIp: number, targetPort: number): number {
    let sent = 0
    let msg: Uint8Array | undefined
    const key = clientIp * 65536 + clientPort
    for (const l of this.#links) {
      const c = this.#pick(l)
      if (c === undefined) {
        if (l.active) this.#notSent(l)
        continue
      }
      msg ??= clientMessage.encode({ clientIp, clientPort, type: MessageType.ClientAdd, targetIp, targetPort })
      c.socket!.write(msg)
      let r = l.routes.get(key)
      if (r === undefined) {
        r = { clientIp, clientPort, targetIp, targetPort, conn: undefined }
        l.routes.set(key, r)
      } else {
        r.targetIp = targetIp
        r.targetPort = targetPort
      }
      this.#bind(l, r, key, c)
      sent++
    }
    if (sent > 0) this.#clientAdds++
    else this.#clientAddFailures++
    return sent
  }

  /** The session ended: its CLIENT_ADD is not sent again after a reconnect. */
  forget (clientIp: number, clientPort: number): void {
    const key = clientIp * 65536 + clientPort
    for (const l of this.#links) {
      const r = l.routes.get(key)
      if (r === undefined) continue
      r.conn?.routes.delete(key)
      l.routes.delete(key)
      l.orphans.delete(key)
    }
  }

  /** Routes remembered (sessions × intercepts), for tests and diagnostics. */
  get routeCount (): number {
    let n = 0
    for (const l of this.#links) n += l.routes.size
    return n
  }

  /** The next connection of `l` that is up and not backed up, round-robin. */
  #pick (l: Link): Conn | undefined {
    const n = l.conns.length
    const max = this.#o.maxQueuedBytes ?? MAX_QUEUED_CONTROL_BYTES
    for (let k = 0; k < n; k++) {
      l.rr = (l.rr + 1) % n
      const c = l.conns[l.rr]!
      if (!c.connected || c.socket === undefined) continue
      if ((c.socket.writableLength ?? 0) > max) continue
      return c
    }
    return undefined
  }

  #bind (l: Link, r: Route, key: number, c: Conn): void {
    if (r.conn !== c) r.conn?.routes.delete(key)
    r.conn = c
    c.routes.add(key)
    l.orphans.delete(key)
  }

  #notSent (l: Link): void {
    const n = ++this.#clientAddsNotSent
    if (n === 1 || n % 1000 === 0) {
      const max = this.#o.maxQueuedBytes ?? MAX_QUEUED_CONTROL_BYTES
      this.#o.log.warn(`intercept ${l.name} does not read its control connections (more than ${max} bytes queued on each): ` +
        `${n} CLIENT_ADD messages not sent so far; those sessions are not replayed through it. Check the load of intercept and the network to it`)
    }
  }

  /** Sends the CLIENT_ADDs of `keys` again over a live connection of `l`; the ones that find none wait as orphans. */
  #resend (l: Link, keys: Iterable<number>): { resent: number, waiting: number } {
    let resent = 0
    let waiting = 0
    for (const key of [...keys]) {
      const r = l.routes.get(key)
      if (r === undefined) continue
      const c = this.#pick(l)
      if (c === undefined) {
        r.conn?.routes.delete(key)
        r.conn = undefined
        l.orphans.add(key)
        waiting++
        continue
      }
      c.socket!.write(clientMessage.encode({ clientIp: r.clientIp, clientPort: r.clientPort, type: MessageType.ClientAdd, targetIp: r.targetIp, targetPort: r.targetPort }))
      this.#bind(l, r, key, c)
      resent++
    }
    this.#clientAddsResent += resent
    return { resent, waiting }
  }

  stats (): ControlStats {
    let connections = 0
    let connected = 0
    for (const l of this.#links) {
      connections += l.conns.length
      for (const c of l.conns) if (c.connected) connected++
    }
    return {
      intercepts: this.#links.length,
      activeIntercepts: this.activeIntercepts,
      connections,
      connectedConnections: connected,
      reconnects: this.#reconnects,
      clientAdds: this.#clientAdds,
      clientAddFailures: this.#clientAddFailures,
      clientAddsNotSent: this.#clientAddsNotSent,
      clientAddsResent: this.#clientAddsResent,
      records: this.#records,
      protocolErrors: this.#protocolErrors
    }
  }

  #open (c: Conn): void {
    if (this.#stopped) return
    c.retry = undefined
    const { ip, port } = c.link.address
    let socket: ControlSocket
    const onData = (chunk: Uint8Array): void => { this.#onData(c, socket, chunk) }
    try {
      socket = this.#o.connect(ip, port, onData)
    } catch (err) {
      c.lastError = err instanceof Error ? err.message : String(err)
      this.#failed(c)
      return
    }
    c.socket = socket
    c.decoder = new ClientSideDecoder({ format: { dialect: this.#o.dialect, payload: this.#o.payload }, combined: this.#o.combined })
    const timeoutMs = this.#o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
    if (timeoutMs > 0) {
      c.connectTimer = this.#o.timers.setTimeout(() => {
        c.connectTimer = undefined
        if (c.socket !== socket || c.connected || this.#stopped) return
        c.lastError = `no answer within ${timeoutMs / 1000} s (connect timed out: nothing listens there, or a firewall drops the SYNs; ` +
          `check -s/--intercepts and -p/--port, that intercept runs on ${ip} and listens on port ${port}, and the firewall between)`
        socket.destroy()
      }, timeoutMs)
    }
    socket.on('connect', () => {
      if (c.socket !== socket || this.#stopped) return
      this.#clearConnectTimer(c)
      c.connected = true
      if (c.everConnected) this.#reconnects++
      c.everConnected = true
      c.failures = 0
      this.#lonelyWarned = false
      socket.setNoDelay?.(true)
      socket.write(helloMessage.encode({ version: helloVersionFor(this.#o.dialect) }))
      this.#o.onUp()
      this.#o.log.notice(`${c.name} established (protocol ${this.#o.dialect}, ${this.#o.combined ? 'combined' : 'plain'} records)`)
      if (c.link.orphans.size > 0) {
        const { resent } = this.#resend(c.link, c.link.orphans)
        if (resent > 0) this.#o.log.notice(`${c.name}: sent the CLIENT_ADD of ${resent} live sessions again (their connection had closed)`)
      }
      const wait = this.#startWait
      this.#startWait = undefined
      wait?.resolve()
    })
    socket.on('data', onData)
    socket.on('error', (err: Error) => { c.lastError = err.message })
    socket.on('close', () => {
      if (c.socket !== socket) return
      this.#clearConnectTimer(c)
      c.socket = undefined
      const was = c.connected
      c.connected = false
      if (this.#stopped) return
      if (was) this.#lostWorking(c)
      else this.#failed(c)
    })
  }

  #onData (c: Conn, socket: ControlSocket, chunk: Uint8Array): void {
    if (c.socket !== socket || c.decoder === undefined) return
    const views = this.#views
    views.length = 0
    let failure: unknown
    try {
      c.decoder.push(chunk, views)
    } catch (err) {
      failure = err
    }
    try {
      for (let i = 0; i < views.length; i++) {
        this.#records++
        this.#o.onRecord(views[i]!)
      }
    } finally {
      views.length = 0
      this.#o.onChunkDone()
    }
    if (failure !== undefined) {
      this.#protocolErrors++
      const why = failure instanceof ProtocolError ? failure.message : String(failure)
      this.#o.log.error(`${c.name}: ${why}; closing it (check --protocol, --no-combined and --payload against the intercept)`)
      c.lastError = why
      socket.destroy()
    }
  }

  #lostWorking (c: Conn): void {
    let moved = ''
    if (c.routes.size > 0) {
      const { resent, waiting } = this.#resend(c.link, c.routes)
      c.routes.clear()
      moved = `; CLIENT_ADD of its live sessions sent again: ${resent} over another connection` +
        (waiting > 0 ? `, ${waiting} wait for a reconnect` : '')
    }
    this.#o.log.warn(`${c.name} lost${c.lastError === '' ? '' : `: ${c.lastError}`}${moved}`)
    c.lastError = ''
    this.#retryLater(c, this.#o.reconnectDelayMs)
    this.#checkActive()
  }

  #failed (c: Conn): void {
    c.failures++
    if (c.failures === 1 || c.failures % 10 === 0) {
      this.#o.log.warn(`${c.name} could not be opened${c.lastError === '' ? '' : `: ${c.lastError}`} (attempt ${c.failures}); retrying every ${this.#o.retryIntervalMs / 1000} s`)
    }
    if (c.lastError !== '') c.link.lastError = c.lastError
    c.lastError = ''
    this.#retryLater(c, this.#o.retryIntervalMs)
    if (this.#startWait !== undefined) {
      const allTried = this.#links.every((l) => l.conns.every((x) => x.failures > 0 || x.connected))
      if (allTried && this.activeIntercepts === 0) {
        const wait = this.#startWait
        this.#startWait = undefined
        if (this.#o.lonely) {
          this.#o.log.warn(`no intercept could be reached (${this.#links.map((l) => l.name).join(', ')}); -L: running without one, retrying every ${this.#o.retryIntervalMs / 1000} s`)
          this.#lonelyWarned = true
          wait.resolve()
        } else {
          wait.reject(this.#noInterceptError('could be reached'))
        }
      }
      return
    }
    this.#checkActive()
  }

  #checkActive (): void {
    if (this.#startWait !== undefined || this.activeIntercepts > 0) return
    if (this.#o.lonely) {
      if (!this.#lonelyWarned) {
        this.#o.log.warn(`every intercept is gone; -L: running without one (sessions are not replayed) and reconnecting every ${this.#o.retryIntervalMs / 1000} s`)
        this.#lonelyWarned = true
      }
      return
    }
    this.#o.onAllLost(this.#noInterceptError('is left'))
  }

  #noInterceptError (what: string): TcpcopyError {
    const list = this.#links.map((l) => `${l.name}${l.lastError === '' ? '' : `: ${l.lastError}`}`).join('; ')
    return new TcpcopyError(`no intercept ${what} (${list}): tcpcopy cannot learn the target's responses; ` +
      'start intercept there (and check -s/--intercepts and -p/--port), or pass -L/--lonely to keep running and reconnect every 12 s',
    'TC_ERR_COPY_NO_INTERCEPT')
  }

  #clearConnectTimer (c: Conn): void {
    if (c.connectTimer !== undefined) this.#o.timers.clearTimeout(c.connectTimer)
    c.connectTimer = undefined
  }

  #retryLater (c: Conn, ms: number): void {
    if (this.#stopped || c.retry !== undefined) return
    c.retry = this.#o.timers.setTimeout(() => {
      c.retry = undefined
      this.#open(c)
    }, ms)
  }

  /** Dotted quad of a u32, for the engine's logs. */
  static ip (ip: number): string { return u32ToIpv4(ip) }
}

// The control channel to intercept (PROTOCOL.md §1, §2, §4): -C connections
// to every -s intercept, a hello first on each, CLIENT_ADD on the next
// connection of each active intercept (round-robin), and the response
// records read back with the protocol package's ClientSideDecoder.
//
// Losing a connection is detected by its close. An intercept is active while
// one of its connections is up. Lost connections are reconnected (1 s after a
// working one dropped, then every 12 s). When no intercept is left active the
// engine stops with TC_ERR_COPY_NO_INTERCEPT, unless -L (lonely) was given.
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
 * the simulator passes in-memory ones. Events: 'connect', 'data' (chunk),
 * 'error' (err), 'close'.
 */
export interface ControlSocket {
  write (data: Uint8Array): unknown
  destroy (): void
  on (event: string, listener: (...args: any[]) => void): unknown
  setNoDelay? (noDelay?: boolean): unknown
}

/** Opens a control connection to intercept host:port. */
export type ConnectFn = (host: string, port: number) => ControlSocket

/** node:net, TCP_NODELAY as both originals set it. */
export const defaultConnect: ConnectFn = (host, port) => net.connect({ host, port, noDelay: true })

/** The 12 s retry interval of the original (RETRY_INTERVAL). */
export const RETRY_INTERVAL_MS = 12000
/** First reconnect attempt after a working connection dropped. */
export const RECONNECT_DELAY_MS = 1000

export interface ControlOptions {
  intercepts: readonly InterceptAddress[]
  connections: number
  dialect: Dialect
  combined: boolean
  payload: boolean
  lonely: boolean
  retryIntervalMs: number
  reconnectDelayMs: number
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

class Conn {
  socket: ControlSocket | undefined = undefined
  connected = false
  decoder: ClientSideDecoder | undefined = undefined
  retry: unknown = undefined
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
   * intercept, on its next connection. Returns how many intercepts took it.
   */
  clientAdd (clientIp: number, clientPort: number, targetIp: number, targetPort: number): number {
    let sent = 0
    let msg: Uint8Array | undefined
    for (const l of this.#links) {
      const n = l.conns.length
      for (let k = 0; k < n; k++) {
        l.rr = (l.rr + 1) % n
        const c = l.conns[l.rr]!
        if (!c.connected || c.socket === undefined) continue
        msg ??= clientMessage.encode({ clientIp, clientPort, type: MessageType.ClientAdd, targetIp, targetPort })
        c.socket.write(msg)
        sent++
        break
      }
    }
    if (sent > 0) this.#clientAdds++
    else this.#clientAddFailures++
    return sent
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
      records: this.#records,
      protocolErrors: this.#protocolErrors
    }
  }

  #open (c: Conn): void {
    if (this.#stopped) return
    c.retry = undefined
    const { ip, port } = c.link.address
    let socket: ControlSocket
    try {
      socket = this.#o.connect(ip, port)
    } catch (err) {
      c.lastError = err instanceof Error ? err.message : String(err)
      this.#failed(c)
      return
    }
    c.socket = socket
    c.decoder = new ClientSideDecoder({ format: { dialect: this.#o.dialect, payload: this.#o.payload }, combined: this.#o.combined })
    socket.on('connect', () => {
      if (c.socket !== socket || this.#stopped) return
      c.connected = true
      if (c.everConnected) this.#reconnects++
      c.everConnected = true
      c.failures = 0
      this.#lonelyWarned = false
      socket.setNoDelay?.(true)
      socket.write(helloMessage.encode({ version: helloVersionFor(this.#o.dialect) }))
      this.#o.onUp()
      this.#o.log.notice(`${c.name} established (protocol ${this.#o.dialect}, ${this.#o.combined ? 'combined' : 'plain'} records)`)
      const wait = this.#startWait
      this.#startWait = undefined
      wait?.resolve()
    })
    socket.on('data', (chunk: Uint8Array) => { this.#onData(c, socket, chunk) })
    socket.on('error', (err: Error) => { c.lastError = err.message })
    socket.on('close', () => {
      if (c.socket !== socket) return
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
    this.#o.log.warn(`${c.name} lost${c.lastError === '' ? '' : `: ${c.lastError}`}`)
    c.lastError = ''
    this.#retryLater(c, this.#o.reconnectDelayMs)
    this.#checkActive()
  }

  #failed (c: Conn): void {
    c.failures++
    if (c.failures === 1 || c.failures % 10 === 0) {
      this.#o.log.warn(`${c.name} could not be opened${c.lastError === '' ? '' : `: ${c.lastError}`} (attempt ${c.failures}); retrying every ${this.#o.retryIntervalMs / 1000} s`)
    }
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
    const list = this.#links.map((l) => `${l.name}`).join(', ')
    return new TcpcopyError(`no intercept ${what} (${list}): tcpcopy cannot learn the target's responses; ` +
      'start intercept there (and check -s/--intercepts and -p/--port), or pass -L/--lonely to keep running and reconnect every 12 s',
    'TC_ERR_COPY_NO_INTERCEPT')
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

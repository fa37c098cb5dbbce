// The intercept side of the simulation, on the WASM core's routing: control
// connections speak the wire protocol (hello, CLIENT_ADD, decoded with the
// protocol package's ServerSideDecoder); CLIENT_ADD calls core.clientAdd
// (route + flush of delayed SYN/RST records); every packet the target sends
// is classified by core.processFrames (route lookup, delay table, record
// building in the connection's dialect) and the records drained from OUT go
// back framed like intercept 1.x/0.9 does (combined [count][records], or
// plain). This is intercept's advanced mode (passive capture, no verdicts).
import { createCore, LinkType, type Core } from '@tcpcopy/core'
import {
  COMB_MAX_NUM, COMB_MAX_NUM_PAYLOAD, MessageType, ServerSideDecoder, dialectForVersion,
  type ClientMessage, type Dialect
} from '@tcpcopy/protocol'
import type { EventQueue } from './events.js'
import type { SimListener, SimSocket } from './socket.js'

export interface SimInterceptOptions {
  ip: number
  port: number
  /** Framing of the records sent back (intercept's build). Default true. */
  combined?: boolean
  /** Payload records (+128 bytes). Default false. */
  payload?: boolean
}

export interface SimInterceptConnection {
  readonly id: number
  /** The hello version received, if any. */
  version: number | undefined
  dialect: Dialect | undefined
  /** Every byte tcpcopy wrote on this connection, in order. */
  readonly received: Uint8Array[]
  /** Every message decoded after the hello. */
  readonly messages: ClientMessage[]
  /** Records sent back. */
  records: number
  /** Every frame (combined) or record (plain) written back, in order. */
  readonly sent: Uint8Array[]
  closed: boolean
}

export interface SimInterceptStats {
  accepted: number
  refused: number
  clientAdds: number
  captured: number
  recordsSent: number
  framesSent: number
}

interface Conn extends SimInterceptConnection {
  socket: SimSocket
  decoder: ServerSideDecoder
}

export class SimIntercept implements SimListener {
  readonly core: Core
  readonly combined: boolean
  readonly payload: boolean
  readonly stats: SimInterceptStats = { accepted: 0, refused: 0, clientAdds: 0, captured: 0, recordsSent: 0, framesSent: 0 }
  /** Every control connection ever accepted. */
  readonly connections: SimInterceptConnection[] = []
  accepting = true
  readonly #conns = new Map<number, Conn>()
  readonly #pending = new Map<number, Uint8Array[]>()
  #nextId = 0

  constructor (readonly options: SimInterceptOptions, readonly queue: EventQueue) {
    this.core = createCore({ hashSize: 4096, maxRoutes: 65536, routeTimeoutSec: 600, delayPerKey: 16, delayTotal: 65536, delayExpireSec: 30 })
    this.combined = options.combined ?? true
    this.payload = options.payload ?? false
  }

  #now (): number { return Math.floor(this.queue.now) >>> 0 }

  accept (socket: SimSocket): void {
    const id = this.#nextId++
    const c: Conn = {
      id, socket, version: undefined, dialect: undefined, received: [], messages: [], records: 0, sent: [], closed: false,
      decoder: new ServerSideDecoder({ rejectLegacy: true })
    }
    this.#conns.set(id, c)
    this.connections.push(c)
    this.stats.accepted++
    this.core.setConnFormat(id, '1.x', this.payload)
    socket.on('data', (chunk: Uint8Array) => { this.#onData(c, chunk) })
    socket.on('close', () => {
      c.closed = true
      this.#conns.delete(id)
      this.core.routerDeleteConn(id)
    })
  }

  #onData (c: Conn, chunk: Uint8Array): void {
    c.received.push(chunk)
    let events
    try {
      events = c.decoder.push(chunk)
    } catch {
      c.socket.destroy()
      return
    }
    for (const e of events) {
      if (e.kind === 'hello') {
        c.version = e.version
        c.dialect = dialectForVersion(e.version) ?? '1.x'
        this.core.setConnFormat(c.id, c.dialect, this.payload)
      } else if (e.kind === 'message') {
        c.messages.push({ clientIp: e.clientIp, clientPort: e.clientPort, type: e.type, targetIp: e.targetIp, targetPort: e.targetPort })
        if (e.type === MessageType.ClientAdd) {
          this.stats.clientAdds++
          this.core.clientAdd({ clientIp: e.clientIp, clientPort: e.clientPort, targetIp: e.targetIp, targetPort: e.targetPort }, c.id, this.#now())
          this.#drain()
        }
      }
    }
  }

  /** A packet the target sent, as captured on the intercept host. */
  capture (packet: Uint8Array): void {
    this.stats.captured++
    this.core.processFrames([packet], LinkType.Raw, this.#now())
    this.#drain()
  }

  /** Closes every control connection from this side. */
  dropConnections (): void {
    for (const c of [...this.#conns.values()]) c.socket.destroy()
  }

  /** Closes one control connection (by its id) from this side; its routes go with it. */
  dropConnection (id: number): void {
    this.#conns.get(id)?.socket.destroy()
  }

  #drain (): void {
    this.core.drainOut((conn, record) => {
      let list = this.#pending.get(conn)
      if (list === undefined) {
        list = []
        this.#pending.set(conn, list)
      }
      list.push(Uint8Array.from(record))
    })
    for (const [conn, records] of this.#pending) {
      this.#pending.delete(conn)
      const c = this.#conns.get(conn)
      if (c === undefined || c.closed) continue
      this.#send(c, records)
    }
  }

  #send (c: Conn, records: Uint8Array[]): void {
    c.records += records.length
    this.stats.recordsSent += records.length
    if (!this.combined) {
      for (const r of records) {
        c.sent.push(r)
        c.socket.write(r)
      }
      return
    }
    const max = this.payload ? COMB_MAX_NUM_PAYLOAD : COMB_MAX_NUM
    for (let i = 0; i < records.length; i += max) {
      const batch = records.slice(i, i + max)
      const size = batch.reduce((n, r) => n + r.length, 0)
      const frame = new Uint8Array(2 + size)
      frame[0] = batch.length >> 8
      frame[1] = batch.length & 0xff
      let at = 2
      for (const r of batch) {
        frame.set(r, at)
        at += r.length
      }
      this.stats.framesSent++
      c.sent.push(frame)
      c.socket.write(frame)
    }
  }
}

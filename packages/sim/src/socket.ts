// In-memory control connections: a socket pair whose writes arrive at the
// other end after a delay, in order, on the simulation's clock. The client
// end is what tcpcopy's engine gets from `connect(host, port)`.
import { EventEmitter } from 'node:events'
import type { ControlSocket } from '@tcpcopy/copy'
import type { EventQueue } from './events.js'

export class SimSocket extends EventEmitter implements ControlSocket {
  peer: SimSocket | undefined = undefined
  destroyed = false
  /** Every byte written by this end, in order. */
  readonly written: Uint8Array[] = []
  #lastAt = 0

  constructor (readonly queue: EventQueue, readonly delayMs: number, readonly name: string) {
    super()
  }

  get bytesWritten (): number { return this.written.reduce((n, c) => n + c.length, 0) }

  write (data: Uint8Array): boolean {
    if (this.destroyed) return false
    const copy = Uint8Array.from(data)
    this.written.push(copy)
    const peer = this.peer
    if (peer === undefined) return true
    this.#lastAt = Math.max(this.queue.now + this.delayMs, this.#lastAt)
    this.queue.at(this.#lastAt, () => {
      if (!peer.destroyed) peer.emit('data', copy)
    })
    return true
  }

  setNoDelay (): this { return this }

  /** Closes both ends: this one at once (its 'close' on the next event), the peer after the delay. */
  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    this.queue.after(0, () => { this.emit('close') })
    const peer = this.peer
    if (peer !== undefined && !peer.destroyed) {
      this.#lastAt = Math.max(this.queue.now + this.delayMs, this.#lastAt)
      this.queue.at(this.#lastAt, () => {
        if (peer.destroyed) return
        peer.destroyed = true
        peer.emit('close')
      })
    }
  }
}

/** A listener the simulation's connect() can reach. */
export interface SimListener {
  /** False: connections are refused (ECONNREFUSED). */
  readonly accepting: boolean
  accept (serverEnd: SimSocket): void
}

/** connect() for the engine: finds the listener at host:port and links a socket pair. */
export function createConnector (queue: EventQueue, delayMs: number, listeners: Map<string, SimListener>): (host: string, port: number) => SimSocket {
  let n = 0
  return (host, port) => {
    const client = new SimSocket(queue, delayMs, `client-${++n}`)
    queue.after(delayMs, () => {
      if (client.destroyed) return
      const l = listeners.get(`${host}:${port}`)
      if (l === undefined || !l.accepting) {
        client.destroyed = true
        const err = Object.assign(new Error(`connect ECONNREFUSED ${host}:${port}`), { code: 'ECONNREFUSED' })
        client.emit('error', err)
        client.emit('close')
        return
      }
      const server = new SimSocket(queue, delayMs, `server-${n}`)
      server.peer = client
      client.peer = server
      l.accept(server)
      client.emit('connect')
    })
    return client
  }
}

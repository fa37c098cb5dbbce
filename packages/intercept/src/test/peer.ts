// A scripted tcpcopy peer for the tests: a real loopback TCP client that
// speaks the control channel with @tcpcopy/protocol (hello, CLIENT_ADD) and
// reads the records intercept sends back with a ClientSideDecoder.
import * as net from 'node:net'
import {
  ClientSideDecoder, MessageType, clientMessage, helloMessage, type ClientMessage, type RecordFormat
} from '@tcpcopy/protocol'
import { concat } from './fixtures.js'

export interface PeerOptions {
  port: number
  host?: string
  /** Source address (e.g. 127.0.0.2 to come from outside an --allow list). */
  localAddress?: string
  /** What the peer expects: the record format and framing (default 1.x, combined). */
  format?: RecordFormat
  combined?: boolean
}

export class Peer {
  readonly socket: net.Socket
  readonly decoder: ClientSideDecoder
  /** Every byte received, in order. */
  readonly chunks: Uint8Array[] = []
  /** Every record decoded so far. */
  readonly records: Uint8Array[] = []
  decodeError: unknown = undefined
  /** Resolves when the socket has closed (by either side). */
  readonly closed: Promise<void>
  #isClosed = false

  private constructor (socket: net.Socket, options: PeerOptions) {
    this.socket = socket
    this.decoder = new ClientSideDecoder({ format: options.format ?? { dialect: '1.x', payload: false }, combined: options.combined ?? true })
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(new Uint8Array(chunk))
      if (this.decodeError !== undefined) return
      try {
        this.decoder.push(new Uint8Array(chunk), this.records)
      } catch (err) {
        this.decodeError = err
      }
    })
    socket.on('error', () => {})
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#isClosed = true
        resolve()
      })
    })
  }

  static async connect (options: PeerOptions): Promise<Peer> {
    const socket = net.connect({ port: options.port, host: options.host ?? '127.0.0.1', localAddress: options.localAddress })
    socket.setNoDelay(true)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => { resolve() })
      socket.once('error', reject)
    })
    return new Peer(socket, options)
  }

  get isClosed (): boolean { return this.#isClosed }

  /** All bytes received so far. */
  get bytes (): Uint8Array { return concat(...this.chunks) }

  write (bytes: Uint8Array): void { this.socket.write(bytes) }

  hello (version = 6): this {
    this.write(helloMessage.encode({ version }))
    return this
  }

  clientAdd (route: Omit<ClientMessage, 'type'>): this {
    this.write(clientMessage.encode({ ...route, type: MessageType.ClientAdd }))
    return this
  }

  message (msg: ClientMessage): this {
    this.write(clientMessage.encode(msg))
    return this
  }

  /** Waits until at least `n` bytes arrived. */
  async waitBytes (n: number, timeoutMs = 2000): Promise<Uint8Array> {
    await waitFor(() => this.chunks.reduce((s, c) => s + c.length, 0) >= n, `${n} bytes at the peer`, timeoutMs)
    return this.bytes
  }

  /** Waits until at least `n` records were decoded. */
  async waitRecords (n: number, timeoutMs = 2000): Promise<Uint8Array[]> {
    await waitFor(() => this.records.length >= n || this.decodeError !== undefined, `${n} records at the peer`, timeoutMs)
    if (this.decodeError !== undefined) throw this.decodeError
    return this.records
  }

  async waitClosed (timeoutMs = 2000): Promise<void> {
    await waitFor(() => this.#isClosed, 'the peer socket to close', timeoutMs)
  }

  end (): void { this.socket.end() }
  destroy (): void { this.socket.destroy() }
}

/** Polls `cond` on every event-loop turn (and every ms) until it holds, or fails after timeoutMs. */
export async function waitFor (cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise<void>((resolve) => setTimeout(resolve, 1))
  }
}

/** Lets pending I/O and microtasks run for a few event-loop turns. */
export async function settle (ms = 20): Promise<void> {
  await new Promise<void>((resolve) => setTimeout(resolve, ms))
}

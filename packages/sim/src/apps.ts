// Applications for the simulated target: an HTTP-like request/response
// server (optionally server-first, closing or resetting after some requests,
// pausing its reads), and an echo server.
import type { TargetApp, TargetConnection } from './target.js'

const CRLF2 = '\r\n\r\n'
const latin1 = new TextDecoder('latin1')

/** Splits the text received so far on a connection into complete requests (ending in a blank line). */
export function takeRequests (conn: TargetConnection, key: string, bytes: Uint8Array): string[] {
  let buf = ((conn.data[key] as string | undefined) ?? '') + latin1.decode(bytes)
  const out: string[] = []
  for (;;) {
    const i = buf.indexOf(CRLF2)
    if (i < 0) break
    out.push(buf.slice(0, i + 4))
    buf = buf.slice(i + 4)
  }
  conn.data[key] = buf
  return out
}

/** The path of a request's first line ("GET /c1/r2 HTTP/1.1" → "/c1/r2"), or undefined. */
export function requestPath (request: string): string | undefined {
  const m = /^[A-Z]+ (\S+) HTTP\/1\.[01]\r\n/.exec(request)
  return m?.[1]
}

export interface HttpAppOptions {
  /** Bytes of each whole response (headers + body). Default 300. */
  responseBytes?: number | ((path: string) => number)
  /** Written right after the handshake (a server-first protocol). */
  greeting?: string
  /** Write the greeting this many ms after the handshake (needs `schedule`). */
  greetingDelayMs?: number
  /** Close (FIN) the connection after this many responses. */
  closeAfter?: number
  /** Reset (RST) the connection after this many requests, before answering the last one. */
  resetAfter?: number
  /** Reset (RST) the connection right after writing this many responses. */
  resetAfterResponses?: number
  /** Answer after this many ms (0: at once). */
  delayMs?: number
  /** Schedules the delayed answers (the simulation passes its clock). */
  schedule?: (ms: number, fn: () => void) => void
}

/** The HTTP-like response of `total` bytes. */
export function httpResponse (total: number): string {
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: '
  let body = Math.max(0, total - head.length - 8)
  let text = `${head}${body}\r\n\r\n`
  body = Math.max(0, total - text.length)
  text = `${head}${body}\r\n\r\n`
  return text + 'x'.repeat(Math.max(0, total - text.length))
}

export function httpApp (options: HttpAppOptions = {}): TargetApp {
  const size = options.responseBytes ?? 300
  const sizeOf = typeof size === 'function' ? size : () => size
  return {
    accept (conn) {
      const greeting = options.greeting
      if (greeting === undefined) return
      if ((options.greetingDelayMs ?? 0) > 0 && options.schedule !== undefined) options.schedule(options.greetingDelayMs!, () => { conn.write(greeting) })
      else conn.write(greeting)
    },
    data (conn, bytes) {
      for (const req of takeRequests(conn, 'http', bytes)) {
        const n = ((conn.data.requests as number | undefined) ?? 0) + 1
        conn.data.requests = n
        if (options.resetAfter !== undefined && n >= options.resetAfter) {
          conn.reset()
          return
        }
        conn.data.pending = ((conn.data.pending as number | undefined) ?? 0) + 1
        const answer = (): void => {
          conn.data.pending = (conn.data.pending as number) - 1
          if (conn.state === 'CLOSED') return
          conn.write(httpResponse(sizeOf(requestPath(req) ?? '')))
          if (options.closeAfter !== undefined && n >= options.closeAfter) conn.end()
          if (options.resetAfterResponses !== undefined && n >= options.resetAfterResponses) conn.reset()
          else if (conn.data.peerClosed === true && conn.data.pending === 0) conn.end()
        }
        if ((options.delayMs ?? 0) > 0 && options.schedule !== undefined) options.schedule(options.delayMs!, answer)
        else answer()
      }
    },
    end (conn) {
      // The client closed: answer what is pending, then close.
      conn.data.peerClosed = true
      if (((conn.data.pending as number | undefined) ?? 0) === 0) conn.end()
    }
  }
}

/** Writes back every byte it reads. */
export function echoApp (): TargetApp {
  return { data (conn, bytes) { conn.write(bytes) } }
}

/** Never answers (for session timeouts). */
export function silentApp (): TargetApp {
  return { data () {} }
}

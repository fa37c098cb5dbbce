// Named MockPacketIo endpoints joined by links: what one endpoint sends, every
// endpoint linked to it receives (a veth pair with two endpoints, a hub with
// more). A log keeps every datagram sent, for assertions.
import { ConfigError } from '@tcpcopy/interface'
import { MockPacketIo, type MockPacketIoOptions } from './mock-packet-io.js'

export interface SentDatagram {
  from: string
  /** Names of the endpoints it was delivered to (closed ones are skipped). */
  to: string[]
  bytes: Uint8Array
  /** The descriptor's IPv4 destination word (raw-ipv4 sends), as stored. */
  dst: number
}

export interface MockNetwork {
  /** Creates the endpoint `name` (names are unique while the endpoint is open). */
  endpoint (name: string, options: Omit<MockPacketIoOptions, 'name' | 'sink'>): MockPacketIo
  /** Links two endpoints both ways; linking again is a no-op. */
  connect (a: MockPacketIo | string, b: MockPacketIo | string): void
  disconnect (a: MockPacketIo | string, b: MockPacketIo | string): void
  get (name: string): MockPacketIo | undefined
  /** Every datagram sent on the network, oldest first. */
  readonly log: SentDatagram[]
  /** Closes every endpoint. */
  close (): void
}

export function createMockNetwork (): MockNetwork {
  const endpoints = new Map<string, MockPacketIo>()
  const links = new Map<MockPacketIo, Set<MockPacketIo>>()
  const log: SentDatagram[] = []

  const resolve = (e: MockPacketIo | string): MockPacketIo => {
    const io = typeof e === 'string' ? endpoints.get(e) : e
    if (io === undefined || endpoints.get(io.name) !== io) {
      throw new ConfigError(`mock network: no open endpoint ${typeof e === 'string' ? e : e.name}`, 'TC_ERR_CONFIG_IO')
    }
    return io
  }

  return {
    endpoint (name, options) {
      if (endpoints.has(name)) throw new ConfigError(`mock network: endpoint ${name} already exists`, 'TC_ERR_CONFIG_IO')
      const io = new MockPacketIo({
        ...options,
        name,
        sink: (bytes, dst, from) => {
          const to: string[] = []
          for (const peer of links.get(from) ?? []) {
            if (peer.closed) continue
            peer.deliver(bytes)
            to.push(peer.name)
          }
          log.push({ from: from.name, to, bytes, dst })
        }
      })
      io.onClose = () => {
        endpoints.delete(name)
        for (const peer of links.get(io) ?? []) links.get(peer)?.delete(io)
        links.delete(io)
      }
      endpoints.set(name, io)
      links.set(io, new Set())
      return io
    },
    connect (a, b) {
      const x = resolve(a)
      const y = resolve(b)
      if (x === y) throw new ConfigError(`mock network: cannot link ${x.name} to itself`, 'TC_ERR_CONFIG_IO')
      links.get(x)!.add(y)
      links.get(y)!.add(x)
    },
    disconnect (a, b) {
      const x = resolve(a)
      const y = resolve(b)
      links.get(x)!.delete(y)
      links.get(y)!.delete(x)
    },
    get (name) { return endpoints.get(name) },
    log,
    close () {
      for (const io of [...endpoints.values()]) io.close()
    }
  }
}

export interface MockPair {
  a: MockPacketIo
  b: MockPacketIo
  network: MockNetwork
}

/** Two endpoints 'a' and 'b' linked to each other (a veth pair in memory). */
export function createMockPair (a: Omit<MockPacketIoOptions, 'name' | 'sink'>, b: Omit<MockPacketIoOptions, 'name' | 'sink'>): MockPair {
  const network = createMockNetwork()
  const pair = { a: network.endpoint('a', a), b: network.endpoint('b', b), network }
  network.connect(pair.a, pair.b)
  return pair
}

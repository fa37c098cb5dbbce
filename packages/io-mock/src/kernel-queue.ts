// A stand-in for the kernel side of an NFQUEUE netlink socket: tests inject
// the datagrams the kernel would send (packet messages, acks, errors) and
// collect the datagrams the program sent (config, verdicts). It moves bytes
// only; building and reading netlink messages is the core's job (and the
// test's, for fixtures).
import type { PacketIoOptions } from '@tcpcopy/interface'
import { MockPacketIo } from './mock-packet-io.js'

export interface MockKernelQueueOptions extends PacketIoOptions {
  /** Called with each datagram the program sends (after it was recorded), e.g. to answer with an ack. */
  onSent?: (datagram: Uint8Array, queue: MockKernelQueue) => void
}

export interface MockKernelQueue {
  /** The program's end: a PacketIo of kind 'nfqueue'. */
  readonly io: MockPacketIo
  /** Queues datagrams from the "kernel" for io.receive(), in order. */
  inject (...datagrams: Uint8Array[]): void
  /** Every datagram the program sent, oldest first. */
  readonly sent: Uint8Array[]
  /** Returns the datagrams sent since the last take() and forgets them. */
  take (): Uint8Array[]
  /** Counts receive-buffer overruns (ENOBUFS) on io. */
  overrun (count?: number): void
}

export function createMockKernelQueue (options: MockKernelQueueOptions): MockKernelQueue {
  const sent: Uint8Array[] = []
  let taken = 0
  const queue: MockKernelQueue = {
    io: new MockPacketIo({
      regions: options.regions,
      snap: options.snap,
      kind: 'nfqueue',
      name: 'nfqueue',
      sink: (bytes) => {
        sent.push(bytes)
        options.onSent?.(bytes, queue)
      }
    }),
    inject (...datagrams) {
      for (const d of datagrams) queue.io.deliver(d)
    },
    sent,
    take () {
      const out = sent.slice(taken)
      taken = sent.length
      return out
    },
    overrun (count = 1) { queue.io.overrun(count) }
  }
  return queue
}

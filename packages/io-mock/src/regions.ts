// A WebAssembly.Memory laid out for one PacketIo, for tests that have no core.
import { ConfigError } from '@tcpcopy/interface'
import type { MockPacketIoRegions } from './mock-packet-io.js'

export interface MockRegions extends MockPacketIoRegions {
  /** Receive descriptors the area at rxDescOff holds: maxBatch. */
  rxDescCount: number
  /** A byte area of the memory for datagrams to send (not used by receive). */
  txDataOff: number
  txDataSize: number
}

export interface MockRegionsOptions {
  /** Descriptor slots of each direction. Default 256. */
  maxBatch?: number
  /** Bytes of the receive area. Default 256 KiB. */
  rxDataSize?: number
  /** Bytes of the send area. Default 256 KiB. */
  txDataSize?: number
}

/** [rx descriptors][tx descriptors][rx data][tx data], each 8-byte aligned, in a fresh memory. */
export function createMockRegions (options: MockRegionsOptions = {}): MockRegions {
  const maxBatch = options.maxBatch ?? 256
  const rxDataSize = options.rxDataSize ?? 256 * 1024
  const txDataSize = options.txDataSize ?? 256 * 1024
  for (const [name, v] of [['maxBatch', maxBatch], ['rxDataSize', rxDataSize], ['txDataSize', txDataSize]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0x10000000) throw new ConfigError(`mock regions: ${name} must be an integer 1..2^28, got ${String(v)}`, 'TC_ERR_CONFIG_IO')
  }
  const rxDescOff = 0
  const txDescOff = rxDescOff + maxBatch * 8
  const rxDataOff = (txDescOff + maxBatch * 16 + 7) & ~7
  const txDataOff = (rxDataOff + rxDataSize + 7) & ~7
  const pages = Math.ceil((txDataOff + txDataSize) / 65536)
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages })
  return { memory, rxDescOff, rxDescCount: maxBatch, rxDataOff, rxDataSize, txDescOff, txDataOff, txDataSize }
}

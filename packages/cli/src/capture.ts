// Opens intercept's capture: NFQUEUE (traditional) or AF_PACKET with a kernel
// filter compiled from -F (advanced), on one device, all devices, or several.
import type { PacketIo, PacketIoOptions, PacketIoStats } from '@tcpcopy/interface'
import { ConfigError, CanceledError } from '@tcpcopy/interface'
import type { InterceptConfig } from '@tcpcopy/config'
import { compileFilter, LinkType as BpfLinkType } from '@tcpcopy/bpf'
import { createNfqueueIo, createPacketIo } from '@tcpcopy/native-shim'
import { LinkType } from '@tcpcopy/wasm'

export interface OpenedCapture {
  io: PacketIo
  linkType: number
}

/** The native factories, injectable for tests. */
export interface CaptureNatives {
  createNfqueueIo: typeof createNfqueueIo
  createPacketIo: typeof createPacketIo
}

const NATIVES: CaptureNatives = { createNfqueueIo, createPacketIo }

/** Devices to capture on: [] means all interfaces ('any' in -i means the same). */
export function captureDevices (config: Pick<InterceptConfig, 'devices'>): string[] {
  const devices = config.devices.filter(d => d !== 'any')
  return devices.length === config.devices.length ? devices : []
}

export function openInterceptCapture (config: InterceptConfig, opts: PacketIoOptions, natives: CaptureNatives = NATIVES): OpenedCapture {
  if (config.mode === 'traditional') return { io: natives.createNfqueueIo(opts), linkType: LinkType.Raw }
  const devices = captureDevices(config)
  const filterFor = (linkType: number): Uint8Array =>
    compileFilter(config.filter ?? '', { linkType: linkType === LinkType.Raw ? BpfLinkType.Raw : BpfLinkType.Ethernet, snaplen: opts.snap }).toBytes()
  if (devices.length === 0) {
    return { io: natives.createPacketIo({ ...opts, filter: filterFor(LinkType.Raw) }), linkType: LinkType.Raw }
  }
  if (devices.length === 1) {
    return { io: natives.createPacketIo({ ...opts, interface: devices[0]!, filter: filterFor(LinkType.Ethernet) }), linkType: LinkType.Ethernet }
  }
  // Several devices: each socket receives into its own slice of the receive
  // area; receive() moves the descriptors together at rxDescOff.
  const slice = Math.floor(opts.regions.rxDataSize / devices.length) & ~7
  const descSlots = Math.floor(4096 / devices.length)
  if (slice < opts.snap) {
    throw new ConfigError(`-i/--devices: ${devices.length} devices leave ${slice} bytes of receive area each, less than one frame; capture on fewer devices or on all (-i any)`, 'TC_ERR_CONFIG_DEVICES')
  }
  const ios = devices.map((dev, i) => natives.createPacketIo({
    ...opts,
    regions: { ...opts.regions, rxDescOff: opts.regions.rxDescOff + i * descSlots * 8, rxDataOff: opts.regions.rxDataOff + i * slice, rxDataSize: slice },
    interface: dev,
    filter: filterFor(LinkType.Ethernet)
  }))
  return { io: new MultiCapture(ios, opts.regions.memory, opts.regions.rxDescOff, descSlots), linkType: LinkType.Ethernet }
}

/** Several captures behind one PacketIo (receive only). */
export class MultiCapture implements PacketIo {
  readonly kind = 'packet' as const
  readonly #ios: PacketIo[]
  readonly #memory: WebAssembly.Memory
  readonly #descOff: number
  readonly #slots: number
  #closed = false

  constructor (ios: PacketIo[], memory: WebAssembly.Memory, descOff: number, slotsPerIo: number) {
    this.#ios = ios
    this.#memory = memory
    this.#descOff = descOff
    this.#slots = slotsPerIo
  }

  get closed (): boolean { return this.#closed }

  receive (max: number): number {
    if (this.#closed) throw new CanceledError('receive on a closed capture')
    let total = 0
    const u8 = new Uint8Array(this.#memory.buffer)
    for (let i = 0; i < this.#ios.length && total < max; i++) {
      const n = this.#ios[i]!.receive(Math.min(max - total, this.#slots))
      if (n === 0) continue
      const from = this.#descOff + i * this.#slots * 8
      const to = this.#descOff + total * 8
      if (from !== to) u8.copyWithin(to, from, from + n * 8)
      total += n
    }
    return total
  }

  send (): number { throw new ConfigError('a capture on several devices cannot send', 'TC_ERR_CONFIG_DEVICES') }

  onReadable (fn: () => void): void { for (const io of this.#ios) io.onReadable(fn) }

  stats (): PacketIoStats {
    const s = { received: 0, sent: 0, truncated: 0, overruns: 0 }
    for (const io of this.#ios) {
      const t = io.stats()
      s.received += t.received; s.sent += t.sent; s.truncated += t.truncated; s.overruns += t.overruns
    }
    return s
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    for (const io of this.#ios) io.close()
  }
}

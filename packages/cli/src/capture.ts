// Opens intercept's capture: NFQUEUE (traditional) or AF_PACKET with a kernel
// filter compiled from -F (advanced), on one device, all devices, or several
// (one socket per device).
import type { PacketIo, PacketIoOptions } from '@tcpcopy/interface'
import type { InterceptConfig } from '@tcpcopy/config'
import { compileFilter, LinkType as BpfLinkType } from '@tcpcopy/bpf'
import { createNfqueueIo, createPacketIo } from '@tcpcopy/native-shim'
import { LinkType } from '@tcpcopy/wasm'

/** The native factories, injectable for tests. */
export interface CaptureNatives {
  createNfqueueIo: typeof createNfqueueIo
  createPacketIo: typeof createPacketIo
}

const NATIVES: CaptureNatives = { createNfqueueIo, createPacketIo }

/**
 * The ring of --capture-ring: 16 MiB in 128 blocks of 128 KiB (a block holds
 * the largest frame a GRO'd capture can bring), handed over after 1 ms so a
 * quiet link adds at most about a millisecond of delay.
 */
export const CAPTURE_RING = Object.freeze({ blockSize: 128 * 1024, blockCount: 128, frameSize: 2048, retireMs: 1 })

/** Devices to capture on: [] means all interfaces ('any' in -i means the same). */
export function captureDevices (config: Pick<InterceptConfig, 'devices'>): string[] {
  const devices = config.devices.filter(d => d !== 'any')
  return devices.length === config.devices.length ? devices : []
}

export function openInterceptCapture (config: InterceptConfig, opts: PacketIoOptions, natives: CaptureNatives = NATIVES): PacketIo | PacketIo[] {
  if (config.mode === 'traditional') return natives.createNfqueueIo(opts)
  const devices = captureDevices(config)
  const ring = config.captureRing ? { ring: { ...CAPTURE_RING } } : {}
  const filterFor = (linkType: number): Uint8Array =>
    compileFilter(config.filter ?? '', { linkType: linkType === LinkType.Raw ? BpfLinkType.Raw : BpfLinkType.Ethernet, snaplen: opts.snap }).toBytes()
  if (devices.length === 0) {
    return natives.createPacketIo({ ...opts, ...ring, filter: filterFor(LinkType.Raw) })
  }
  if (devices.length === 1) {
    return natives.createPacketIo({ ...opts, ...ring, interface: devices[0]!, filter: filterFor(LinkType.Ethernet) })
  }
  // Several devices: one socket each; the engine takes turns on them.
  return devices.map(dev => natives.createPacketIo({ ...opts, ...ring, interface: dev, filter: filterFor(LinkType.Ethernet) }))
}

// Opens intercept's capture: NFQUEUE (traditional) or AF_PACKET with a kernel
// filter compiled from -F (advanced), on one device, all devices, or several
// (one socket per device), receiving through a TPACKET_V3 ring unless
// --no-capture-ring asks for recvmmsg.
import type { PacketIo, PacketIoOptions } from '@tcpcopy/interface'
import { IoError } from '@tcpcopy/interface'
import type { InterceptConfig } from '@tcpcopy/config'
import { compileFilter, LinkType as BpfLinkType } from '@tcpcopy/bpf'
import { createNfqueueIo, createPacketIo, linkTypeOfInterface, type PacketSocketIoOptions } from '@tcpcopy/native-shim'
import { LinkType } from '@tcpcopy/wasm'

/** The native factories, injectable for tests. */
export interface CaptureNatives {
  createNfqueueIo: typeof createNfqueueIo
  createPacketIo: typeof createPacketIo
  /** The pcap link type of a named interface, read before its socket opens; undefined: unknown (Ethernet is tried). */
  linkTypeOf?: (device: string) => number | undefined
}

const NATIVES: CaptureNatives = { createNfqueueIo, createPacketIo, linkTypeOf: linkTypeOfInterface }

/**
 * The capture ring of intercept's advanced mode (its default; --no-capture-ring
 * reads with recvmmsg instead) and of tcpcopy --capture-ring: 16 MiB in 128
 * blocks of 128 KiB (a block holds the largest frame a GRO'd capture can
 * bring), handed over after 1 ms so a quiet link adds at most about a
 * millisecond of delay.
 */
export const CAPTURE_RING = Object.freeze({ blockSize: 128 * 1024, blockCount: 128, frameSize: 2048, retireMs: 1 })

/** Devices to capture on: [] means all interfaces ('any' in -i means the same). */
export function captureDevices (config: Pick<InterceptConfig, 'devices'>): string[] {
  const devices = config.devices.filter(d => d !== 'any')
  return devices.length === config.devices.length ? devices : []
}

/**
 * Opens a packet socket on `device` with the filter compiled for the
 * device's real link type (Ethernet, or raw IP on tun and other ARPHRD_NONE /
 * RAWIP / tunnel devices), attached before the socket sees any packet. The
 * link type comes from `linkTypeOf` (sysfs); when that is unknown or wrong,
 * the socket reports the real one and is opened again with the right
 * program (the first one is closed with whatever it received).
 */
export function openOnDevice (natives: Pick<CaptureNatives, 'createPacketIo' | 'linkTypeOf'>, device: string,
  optionsWith: (filter: Uint8Array) => PacketSocketIoOptions, filterFor: (linkType: number) => Uint8Array): PacketIo {
  const guess = natives.linkTypeOf?.(device) ?? LinkType.Ethernet
  const io = natives.createPacketIo(optionsWith(filterFor(guess)))
  const actual = (io as { linkType?: unknown }).linkType
  if (typeof actual !== 'number' || actual === guess) return io
  io.close()
  const again = natives.createPacketIo(optionsWith(filterFor(actual)))
  const now = (again as { linkType?: unknown }).linkType
  if (now !== actual) {
    again.close()
    throw new IoError(`capture on ${device}: its link type changed while it was opened (${String(actual)}, then ${String(now)}); start again`,
      'TC_ERR_IO_LINK_TYPE', 0, 'open')
  }
  return again
}

/** Opens one capture per device; when one fails, those already open are closed before the error goes on. */
export function openEach (devices: string[], openOne: (device: string) => PacketIo): PacketIo[] {
  const ios: PacketIo[] = []
  try {
    for (const dev of devices) ios.push(openOne(dev))
  } catch (err) {
    for (const io of ios) {
      try { io.close() } catch {}
    }
    throw err
  }
  return ios
}

/** How advanced mode receives, for the start-up line: the ring (the default) or recvmmsg (--no-capture-ring). */
export function capturePathText (config: Pick<InterceptConfig, 'captureRing'>): string {
  const { blockSize, blockCount, retireMs } = CAPTURE_RING
  return config.captureRing
    ? `TPACKET_V3 ring (${(blockSize * blockCount) / (1024 * 1024)} MiB per socket, ${blockCount} blocks, each handed over after ${retireMs} ms at most)`
    : 'recvmmsg from the socket buffer (--no-capture-ring)'
}

/**
 * Opens the capture of the mode: NFQUEUE (traditional; the ring option does
 * not apply), or packet sockets that receive through CAPTURE_RING unless
 * --no-capture-ring is given (advanced).
 */
export function openInterceptCapture (config: InterceptConfig, opts: PacketIoOptions, natives: CaptureNatives = NATIVES): PacketIo | PacketIo[] {
  if (config.mode === 'traditional') return natives.createNfqueueIo(opts)
  const devices = captureDevices(config)
  const ring = config.captureRing ? { ring: { ...CAPTURE_RING } } : {}
  const filterFor = (linkType: number): Uint8Array =>
    compileFilter(config.filter ?? '', { linkType: linkType === LinkType.Raw ? BpfLinkType.Raw : BpfLinkType.Ethernet, snaplen: opts.snap }).toBytes()
  if (devices.length === 0) {
    return natives.createPacketIo({ ...opts, ...ring, filter: filterFor(LinkType.Raw) })
  }
  // One socket per device (the engine takes turns on several), each filtered for its link type.
  const ios = openEach(devices, (dev) => openOnDevice(natives, dev, (filter) => ({ ...opts, ...ring, interface: dev, filter }), filterFor))
  return ios.length === 1 ? ios[0]! : ios
}

// Opens tcpcopy's live capture and its send socket.
//
// Capture (TCPCOPY.md §3.1): without -i, inbound TCP on all interfaces, as
// the original's raw socket saw it: an AF_PACKET socket on every interface
// (IP packets, no link header). With -i devs, one AF_PACKET socket per
// device (Ethernet frames). Either way the kernel filter is -F, or the one
// generated from -x, and the socket ignores what this host sends, so
// tcpcopy never captures its own copies (the original's pcap mode refused
// to start when its generated filter could match them; that is not needed here).
//
// Send (§3.5): a raw IPv4 socket (IP_HDRINCL), or with -o an AF_PACKET socket
// on that device that sends whole Ethernet frames (pcap-send).
import type { PacketIo, PacketIoOptions } from '@tcpcopy/interface'
import { ConfigError } from '@tcpcopy/interface'
import type { TcpcopyConfig } from '@tcpcopy/config'
import { BPF_K, BPF_RET, bpfToBytes, compileFilter, tcpcopyDefaultFilter, LinkType as BpfLinkType } from '@tcpcopy/bpf'
import { createPacketIo, createRawIpv4Io, linkTypeOfInterface, loadAddon } from '@tcpcopy/native-shim'
import { defaultTimers, type CopyTimers } from '@tcpcopy/copy'
import { CAPTURE_RING, openEach, openOnDevice } from './capture.js'

/** The native factories, injectable for tests. */
export interface CopyNatives {
  createPacketIo: typeof createPacketIo
  createRawIpv4Io: typeof createRawIpv4Io
  /** The pcap link type of a named interface, read before its socket opens; undefined: unknown (Ethernet is tried). */
  linkTypeOf?: (device: string) => number | undefined
}

const NATIVES: CopyNatives = { createPacketIo, createRawIpv4Io, linkTypeOf: linkTypeOfInterface }

/**
 * The sleep that spaces busy live turns (--wake-interval): the shim's
 * clock_nanosleep. A 2 ms sleep costs about 17 us of CPU through it against
 * about 22 us through the engine's default (Atomics.wait), and at a few
 * hundred calls a second that shows in tcpcopy's CPU at quiet rates
 * (npm run bench).
 */
export function turnSleep (): (ms: number) => void {
  const addon = loadAddon()
  return (ms) => { addon.sleepMs(Math.min(ms, 1000)) }
}

/**
 * The engine's timers in live capture: Node's, except the session timer
 * queue's one host timer, which is the shim's WakeTimer (a libuv timer armed
 * again in place). The queue re-aims that timer at most turns; through
 * setTimeout each change was a clearTimeout, a new Timeout and Node's timer
 * lists, about a tenth of tcpcopy's CPU at keep-alive 500 req/s (perf).
 */
export function liveTimers (): CopyTimers {
  const { WakeTimer } = loadAddon()
  return { ...defaultTimers, wakeTimer: (fn) => new WakeTimer(fn) }
}

/** The capture filter expression: -F, or the one generated from the -x online parts. */
export function copyFilterText (config: Pick<TcpcopyConfig, 'filter' | 'targets'>): string {
  if (config.filter !== undefined) return config.filter
  return tcpcopyDefaultFilter(config.targets.map((t) => ({ onlineIp: t.onlineIp, onlinePort: t.onlinePort })))
}

/** The devices of -i; [] for all interfaces (no -i, or "any"). */
export function copyCaptureDevices (config: Pick<TcpcopyConfig, 'input'>): string[] {
  if (config.input.kind !== 'pcap') return []
  return [...config.input.devices]
}

/** Receive buffer per capture socket: -B MiB (the pcap buffer of the original). */
export function captureRcvbuf (config: Pick<TcpcopyConfig, 'bufferSize'>): number {
  return config.bufferSize * 1024 * 1024
}

export function openCopyCapture (config: TcpcopyConfig, opts: PacketIoOptions, natives: CopyNatives = NATIVES): PacketIo | PacketIo[] {
  if (config.input.kind === 'offline') {
    throw new ConfigError('offline replay (-i file) has no live capture', 'TC_ERR_CONFIG_COPY')
  }
  const text = copyFilterText(config)
  const snap = Math.min(opts.snap, config.snaplen + 64)
  const base = { ...opts, snap, ignoreOutgoing: true, rcvbuf: captureRcvbuf(config), ...(config.captureRing ? { ring: { ...CAPTURE_RING } } : {}) }
  const filterFor = (linkType: number): Uint8Array =>
    compileFilter(text, { linkType, snaplen: snap }).toBytes()
  const devices = copyCaptureDevices(config)
  if (devices.length === 0) return natives.createPacketIo({ ...base, filter: filterFor(BpfLinkType.Raw) })
  // One socket per device, each filtered for its own link type (Ethernet, or raw IP on tun-like devices).
  const ios = openEach(devices, (dev) => openOnDevice(natives, dev, (filter) => ({ ...base, interface: dev, filter }), filterFor))
  return ios.length === 1 ? ios[0]! : ios
}

/**
 * The filter of the -o send socket: `ret 0`, it accepts nothing. The socket
 * only sends; without a filter the kernel would copy every packet on the
 * device into its receive buffer, which nothing reads.
 */
export const SEND_ONLY_FILTER: Uint8Array = bpfToBytes([{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0 }])

export function openCopySend (config: TcpcopyConfig, opts: PacketIoOptions, natives: CopyNatives = NATIVES): PacketIo {
  if (config.outputDevice !== undefined) return natives.createPacketIo({ ...opts, interface: config.outputDevice, filter: SEND_ONLY_FILTER })
  return natives.createRawIpv4Io({ ...opts, sndbuf: 4 * 1024 * 1024 })
}

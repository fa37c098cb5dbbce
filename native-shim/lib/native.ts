// The compiled addon (build/Release/tcpcopy_native.node) and its types.
// Nothing here runs a syscall at import time: the addon is loaded on first
// use, so a missing build is a clear IoError where it is needed.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { IoError } from '@tcpcopy/interface'

/** The socket kinds of the addon; 'loopback-test' is a socketpair for tests. */
export type NativeKind = 'nfqueue' | 'packet' | 'raw-ipv4' | 'loopback-test'

export interface NativeSocketOptions {
  /** Receive buffer in bytes (SO_RCVBUFFORCE, else SO_RCVBUF capped by net.core.rmem_max). 0/absent: kernel default. */
  rcvbuf?: number
  /** Send buffer in bytes (raw-ipv4; SO_SNDBUFFORCE, else SO_SNDBUF). */
  sndbuf?: number
  /** packet: the interface to bind (SOCK_RAW, link-layer frames); absent = all interfaces (SOCK_DGRAM, IP packets). */
  interface?: string
  /** packet: a classic BPF program, 8-byte struct sock_filter entries in host byte order. */
  filter?: Uint8Array
  /** packet: PACKET_IGNORE_OUTGOING (do not see what this host sends). */
  ignoreOutgoing?: boolean
  /** packet: receive through an mmap'ed TPACKET_V3 ring (PACKET_RX_RING) instead of recvmmsg. */
  ring?: NativeRingOptions
}

/** Geometry of a TPACKET_V3 receive ring (struct tpacket_req3); the kernel checks it (EINVAL). */
export interface NativeRingOptions {
  /** Bytes per block: a multiple of the page size. */
  blockSize: number
  blockCount: number
  /** tpacket_req3.tp_frame_size: a multiple of 16, at most blockSize (V3 frames are variable-length; this only sets tp_frame_nr). */
  frameSize: number
  /** ms before the kernel hands over a partly filled block; absent/0: 10. */
  retireMs?: number
}

export interface NativeStats {
  received: number
  sent: number
  /** Datagrams stored shorter than they were on the wire (cut by the slot, or by the filter's return value). */
  truncated: number
  /** nfqueue: ENOBUFS reports (one each, however many datagrams were lost); packet: packets the kernel dropped. */
  overruns: number
  /** packet: packets the kernel dropped for a full receive buffer (PACKET_STATISTICS); 0 for the other kinds. Absent on fakes. */
  drops?: number
}

/** One socket of the addon (src/native_socket.cc). Throws errors with errno, code and syscall. */
export interface NativeSocket {
  readonly fd: number
  readonly closed: boolean
  readonly kind: NativeKind
  /** packet: bound interface index (0 = all). */
  readonly ifindex: number
  /** packet on a named interface: its ARPHRD_* type; -1 otherwise. */
  readonly arphrd: number
  /** packet: true when bound to all interfaces (SOCK_DGRAM). */
  readonly cooked: boolean
  /** nfqueue: the netlink port id the kernel assigned. */
  readonly portId: number
  /** The receive buffer the kernel granted (SO_RCVBUF as getsockopt reports it; 0 once closed). */
  readonly rcvbuf: number
  /** packet: bytes of the mmap'ed receive ring; 0 without one (recvmmsg). Absent on fakes. */
  readonly ringSize?: number
  /**
   * recvmmsg(MSG_DONTWAIT) of up to `max` datagrams straight into `buffer`:
   * datagram i goes to dataOff + i*align8(snap) (at most snap bytes) and is
   * described at descOff + 8i as [offset u32 LE, length u32 LE]. Reads at
   * most min(max, descCount, dataSize / align8(snap)); descCount (the
   * descriptors the area holds) defaults to max. Returns n.
   */
  recvBatch (buffer: ArrayBuffer, descOff: number, dataOff: number, dataSize: number, snap: number, max: number, descCount?: number): number
  /**
   * sendmmsg of the n 16-byte descriptors at descOff; returns k, how many the
   * kernel took (datagrams 0..k-1, in order). k < n: a full socket buffer, or
   * a hard error on datagram k that a call starting with that datagram
   * throws. Throws only when nothing was sent.
   */
  sendBatch (buffer: ArrayBuffer, descOff: number, n: number): number
  /** Calls fn on the loop thread while the socket is readable (level-triggered); a second call replaces fn. */
  startPoll (fn: () => void): void
  stopPoll (): void
  /** Stops the poll and closes the fd; idempotent. */
  close (): void
  stats (): NativeStats
}

export type NativeSocketClass = new (kind: NativeKind, options: NativeSocketOptions) => NativeSocket

/**
 * One libuv timer that calls its function on the loop thread when it
 * expires (whole milliseconds of the loop's clock, as setTimeout). arm(ms)
 * starts it, or again from now if it is running; fractions round up; a bad
 * ms is a RangeError, a closed timer an Error. Armed, it keeps the event
 * loop alive; disarmed or closed, nothing, itself included. An exception in
 * the function goes to 'uncaughtException'.
 */
export interface NativeWakeTimer {
  arm (ms: number): void
  disarm (): void
  /** Stops it for good; idempotent. */
  close (): void
  readonly armed: boolean
  readonly closed: boolean
}

export interface NativeAddon {
  NativeSocket: NativeSocketClass
  WakeTimer: new (fn: () => void) => NativeWakeTimer
  /** Blocks the thread for ms (0-1000, fractions allowed) on the monotonic clock; RangeError outside that. */
  sleepMs (ms: number): void
  /** Test only: memset(buffer + offset, byte, length). */
  fillForTest (buffer: ArrayBuffer, offset: number, length: number, byte: number): void
  napiVersion: number
}

/** Where the addon is built by `node-gyp rebuild` (the package's build script). */
export const ADDON_PATH = fileURLToPath(new URL('../build/Release/tcpcopy_native.node', import.meta.url))

export const NOT_BUILT_MESSAGE = 'the native shim is not built: run npm ci (or npm run build -w @tcpcopy/native-shim)'

const cache = new Map<string, NativeAddon>()

/** Loads the addon (once per path). A missing or unloadable build is IoError TC_ERR_IO_NOT_BUILT. */
export function loadAddon (path: string = ADDON_PATH): NativeAddon {
  let addon = cache.get(path)
  if (addon !== undefined) return addon
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err)
    throw new IoError(`${NOT_BUILT_MESSAGE} (loading ${path}: ${detail})`, 'TC_ERR_IO_NOT_BUILT', 0, 'dlopen', { cause: err })
  }
  cache.set(path, addon)
  return addon
}

/** The real native socket class: the default of every factory's last argument. */
export function loadNative (): NativeSocketClass {
  return loadAddon().NativeSocket
}

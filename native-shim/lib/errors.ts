// Native failures become ONE IoError each, with a stable code from the small
// set below, the errno and syscall of the failure, and a message naming the fix.
import { IoError } from '@tcpcopy/interface'
import type { NativeKind } from './native.js'

/**
 * The codes an IoError from this package carries. Tests and callers check
 * these; `errno` and `syscall` give the exact failure.
 */
export const IoErrorCode = {
  /** The addon is not built (or cannot be loaded). */
  NotBuilt: 'TC_ERR_IO_NOT_BUILT',
  /** EPERM/EACCES: missing root, CAP_NET_ADMIN (nfqueue) or CAP_NET_RAW (packet, raw); on send: a firewall rule. */
  Permission: 'TC_ERR_IO_PERMISSION',
  /** The kernel has no nfnetlink_queue (EPROTONOSUPPORT on the NETLINK_NETFILTER socket). */
  NoNfqueue: 'TC_ERR_IO_NO_NFQUEUE',
  /** No network interface of that name. */
  NoInterface: 'TC_ERR_IO_NO_INTERFACE',
  /** The kernel refused the classic BPF filter (SO_ATTACH_FILTER). */
  Filter: 'TC_ERR_IO_FILTER',
  /** The interface has a link type this package cannot describe. */
  LinkType: 'TC_ERR_IO_LINK_TYPE',
  /** A bad argument reached the native layer (region outside the memory, detached buffer, ...). */
  Argument: 'TC_ERR_IO_ARGUMENT',
  /** Any other failed system call: see errno and syscall. */
  Syscall: 'TC_ERR_IO'
} as const
export type IoErrorCode = typeof IoErrorCode[keyof typeof IoErrorCode]

const EPERM = 1
const EACCES = 13
const ENXIO = 6
const ENODEV = 19
const EINVAL = 22
const ENOMEM = 12
const EMSGSIZE = 90
const ENETDOWN = 100
const EPROTONOSUPPORT = 93
const EAFNOSUPPORT = 97

/** What the failing socket was, for the message. */
export interface IoErrorContext {
  kind: NativeKind
  /** packet: the interface name (absent = all interfaces). */
  interface?: string | undefined
  /** The operation, when the native error does not name a syscall (e.g. 'receive'). */
  op?: string
}

interface NativeErrorShape {
  message?: unknown
  errno?: unknown
  code?: unknown
  syscall?: unknown
  detail?: unknown
}

function label (ctx: IoErrorContext): string {
  switch (ctx.kind) {
    case 'nfqueue': return 'nfqueue socket'
    case 'packet': return ctx.interface !== undefined ? `packet socket on ${ctx.interface}` : 'packet socket on all interfaces'
    case 'raw-ipv4': return 'raw IPv4 socket'
    default: return `${ctx.kind} socket`
  }
}

function permissionFix (ctx: IoErrorContext, syscall: string): string {
  if (syscall === 'sendmmsg' || syscall === 'sendmsg') {
    return 'a firewall rule (iptables OUTPUT) refused the packet, or the process lacks ' +
      (ctx.kind === 'nfqueue' ? 'CAP_NET_ADMIN' : 'CAP_NET_RAW')
  }
  switch (ctx.kind) {
    case 'nfqueue': return 'needs root or CAP_NET_ADMIN (nfqueue)'
    case 'packet': return 'needs root or CAP_NET_RAW (packet capture)'
    case 'raw-ipv4': return 'needs root or CAP_NET_RAW (raw IPv4 send)'
    default: return 'needs root'
  }
}

/**
 * Converts what the addon threw into one IoError. An error that is already
 * a TcpcopyError passes through; a TypeError/RangeError from argument checks
 * becomes TC_ERR_IO_ARGUMENT.
 */
export function toIoError (err: unknown, ctx: IoErrorContext): IoError {
  if (err instanceof IoError) return err
  const e = (typeof err === 'object' && err !== null ? err : {}) as NativeErrorShape
  const nativeMessage = typeof e.message === 'string' ? e.message : String(err)
  if (typeof e.errno !== 'number') {
    return new IoError(`${label(ctx)}: ${ctx.op ?? 'call'}: ${nativeMessage}`, IoErrorCode.Argument, EINVAL, ctx.op ?? 'argument', { cause: err })
  }
  const errno = e.errno
  const syscall = typeof e.syscall === 'string' ? e.syscall : (ctx.op ?? 'unknown')
  const detail = typeof e.detail === 'string' ? e.detail : undefined
  let code: IoErrorCode = IoErrorCode.Syscall
  let fix: string | undefined
  if (errno === EPERM || errno === EACCES) {
    code = IoErrorCode.Permission
    fix = permissionFix(ctx, syscall)
  } else if (ctx.kind === 'nfqueue' && syscall === 'socket' && (errno === EPROTONOSUPPORT || errno === EAFNOSUPPORT)) {
    code = IoErrorCode.NoNfqueue
    fix = 'the kernel has no nfnetlink_queue (modprobe nfnetlink_queue)'
  } else if (syscall === 'if_nametoindex' || (syscall === 'ioctl' && errno === ENODEV)) {
    code = IoErrorCode.NoInterface
    fix = `no network interface named ${JSON.stringify(ctx.interface ?? detail ?? '')} (ip link shows the names)`
  } else if (detail === 'SO_ATTACH_FILTER') {
    code = IoErrorCode.Filter
    fix = errno === ENOMEM
      ? 'the filter is larger than net.core.optmem_max allows'
      : 'the kernel rejected the BPF filter (every path must end in a ret; jumps must stay inside the program)'
  } else if (errno === ENETDOWN) {
    fix = `the interface is down (ip link set ${ctx.interface ?? 'DEV'} up)`
  } else if (errno === EMSGSIZE) {
    fix = 'a datagram is larger than the interface MTU or the socket allows'
  } else if (errno === ENXIO && ctx.kind === 'packet') {
    fix = 'sending on a packet socket needs a named interface'
  }
  const message = `${label(ctx)}: ${nativeMessage}${fix !== undefined ? ` — ${fix}` : ''}`
  return new IoError(message, code, errno, syscall, { cause: err })
}

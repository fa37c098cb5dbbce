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
  /** EPERM/EACCES opening a socket: missing root, CAP_NET_ADMIN (nfqueue) or CAP_NET_RAW (packet, raw). */
  Permission: 'TC_ERR_IO_PERMISSION',
  /**
   * EPERM/EACCES from sendmmsg: the socket is open, so this is not a missing
   * capability but the kernel refusing a datagram (a firewall rule, a
   * broadcast destination without SO_BROADCAST, a security module).
   */
  Refused: 'TC_ERR_IO_REFUSED',
  /** The kernel has no nfnetlink_queue (EPROTONOSUPPORT on the NETLINK_NETFILTER socket). */
  NoNfqueue: 'TC_ERR_IO_NO_NFQUEUE',
  /** The kernel has no packet sockets (EAFNOSUPPORT for AF_PACKET: CONFIG_PACKET). */
  NoPacketSocket: 'TC_ERR_IO_NO_AF_PACKET',
  /** No network interface of that name (or it went away while the socket was being opened). */
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

function isSend (syscall: string): boolean {
  return syscall === 'sendmmsg' || syscall === 'sendmsg'
}

/**
 * The capability a socket kind needs and how to get it. `missing`: the shim
 * already found it absent from the effective set (its message says so).
 */
function capabilityFix (ctx: IoErrorContext, missing: boolean): string {
  if (ctx.kind !== 'nfqueue' && ctx.kind !== 'packet' && ctx.kind !== 'raw-ipv4') return 'needs root'
  const [cap, what, flag] = ctx.kind === 'nfqueue'
    ? ['CAP_NET_ADMIN', 'nfqueue', 'cap_net_admin']
    : ['CAP_NET_RAW', ctx.kind === 'packet' ? 'packet capture' : 'raw IPv4 send', 'cap_net_raw']
  const how = `run as root, or grant ${cap} (setcap ${flag}+ep on the node binary, or --cap-add ${cap.slice(4)} for a container)`
  return missing ? how : `needs root or ${cap} (${what}): ${how}`
}

function refusedFix (errno: number, ctx: IoErrorContext): string {
  // The socket is already open, so its capability is not the problem.
  if (errno === EACCES) {
    return 'the kernel refused a datagram: a broadcast destination (raw sockets need SO_BROADCAST for it), ' +
      'or a firewall rule or security module (iptables/nftables OUTPUT, SELinux, AppArmor)'
  }
  return `a firewall rule refused a datagram (iptables/nftables OUTPUT${ctx.kind === 'packet' ? ', or an ebtables/tc rule on the interface' : ''}); ` +
    'check the rules that match the packets this program sends'
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
  if ((errno === EPERM || errno === EACCES) && isSend(syscall)) {
    code = IoErrorCode.Refused
    fix = refusedFix(errno, ctx)
  } else if (errno === EPERM || errno === EACCES) {
    code = IoErrorCode.Permission
    fix = capabilityFix(ctx, syscall === 'capget')
  } else if (ctx.kind === 'nfqueue' && syscall === 'socket' && (errno === EPROTONOSUPPORT || errno === EAFNOSUPPORT)) {
    code = IoErrorCode.NoNfqueue
    fix = 'the kernel has no nfnetlink_queue (modprobe nfnetlink_queue; CONFIG_NETFILTER_NETLINK_QUEUE)'
  } else if (ctx.kind === 'packet' && syscall === 'socket' && errno === EAFNOSUPPORT) {
    code = IoErrorCode.NoPacketSocket
    fix = 'the kernel has no packet sockets (modprobe af_packet; CONFIG_PACKET)'
  } else if (syscall === 'if_nametoindex' || (syscall === 'ioctl' && errno === ENODEV)) {
    code = IoErrorCode.NoInterface
    fix = `no network interface named ${JSON.stringify(ctx.interface ?? detail ?? '')} (ip link shows the names)`
  } else if (syscall === 'bind' && errno === ENODEV && ctx.kind === 'packet') {
    code = IoErrorCode.NoInterface
    fix = `the interface ${JSON.stringify(ctx.interface ?? detail ?? '')} went away while the socket was being opened ` +
      '(deleted or renamed: ip link shows the names); open it again once it is back'
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

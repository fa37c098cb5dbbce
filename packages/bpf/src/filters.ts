import { ConfigError } from '@tcpcopy/interface'
import { formatIpv4, octetsToU32, parseDotted } from './ipv4.js'

/** An online address from tcpcopy's -x: packets to [onlineIp:]onlinePort are copied. */
export interface OnlineMapping {
  /** Host-order u32 or dotted quad; absent, 0 or "0.0.0.0" = any local address. */
  readonly onlineIp?: number | string
  readonly onlinePort: number
}

/** A target from intercept's -o `[ip:]port`: responses from ip:port are routed. */
export interface InterceptTarget {
  /** Host-order u32 or dotted quad; absent, 0 or "0.0.0.0" = any address. */
  readonly ip?: number | string
  readonly port: number
}

/**
 * The filter tcpcopy builds from its -x mappings when -F is not given
 * (TCPCOPY.md §2): `tcp and ((dst port P and dst host H) or (dst port Q) or …)`,
 * the host clause left out for a mapping without an online IP.
 */
export function tcpcopyDefaultFilter (mappings: readonly OnlineMapping[]): string {
  return build('tcpcopy -x', 'dst', mappings.map((m) => [m.onlineIp, m.onlinePort]))
}

/**
 * The filter intercept (T0 advanced) builds from -o when -F is not given
 * (INTERCEPT.md §2): `tcp and ((src port P and src host H) or …)`.
 */
export function interceptFilterForTargets (targets: readonly InterceptTarget[]): string {
  return build('intercept -o', 'src', targets.map((t) => [t.ip, t.port]))
}

function build (what: string, dir: 'src' | 'dst', entries: Array<[number | string | undefined, number]>): string {
  if (entries.length === 0) throw new ConfigError(`${what} gives no address to build a capture filter from`, 'TC_ERR_CONFIG_FILTER')
  const clauses = entries.map(([ip, port]) => {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ConfigError(`${what}: port must be 1..65535, got ${String(port)}`, 'TC_ERR_CONFIG_FILTER')
    }
    const addr = toAddress(what, ip)
    return addr === 0 ? `(${dir} port ${port})` : `(${dir} port ${port} and ${dir} host ${formatIpv4(addr)})`
  })
  return `tcp and (${clauses.join(' or ')})`
}

function toAddress (what: string, ip: number | string | undefined): number {
  if (ip === undefined) return 0
  if (typeof ip === 'number') {
    if (Number.isInteger(ip) && ip >= 0 && ip <= 0xffffffff) return ip
  } else {
    const parts = parseDotted(ip)
    if (parts?.length === 4) return octetsToU32(parts)
  }
  throw new ConfigError(`${what}: "${String(ip)}" is not an IPv4 address`, 'TC_ERR_CONFIG_FILTER')
}

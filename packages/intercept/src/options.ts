// The engine's options: a plain object. The CLI maps its resolved config
// (@tcpcopy/config, flags > env > file > defaults) onto it; tests and other
// callers write it directly.
import { ConfigError } from '@tcpcopy/interface'
import { tryParseIpv4 } from '@tcpcopy/protocol'

/** traditional: NFQUEUE verdicts on the target host; advanced: passive capture on an assistant host. */
export type InterceptMode = 'traditional' | 'advanced'

/** An IPv4 network: a.b.c.d/n. */
export interface AllowedNetwork {
  readonly address: string
  readonly prefixLength: number
}

export interface InterceptOptions {
  readonly mode: InterceptMode
  /** -b: listen address of the control channel. */
  readonly bind: string
  /** -p: control-channel listen port (0: any free port). */
  readonly port: number
  /** -x: response destinations passed through (ACCEPT) instead of routed and dropped; traditional mode. */
  readonly passlist: readonly string[]
  /** --allow: networks that may open control connections; [] = everyone. */
  readonly allow: readonly AllowedNetwork[]
  /** -s: buckets of the delay table; the route table gets twice as many. */
  readonly hashSize: number
  /** --max-routes: router entry cap (least recently used goes first). */
  readonly maxRoutes: number
  /** -t: seconds a route may stay idle before it is removed. */
  readonly timeout: number
  /** --dnat: route keys ignore the target IP. */
  readonly dnat: boolean
  /** --queue-num: NFQUEUE number (traditional mode). */
  readonly queueNum: number
  /** -q: NFQUEUE maximum length; undefined = kernel default (1024). */
  readonly queueMaxlen: number | undefined
  /** Combined framing ([u16 count][records]); false: one bare record per write. */
  readonly combined: boolean
  /** -n: the starting combined batch size, 0..16 (0..6 with payload). */
  readonly batchSize: number
  /** --payload: records carry up to 128 payload bytes. */
  readonly payload: boolean
  /**
   * Advanced mode: the capture receives through a TPACKET_V3 ring (the CLI's
   * default; false with --no-capture-ring: recvmmsg from the socket buffer).
   * The caller opens the capture; this only names the capture path in the
   * start-up line and picks the tuning hint for capture drops. Absent: true.
   */
  readonly captureRing?: boolean
}

/** The defaults of the original intercept (and of this project's option table: the ring in advanced mode, as libpcap's). */
export const DEFAULT_INTERCEPT_OPTIONS: Readonly<InterceptOptions> = Object.freeze({
  mode: 'traditional',
  bind: '0.0.0.0',
  port: 36524,
  passlist: [],
  allow: [],
  hashSize: 65536,
  maxRoutes: 1048576,
  timeout: 120,
  dnat: false,
  queueNum: 0,
  queueMaxlen: undefined,
  combined: true,
  batchSize: 16,
  payload: false,
  captureRing: true
})

function optionError (what: string): ConfigError {
  return new ConfigError(`intercept options: ${what}`, 'TC_ERR_CONFIG_INTERCEPT')
}

function checkInt (name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw optionError(`${name} must be an integer ${min}..${max}, got ${String(v)}`)
}

/**
 * Checks what the engine relies on; throws ConfigError (TC_ERR_CONFIG_INTERCEPT)
 * naming the field. The CLI's option table gives users the friendlier
 * messages; this guards other callers.
 */
export function checkInterceptOptions (o: InterceptOptions): void {
  if (o.mode !== 'traditional' && o.mode !== 'advanced') throw optionError(`mode must be "traditional" or "advanced", got ${JSON.stringify(o.mode)}`)
  if (tryParseIpv4(o.bind) === undefined) throw optionError(`bind must be a dotted-quad IPv4 address, got ${JSON.stringify(o.bind)}`)
  checkInt('port', o.port, 0, 65535)
  for (const ip of o.passlist) if (tryParseIpv4(ip) === undefined) throw optionError(`passlist entries must be dotted-quad IPv4 addresses, got ${JSON.stringify(ip)}`)
  for (const n of o.allow) {
    if (tryParseIpv4(n.address) === undefined || !Number.isInteger(n.prefixLength) || n.prefixLength < 0 || n.prefixLength > 32) {
      throw optionError(`allow entries must be IPv4 networks like 10.0.0.0/8, got ${JSON.stringify(n)}`)
    }
  }
  checkInt('queueNum', o.queueNum, 0, 65535)
  if (o.queueMaxlen !== undefined) checkInt('queueMaxlen', o.queueMaxlen, 1, 0xffffffff)
  checkInt('batchSize', o.batchSize, 0, o.payload ? 6 : 16)
}

/** The passlist as u32 addresses (host order). */
export function passlistNumbers (o: Pick<InterceptOptions, 'passlist'>): number[] {
  return o.passlist.map((ip) => tryParseIpv4(ip) ?? 0)
}

/** Whether an address may open a control connection (--allow). */
export type AllowMatcher = (ip: string) => boolean

/** A matcher for the --allow list; an empty list allows everyone. Non-IPv4 addresses never match a non-empty list. */
export function allowMatcher (networks: readonly AllowedNetwork[]): AllowMatcher {
  if (networks.length === 0) return () => true
  const nets = networks.map(({ address, prefixLength }) => {
    const mask = prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0
    return [((tryParseIpv4(address) ?? 0) & mask) >>> 0, mask] as const
  })
  return (ip) => {
    const n = tryParseIpv4(ip)
    if (n === undefined) return false
    return nets.some(([net, mask]) => ((n & mask) >>> 0) === net)
  }
}

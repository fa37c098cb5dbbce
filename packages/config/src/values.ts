/**
 * Parsers for option values. Each takes the option's text (a flag argument,
 * an environment variable, or a config-file value turned into text) and
 * returns the typed value, or throws a ValueError whose `detail` says which
 * part was wrong. The caller (resolve.ts, commander.ts) adds the option name,
 * the source and an example; see `OptionSpec.type` for the "must be" phrase.
 */

/** Internal: thrown by parsers. Never leaves the package (resolve.ts wraps it in a ConfigError). */
export class ValueError extends Error {
  constructor (readonly detail: string = '') {
    super(detail)
    this.name = 'ValueError'
  }
}

function fail (detail = ''): never {
  throw new ValueError(detail)
}

// ---------------------------------------------------------------- scalars

/** A decimal integer min..max. No sign, no exponent, no hex, no spaces. */
export function parseInteger (text: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text)) fail()
  const n = Number(text)
  if (n < min || n > max) fail(`${text} is out of range`)
  return n
}

export function parsePort (text: string): number {
  return parseInteger(text, 1, 65535)
}

/** A switch value from the environment or a config file. */
export function parseSwitch (text: string): boolean {
  switch (text.toLowerCase()) {
    case 'true': case '1': case 'yes': case 'on': return true
    case 'false': case '0': case 'no': case 'off': return false
    default: return fail()
  }
}

export function parseChoice<T extends string> (choices: readonly T[]): (text: string) => T {
  return (text) => {
    const hit = choices.find((c) => c === text)
    if (hit === undefined) fail()
    return hit
  }
}

/** A file path: not empty, no NUL byte. */
export function parsePath (text: string): string {
  if (text === '') fail('the path is empty')
  if (text.includes('\0')) fail('the path contains a NUL byte')
  return text
}

/** A pcap filter expression. Its syntax is checked by libpcap later, not here. */
export function parseFilter (text: string): string {
  if (text.trim() === '') fail('the filter is empty')
  if (text.length >= 4096) fail(`the filter has ${text.length} characters`)
  return text
}

const OCTET = '(0|[1-9][0-9]{0,2})'
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`)

/**
 * A dotted-quad IPv4 address, strictly: four decimal octets 0-255 without
 * leading zeros (inet_aton would read 010 as octal 8; we refuse to guess).
 */
export function parseIpv4 (text: string): string {
  const m = IPV4.exec(text)
  if (m === null) {
    if (/^[0-9.]+$/.test(text) && /(^|\.)0[0-9]/.test(text)) {
      fail(`"${text}" has an octet with a leading zero (inet_aton would read it as octal)`)
    }
    fail(`"${text}" is not a dotted-quad IPv4 address`)
  }
  for (let i = 1; i <= 4; i++) {
    if (Number(m[i]) > 255) fail(`"${text}" has an octet above 255`)
  }
  return text
}

/** The address as an unsigned 32-bit number (host order: 10.0.0.1 → 0x0a000001). */
export function ipv4ToNumber (ip: string): number {
  const parts = ip.split('.').map(Number)
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i

/** An Ethernet address written aa:bb:cc:dd:ee:ff, returned in lower case. */
export function parseMac (text: string): string {
  if (!MAC.test(text)) fail(`"${text}" is not a MAC address like 00:11:22:33:44:55`)
  return text.toLowerCase()
}

/**
 * A network interface name as Linux accepts it: 1-15 bytes, not "." or "..",
 * no "/", ":", "," or white space.
 */
export function parseDeviceName (text: string): string {
  if (text === '' || text.length > 15 || text === '.' || text === '..' || /[/:,\s]/.test(text)) {
    fail(`"${text}" is not an interface name (1-15 characters, no "/", ":", "," or spaces)`)
  }
  return text
}

// ---------------------------------------------------------------- lists

/** Splits a comma-separated list; entries are trimmed; empty entries and too many entries fail. */
export function splitList (text: string, max: number): string[] {
  if (text.trim() === '') fail('the list is empty')
  const entries = text.split(',').map((e) => e.trim())
  if (entries.includes('')) fail('the list has an empty entry (two commas in a row, or a comma at an end)')
  if (entries.length > max) fail(`the list has ${entries.length} entries, at most ${max} are allowed`)
  return entries
}

function unique<T> (items: T[], key: (item: T) => string = String): T[] {
  const seen = new Set<string>()
  return items.filter((item) => {
    const k = key(item)
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** Comma-separated IPv4 addresses; duplicates are dropped, order is kept. */
export function parseIpv4List (max: number): (text: string) => string[] {
  return (text) => unique(splitList(text, max).map(parseIpv4))
}

/** Interface names; "any" anywhere in the list means every interface, returned as []. */
export function parseDeviceList (max: number): (text: string) => string[] {
  return (text) => {
    const names = unique(splitList(text, max).map(parseDeviceName))
    return names.includes('any') ? [] : names
  }
}

/** An IPv4 network: an address with a prefix length, or a bare address (= /32). */
export interface Cidr {
  readonly address: string
  readonly prefixLength: number
}

export function parseCidr (text: string): Cidr {
  const slash = text.indexOf('/')
  const address = parseIpv4(slash < 0 ? text : text.slice(0, slash))
  if (slash < 0) return { address, prefixLength: 32 }
  const bits = text.slice(slash + 1)
  if (!/^(0|[1-9][0-9]?)$/.test(bits) || Number(bits) > 32) fail(`"${text}" has a prefix length that is not 0-32`)
  const prefixLength = Number(bits)
  const mask = prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0
  const base = ipv4ToNumber(address)
  if (((base & mask) >>> 0) !== base) {
    const fixed = [24, 16, 8, 0].map((s) => (((base & mask) >>> 0) >>> s) & 0xff).join('.')
    fail(`"${text}" has host bits set; did you mean ${fixed}/${prefixLength}?`)
  }
  return { address, prefixLength }
}

export function parseCidrList (max: number): (text: string) => Cidr[] {
  return (text) => unique(splitList(text, max).map(parseCidr), (c) => `${c.address}/${c.prefixLength}`)
}

/** True when `ip` lies in one of the networks. An empty list allows everything. */
export function cidrContains (networks: readonly Cidr[], ip: string): boolean {
  if (networks.length === 0) return true
  const n = ipv4ToNumber(ip)
  return networks.some(({ address, prefixLength }) => {
    const mask = prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0
    return ((n & mask) >>> 0) === ((ipv4ToNumber(address) & mask) >>> 0)
  })
}

// ---------------------------------------------------------------- tcpcopy -x

/**
 * One tcpcopy -x mapping: packets captured for onlineIp:onlinePort are copied
 * to targetIp:targetPort. The MAC addresses appear only in the pcap-send form
 * (`onPort@srcMAC-tgtIP:tgtPort@nexthopMAC`, used with -o).
 */
export interface TargetMapping {
  /** Absent: any local address. */
  readonly onlineIp?: string
  readonly onlinePort: number
  readonly targetIp: string
  readonly targetPort: number
  /** pcap-send only: source MAC of the frames sent to the target. */
  readonly sourceMac?: string
  /** pcap-send only: MAC of the next hop towards the target. */
  readonly nextHopMac?: string
}

function splitMac (part: string): [string, string | undefined] {
  const at = part.indexOf('@')
  if (at < 0) return [part, undefined]
  return [part.slice(0, at), parseMac(part.slice(at + 1))]
}

function entryPort (entry: string, text: string, which: string): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    fail(`entry "${entry}" has ${which} port "${text}", not a port number 1-65535`)
  }
  return Number(text)
}

export function parseTargetMapping (entry: string): TargetMapping {
  const dash = entry.indexOf('-')
  if (dash < 0) fail(`entry "${entry}" has no "-tgtIP:tgtPort" part`)
  if (entry.indexOf('-', dash + 1) >= 0) fail(`entry "${entry}" has more than one "-"`)
  const [online, sourceMac] = splitMac(entry.slice(0, dash))
  const [target, nextHopMac] = splitMac(entry.slice(dash + 1))
  const colon = online.lastIndexOf(':')
  const onlineIp = colon < 0 ? undefined : parseIpv4(online.slice(0, colon))
  const onlinePort = entryPort(entry, colon < 0 ? online : online.slice(colon + 1), 'online')
  const tcolon = target.lastIndexOf(':')
  if (tcolon < 0) fail(`entry "${entry}": target "${target}" has no ":port"`)
  const targetIp = parseIpv4(target.slice(0, tcolon))
  const targetPort = entryPort(entry, target.slice(tcolon + 1), 'target')
  const mapping: { -readonly [K in keyof TargetMapping]: TargetMapping[K] } = { onlinePort, targetIp, targetPort }
  if (onlineIp !== undefined) mapping.onlineIp = onlineIp
  if (sourceMac !== undefined) mapping.sourceMac = sourceMac
  if (nextHopMac !== undefined) mapping.nextHopMac = nextHopMac
  return mapping
}

export function parseTargetMappings (max: number): (text: string) => TargetMapping[] {
  return (text) => {
    const mappings = splitList(text, max).map(parseTargetMapping)
    const seen = new Map<string, string>()
    for (const m of mappings) {
      const key = `${m.onlineIp ?? '*'}:${m.onlinePort}`
      const other = seen.get(key)
      const here = `${m.onlineIp === undefined ? '' : `${m.onlineIp}:`}${m.onlinePort}`
      if (other !== undefined) {
        fail(`online address ${here} is mapped twice (to ${other} and ${m.targetIp}:${m.targetPort}); run one tcpcopy per target instead`)
      }
      seen.set(key, `${m.targetIp}:${m.targetPort}`)
    }
    return mappings
  }
}

// ---------------------------------------------------------------- tcpcopy -c

/**
 * The -c client pool. An entry `a.b.c.x` (or `X`) expands to a.b.c.1 -
 * a.b.c.254; "*" is refused. Duplicates are dropped, order is kept.
 */
export function parseClientPool (max: number): (text: string) => string[] {
  return (text) => {
    const out: string[] = []
    for (const entry of splitList(text, max)) {
      if (entry.includes('*')) fail(`entry "${entry}": "*" is not accepted; write a.b.c.x for a.b.c.1-a.b.c.254`)
      if (/\.[xX]$/.test(entry)) {
        const prefix = entry.slice(0, -2)
        if (prefix.split('.').length !== 3) fail(`entry "${entry}" must have three octets before ".x"`)
        if (!IPV4.test(`${prefix}.0`) || prefix.split('.').some((o) => Number(o) > 255)) {
          fail(`entry "${entry}" must be three octets 0-255 followed by ".x"`)
        }
        for (let i = 1; i <= 254; i++) out.push(`${prefix}.${i}`)
      } else {
        out.push(parseIpv4(entry))
      }
    }
    const pool = unique(out)
    if (pool.length > max) fail(`the pool has ${pool.length} addresses after expanding ".x", at most ${max} are allowed`)
    return pool
  }
}

/** The plain addresses of a -c text (entries that are not `a.b.c.x`). */
export function explicitClientEntries (text: string): Set<string> {
  return new Set(text.split(',').map((e) => e.trim()).filter((e) => !/\.[xX]$/.test(e)))
}

// ---------------------------------------------------------------- tcpcopy -s

/** One intercept that tcpcopy connects to. */
export interface InterceptAddress {
  readonly ip: string
  readonly port: number
}

/**
 * `ip[:port],…`. A missing port is returned as 0 and replaced by -p in the
 * cross-option step (resolve.ts); an explicit ":0" is refused here.
 */
export function parseInterceptList (max: number): (text: string) => InterceptAddress[] {
  return (text) => splitList(text, max).map((entry) => {
    const colon = entry.indexOf(':')
    if (colon < 0) return { ip: parseIpv4(entry), port: 0 }
    return { ip: parseIpv4(entry.slice(0, colon)), port: entryPort(entry, entry.slice(colon + 1), 'intercept') }
  })
}

// ---------------------------------------------------------------- tcpcopy -i

/**
 * Where tcpcopy reads requests:
 * - raw-socket: no -i; a raw IP socket sees inbound TCP on every interface
 *   (the default build of the original);
 * - pcap: -i dev,…; libpcap on these interfaces, [] = all ("any");
 * - offline: -i file; replay a pcap file.
 */
export type CaptureInput =
  | { readonly kind: 'raw-socket' }
  | { readonly kind: 'pcap', readonly devices: readonly string[] }
  | { readonly kind: 'offline', readonly file: string }

/**
 * tcpcopy -i: a value containing "/" or ending in .pcap, .pcapng or .cap is a
 * file (write ./name for a file in the current directory); anything else is a
 * list of interfaces, "any" meaning all (returned as an empty list).
 */
export function parseCaptureInput (maxDevices: number): (text: string) => CaptureInput {
  const devices = parseDeviceList(maxDevices)
  return (text) => {
    if (text.includes('/') || /\.(pcap|pcapng|cap)$/i.test(text)) return { kind: 'offline', file: parsePath(text) }
    return { kind: 'pcap', devices: devices(text) }
  }
}

// The capture-side decisions of TCPCOPY.md §3: which -x mapping a packet
// belongs to, the -c client pool, -r sampling (§6) and the port scheme of
// -n replicas and -f port shifting (§3.3, §3.4).
import type { TargetMapping } from '@tcpcopy/config'

export const LOCALHOST = 0x7f000001

/** A dotted quad as a host-order u32 (10.0.0.1 → 0x0a000001). */
export function ipv4ToU32 (text: string): number {
  const p = text.split('.').map(Number)
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0
}

/** A host-order u32 as a dotted quad. */
export function u32ToIpv4 (ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`
}

function parseMac (text: string | undefined): Uint8Array | undefined {
  if (text === undefined) return undefined
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)))
}

/** One -x mapping, with numbers instead of text. */
export interface TargetEntry {
  readonly index: number
  /** undefined: any local address. */
  readonly onlineIp: number | undefined
  readonly onlinePort: number
  readonly targetIp: number
  readonly targetPort: number
  /** pcap-send (-o): MACs of the Ethernet header. */
  readonly sourceMac: Uint8Array | undefined
  readonly nextHopMac: Uint8Array | undefined
  /** "tgtIP:tgtPort", for logs. */
  readonly text: string
}

/** -x lookup by the captured destination (§3.2 step 2). */
export class TargetTable {
  readonly entries: readonly TargetEntry[]
  readonly #byPort = new Map<number, { any: TargetEntry | undefined, byIp: Map<number, TargetEntry> }>()

  constructor (targets: readonly TargetMapping[]) {
    this.entries = targets.map((t, index) => ({
      index,
      onlineIp: t.onlineIp === undefined ? undefined : ipv4ToU32(t.onlineIp),
      onlinePort: t.onlinePort,
      targetIp: ipv4ToU32(t.targetIp),
      targetPort: t.targetPort,
      sourceMac: parseMac(t.sourceMac),
      nextHopMac: parseMac(t.nextHopMac),
      text: `${t.targetIp}:${t.targetPort}`
    }))
    for (const e of this.entries) {
      let slot = this.#byPort.get(e.onlinePort)
      if (slot === undefined) {
        slot = { any: undefined, byIp: new Map() }
        this.#byPort.set(e.onlinePort, slot)
      }
      if (e.onlineIp === undefined) slot.any ??= e
      else if (!slot.byIp.has(e.onlineIp)) slot.byIp.set(e.onlineIp, e)
    }
  }

  /** The mapping of a packet to dstIp:dstPort: an exact online IP first, then an any-IP entry. */
  lookup (dstIp: number, dstPort: number): TargetEntry | undefined {
    const slot = this.#byPort.get(dstPort)
    if (slot === undefined) return undefined
    return slot.byIp.get(dstIp) ?? slot.any
  }
}

/** The address as the original reads it: the 4 network-order bytes loaded as a little-endian u32 (x86). */
export function rawAddress (ip: number): number {
  return (((ip & 0xff) << 24) | (((ip >>> 8) & 0xff) << 16) | (((ip >>> 16) & 0xff) << 8) | (ip >>> 24)) >>> 0
}

/** The port as the original reads it: the 2 network-order bytes loaded as a little-endian u16. */
export function rawPort (port: number): number {
  return ((port & 0xff) << 8) | (port >>> 8)
}

/** The -c table key of an address: ((A >> 16) + A) & 0xFFFF over the raw little-endian value (§3.2 step 4). */
export function poolKey (raw: number): number {
  return ((raw >>> 16) + raw) & 0xffff
}

/**
 * -c: each client address maps to one pool address, chosen round-robin the
 * first time its key is seen and kept for the process's life, so every
 * session of a client, and every packet of a session, gets the same address.
 */
export class ClientPool {
  readonly #pool: readonly number[]
  readonly #table = new Int32Array(65536).fill(-1)
  #next = 0

  constructor (pool: readonly number[]) {
    this.#pool = pool
  }

  get size (): number { return this.#pool.length }

  /** The pool address for client address `ip`. */
  map (ip: number): number {
    return this.#byKey(poolKey(rawAddress(ip)))
  }

  /** The pool address of replica `addition` of client `ip`: key of (A << 1) + addition (§3.3). */
  mapReplica (ip: number, addition: number): number {
    return this.#byKey(poolKey(((rawAddress(ip) << 1) + addition) >>> 0))
  }

  #byKey (key: number): number {
    let i = this.#table[key]!
    if (i < 0) {
      i = this.#next
      this.#next = (this.#next + 1) % this.#pool.length
      this.#table[key] = i
    }
    return this.#pool[i]!
  }
}

/**
 * §6: k for client ip:port. P and A are the raw little-endian port and
 * address; v = (P + A) & 0xFFFF; k = ((v >> 8) + (v & 0xFF)) % 100.
 */
export function sampleValue (ip: number, port: number): number {
  const v = (rawPort(port) + rawAddress(ip)) & 0xffff
  return ((v >>> 8) + (v & 0xff)) % 100
}

/** §6: keep the session when k < percent; 100 (or more) keeps everything. */
export function keepSession (ip: number, port: number, percent: number): boolean {
  if (percent >= 100) return true
  return sampleValue(ip, port) < percent
}

/** The sampling percentage of -g: seconds since the first packet + 1, at most `cap`. */
export function gradualPercent (elapsedMs: number, cap: number): number {
  return Math.min(cap, Math.floor(Math.max(0, elapsedMs) / 1000) + 1)
}

/**
 * sp + addition; a result beyond 65535 becomes 1024 + addition (§3.3),
 * with addition taken modulo 64512 so that every result is a port 1024..65535.
 */
export function addPort (port: number, addition: number): number {
  const p = port + addition
  if (p < 65536) return p
  return 1024 + (addition % 64512)
}

/** The addition of replica i (1 ≤ i < n): ((2i − 1) << 5) + R. */
export function replicaAddition (i: number, r: number): number {
  return ((2 * i - 1) << 5) + r
}

/** The addition of -f f: (f << 11) + R. */
export function shiftAddition (f: number, r: number): number {
  return (f << 11) + r
}

/** The next port to try after a collision: port + 1, staying within 1024..65535. */
export function nextPort (port: number): number {
  return port >= 65535 ? 1024 : port + 1
}

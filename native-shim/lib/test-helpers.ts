// Helpers for this package's tests only (not exported from index.ts).
import { readdirSync } from 'node:fs'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { hex } from '@tcpcopy/interface'

export { hex }

/** Open file descriptors of this process. */
export function openFds (): number {
  return readdirSync('/proc/self/fd').length
}

/** Plain-JS RFC 1071 checksum (folded, complemented), independent of the WASM one. */
export function checksum (bytes: Uint8Array): number {
  let sum = 0
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

const hasSetpriv = spawnSync('setpriv', ['--version'], { encoding: 'utf8' }).status === 0

/**
 * Whether runWithoutNetCaps can run: as a normal user always; as root only
 * with util-linux's setpriv, which takes CAP_NET_ADMIN and CAP_NET_RAW out of
 * the child's bounding set (so root's child has neither).
 */
export const canDropNetCaps = !isRoot || hasSetpriv

/**
 * Runs `script` (an ES module, as text) in a child node process without
 * CAP_NET_ADMIN and CAP_NET_RAW; imports in it resolve from this package's dist/.
 */
export function runWithoutNetCaps (script: string): SpawnSyncReturns<string> {
  const node = [process.execPath, '--input-type=module', '-e', script]
  const cmd = isRoot ? ['setpriv', '--bounding-set=-net_admin,-net_raw', ...node] : node
  return spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 20_000, cwd: new URL('.', import.meta.url).pathname })
}

/** Runs `script` (an ES module, as text) in a child node process, e.g. where a bug could crash the process. */
export function runChild (script: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000, cwd: new URL('.', import.meta.url).pathname })
}

/** Resolves after `ms` milliseconds. */
export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** A 40-byte IPv4/TCP SYN, 10.0.0.1:40000 -> 10.0.1.2:8080 (checksums not filled in). */
export const SYN = hex`
  45 00 00 28  // IPv4, IHL 5, TOS 0, total length 40
  12 34 40 00  // ID 0x1234, flags DF
  40 06 00 00  // TTL 64, protocol TCP, header checksum (not filled in)
  0a 00 00 01  // source 10.0.0.1
  0a 00 01 02  // destination 10.0.1.2
  9c 40 1f 90  // source port 40000, destination port 8080
  00 00 00 64  // sequence number 100
  00 00 00 00  // acknowledgment number 0
  50 02 72 10  // doff 5, flags SYN, window 29200
  00 00 00 00  // TCP checksum (not filled in), urgent pointer 0
`

/** A stand-in for the addon's NativeSocket; override what a test needs. */
export class FakeNativeSocket {
  fd = 3
  closed = false
  kind = 'packet'
  ifindex = 1
  arphrd = 1
  cooked = false
  portId = 0
  rcvbuf = 212992
  closes = 0
  polls = 0
  constructor (_kind?: unknown, _opts?: unknown) {}
  recvBatch (_b: ArrayBuffer, _d: number, _o: number, _s: number, _snap: number, _max: number, _descCount?: number): number { return 0 }
  sendBatch (_b: ArrayBuffer, _d: number, n: number): number { return n }
  startPoll (_fn: () => void): void { this.polls++ }
  stopPoll (): void {}
  close (): void { this.closes++; this.closed = true; this.fd = -1 }
  stats (): { received: number, sent: number, truncated: number, overruns: number, drops?: number } { return { received: 0, sent: 0, truncated: 0, overruns: 0 } }
}

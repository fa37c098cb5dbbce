// Shared helpers of the simulator's tests.
import type { SentPacket, Simulation } from './simulation.js'
import { ACK, FIN, PSH, RST, SYN } from './packet.js'

export { ACK, FIN, PSH, RST, SYN }

/** Packets tcpcopy sent for one client port. */
export function sentFor (sim: Simulation, port: number): SentPacket[] {
  return sim.sent.filter((p) => p.sport === port)
}

/** Packets with payload. */
export function data (list: SentPacket[]): SentPacket[] {
  return list.filter((p) => p.payload.length > 0)
}

export function has (p: { flags: number }, f: number): boolean {
  return (p.flags & f) === f
}

/** Dotted quad of a u32. */
export function ipText (ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`
}

export function ipNum (text: string): number {
  const p = text.split('.').map(Number)
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0
}

/** A predicate for Link.dropNext: TCP from port `sport` with payload (or the given flags). */
export function match (sport: number, what: { payload?: boolean, flags?: number, seq?: number } = {}): (b: Uint8Array) => boolean {
  return (b) => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
    const ihl = (b[0]! & 15) * 4
    if (dv.getUint16(ihl) !== sport) return false
    const len = dv.getUint16(2) - ihl - (b[ihl + 12]! >> 4) * 4
    if (what.payload === true && len === 0) return false
    if (what.flags !== undefined && (b[ihl + 13]! & what.flags) !== what.flags) return false
    if (what.seq !== undefined && dv.getUint32(ihl + 4) !== what.seq) return false
    return true
  }
}

// Reads a response record (PROTOCOL.md §3.3) into a reused struct: the
// header fields tcpcopy uses, without allocating per record. The TCP header
// is read at offset 20, where intercept always writes it (the original looks
// at IHL*4, which misparses responses that had IP options, §3.3).

export const FLAG_FIN = 1
export const FLAG_SYN = 2
export const FLAG_RST = 4
export const FLAG_PSH = 8
export const FLAG_ACK = 16

export class ResponseFields {
  saddr = 0
  daddr = 0
  sport = 0
  dport = 0
  seq = 0
  ack = 0
  flags = 0
  window = 0
  totLen = 0
  /** tot_len − IHL*4 − doff*4: the response's payload bytes. */
  payload = 0
  /** Window scale option, -1 when absent. */
  wscale = -1
  hasTs = false
  tsVal = 0
  tsEcr = 0
}

function u16 (b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!
}

function u32 (b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
}

/**
 * Fills `out` from the record in `rec` (64, 80, 192 or 208 bytes; the options
 * area is `optionsArea` bytes). Returns false when the bytes cannot be a
 * record (not IPv4, IHL < 5, doff < 5, tot_len shorter than the headers).
 */
export function readResponse (rec: Uint8Array, optionsArea: number, out: ResponseFields): boolean {
  const b0 = rec[0]!
  const ihl = b0 & 15
  if ((b0 >> 4) !== 4 || ihl < 5 || rec.length < 40) return false
  const doff = rec[32]! >> 4
  if (doff < 5) return false
  const totLen = u16(rec, 2)
  const payload = totLen - ihl * 4 - doff * 4
  if (payload < 0) return false
  out.totLen = totLen
  out.payload = payload
  out.saddr = u32(rec, 12)
  out.daddr = u32(rec, 16)
  out.sport = u16(rec, 20)
  out.dport = u16(rec, 22)
  out.seq = u32(rec, 24)
  out.ack = u32(rec, 28)
  out.flags = rec[33]!
  out.window = u16(rec, 34)
  out.wscale = -1
  out.hasTs = false
  // Options, as far as the record holds them.
  const end = 20 + Math.min(doff * 4, 20 + optionsArea)
  let i = 40
  while (i < end) {
    const kind = rec[i]!
    if (kind === 0) break
    if (kind === 1) { i++; continue }
    if (i + 1 >= end) break
    const len = rec[i + 1]!
    if (len < 2 || i + len > end) break
    if (kind === 3 && len === 3) out.wscale = rec[i + 2]!
    else if (kind === 8 && len === 10) {
      out.hasTs = true
      out.tsVal = u32(rec, i + 2)
      out.tsEcr = u32(rec, i + 6)
    }
    i += len
  }
  return true
}

// Response records (PROTOCOL.md §3) written into the OUT region, per connection.
import { Status } from '../shared/status'
import { CONNS_OFF, CONNS_MAX, OUT_OFF, OUT_SIZE, OUT_ENTRY_HEADER, RESULT_OFF, R_OUT_BYTES, R_OUT_COUNT } from '../shared/layout'
import { RecordDialect, OutKind, Counter, RECORD_PAYLOAD_MAX } from '../shared/enums'
import { count } from './counters'

const FMT_PAYLOAD: u32 = 0x100

let outUsed: usize = 0
let outCount: u32 = 0

export function outReset (): void {
  outUsed = 0
  outCount = 0
  store<u32>(<usize>RESULT_OFF + <usize>R_OUT_BYTES, 0)
  store<u32>(<usize>RESULT_OFF + <usize>R_OUT_COUNT, 0)
}

/** Sets the record dialect (RecordDialect: 40 or 24) and payload flag of a connection. */
export function connSetFormat (conn: i32, dialect: i32, payload: i32): i32 {
  if (<u32>conn >= <u32>CONNS_MAX) return Status.BadArgument
  if (dialect != RecordDialect.V09 && dialect != RecordDialect.V1) return Status.BadArgument
  store<u32>(<usize>CONNS_OFF + (<usize>conn << 2), <u32>dialect | (payload != 0 ? FMT_PAYLOAD : 0))
  return Status.Ok
}

/**
 * Builds the record of the IPv4/TCP packet at `ip` (capLen bytes present)
 * for connection `conn` and appends it to OUT as [conn u32][len u16][kind u16][record].
 * The callers pass packets the parser accepted, but the headers are checked
 * again here before any length is derived from them: a packet whose IP or
 * TCP header does not fit in capLen or in its tot_len gives its Status
 * (BadIpHeader, Truncated, BadTcpHeader, BadTotalLength) and no record.
 *
 * Differences from the original, on purpose: IP options are not copied and
 * the record says IHL 5 with tot_len reduced by the option bytes, so the
 * peer finds the TCP header where the record has it (PROTOCOL.md §3.3).
 */
export function recordEmit (conn: i32, ip: usize, capLen: u32): i32 {
  if (<u32>conn >= <u32>CONNS_MAX) return Status.BadArgument
  if (capLen < 20) return Status.Truncated
  const vihl = <u32>load<u8>(ip)
  const ihl = (vihl & 15) << 2
  if (vihl >> 4 != 4 || ihl < 20) return Status.BadIpHeader
  if (capLen < ihl + 20) return Status.Truncated
  const totLen = <u32>bswap<u16>(load<u16>(ip, 2))
  const tcp = ip + <usize>ihl
  const doff = <u32>(load<u8>(tcp, 12) >> 4) << 2
  if (doff < 20) return Status.BadTcpHeader
  if (ihl + doff > capLen) return Status.Truncated
  if (ihl + doff > totLen) return Status.BadTotalLength
  let fmt = load<u32>(<usize>CONNS_OFF + (<usize>conn << 2))
  if (fmt == 0) fmt = RecordDialect.V1
  const optionArea = fmt & 0xff
  const withPayload = (fmt & FMT_PAYLOAD) != 0
  const size = 40 + optionArea + (withPayload ? <u32>RECORD_PAYLOAD_MAX : 0)
  const entry: usize = (<usize>OUT_ENTRY_HEADER + <usize>size + 3) & ~<usize>3
  if (outUsed + entry > <usize>OUT_SIZE) {
    count(Counter.OutOverflow)
    return Status.OutputFull
  }
  const e = <usize>OUT_OFF + outUsed
  const rec = e + <usize>OUT_ENTRY_HEADER
  store<u32>(e, <u32>conn)
  store<u16>(e, <u16>size, 4)
  store<u16>(e, <u16>OutKind.Record, 6)
  memory.fill(rec, 0, entry - <usize>OUT_ENTRY_HEADER)

  memory.copy(rec, ip, 20)
  if (ihl > 20) {
    store<u8>(rec, 0x45)
    store<u16>(rec, bswap<u16>(<u16>(totLen - (ihl - 20))), 2)
  }
  // The TCP header, options included, up to the record's options area.
  let copy = doff
  if (copy > 20 + optionArea) copy = 20 + optionArea
  memory.copy(rec + 20, tcp, <usize>copy)
  // Payload records: 1..128 payload bytes right after the TCP header.
  if (withPayload) {
    const plen = totLen - ihl - doff // checked above: no wrap
    if (plen >= 1 && plen <= <u32>RECORD_PAYLOAD_MAX && ihl + doff + plen <= capLen && 20 + doff + plen <= size) {
      memory.copy(rec + 20 + <usize>doff, tcp + <usize>doff, <usize>plen)
    }
  }
  outUsed += entry
  outCount++
  store<u32>(<usize>RESULT_OFF + <usize>R_OUT_BYTES, <u32>outUsed)
  store<u32>(<usize>RESULT_OFF + <usize>R_OUT_COUNT, outCount)
  return Status.Ok
}

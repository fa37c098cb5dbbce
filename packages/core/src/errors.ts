import { CoreError } from '@tcpcopy/interface'
import { Status } from '@tcpcopy/wasm'

const DESCRIPTIONS: Record<number, string> = {
  [Status.Truncated]: 'the bytes end before a header that must be there',
  [Status.BadLinkType]: 'the link type is not Ethernet (1), raw IP (101), Linux SLL (113) or SLL2 (276)',
  [Status.NotIp]: 'the frame does not carry IPv4',
  [Status.BadIpHeader]: 'the IPv4 header is malformed (version or IHL)',
  [Status.BadTotalLength]: 'the IPv4 total length is smaller than the headers',
  [Status.Fragment]: 'the packet is an IP fragment',
  [Status.NotTcp]: 'the packet is not TCP',
  [Status.BadTcpHeader]: 'the TCP data offset is below 5',
  [Status.BadTcpOption]: 'a TCP option is malformed',
  [Status.BadRegion]: 'an offset/length lies outside the core memory region it must be in',
  [Status.BadArgument]: 'an argument is out of range',
  [Status.NoMemory]: 'the core memory cannot grow to hold the tables; lower -s/--hash-size or --max-routes',
  [Status.NotFound]: 'the key is not in the table',
  [Status.NotInitialised]: 'the core was used before it was initialised',
  [Status.OutputFull]: 'the output region is full; drain it more often',
  [Status.CapReached]: 'a table cap refused the entry (the delay table holds as many records for this key as allowed)',
  [Status.LayoutOverlap]: 'the WASM static data overlaps the fixed regions; the core was built wrongly (rebuild wasm/)'
}

/** The stable error code of a status: TC_ERR_CORE_<NAME>. */
export function statusCode (status: number): string {
  const name = Status[status]
  if (name === undefined) return 'TC_ERR_CORE_UNKNOWN'
  return 'TC_ERR_CORE_' + name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()
}

/** Turns a non-Ok status of a WASM call into a CoreError (the one place this happens). */
export function toCoreError (status: number, op: string): CoreError {
  const what = DESCRIPTIONS[status] ?? `unknown status ${status}`
  return new CoreError(`${op} failed: ${what} (status ${status})`, statusCode(status), status)
}

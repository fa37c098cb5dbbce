import { ConfigError } from '@tcpcopy/interface'
import type { Direction, FilterExpr } from './ast.js'
import { octetsToU32, parseDotted, prefixMask } from './ipv4.js'

/** The one code of every filter syntax error. */
export const FILTER_ERROR_CODE = 'TC_ERR_CONFIG_FILTER'

/** What the filter language accepts, for error messages and docs. */
export const SUPPORTED_SYNTAX =
  'tcp, ip, [src|dst] host A.B.C.D, [src|dst] net A.B.C.D/N (or A.B.C.D mask M.M.M.M, or A.B), ' +
  '[src|dst] port N, [src|dst] portrange N-M, "src or dst" / "src and dst", ' +
  'and/&&, or/||, not/!, ( ), and a bare value repeating the previous qualifiers (port 80 or 8080)'

/**
 * A filter expression that does not parse. `token` is the offending text as
 * written (empty at the end of the filter) and `position` its 0-based offset.
 */
export class FilterError extends ConfigError {
  constructor (message: string, readonly filter: string, readonly token: string, readonly position: number) {
    super(message, FILTER_ERROR_CODE)
  }
}

type TokenKind = 'word' | 'lparen' | 'rparen' | 'not' | 'and' | 'or' | 'bad'
interface Token { readonly kind: TokenKind, readonly text: string, readonly pos: number }

type AddrType = 'host' | 'net' | 'port' | 'portrange' | 'default'
interface Qualifier { readonly dir: Direction, readonly type: AddrType, readonly proto: 'tcp' | 'ip' | 'default' }

const DIRECTIONS = new Set(['src', 'dst'])
const TYPES = new Set(['host', 'net', 'port', 'portrange'])

/** pcap keywords outside this language, with what to say about them. */
const UNSUPPORTED: Record<string, string> = {
  udp: 'only TCP is captured', sctp: 'only TCP is captured', icmp: 'only TCP is captured',
  igmp: 'only TCP is captured', igrp: 'only TCP is captured', pim: 'only TCP is captured',
  vrrp: 'only TCP is captured', carp: 'only TCP is captured', ah: 'only TCP is captured',
  esp: 'only TCP is captured', proto: 'only TCP is captured; write tcp', protochain: 'only TCP is captured',
  ip6: 'only IPv4 is captured', icmp6: 'only IPv4 is captured', arp: 'only IPv4 is captured',
  rarp: 'only IPv4 is captured', ether: 'link-layer addresses are not supported',
  fddi: 'link-layer addresses are not supported', tr: 'link-layer addresses are not supported',
  wlan: 'link-layer addresses are not supported', link: 'link-layer addresses are not supported',
  ppp: 'link-layer addresses are not supported', slip: 'link-layer addresses are not supported',
  vlan: 'VLAN IDs are not matched; one 802.1Q tag is skipped automatically on Ethernet',
  mpls: 'MPLS is not supported', pppoed: 'PPPoE is not supported', pppoes: 'PPPoE is not supported',
  geneve: 'Geneve is not supported', broadcast: 'broadcast/multicast tests are not supported',
  multicast: 'broadcast/multicast tests are not supported', gateway: 'gateway is not supported',
  less: 'length tests are not supported', greater: 'length tests are not supported',
  len: 'length tests are not supported', inbound: 'direction of capture is not supported',
  outbound: 'direction of capture is not supported', ifname: 'pflog fields are not supported',
  on: 'pflog fields are not supported', rnr: 'pflog fields are not supported',
  rulenum: 'pflog fields are not supported', reason: 'pflog fields are not supported',
  rset: 'pflog fields are not supported', ruleset: 'pflog fields are not supported',
  srnr: 'pflog fields are not supported', subrulenum: 'pflog fields are not supported',
  action: 'pflog fields are not supported', type: '802.11 fields are not supported',
  subtype: '802.11 fields are not supported', dir: '802.11 fields are not supported',
  ra: '802.11 fields are not supported', ta: '802.11 fields are not supported',
  addr1: '802.11 fields are not supported', addr2: '802.11 fields are not supported',
  addr3: '802.11 fields are not supported', addr4: '802.11 fields are not supported',
  atalk: 'only IPv4 is captured', aarp: 'only IPv4 is captured', decnet: 'only IPv4 is captured',
  iso: 'only IPv4 is captured', stp: 'only IPv4 is captured', ipx: 'only IPv4 is captured',
  netbeui: 'only IPv4 is captured', llc: 'only IPv4 is captured', lat: 'only IPv4 is captured',
  mask: '"mask" only follows a net address, as in net 10.1.0.0 mask 255.255.0.0',
  tcpflags: 'TCP flag tests are not supported', 'tcp-syn': 'TCP flag tests are not supported'
}

const PRIMITIVE = 'a primitive (tcp, ip, host 10.0.0.1, net 10.0.0.0/8, port 80, portrange 80-90, or "(")'

/** Longest filter text accepted (intercept's own limit is 4096). */
const MAX_FILTER_LENGTH = 65536
/** Deepest nesting of parentheses and `not`. */
const MAX_DEPTH = 200

/**
 * Parses a capture filter in the tcpdump/pcap-filter(7) subset this package
 * compiles. An empty (or all-blank) filter means `ip`: every IPv4 packet.
 * Throws a FilterError (a ConfigError with code TC_ERR_CONFIG_FILTER) that
 * names the offending token and its position.
 */
export function parseFilter (text: string): FilterExpr {
  return new Parser(text).parse()
}

function tokenize (text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i] as string
    if (/\s/.test(c)) { i++; continue }
    const two = text.slice(i, i + 2)
    if (c === '(') tokens.push({ kind: 'lparen', text: c, pos: i })
    else if (c === ')') tokens.push({ kind: 'rparen', text: c, pos: i })
    else if (two === '&&') { tokens.push({ kind: 'and', text: two, pos: i }); i += 2; continue }
    else if (two === '||') { tokens.push({ kind: 'or', text: two, pos: i }); i += 2; continue }
    else if (two === '!=' || two === '==' || two === '<=' || two === '>=' || two === '<<' || two === '>>') {
      tokens.push({ kind: 'bad', text: two, pos: i }); i += 2; continue
    } else if (c === '!') tokens.push({ kind: 'not', text: c, pos: i })
    else {
      const m = /^[A-Za-z0-9_.\-/:]+/.exec(text.slice(i))
      if (m !== null) {
        const word = m[0]
        const kind: TokenKind = word === 'and' ? 'and' : word === 'or' ? 'or' : word === 'not' ? 'not' : 'word'
        tokens.push({ kind, text: word, pos: i })
        i += word.length
        continue
      }
      tokens.push({ kind: 'bad', text: c, pos: i })
    }
    i++
  }
  return tokens
}

class Parser {
  private readonly tokens: Token[]
  private index = 0
  private depth = 0
  /** Qualifiers a bare value repeats (pcap's rule); null when there are none to repeat. */
  private lastQual: Qualifier | null = null

  constructor (private readonly text: string) {
    if (text.length > MAX_FILTER_LENGTH) {
      throw new FilterError(`the filter has ${text.length} characters, more than ${MAX_FILTER_LENGTH}`, text, '', MAX_FILTER_LENGTH)
    }
    this.tokens = tokenize(text)
  }

  parse (): FilterExpr {
    if (this.tokens.length === 0) return { kind: 'ip' }
    const expr = this.parseOr()
    const extra = this.peek()
    if (extra !== undefined) {
      if (extra.kind === 'rparen') this.fail(extra, 'has no matching "("')
      if (extra.kind === 'bad') this.fail(extra, 'is not part of the filter language', badHint(extra, this.tokens[this.index - 1]))
      this.fail(extra, 'was not expected here; a primitive must be followed by and, or, ")" or the end')
    }
    return expr
  }

  private peek (ahead = 0): Token | undefined {
    return this.tokens[this.index + ahead]
  }

  private next (): Token {
    const tok = this.tokens[this.index++]
    if (tok === undefined) throw new Error('parser read past the end')
    return tok
  }

  private fail (tok: Token | undefined, what: string, hint = ''): never {
    const token = tok?.text ?? ''
    const position = tok?.pos ?? this.text.length
    const subject = tok === undefined ? `the filter ends at position ${position},` : `"${token}" at position ${position}`
    const tail = hint === '' ? '' : ` (${hint})`
    throw new FilterError(`filter "${this.text}": ${subject} ${what}${tail}; supported: ${SUPPORTED_SYNTAX}`, this.text, token, position)
  }

  /** `thing` was expected at `tok` (or at the end) but is not there. */
  private expected (tok: Token | undefined, thing: string, hint = ''): never {
    return this.fail(tok, tok === undefined ? `where ${thing} was expected` : `is not ${thing}`, hint)
  }

  private enter (tok: Token): void {
    if (++this.depth > MAX_DEPTH) this.fail(tok, `nests more than ${MAX_DEPTH} levels deep`)
  }

  private parseOr (): FilterExpr {
    let left = this.parseAnd()
    while (this.peek()?.kind === 'or') {
      this.next()
      left = { kind: 'or', left, right: this.parseAnd() }
    }
    return left
  }

  private parseAnd (): FilterExpr {
    let left = this.parseUnary()
    while (this.peek()?.kind === 'and') {
      this.next()
      left = { kind: 'and', left, right: this.parseUnary() }
    }
    return left
  }

  private parseUnary (): FilterExpr {
    const tok = this.peek()
    if (tok?.kind !== 'not') return this.parsePrimary()
    this.next()
    this.enter(tok)
    const operand = this.parseUnary()
    this.depth--
    return { kind: 'not', operand }
  }

  private parsePrimary (): FilterExpr {
    const tok = this.peek()
    if (tok === undefined) return this.expected(tok, PRIMITIVE)
    switch (tok.kind) {
      case 'lparen': {
        this.next()
        this.enter(tok)
        const outer = this.lastQual
        const inner = this.parseOr()
        const close = this.peek()
        if (close?.kind !== 'rparen') {
          if (close === undefined) this.fail(tok, 'is never closed')
          this.fail(close, 'was not expected here; expected and, or or ")"')
        }
        this.next()
        this.depth--
        // pcap: after "( ... )" a bare value repeats the qualifiers in force before "("
        this.lastQual = outer
        return inner
      }
      case 'rparen':
        return this.expected(tok, PRIMITIVE)
      case 'and':
      case 'or':
        return this.fail(tok, 'needs a primitive on its left')
      case 'bad':
        return this.fail(tok, 'is not part of the filter language', badHint(tok, this.tokens[this.index - 1]))
      case 'not':
        throw new Error('unreachable: not is handled by parseUnary')
      case 'word':
        return this.parseWord(tok)
    }
  }

  private parseWord (tok: Token): FilterExpr {
    const word = tok.text
    if (word === 'tcp' || word === 'ip') {
      this.next()
      const after = this.peek()
      if (after?.kind === 'word' && (DIRECTIONS.has(after.text) || TYPES.has(after.text))) {
        return this.parseQualified(word)
      }
      if (after?.kind === 'bad' && after.text === '[') {
        this.fail(after, 'is not part of the filter language', `byte offsets like ${word}[13] are not supported`)
      }
      this.lastQual = null
      return { kind: word }
    }
    if (DIRECTIONS.has(word) || TYPES.has(word)) return this.parseQualified('default')
    if (/^[0-9]/.test(word)) {
      if (this.lastQual === null) {
        const example = /^[0-9]+$/.test(word) ? `port ${word}` : word.includes('/') ? `net ${word}` : `host ${word}`
        this.fail(tok, 'is a value without a qualifier', `write e.g. "${example}"`)
      }
      this.next()
      return this.primitive(this.lastQual, tok, true)
    }
    const why = UNSUPPORTED[word]
    if (why !== undefined) this.fail(tok, 'is a pcap keyword this filter language does not support', why)
    if (UNSUPPORTED[word.toLowerCase()] !== undefined || ['tcp', 'ip', 'host', 'net', 'port', 'portrange', 'src', 'dst', 'and', 'or', 'not'].includes(word.toLowerCase())) {
      this.fail(tok, 'is not a keyword', 'keywords are lower case')
    }
    return this.fail(tok, 'is not a keyword of the filter language', 'host names are not looked up; write an IPv4 address')
  }

  /** `[tcp|ip] [src|dst|src or dst|src and dst] [host|net|port|portrange] value` */
  private parseQualified (proto: 'tcp' | 'ip' | 'default'): FilterExpr {
    let dir: Direction = 'src or dst'
    const dirTok = this.peek() as Token
    if (DIRECTIONS.has(dirTok.text)) {
      this.next()
      dir = dirTok.text as Direction
      const op = this.peek()
      const other = this.peek(1)
      if ((op?.kind === 'or' || op?.kind === 'and') && other?.kind === 'word' && DIRECTIONS.has(other.text) && other.text !== dirTok.text) {
        this.index += 2
        dir = op.kind === 'or' ? 'src or dst' : 'src and dst'
      }
    }
    let type: AddrType = 'default'
    const typeTok = this.peek()
    if (typeTok?.kind === 'word' && TYPES.has(typeTok.text)) {
      this.next()
      type = typeTok.text as AddrType
    }
    if (proto === 'tcp' && type === 'default') {
      this.fail(typeTok, `needs "port" or "portrange" before it after "tcp ${dirTok.text}"`, '"tcp" qualifies only port and portrange')
    }
    if (proto === 'tcp' && (type === 'host' || type === 'net')) {
      this.fail(typeTok, 'cannot follow "tcp"', `"tcp" qualifies only port and portrange; write "tcp and ${type} ..."`)
    }
    if (proto === 'ip' && (type === 'port' || type === 'portrange')) {
      this.fail(typeTok, `cannot follow "ip"`, `write "tcp ${type} ..." or just "${type} ..."`)
    }
    const value = this.peek()
    if (value?.kind !== 'word' || TYPES.has(value.text) || DIRECTIONS.has(value.text)) {
      const after = type === 'default' ? dirTok.text : type
      this.expected(value, `the value of "${after}"`, hintFor(type))
    }
    this.next()
    const qual: Qualifier = { dir, type, proto }
    const expr = this.primitive(qual, value)
    this.lastQual = qual
    return expr
  }

  /** Builds the primitive for `value` under the qualifiers `q` (also consumes `mask M` after a net). */
  private primitive (q: Qualifier, value: Token, continued = false): FilterExpr {
    const { dir } = q
    const text = value.text
    let type = q.type
    if (type === 'default') {
      type = text.includes('/') || this.peek()?.text === 'mask' ? 'net' : 'host'
    }
    switch (type) {
      case 'host': {
        if (text.includes('/')) this.fail(value, 'is a network, not a host', `write "net ${text}"`)
        if (continued && /^[0-9]+$/.test(text)) {
          this.fail(value, 'is not an IPv4 address', `a bare value repeats the previous qualifier, here "host"; write "port ${text}" for a port`)
        }
        const parts = parseDotted(text)
        if (parts === undefined) {
          this.fail(value, 'is not an IPv4 address', /^[0-9.]+$/.test(text) ? 'octets are 0-255' : text.includes(':') ? 'only IPv4 is captured' : 'host names are not looked up; write a dotted quad')
        }
        if (parts.length !== 4) this.fail(value, 'is not a full a.b.c.d address', `for a network write "net ${text}"`)
        return { kind: 'host', dir, addr: octetsToU32(parts) }
      }
      case 'net': return this.net(dir, value)
      case 'port': return { kind: 'port', dir, port: this.port(value, text) }
      case 'portrange': {
        const m = /^([^-]+)-([^-]+)$/.exec(text)
        if (m === null) this.fail(value, 'is not a port range', 'write it as N-M without spaces, e.g. portrange 8000-8100')
        let low = this.port(value, m[1] as string)
        let high = this.port(value, m[2] as string)
        if (low > high) [low, high] = [high, low]
        return { kind: 'portrange', dir, low, high }
      }
    }
  }

  private port (tok: Token, text: string): number {
    if (/^(0|[1-9][0-9]*)$/.test(text)) {
      const n = Number(text)
      if (n <= 65535) return n
      this.fail(tok, 'is not a port', 'ports are 0-65535')
    }
    if (/^[0-9]+$/.test(text)) this.fail(tok, 'is not a port', 'write ports in decimal without leading zeros')
    if (/^[A-Za-z]/.test(text)) this.fail(tok, 'is not a port', 'service names are not looked up; write the number')
    return this.fail(tok, 'is not a port', 'ports are decimal numbers 0-65535')
  }

  private net (dir: Direction, value: Token): FilterExpr {
    const text = value.text
    const slash = text.indexOf('/')
    const addrText = slash < 0 ? text : text.slice(0, slash)
    const parts = parseDotted(addrText)
    if (parts === undefined) this.fail(value, 'is not an IPv4 network', 'write a.b.c.d/N, a.b.c.d mask m.m.m.m or a.b')
    const addr = octetsToU32(parts)
    let mask: number
    if (slash >= 0) {
      const bitsText = text.slice(slash + 1)
      if (!/^(0|[1-9][0-9]?)$/.test(bitsText) || Number(bitsText) > 32) this.fail(value, 'has a bad prefix length', 'write /0 to /32')
      mask = prefixMask(Number(bitsText))
    } else if (this.peek()?.text === 'mask') {
      const maskKw = this.next()
      const maskTok = this.peek()
      const maskParts = maskTok?.kind === 'word' ? parseDotted(maskTok.text) : undefined
      if (maskParts?.length !== 4) this.fail(maskTok ?? maskKw, 'is not a netmask', 'write mask m.m.m.m, e.g. mask 255.255.0.0')
      this.next()
      mask = octetsToU32(maskParts)
    } else {
      mask = prefixMask(8 * parts.length)
    }
    if (((addr & ~mask) >>> 0) !== 0) {
      this.fail(value, 'has bits set outside its netmask', 'pcap refuses this too; clear the host bits')
    }
    return { kind: 'net', dir, addr, mask }
  }
}

function hintFor (type: AddrType): string {
  switch (type) {
    case 'host': return 'e.g. host 10.0.0.1'
    case 'net': return 'e.g. net 10.1.0.0/16'
    case 'port': return 'e.g. port 80'
    case 'portrange': return 'e.g. portrange 8000-8100'
    default: return 'e.g. src host 10.0.0.1 or src port 80'
  }
}

function badHint (tok: Token, before: Token | undefined): string {
  if (tok.text === '[') return before === undefined ? 'byte offsets are not supported' : `byte offsets like ${before.text}[13] are not supported`
  if (tok.text === '&' || tok.text === '|') return 'for logic write &&, ||, and, or; bit masks are not supported'
  if (/^[=<>!+*%^]/.test(tok.text)) return 'arithmetic and comparisons are not supported'
  return 'unexpected character'
}

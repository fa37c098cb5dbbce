import { CAPTURE_RING_NOTES, MAX_TIMEOUT_SECONDS } from './intercept-options.js'
import { ConfigCodes, defineTable } from './table.js'
import {
  type CaptureInput,
  type InterceptAddress,
  type TargetMapping,
  explicitClientEntries,
  parseCaptureInput,
  parseChoice,
  parseClientPool,
  parseDeviceName,
  parseFilter,
  parseInteger,
  parseInterceptList,
  parseIpv4,
  parsePath,
  parsePort,
  parseSwitch,
  parseTargetMappings
} from './values.js'

/** Which control-channel dialect tcpcopy speaks (PROTOCOL.md): 1.x (intercept 1.x) or 0.9 (tcpcopy 0.9's intercept). */
export type TcpcopyProtocol = '1.x' | '0.9'

/** The resolved options of tcpcopy. Field ↔ flag: see `tcpcopyOptions` or docs/config.md. */
export interface TcpcopyConfig {
  /** -x: what to copy where. */
  readonly targets: readonly TargetMapping[]
  /** -c: client source addresses to use instead of the captured ones; [] = keep them. */
  readonly clients: readonly string[]
  /** -H: source address to use instead of 127.0.0.1. */
  readonly replaceLocalhost: string | undefined
  /** -s: intercepts to connect to, with -p filled in where no port was given. */
  readonly intercepts: readonly InterceptAddress[]
  /** -p: intercept port for -s entries without one. */
  readonly port: number
  /** -C: control connections per intercept. */
  readonly connections: number
  /** -n: copies of each session (1 = each session once). */
  readonly copies: number
  /** -f: port-shift factor, distinct per tcpcopy instance. */
  readonly portShift: number
  /** -r: percentage of sessions to copy, 1-100 (0 on input means 100). */
  readonly percentage: number
  /** -g */
  readonly gradual: boolean
  /** -O: replay only sessions whose SYN was captured. */
  readonly onlyComplete: boolean
  /** -W sets this to false: send the next request without waiting for the response. */
  readonly wait: boolean
  /** -t: seconds without a response before a session is dropped. */
  readonly sessionTimeout: number
  /** -k: seconds an idle established session is kept. */
  readonly keepaliveTimeout: number
  /** -M */
  readonly mtu: number
  /** -D: MSS advertised in faked SYNs. */
  readonly mss: number
  /** -S: pcap snapshot length. */
  readonly snaplen: number
  /** -R: fixed RTT in ms; 0 = measure it. */
  readonly rtt: number
  /** -U: per-session memory pool, KiB (tuning hint). */
  readonly poolSize: number
  /** -m: exit when the memory held (V8 heap and buffers) grows beyond this many MiB. */
  readonly maxMemory: number
  /** -i: capture method and interfaces, or the pcap file to replay. */
  readonly input: CaptureInput
  /** -F: pcap filter; undefined = generated from -x. */
  readonly filter: string | undefined
  /** --capture-ring: live capture through a TPACKET_V3 ring instead of recvmmsg. */
  readonly captureRing: boolean
  /** -B: pcap buffer, MiB. */
  readonly bufferSize: number
  /** --wake-interval: live capture, least ms between two I/O turns while packets keep coming; 0 = none. */
  readonly wakeInterval: number
  /** -o: send Ethernet frames on this interface (pcap-send); needs MACs in -x. */
  readonly outputDevice: string | undefined
  /** -a: offline replay speed factor. */
  readonly accelerate: number
  /** -I: offline gaps longer than this many ms are skipped; 0 = never. */
  readonly idleGap: number
  /** -T: offline replays. */
  readonly replays: number
  /** --eof-wait: seconds to wait for the target's last responses after the end of the file. */
  readonly eofWait: number
  /** -L: keep running without intercept and reconnect every 12 s. */
  readonly lonely: boolean
  /** -l */
  readonly logFile: string
  /** -P */
  readonly pidfile: string | undefined
  /** -d */
  readonly daemon: boolean
  /** --protocol */
  readonly protocol: TcpcopyProtocol
  /** --no-combined sets this to false. */
  readonly combined: boolean
  /** --payload: response records carry up to 128 payload bytes. */
  readonly payload: boolean
}

const SWITCH = 'a switch (true/false, 1/0, yes/no, on/off)'

/** The -c text without the entries that are target IPs (a pool that would be accepted), or a sample pool. */
function poolWithout (text: string, targetIps: ReadonlySet<string>): string {
  const rest = text.split(',').map((e) => e.trim()).filter((e) => e !== '' && !targetIps.has(e))
  return rest.length > 0 ? rest.join(',') : '10.88.0.x'
}

/** -C: an integer up to 16; 0 and negative values become 1 (PROTOCOL.md §1). */
function parseConnections (text: string): number {
  if (/^-[0-9]+$/.test(text)) {
    parseInteger(text.slice(1), 0, Number.MAX_SAFE_INTEGER)
    return 1
  }
  return Math.max(1, parseInteger(text, 0, 16))
}

const TIMEOUT = `a number of seconds 1-${MAX_TIMEOUT_SECONDS}`

export const tcpcopyOptions = defineTable<TcpcopyConfig>({
  program: 'tcpcopy',
  summary: 'Captures live requests (or reads a pcap file) and replays them to a target server; learns the target\'s responses from intercept.',
  entries: {
    targets: {
      short: 'x',
      value: 'map,…',
      type: 'a comma-separated list of up to 256 mappings [onIP:]onPort-tgtIP:tgtPort',
      required: true,
      parse: parseTargetMappings(256),
      example: '80-10.0.0.2:8080',
      help: 'copy requests for [onIP:]onPort to tgtIP:tgtPort (pcap-send form: onPort@srcMAC-tgtIP:tgtPort@nexthopMAC)',
      notes: 'Without onIP, packets to onPort on any local address are copied. An online address mapped twice is an error (the original silently uses the first).'
    },
    clients: {
      short: 'c',
      value: 'ip,…',
      type: 'a comma-separated list of IPv4 addresses or a.b.c.x ranges, at most 4096 addresses',
      default: [],
      defaultText: 'none (keep the captured client address)',
      parse: parseClientPool(4096),
      example: '10.88.0.x',
      help: 'replace the client source address with one of these; a.b.c.x means a.b.c.1-a.b.c.254',
      notes: '"*" is refused. Duplicates are dropped. An address equal to a target IP is an error when listed explicitly; when it comes from an a.b.c.x range it is dropped with a warning (the original drops it silently). Must not include the address this host uses to reach intercept.'
    },
    replaceLocalhost: {
      short: 'H',
      value: 'ip',
      type: 'a dotted-quad IPv4 address',
      default: undefined,
      parse: parseIpv4,
      example: '10.0.0.1',
      help: 'use this source address instead of 127.0.0.1 when the target is not local'
    },
    intercepts: {
      short: 's',
      value: 'ip[:port],…',
      type: 'a comma-separated list of up to 32 intercept addresses ip[:port]',
      default: [],
      defaultText: 'required with --protocol 1.x; each target IP of -x at -p with 0.9',
      parse: parseInterceptList(32),
      example: '10.0.0.30',
      help: 'intercept(s) to connect to; entries without a port use -p',
      notes: 'Required with the 1.x protocol, as in tcpcopy 1.x (offline replay too: the responses still come from intercept). With --protocol 0.9 it may be omitted: tcpcopy then connects to the intercept on each target, as 0.9 did.'
    },
    port: {
      short: 'p',
      value: 'port',
      type: 'a port number 1-65535',
      default: 36524,
      parse: parsePort,
      example: '36524',
      help: 'intercept port for -s entries that do not name one'
    },
    connections: {
      short: 'C',
      value: 'n',
      type: 'an integer up to 16 (0 or less means 1)',
      default: 2,
      parse: parseConnections,
      example: '4',
      help: 'control connections per intercept',
      notes: 'tcpcopy 1.x accepts 1-11, 0.9 accepts 1-16; here up to 16. As in the originals, a value of 0 or less becomes 1 (with a warning).'
    },
    copies: {
      short: 'n',
      value: 'n',
      type: 'an integer 1-1023',
      default: 1,
      parse: (t) => parseInteger(t, 1, 1023),
      example: '2',
      help: 'copies of each session (each extra copy uses another client port)'
    },
    portShift: {
      short: 'f',
      value: 'n',
      type: 'an integer 0-1023',
      default: 0,
      parse: (t) => parseInteger(t, 0, 1023),
      example: '1',
      help: 'port-shift factor; give each tcpcopy instance feeding one intercept a different one',
      notes: 'The original keeps this in an 8-bit field, so values above 255 wrap; that quirk is not reproduced: the whole value 0-1023 (as the usage text says) is used.'
    },
    percentage: {
      short: 'r',
      value: 'percent',
      type: 'an integer 0-100 (0 and 100 both mean all)',
      default: 100,
      defaultText: '100 (all)',
      parse: (t) => parseInteger(t, 0, 100) || 100,
      example: '50',
      help: 'copy this percentage of sessions (0 or 100: all)',
      notes: 'Stored as 100 when 0 is given, so "keep when k < percentage" needs no special case. The original treats 100-127 as all and wraps larger values; here they are errors.'
    },
    gradual: {
      short: 'g',
      type: SWITCH,
      parse: parseSwitch,
      example: '',
      help: 'ramp the copied percentage up by 1 per second from the first packet'
    },
    onlyComplete: {
      short: 'O',
      type: SWITCH,
      parse: parseSwitch,
      example: '',
      help: 'replay only sessions whose SYN was captured'
    },
    wait: {
      short: 'W',
      negate: true,
      type: SWITCH,
      defaultText: 'wait for each response',
      parse: parseSwitch,
      example: '',
      help: 'send the next request without waiting for the response to the previous one'
    },
    sessionTimeout: {
      short: 't',
      value: 'seconds',
      type: TIMEOUT,
      default: 600,
      parse: (t) => parseInteger(t, 1, MAX_TIMEOUT_SECONDS),
      example: '600',
      help: 'drop a session that has had no response for this long',
      notes: 'Default as tcpcopy 1.x (0.9 used 120).'
    },
    keepaliveTimeout: {
      short: 'k',
      value: 'seconds',
      type: TIMEOUT,
      default: (c) => Math.min(c.sessionTimeout + 120, MAX_TIMEOUT_SECONDS),
      defaultText: '-t + 120',
      parse: (t) => parseInteger(t, 1, MAX_TIMEOUT_SECONDS),
      example: '720',
      help: 'drop an idle established session after this long',
      notes: 'Default as tcpcopy 1.x (0.9 used -t + 1200).'
    },
    mtu: {
      short: 'M',
      value: 'bytes',
      type: 'an integer 68-65535',
      default: 1500,
      parse: (t) => parseInteger(t, 68, 65535),
      example: '1500',
      help: 'largest IP packet sent to the target; bigger captured packets are split',
      notes: '68 is the smallest MTU IPv4 allows.'
    },
    mss: {
      short: 'D',
      value: 'bytes',
      type: 'an integer 1-65495',
      default: 1460,
      parse: (t) => parseInteger(t, 1, 65495),
      example: '1460',
      help: 'MSS advertised in faked SYNs',
      notes: 'As in tcpcopy 1.x; 0.9 used -S for this.'
    },
    snaplen: {
      short: 'S',
      value: 'bytes',
      type: 'an integer 64-65535',
      default: 65535,
      parse: (t) => parseInteger(t, 64, 65535),
      example: '65535',
      help: 'pcap snapshot length',
      notes: 'As in tcpcopy 1.x, where -S is the snaplen (0.9 used -S for the MSS, see -D). Needs pcap capture (-i).'
    },
    rtt: {
      short: 'R',
      value: 'ms',
      type: 'a number of milliseconds 0-60000',
      default: 0,
      defaultText: '0 (measure)',
      parse: (t) => parseInteger(t, 0, 60000),
      example: '10',
      help: 'use this RTT instead of the measured one'
    },
    poolSize: {
      short: 'U',
      value: 'KiB',
      type: 'an integer 1-1024',
      default: 1,
      parse: (t) => parseInteger(t, 1, 1024),
      example: '1',
      help: 'accepted for compatibility and ignored (tuned the original\'s per-session allocator)',
      notes: 'In tcpcopy 1.x -U sized the memory pool each session allocates from (a tuning knob of its C allocator). Here the packets of all sessions live in shared slabs that are handed back when empty, so there is no per-session pool to size: -U is accepted so existing command lines still run, and a warning says it has no effect. Bound the memory with -m instead.'
    },
    maxMemory: {
      short: 'm',
      value: 'MiB',
      type: 'an integer 1-1048576',
      default: 1024,
      parse: (t) => parseInteger(t, 1, 1048576),
      example: '1024',
      help: 'exit when the memory held grows beyond this (checked every 60 s)',
      notes: 'Default as the 1.x usage text (its code used 2048; 0.9 used 512). The memory held is the V8 heap in use plus the buffers outside it (packet slabs, the WASM memory); the original compared the RSS, which can stay at its peak after a burst.'
    },
    input: {
      short: 'i',
      value: 'devs|file',
      type: 'a comma-separated list of up to 32 interface names ("any" = all), or a pcap file (a path containing "/" or ending in .pcap, .pcapng or .cap)',
      default: { kind: 'raw-socket' },
      defaultText: 'raw socket, inbound TCP on all interfaces',
      parse: parseCaptureInput(32),
      example: 'eth0',
      help: 'capture with pcap on these interfaces, or replay a pcap file (offline)',
      notes: 'Interfaces and files are told apart by the text: write ./name.pcap for a file in the current directory.'
    },
    filter: {
      short: 'F',
      value: 'filter',
      type: 'a pcap filter expression shorter than 4096 characters',
      default: undefined,
      defaultText: 'generated from -x',
      parse: parseFilter,
      example: 'tcp and dst port 80',
      help: 'pcap filter for the capture (needs -i)'
    },
    captureRing: {
      type: SWITCH,
      parse: parseSwitch,
      example: '',
      help: "live capture through an mmap'ed TPACKET_V3 ring instead of recvmmsg",
      notes: CAPTURE_RING_NOTES
    },
    bufferSize: {
      short: 'B',
      value: 'MiB',
      type: 'an integer 1-2047',
      default: 16,
      parse: (t) => parseInteger(t, 1, 2047),
      example: '16',
      help: 'pcap buffer size (needs -i)'
    },
    wakeInterval: {
      value: 'ms',
      type: 'an integer 0-100',
      default: 2,
      parse: (t) => parseInteger(t, 0, 100),
      example: '2',
      help: 'live capture: while packets keep coming, leave at least this long between two turns of the event loop, so that each turn handles all that came meanwhile; 0 handles each wake-up at once',
      notes: 'Trades delay for CPU: a busy tcpcopy wakes up far less often (at most once per interval), and each copied packet waits at most this long more; an idle one still answers the first packet at once. ' +
        'The session timers that hold back no request (retransmission, probes, the delayed ACK of a complete response, cleanup) get the same slack, so that a turn which packets bring anyway usually handles them; the timer that sends the next buffered request stays exact. ' +
        'In the tcpcopy bench (traditional; medians of 3 rounds at 2 ms against 1 round at 0) the default of 2 ms cut the CPU per request by 24-53 % against 0 at keep-alive 1500-3000 req/s and close 200-1000 req/s, with no change beyond the noise at keep-alive 500 req/s; the copy delay (target log time minus online log time) went from 0-1 ms to 3-11 ms at the median and 9-25 ms at the 99th percentile. Use 0 where the delay matters more than the CPU. The original has no such option.'
    },
    outputDevice: {
      short: 'o',
      value: 'dev',
      type: 'an interface name',
      default: undefined,
      parse: parseDeviceName,
      example: 'eth0',
      help: 'send Ethernet frames on this interface (pcap-send); -x must then carry MAC addresses'
    },
    accelerate: {
      short: 'a',
      value: 'factor',
      type: 'an integer 1-10000',
      default: 1,
      parse: (t) => parseInteger(t, 1, 10000),
      example: '2',
      help: 'offline: replay this many times faster than recorded'
    },
    idleGap: {
      short: 'I',
      value: 'ms',
      type: 'a number of milliseconds 0-86400000',
      default: 0,
      defaultText: '0 (never skip)',
      parse: (t) => parseInteger(t, 0, 86400000),
      example: '1000',
      help: 'offline: skip gaps between packets longer than this'
    },
    replays: {
      short: 'T',
      value: 'n',
      type: 'an integer 1-1000000',
      default: 1,
      parse: (t) => parseInteger(t, 1, 1000000),
      example: '3',
      help: 'offline: replay the file this many times'
    },
    eofWait: {
      value: 's',
      type: 'a number of seconds 0-3600',
      default: 120,
      parse: (t) => parseInteger(t, 0, 3600),
      example: '5',
      help: 'offline: after the end of the file, wait at most this long for the replayed sessions to finish',
      notes: 'The original always waits 120 s. Here the wait ends early once every replayed session has finished (closed, reset or timed out).'
    },
    lonely: {
      short: 'L',
      type: SWITCH,
      parse: parseSwitch,
      example: '',
      help: 'keep running when every intercept is gone, reconnecting every 12 s'
    },
    logFile: {
      short: 'l',
      value: 'file',
      type: 'a file path',
      default: 'error_tcpcopy.log',
      parse: parsePath,
      example: '/var/log/tcpcopy.log',
      help: 'log file (opened for append)'
    },
    pidfile: {
      short: 'P',
      value: 'file',
      type: 'a file path',
      default: undefined,
      parse: parsePath,
      example: '/run/tcpcopy.pid',
      help: 'write the process id to this file',
      notes: 'The original parses -P but never writes the file; this version writes it.'
    },
    daemon: {
      short: 'd',
      type: SWITCH,
      parse: parseSwitch,
      example: '',
      help: 'run in the background'
    },
    protocol: {
      value: 'version',
      type: '"1.x" or "0.9"',
      default: '1.x',
      parse: parseChoice(['1.x', '0.9'] as const),
      example: '0.9',
      help: 'control-channel dialect: 1.x (intercept 1.x) or 0.9 (the intercept of tcpcopy 0.9)'
    },
    combined: {
      negate: true,
      type: SWITCH,
      defaultText: 'combined',
      parse: parseSwitch,
      example: '',
      help: 'expect one response record per read, without the count prefix (intercept built with --disable-combined)'
    },
    payload: {
      type: SWITCH,
      parse: parseSwitch,
      example: '',
      help: 'response records carry up to 128 payload bytes (intercept built with payload records)'
    }
  },
  rules: [
    '-x/--targets is required (TC_ERR_CONFIG_REQUIRED).',
    '-s/--intercepts is required with --protocol 1.x (TC_ERR_CONFIG_REQUIRED); with 0.9 it defaults to every distinct target IP of -x at port -p. Entries without a port get -p; duplicates are dropped.',
    '-c/--clients must not list a target IP of -x explicitly (TC_ERR_CONFIG_CLIENTS); target IPs produced by an a.b.c.x range are dropped from the pool with a warning.',
    '-o/--output-device needs every -x mapping in the pcap-send form with both MAC addresses (TC_ERR_CONFIG_TARGETS); MAC addresses in -x without -o are an error (TC_ERR_CONFIG_CONFLICT).',
    '-a/--accelerate, -I/--idle-gap and -T/--replays need offline replay (-i <file>); -F/--filter, -S/--snaplen and -B/--buffer-size need pcap capture or offline replay (-i). Otherwise TC_ERR_CONFIG_CONFLICT.',
    'With -i <interfaces> and no -F, a mapping without onIP whose online and target ports are equal is refused (TC_ERR_CONFIG_REQUIRED): the generated filter would also match tcpcopy\'s own output, as in tcpcopy 1.x.'
  ],
  notes: [
    'Short flags follow tcpcopy 1.x where 0.9 differs: -S is the pcap snaplen and -D the MSS (0.9 used -S for the MSS).',
    'Build variants of the original (pcap capture, pcap-send, offline, combined, payload, 0.9 vs 1.x dialect) are run-time options here. Not provided: -u (MySQL replay), UDP, single mode.',
    'The default log file is error_tcpcopy.log in the start directory, as in 0.9 (1.x used /usr/local/tcpcopy/logs/error_tcpcopy.log).',
    'The original exits on any option problem; here every problem is a ConfigError naming the option, the value, where it came from and an accepted example.'
  ],
  check (c, ctx) {
    // -C: values <= 0 become 1, as in the originals
    const connText = ctx.text('connections')
    if (connText !== undefined && Number(connText) <= 0) {
      ctx.warn(`${ctx.describe('connections')} is ${connText}: taken as 1 control connection per intercept (values of 0 or less become 1); example: -C 2`)
    }
    // -U: accepted, no effect here
    if (ctx.given('poolSize')) {
      ctx.warn(`${ctx.describe('poolSize')} has no effect: it sized the per-session memory pool of the original's C allocator, and this tcpcopy keeps the packets of all sessions in shared slabs; drop -U (bound the memory with -m/--max-memory)`)
    }
    // -s: fill -p, default for 0.9, required for 1.x
    if (!ctx.given('intercepts')) {
      if (c.protocol === '1.x') {
        ctx.fail(ConfigCodes.required, `-s/--intercepts is required with the 1.x protocol (${ctx.source('protocol')}): name the intercept host(s); example: -s 10.0.0.30 (or TCPCOPY_INTERCEPTS=10.0.0.30, or key intercepts in the config file)`)
      }
      c.intercepts = c.targets.map((t) => ({ ip: t.targetIp, port: 0 }))
    }
    const seen = new Set<string>()
    c.intercepts = c.intercepts
      .map((s) => ({ ip: s.ip, port: s.port === 0 ? c.port : s.port }))
      .filter((s) => {
        const key = `${s.ip}:${s.port}`
        if (seen.has(key)) return false
        seen.add(key)
        return true
      })

    // -c against target IPs
    const targetIps = new Set(c.targets.map((t) => t.targetIp))
    if (c.clients.some((ip) => targetIps.has(ip))) {
      const explicit = explicitClientEntries(ctx.text('clients') ?? '')
      const listed = [...explicit].find((ip) => targetIps.has(ip))
      if (listed !== undefined) {
        ctx.fail(ctx.code('clients'), `${ctx.describe('clients')} lists ${listed}, which is a target IP in -x/--targets; a copied client cannot use the target's own address, remove it; example: -c ${poolWithout(ctx.text('clients') ?? '', targetIps)}`)
      }
      const dropped = c.clients.filter((ip) => targetIps.has(ip))
      c.clients = c.clients.filter((ip) => !targetIps.has(ip))
      ctx.warn(`${ctx.name('clients')}: dropped ${dropped.join(', ')} from the client pool because ${dropped.length === 1 ? 'it is a target IP' : 'they are target IPs'} in -x/--targets`)
    }

    // -o and MAC addresses
    const withMac = c.targets.filter((t) => t.sourceMac !== undefined || t.nextHopMac !== undefined)
    if (c.outputDevice !== undefined) {
      const bare = c.targets.find((t) => t.sourceMac === undefined || t.nextHopMac === undefined)
      if (bare !== undefined) {
        ctx.fail(ctx.code('targets'), `${ctx.describe('targets')} maps port ${bare.onlinePort} without both MAC addresses, but ${ctx.describe('outputDevice')} sends Ethernet frames and needs them; example: -x 80@00:11:22:33:44:55-10.0.0.2:8080@66:77:88:99:aa:bb`)
      }
    } else if (withMac.length > 0) {
      ctx.fail(ConfigCodes.conflict, `${ctx.describe('targets')} carries MAC addresses, which are used only with -o/--output-device (pcap-send); add -o <dev> or remove the @MAC parts`)
    }

    // options that need a particular input
    const kind = c.input.kind
    const inputWhy = ctx.given('input') ? ctx.describe('input') : 'no -i/--input was given (raw socket capture)'
    if (kind !== 'offline') {
      for (const field of ['accelerate', 'idleGap', 'replays'] as const) {
        if (ctx.given(field)) {
          ctx.fail(ConfigCodes.conflict, `${ctx.describe(field)} applies to offline replay only, but ${inputWhy}; give -i <file.pcap> or drop ${ctx.name(field)}`)
        }
      }
    }
    if (kind === 'raw-socket') {
      for (const field of ['filter', 'snaplen', 'bufferSize'] as const) {
        if (ctx.given(field)) {
          ctx.fail(ConfigCodes.conflict, `${ctx.describe(field)} applies to pcap capture only, but no -i/--input was given (raw socket capture); add -i <device> or drop ${ctx.name(field)}`)
        }
      }
    }
    if (kind === 'pcap' && c.filter === undefined) {
      const loop = c.targets.find((t) => t.onlineIp === undefined && t.onlinePort === t.targetPort)
      if (loop !== undefined) {
        const m = `${loop.onlinePort}-${loop.targetIp}:${loop.targetPort}`
        ctx.fail(ConfigCodes.required, `-F/--filter is required: with pcap capture (${ctx.describe('input')}) the filter generated from the mapping ${m} (no online IP, same port on both sides) would also match tcpcopy's own output; give the online IP (-x <onIP>:${m}) or a filter, e.g. -F 'tcp and dst port ${loop.onlinePort} and dst host <onIP>'`)
      }
    }
  }
})

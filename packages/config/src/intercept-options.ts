import { ConfigCodes, defineTable } from './table.js'
import {
  type Cidr,
  parseChoice,
  parseCidrList,
  parseDeviceList,
  parseFilter,
  parseInteger,
  parseIpv4,
  parseIpv4List,
  parsePath,
  parsePort,
  parseSwitch
} from './values.js'

export type InterceptMode = 'traditional' | 'advanced'

/** Records per combined message (COMB_MAX_NUM): 16, or 6 when records carry payload. */
export const COMBINED_MAX = 16
export const COMBINED_MAX_PAYLOAD = 6

/** Longest timer Node can arm, in whole seconds (2^31-1 ms). */
export const MAX_TIMEOUT_SECONDS = 2147483

/** The resolved options of intercept. Field ↔ flag: see `interceptOptions` or docs/config.md. */
export interface InterceptConfig {
  /** -x: response destinations that are passed through (ACCEPT) instead of routed and dropped. Traditional mode only. */
  readonly passlist: readonly string[]
  /** -b: listen address of the control channel. */
  readonly bind: string
  /** -d */
  readonly daemon: boolean
  /** -l */
  readonly logFile: string
  /** -p: control-channel listen port. */
  readonly port: number
  /** -P: written at start-up when set. */
  readonly pidfile: string | undefined
  /** -s: delay-table buckets; the router gets twice as many. */
  readonly hashSize: number
  /** -t: seconds a route may stay idle before it is removed. */
  readonly timeout: number
  /** -i: capture interfaces (advanced mode); [] = all interfaces. */
  readonly devices: readonly string[]
  /** -F: pcap filter (advanced mode). */
  readonly filter: string | undefined
  /** Advanced-mode capture through a TPACKET_V3 ring (the default); --no-capture-ring sets this to false: recvmmsg. */
  readonly captureRing: boolean
  /** -q: NFQUEUE maximum length; undefined = kernel default (1024). */
  readonly queueMaxlen: number | undefined
  /** -n: initial number of records per combined message. */
  readonly batchSize: number
  /** --mode: traditional (NFQUEUE verdicts on the target) or advanced (passive capture on an assistant). */
  readonly mode: InterceptMode
  /** --queue-num: NFQUEUE number (traditional mode). */
  readonly queueNum: number
  /** --dnat: route keys ignore the target IP. */
  readonly dnat: boolean
  /** --no-combined sets this to false: one record per write, no count prefix. */
  readonly combined: boolean
  /** --payload: records carry up to 128 payload bytes. */
  readonly payload: boolean
  /** --allow: networks that may open control connections; [] = everyone. */
  readonly allow: readonly Cidr[]
  /** --max-routes: router entry cap; the least recently used entry goes first. */
  readonly maxRoutes: number
}

const NONE = 'none'

/** Why tcpcopy's --capture-ring is an option and not the default (intercept states its own: INTERCEPT_CAPTURE_RING_NOTES). */
export const CAPTURE_RING_NOTES = 'The ring cut receive CPU per packet to 0.10-0.16x of recvmmsg in the native benchmark (npm run bench -w @tcpcopy/native-shim) and adds about 0.5 ms of delay per packet. Its 16 MiB are locked in memory per socket, and at low packet rates it holds fewer packets while the process is stalled (each block is handed over after 1 ms), so it is off by default.'

/** Why intercept's advanced mode receives through the ring by default, and what --no-capture-ring trades. */
export const INTERCEPT_CAPTURE_RING_NOTES = 'In advanced mode intercept receives through a TPACKET_V3 ring by default: 16 MiB (128 blocks of 128 KiB) per capture socket, ' +
  'one per -i device or one for all interfaces, each block handed over when it is full or after 1 ms. libpcap, which the original intercept 1.x captures with, also receives through a ' +
  'TPACKET_V3 ring on Linux. In the intercept benchmark (npm run bench -w @tcpcopy/cli, advanced mode) the ring drained a backlog of responses ' +
  'about twice as fast as recvmmsg (1132k against 551k responses/s) at 0.93 against 2.07 µs of CPU per response, and took 1.0 against 1.8 µs ' +
  'per response live. What it costs: its 16 MiB per socket are locked in memory from the start; at low packet rates a response waits up to ' +
  'about 1 ms for its block to be handed over before its header goes to tcpcopy; and since a block is handed over after 1 ms however little ' +
  'it holds, at low rates a stalled intercept has room for only about 128 ms of traffic. --no-capture-ring receives with recvmmsg from a ' +
  '32 MiB socket buffer instead (intercept asks for 16 MiB, which the kernel counts double), which rides out longer stalls at low rates, ' +
  'at about twice the CPU per response.'

export const interceptOptions = defineTable<InterceptConfig>({
  program: 'intercept',
  summary: 'Captures the target\'s responses to copied sessions and reports their headers to tcpcopy over TCP.',
  entries: {
    passlist: {
      short: 'x',
      value: 'ip,…',
      type: 'a comma-separated list of up to 256 IPv4 addresses',
      default: [],
      defaultText: NONE,
      parse: parseIpv4List(256),
      example: '10.0.0.1,10.0.0.2',
      help: 'pass responses to these destination IPs through instead of dropping them (traditional mode)',
      notes: 'The original allows 32 entries and parses them with inet_addr, which accepts forms like "10.1" or octal "010.0.0.1"; here only plain dotted quads are accepted.'
    },
    bind: {
      short: 'b',
      value: 'ip',
      type: 'a dotted-quad IPv4 address',
      default: '0.0.0.0',
      parse: parseIpv4,
      example: '10.0.0.30',
      help: 'listen address of the control channel',
      notes: 'The original silently listens on 0.0.0.0 when the address is invalid; here it is an error.'
    },
    daemon: {
      short: 'd',
      type: 'a switch (true/false, 1/0, yes/no, on/off)',
      parse: parseSwitch,
      example: '',
      help: 'run in the background'
    },
    logFile: {
      short: 'l',
      value: 'file',
      type: 'a file path',
      default: 'error_intercept.log',
      parse: parsePath,
      example: '/var/log/intercept.log',
      help: 'log file (opened for append; relative paths are resolved against the start directory)'
    },
    port: {
      short: 'p',
      value: 'port',
      type: 'a port number 1-65535',
      default: 36524,
      parse: parsePort,
      example: '36524',
      help: 'control-channel listen port'
    },
    pidfile: {
      short: 'P',
      value: 'file',
      type: 'a file path',
      default: undefined,
      parse: parsePath,
      example: '/run/intercept.pid',
      help: 'write the process id to this file',
      notes: 'The original parses -P but never writes the file; this version writes it.'
    },
    hashSize: {
      short: 's',
      value: 'n',
      type: 'an integer 1-16777216',
      default: 65536,
      parse: (t) => parseInteger(t, 1, 16777216),
      example: '65536',
      help: 'buckets of the delay table (responses waiting for their route); the route table gets twice as many',
      notes: 'The original 0.9 and 1.x used -s for the delay table only (their router had a fixed size); 0.6 sized both, the router with twice as many buckets, as here.'
    },
    timeout: {
      short: 't',
      value: 'seconds',
      type: `a number of seconds 1-${MAX_TIMEOUT_SECONDS}`,
      default: 120,
      parse: (t) => parseInteger(t, 1, MAX_TIMEOUT_SECONDS),
      example: '120',
      help: 'remove a route after it has been idle this long',
      notes: 'As in the man-page era (0.6). In intercept 0.9/1.x -t is accepted by getopt but has no handler and makes intercept exit; here it works.'
    },
    devices: {
      short: 'i',
      value: 'dev,…',
      type: 'a comma-separated list of up to 32 interface names ("any" = all)',
      default: [],
      defaultText: 'all interfaces',
      parse: parseDeviceList(32),
      example: 'eth0',
      help: 'capture on these interfaces; selects advanced mode'
    },
    filter: {
      short: 'F',
      value: 'filter',
      type: 'a pcap filter expression shorter than 4096 characters',
      default: undefined,
      defaultText: 'none (required in advanced mode)',
      parse: parseFilter,
      example: 'tcp and src port 8080',
      help: 'pcap filter for advanced mode, e.g. "tcp and src port 8080"'
    },
    captureRing: {
      negate: true,
      type: 'a switch (true/false, 1/0, yes/no, on/off)',
      defaultText: "an mmap'ed TPACKET_V3 ring (advanced mode)",
      parse: parseSwitch,
      example: '',
      help: "advanced mode: receive with recvmmsg from the socket buffer instead of through the mmap'ed TPACKET_V3 ring (traditional mode ignores it)",
      notes: INTERCEPT_CAPTURE_RING_NOTES
    },
    queueMaxlen: {
      short: 'q',
      value: 'n',
      type: 'an integer 1-4294967295',
      default: undefined,
      defaultText: 'kernel default (1024)',
      parse: (t) => parseInteger(t, 1, 4294967295),
      example: '4096',
      help: 'maximum length of the NFQUEUE queue (traditional mode)',
      notes: 'The original applies -q only when it is above 1024 and ignores smaller values; here every value is passed to the kernel.'
    },
    batchSize: {
      short: 'n',
      value: 'n',
      type: `an integer 0-${COMBINED_MAX} (0-${COMBINED_MAX_PAYLOAD} with --payload)`,
      default: (c) => c.payload ? COMBINED_MAX_PAYLOAD : COMBINED_MAX,
      defaultText: `${COMBINED_MAX} (${COMBINED_MAX_PAYLOAD} with --payload)`,
      parse: (t) => parseInteger(t, 0, COMBINED_MAX),
      example: '8',
      help: 'initial number of records per combined message (adapts at run time)',
      notes: `The original accepts 0 ≤ n < ${COMBINED_MAX} and silently ignores other values. Here ${COMBINED_MAX} (the default) is accepted too, and anything outside 0-${COMBINED_MAX} (0-${COMBINED_MAX_PAYLOAD} with --payload) is an error.`
    },
    mode: {
      value: 'mode',
      type: '"traditional" or "advanced"',
      default: (_c, given) => given('devices') ? 'advanced' : 'traditional',
      defaultText: 'advanced when -i is given, else traditional',
      parse: parseChoice(['traditional', 'advanced'] as const),
      example: 'advanced',
      help: 'traditional: NFQUEUE verdicts on the target host; advanced: passive capture on an assistant host',
      notes: 'The original chooses at build time (intercept 1.x builds advanced by default); here it is chosen at run time.'
    },
    queueNum: {
      value: 'n',
      type: 'a queue number 0-65535',
      default: 0,
      parse: (t) => parseInteger(t, 0, 65535),
      example: '0',
      help: 'NFQUEUE number to bind (traditional mode; match iptables --queue-num)',
      notes: 'The original always binds queue 0.'
    },
    dnat: {
      type: 'a switch (true/false, 1/0, yes/no, on/off)',
      parse: parseSwitch,
      example: '',
      help: 'ignore the target IP in route keys (target behind DNAT)'
    },
    combined: {
      negate: true,
      type: 'a switch (true/false, 1/0, yes/no, on/off)',
      defaultText: 'combined',
      parse: parseSwitch,
      example: '',
      help: 'send one record per write, without the count prefix (for peers built with --disable-combined)'
    },
    payload: {
      type: 'a switch (true/false, 1/0, yes/no, on/off)',
      parse: parseSwitch,
      example: '',
      help: 'records carry up to 128 payload bytes (peers built with payload records)'
    },
    allow: {
      value: 'cidr,…',
      type: 'a comma-separated list of up to 256 IPv4 networks (a.b.c.d/n, or a.b.c.d for one host)',
      default: [],
      defaultText: 'everyone',
      parse: parseCidrList(256),
      example: '10.77.0.0/24',
      help: 'only these addresses may open control connections',
      notes: 'New in this version. A network with host bits set (10.0.0.1/8) is an error.'
    },
    maxRoutes: {
      value: 'n',
      type: 'an integer 1-16777216',
      default: 1048576,
      parse: (t) => parseInteger(t, 1, 16777216),
      example: '1048576',
      help: 'most routes kept; the least recently used route is dropped first',
      notes: 'New in this version; stands in for the original\'s fixed-size router slots.'
    }
  },
  rules: [
    'The mode is advanced when -i/--devices is given, traditional otherwise; --mode overrides that. -i together with --mode traditional is an error (TC_ERR_CONFIG_CONFLICT).',
    '-x/--passlist, -q/--queue-maxlen and --queue-num apply to traditional mode only; giving them in advanced mode is an error (TC_ERR_CONFIG_CONFLICT).',
    '-F/--filter applies to advanced mode only (an error in traditional mode, TC_ERR_CONFIG_CONFLICT) and is required there, as in intercept 1.x (TC_ERR_CONFIG_REQUIRED).',
    `-n/--batch-size is an error with --no-combined (TC_ERR_CONFIG_CONFLICT), and must be at most ${COMBINED_MAX_PAYLOAD} with --payload (TC_ERR_CONFIG_BATCH_SIZE).`
  ],
  notes: [
    'Build modes of the original (traditional/advanced, combined, DNAT, payload) are run-time options here.',
    'The original exits with status -1 on any option problem; here every problem is a ConfigError naming the option, the value, where it came from and an accepted example.',
    'Not provided: -o (0.9 advanced, use -F), -D (1.x docker rewrite), -c and single mode, the ip_queue capture (removed from Linux in 3.5).',
    'The default log file is error_intercept.log in the start directory, as in 0.9 (1.x used /usr/local/intercept/logs/error_intercept.log).'
  ],
  check (c, ctx) {
    if (c.mode === 'traditional') {
      if (ctx.given('devices')) {
        ctx.fail(ConfigCodes.conflict, `${ctx.describe('devices')} needs advanced mode, but ${ctx.describe('mode')} is traditional; drop one of them`)
      }
      if (c.filter !== undefined) {
        ctx.fail(ConfigCodes.conflict, `${ctx.describe('filter')} applies to advanced mode only; add -i <device> (or --mode advanced), or drop ${ctx.name('filter')}`)
      }
    } else {
      const why = ctx.given('mode') ? `${ctx.describe('mode')} says so` : `${ctx.describe('devices')} was given`
      for (const field of ['queueMaxlen', 'queueNum'] as const) {
        if (ctx.given(field)) {
          ctx.fail(ConfigCodes.conflict, `${ctx.describe(field)} applies to traditional mode (NFQUEUE) only, but the mode is advanced because ${why}; drop ${ctx.name(field)}`)
        }
      }
      if (c.passlist.length > 0) {
        ctx.fail(ConfigCodes.conflict, `${ctx.describe('passlist')} applies to traditional mode only (advanced capture is passive: nothing is passed or dropped), but the mode is advanced because ${why}; drop ${ctx.name('passlist')}`)
      }
      if (c.filter === undefined) {
        ctx.fail(ConfigCodes.required, `-F/--filter is required in advanced mode (the mode is advanced because ${why}); example: ${ctx.example('filter')}`)
      }
    }
    if (!c.combined && ctx.given('batchSize')) {
      ctx.fail(ConfigCodes.conflict, `${ctx.describe('batchSize')} has no effect with ${ctx.describe('combined')}; drop one of them`)
    }
    if (c.payload && c.batchSize > COMBINED_MAX_PAYLOAD) {
      ctx.fail(ctx.code('batchSize'), `${ctx.name('batchSize')} must be 0-${COMBINED_MAX_PAYLOAD} with --payload (a combined message holds at most ${COMBINED_MAX_PAYLOAD} payload records), got "${c.batchSize}" (${ctx.source('batchSize')}); example: -n ${COMBINED_MAX_PAYLOAD}`)
    }
  }
})

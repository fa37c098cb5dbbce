// Typed wrappers over the NFQUEUE netlink code of the core
// (wasm/assembly/nfq.ts). The core builds and parses every netlink byte; these
// functions check arguments, turn statuses into errors and name the results.
//
// One cycle of an nfqueue intercept:
//   n = io.receive(MAX_BATCH)                      // datagrams → FRAMES, DESC_OFF
//   const batch = nfqParseBatch(core, n)           // → frame descriptors + ids
//   core.processDescribed(batch.frames, LinkType.Raw, now)
//   io.send(nfqWriteVerdicts(core, batch.frames, queueNum, seq)); seq += batch.frames
import { ConfigError, IoError } from '@tcpcopy/interface'
import { MAX_BATCH, NfqConfigOption, NfqStat, NfqCounter, NFQ_TYPE_PACKET, NFQ_TYPE_VERDICT, NFQ_TYPE_CONFIG } from '@tcpcopy/wasm'
import type { Core } from './core.js'
import { toCoreError } from './errors.js'

const OPT_QUEUE_MAXLEN = NfqConfigOption.QueueMaxLen
const OPT_FAIL_OPEN = NfqConfigOption.FailOpen
const OPT_ONE_DATAGRAM = NfqConfigOption.OneDatagram

/** The enum's member names in index order, camelCased: NfqStat.LastErrno → 'lastErrno'. */
function fieldNames<E extends Record<string, string | number>> (e: E, count: number): string[] {
  const names: string[] = []
  for (let i = 0; i < count; i++) {
    const name = e[i] as string
    names.push(name.charAt(0).toLowerCase() + name.slice(1))
  }
  return names
}
const STAT_FIELDS = fieldNames(NfqStat, NfqStat.Count) as Array<keyof NfqBatch>
const COUNTER_FIELDS = fieldNames(NfqCounter, NfqCounter.Count) as NfqCounterField[]
type NfqCounterField = 'datagrams' | 'messages' | 'packets' | 'noPayload' | 'acks' | 'errors' | 'malformed' |
  'truncated' | 'overflow' | 'ignored' | 'badDatagrams' | 'configMessages' | 'verdicts'

/** nlmsg_type of nfnetlink_queue messages: (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_*. */
export const NFQ_MSG_PACKET = NFQ_TYPE_PACKET
export const NFQ_MSG_VERDICT = NFQ_TYPE_VERDICT
export const NFQ_MSG_CONFIG = NFQ_TYPE_CONFIG
/** Bytes of one verdict message in the datagram nfqWriteVerdicts builds. */
export const NFQ_VERDICT_MESSAGE_BYTES = 32

export interface NfqConfigOptions {
  /** The queue number (iptables --queue-num), 0..65535. */
  queueNum: number
  /** Bytes of each packet the kernel copies (NFQNL_COPY_PACKET range), 1..65535. */
  copyRange: number
  /** Sets the kernel queue length limit (kernel default 1024) when given. */
  maxLen?: number
  /** Sets NFQA_CFG_F_FAIL_OPEN: the kernel accepts packets instead of dropping them when the queue is full. */
  failOpen?: boolean
  /** All messages in one datagram (default: one datagram per message, each acked on its own). */
  oneDatagram?: boolean
}

/** What each config message does, in the order nfqWriteConfig writes them. */
export type NfqConfigStepName = 'pf-unbind' | 'pf-bind' | 'bind' | 'params' | 'queue-maxlen' | 'fail-open'

export interface NfqConfigStep {
  step: NfqConfigStepName
  /** nlmsg_seq of the message; the kernel's ack or error carries the same seq. */
  seq: number
  /** A failure of this step is worth a warning only (old or new kernels differ here). */
  optional: boolean
}

/** What nfqParseBatch found in one batch of received datagrams. */
export interface NfqBatch {
  /** Frame descriptors now at DESC_OFF, packet ids at NFQ_IDS_OFF: pass to processDescribed and nfqWriteVerdicts. */
  frames: number
  datagrams: number
  messages: number
  /** NFQNL_MSG_PACKET messages seen (frames + those without an id or slot). */
  packets: number
  /** Packets given a zero-length frame (no payload or a bad attribute): the classifier drops them. */
  noPayload: number
  /** NLMSG_ERROR messages with error 0 (acks of config messages). */
  acks: number
  /** NLMSG_ERROR messages with a negative error. */
  errors: number
  /** errno of the last error message (positive), 0 when none. */
  lastErrno: number
  /** nlmsg_seq of the request the last error answers. */
  lastErrorSeq: number
  /** nlmsg_type of the request the last error answers (0 when not echoed). */
  lastErrorType: number
  malformed: number
  truncated: number
  /** Packets that found no descriptor slot (only with several packets per datagram): they got no verdict. */
  overflow: number
  ignored: number
  /** Datagram descriptors outside FRAMES. */
  badDatagrams: number
}

export type NfqCounters = Record<NfqCounterField, number>

function checkInt (name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`nfqueue "${name}" must be an integer ${min}..${max}, got ${String(value)}`, 'TC_ERR_CONFIG_NFQUEUE')
  }
  return value
}

/** The config messages nfqWriteConfig writes for `opts`, with their seqs (seq, seq+1, ...). */
export function nfqConfigSteps (opts: NfqConfigOptions, seq: number): NfqConfigStep[] {
  const names: NfqConfigStepName[] = ['pf-unbind', 'pf-bind', 'bind', 'params']
  if (opts.maxLen !== undefined) names.push('queue-maxlen')
  if (opts.failOpen === true) names.push('fail-open')
  return names.map((step, i) => ({ step, seq: (seq + i) >>> 0, optional: step === 'pf-unbind' || step === 'queue-maxlen' }))
}

/**
 * Writes the config datagrams that bind `opts.queueNum` (INTERCEPT.md §4.2) at
 * TX_OFF, described at TX_DESC_OFF, ready for PacketIo.send. Returns the
 * datagram count. Match the acks and errors to nfqConfigSteps(opts, seq).
 */
export function nfqWriteConfig (core: Core, opts: NfqConfigOptions, seq: number): number {
  const queueNum = checkInt('queueNum', opts.queueNum, 0, 0xffff)
  const copyRange = checkInt('copyRange', opts.copyRange, 1, 0xffff)
  const maxLen = opts.maxLen === undefined ? 0 : checkInt('maxLen', opts.maxLen, 1, 0xffffffff)
  checkInt('seq', seq, 0, 0xffffffff)
  const options = (opts.maxLen !== undefined ? OPT_QUEUE_MAXLEN : 0) |
    (opts.failOpen === true ? OPT_FAIL_OPEN : 0) | (opts.oneDatagram === true ? OPT_ONE_DATAGRAM : 0)
  const r = core.exports.nfqConfigBuild(queueNum, copyRange, maxLen, options, seq)
  if (r < 0) throw toCoreError(-r, 'nfqConfigBuild')
  return r
}

/**
 * Parses the n netlink datagrams io.receive placed in FRAMES (described at
 * DESC_OFF) into frame descriptors and packet ids, in place. Hand
 * `result.frames` to core.processDescribed(…, LinkType.Raw, now).
 */
export function nfqParseBatch (core: Core, n: number): NfqBatch {
  checkInt('n', n, 0, MAX_BATCH)
  const r = core.exports.nfqParseBatch(n)
  if (r < 0) throw toCoreError(-r, 'nfqParseBatch')
  const out = {} as NfqBatch
  STAT_FIELDS.forEach((name, i) => { out[name] = core.exports.nfqStat(i) >>> 0 })
  return out
}

/**
 * Writes one datagram of m verdict messages (frame i: verdict VERDICT_OFF[i],
 * id NFQ_IDS_OFF[i]; nlmsg_seq seq+i) at TX_OFF. Returns the datagram count for
 * PacketIo.send: 1, or 0 when m is 0.
 */
export function nfqWriteVerdicts (core: Core, m: number, queueNum: number, seq: number): number {
  checkInt('m', m, 0, MAX_BATCH)
  checkInt('queueNum', queueNum, 0, 0xffff)
  checkInt('seq', seq, 0, 0xffffffff)
  const r = core.exports.nfqVerdictBuild(m, queueNum, seq)
  if (r < 0) throw toCoreError(-r, 'nfqVerdictBuild')
  return r
}

/** The cumulative NFQUEUE counters of the core since it was loaded. */
export function nfqCounters (core: Core): NfqCounters {
  const out = {} as NfqCounters
  COUNTER_FIELDS.forEach((name, i) => { out[name] = Number(core.exports.nfqCounter(i)) })
  return out
}

const EPERM = 1
const EBUSY = 16
const ENODEV = 19
const EINVAL = 22
const EOPNOTSUPP = 95

/** The message of TC_ERR_NFQ_UNSUPPORTED when the kernel has no nfnetlink_queue at all. */
export const NFQ_NO_KERNEL_SUPPORT = 'the kernel has no NFQUEUE support (nfnetlink is loaded, nfnetlink_queue is not): ' +
  'modprobe nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE)'

/**
 * True when the kernel refusing `step` with `errno` means the queue cannot
 * be bound, false when it is harmless (a step marked optional that failed for
 * a reason of its own). EINVAL on the first steps is nfnetlink answering for
 * a subsystem it does not have: no nfnetlink_queue, never harmless.
 */
export function nfqConfigStepFatal (step: NfqConfigStep, errno: number): boolean {
  if (errno === EINVAL && (step.step === 'pf-unbind' || step.step === 'pf-bind')) return true
  return !step.optional
}

/**
 * The IoError for a config step the kernel refused (NfqBatch.lastErrno and
 * the step whose seq is lastErrorSeq). Codes: TC_ERR_NFQ_PERMISSION,
 * TC_ERR_NFQ_BUSY, TC_ERR_NFQ_UNSUPPORTED (a step, or NFQUEUE itself, that
 * the kernel does not support), TC_ERR_NFQ_CONFIG.
 */
export function nfqConfigError (errno: number, step: NfqConfigStepName, queueNum: number): IoError {
  const syscall = `nfnetlink_queue ${step}`
  // nfnetlink answers EINVAL for a message to a subsystem it has no module
  // for (and could not load); with the messages the core builds nothing else
  // in these steps gives EINVAL.
  if (errno === EINVAL && (step === 'pf-unbind' || step === 'pf-bind' || step === 'bind' || step === 'params')) {
    return new IoError(`nfqueue ${step} of queue ${queueNum} failed with EINVAL: ${NFQ_NO_KERNEL_SUPPORT}`, 'TC_ERR_NFQ_UNSUPPORTED', errno, syscall)
  }
  // The kernel answers EPERM when another socket holds the queue (EBUSY only
  // when the same socket binds twice); the shim checked CAP_NET_ADMIN at open.
  if ((errno === EPERM || errno === EBUSY) && (step === 'bind' || step === 'params')) {
    return new IoError(`nfqueue queue ${queueNum} is already bound by another process ` +
      '(another intercept or libnetfilter_queue program: its port id is in /proc/net/netfilter/nfnetlink_queue); ' +
      'stop it or use another queue number (--queue-num, and the same number in the iptables NFQUEUE rule)',
    'TC_ERR_NFQ_BUSY', errno, syscall)
  }
  if (errno === EPERM) {
    return new IoError(`nfqueue ${step} of queue ${queueNum} failed: operation not permitted; ` +
      'binding an NFQUEUE queue needs CAP_NET_ADMIN (run as root)', 'TC_ERR_NFQ_PERMISSION', errno, syscall)
  }
  if (errno === EOPNOTSUPP || (errno === EINVAL && step === 'fail-open')) {
    return new IoError(`nfqueue ${step} of queue ${queueNum} is not supported by this kernel (errno ${errno})`,
      'TC_ERR_NFQ_UNSUPPORTED', errno, syscall)
  }
  const why = errno === ENODEV ? ': the queue is not bound (the bind step failed or was not sent)' : ''
  return new IoError(`nfqueue ${step} of queue ${queueNum} failed with errno ${errno}${why}`, 'TC_ERR_NFQ_CONFIG', errno, syscall)
}

// Hello versions and the record dialect each one implies (PROTOCOL.md §2.2, §3.1, §5, §7).

/** Which original release family a peer speaks: decides the record size. */
export type Dialect = '0.9' | '1.x'

/** The bit a 0.9 tcpcopy built with --enable-advanced adds to its hello version (32768). */
export const HELLO_ADVANCED_BIT = 0x8000
/** Hello version of a traditional 0.9 tcpcopy (T0, `INTERNAL_VERSION` 5, since 0.9.8). */
export const HELLO_VERSION_09 = 5
/** Hello version of a 0.9 tcpcopy built with --enable-advanced: 32768 + 5. */
export const HELLO_VERSION_09_ADVANCED = HELLO_ADVANCED_BIT | HELLO_VERSION_09
/** Hello version of every 1.x tcpcopy and intercept. */
export const HELLO_VERSION_1X = 6
/**
 * The hello versions of tcpcopy 0.9.2 – 0.9.7: 3 when the hello came in
 * (0.9.2), then 4. They send 80-byte records, like 5.
 */
export const HELLO_VERSIONS_09_EARLY: readonly number[] = Object.freeze([3, 4])
/** Every hello a 0.9 tcpcopy sends (80-byte records): 3, 4, 5, each also with the advanced bit. */
export const HELLO_VERSIONS_09: readonly number[] = Object.freeze([
  ...HELLO_VERSIONS_09_EARLY, HELLO_VERSION_09,
  ...HELLO_VERSIONS_09_EARLY.map((v) => HELLO_ADVANCED_BIT | v), HELLO_VERSION_09_ADVANCED
])
/** The hello versions this package knows, in release order (the advanced forms after the plain ones). */
export const KNOWN_HELLO_VERSIONS: readonly number[] = Object.freeze([...HELLO_VERSIONS_09, HELLO_VERSION_1X])
/**
 * Records per combined frame a 0.9.2 – 0.9.7 tcpcopy accepts: COMB_MAX_NUM
 * was 20 before 0.9.8 cut it to 16 (6 with payload). An intercept sending at
 * most 16 (or 6) records per frame suits both.
 */
export const COMB_MAX_NUM_09_EARLY = 20

/**
 * The dialect a hello version implies: 3, 4, 5 and the same with the
 * advanced bit (0x8003, 0x8004, 0x8005) → '0.9' (80-byte records),
 * 6 → '1.x' (64-byte records), anything else → undefined.
 *
 * Undefined means the caller decides. The originals only warn on a version
 * mismatch and nothing on the wire negotiates the record size, so the advice
 * of PROTOCOL.md §5 is: log a warning naming the version and keep using the
 * dialect you were configured with; if the stream then desyncs, the
 * configured dialect (or combined setting) is what disagrees with the peer.
 */
export function dialectForVersion (version: number): Dialect | undefined {
  if (version === HELLO_VERSION_1X) return '1.x'
  if (HELLO_VERSIONS_09.includes(version)) return '0.9'
  return undefined
}

/** What a hello version says about the tcpcopy that sent it. */
export interface HelloVersionInfo {
  version: number
  /** undefined: not a version any release sent. */
  dialect: Dialect | undefined
  /** The releases that send this version, e.g. 'tcpcopy 0.9.2 – 0.9.7'; undefined when unknown. */
  release: string | undefined
  /** The 0x8000 bit of a 0.9 tcpcopy built with --enable-advanced. */
  advanced: boolean
  /** Records per combined frame that tcpcopy reads at most (COMB_MAX_NUM without payload); undefined when unknown. */
  combMaxNum: number | undefined
}

/** The releases, dialect and combined limit behind a hello version (PROTOCOL.md §2.2, §7). */
export function helloVersionInfo (version: number): HelloVersionInfo {
  const dialect = dialectForVersion(version)
  const advanced = dialect === '0.9' && (version & HELLO_ADVANCED_BIT) !== 0
  const base = version & ~HELLO_ADVANCED_BIT
  let release: string | undefined
  let combMaxNum: number | undefined
  if (dialect === '1.x') {
    release = 'tcpcopy 1.x'
    combMaxNum = 16
  } else if (dialect === '0.9') {
    const early = HELLO_VERSIONS_09_EARLY.includes(base)
    release = `tcpcopy ${early ? '0.9.2 – 0.9.7' : '0.9.8 or later 0.9'}${advanced ? ' built with --enable-advanced' : ''}`
    combMaxNum = early ? COMB_MAX_NUM_09_EARLY : 16
  }
  return { version, dialect, release, advanced, combMaxNum }
}

/** The hello version a tcpcopy of `dialect` sends; `advanced` picks 0x8005 for 0.9. */
export function helloVersionFor (dialect: Dialect, advanced = false): number {
  if (dialect === '1.x') return HELLO_VERSION_1X
  return advanced ? HELLO_VERSION_09_ADVANCED : HELLO_VERSION_09
}

/** A version as people write it: `0x8005` when the advanced bit is set, decimal otherwise. */
export function formatVersion (version: number): string {
  return version >= 0x8000 ? `0x${version.toString(16)}` : String(version)
}

/** The known versions for a message: '3, 4, 5 (and 0x8003, 0x8004, 0x8005) and 6', or a plain list. */
function describeVersions (known: readonly number[]): string {
  const plain = known.filter((v) => v < HELLO_ADVANCED_BIT)
  const adv = known.filter((v) => v >= HELLO_ADVANCED_BIT)
  const list = (vs: number[]): string => {
    const names = vs.map(formatVersion)
    return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1] ?? ''}`
  }
  // the advanced forms of the 0.9 versions read best next to them
  if (adv.length > 0 && adv.every((v) => plain.includes(v & ~HELLO_ADVANCED_BIT)) && plain.includes(HELLO_VERSION_1X)) {
    const old = plain.filter((v) => v !== HELLO_VERSION_1X)
    return `${old.map(formatVersion).join(', ')} (0.9; also with the advanced bit: ${adv.map(formatVersion).join(', ')}) and ${HELLO_VERSION_1X} (1.x)`
  }
  return list([...plain, ...adv])
}

/** 'hello announced version 7; this peer speaks …', or undefined when `version` is known. */
export function versionWarning (version: number, known: readonly number[] = KNOWN_HELLO_VERSIONS): string | undefined {
  if (known.includes(version)) return undefined
  return `hello announced version ${formatVersion(version)}; this peer speaks ${describeVersions(known)}`
}

// Hello versions and the record dialect each one implies (PROTOCOL.md §2.2, §3.1, §5).

/** Which original release family a peer speaks: decides the record size. */
export type Dialect = '0.9' | '1.x'

/** Hello version of a traditional 0.9 tcpcopy (T0, `INTERNAL_VERSION` 5). */
export const HELLO_VERSION_09 = 5
/** Hello version of a 0.9 tcpcopy built with --enable-advanced: 32768 + 5. */
export const HELLO_VERSION_09_ADVANCED = 0x8005
/** Hello version of every 1.x tcpcopy and intercept. */
export const HELLO_VERSION_1X = 6
/** The hello versions this package knows, in release order. */
export const KNOWN_HELLO_VERSIONS: readonly number[] = Object.freeze([HELLO_VERSION_09, HELLO_VERSION_09_ADVANCED, HELLO_VERSION_1X])

/**
 * The dialect a hello version implies: 5 and 0x8005 → '0.9' (80-byte records),
 * 6 → '1.x' (64-byte records), anything else → undefined.
 *
 * Undefined means the caller decides. The originals only warn on a version
 * mismatch and nothing on the wire negotiates the record size, so the advice
 * of PROTOCOL.md §5 is: log a warning naming the version and keep using the
 * dialect you were configured with; if the stream then desyncs, the
 * configured dialect (or combined setting) is what disagrees with the peer.
 */
export function dialectForVersion (version: number): Dialect | undefined {
  switch (version) {
    case HELLO_VERSION_09:
    case HELLO_VERSION_09_ADVANCED:
      return '0.9'
    case HELLO_VERSION_1X:
      return '1.x'
    default:
      return undefined
  }
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

/** 'hello announced version 7; this peer speaks 5, 0x8005 and 6', or undefined when `version` is known. */
export function versionWarning (version: number, known: readonly number[] = KNOWN_HELLO_VERSIONS): string | undefined {
  if (known.includes(version)) return undefined
  const names = known.map(formatVersion)
  const list = names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1] ?? ''}`
  return `hello announced version ${formatVersion(version)}; this peer speaks ${list}`
}

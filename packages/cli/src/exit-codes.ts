// Exit codes of both programs, chosen here and nowhere else.
import { TcpcopyError, ConfigError, IoError, CoreError, ProtocolError } from '@tcpcopy/interface'

export const EXIT_OK = 0
/** A runtime failure after start-up. */
export const EXIT_FAILURE = 1
/** Bad flags, environment, config file or option values. */
export const EXIT_USAGE = 2
/** A system resource failed: missing privileges, kernel feature, interface, port in use. */
export const EXIT_SYSTEM = 3
/** The WASM core failed (a build problem or an internal error). */
export const EXIT_CORE = 4

export function exitCodeFor (err: unknown): number {
  if (err instanceof ConfigError) return EXIT_USAGE
  if (err instanceof IoError) return EXIT_SYSTEM
  if (err instanceof CoreError) return EXIT_CORE
  if (err instanceof ProtocolError) return EXIT_FAILURE
  if (err instanceof TcpcopyError) return EXIT_FAILURE
  const code = (err as { code?: unknown } | undefined)?.code
  if (typeof code === 'string' && code.startsWith('commander.')) return EXIT_USAGE
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') return EXIT_SYSTEM
  return EXIT_FAILURE
}

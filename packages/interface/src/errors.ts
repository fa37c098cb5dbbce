/**
 * The one error family of tcpcopy-ts. Every error thrown across a package
 * boundary is a TcpcopyError with a stable `code` (tests check the code, not
 * the message). Messages name the input that was wrong and, where there is
 * one, the fix.
 */
export class TcpcopyError extends Error {
  constructor (message: string, readonly code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** A bad option value, flag, environment variable or config file. */
export class ConfigError extends TcpcopyError {}

/** Bytes on the control channel that do not follow PROTOCOL.md. */
export class ProtocolError extends TcpcopyError {}

/** The WASM core returned a non-Ok status. `status` is the raw status code. */
export class CoreError extends TcpcopyError {
  constructor (message: string, code: string, readonly status: number, options?: ErrorOptions) {
    super(message, code, options)
  }
}

/** A failed system call in the native shim (or a simulated one in a mock). */
export class IoError extends TcpcopyError {
  constructor (message: string, code: string, readonly errno: number, readonly syscall: string, options?: ErrorOptions) {
    super(message, code, options)
  }
}

/** An operation stopped because its owner was closed or aborted. */
export class CanceledError extends TcpcopyError {
  constructor (message = 'operation canceled', options?: ErrorOptions) {
    super(message, 'TC_ERR_CANCELED', options)
  }
}

/** True when `err` is a TcpcopyError with the given code. */
export function isTcpcopyError (err: unknown, code?: string): err is TcpcopyError {
  return err instanceof TcpcopyError && (code === undefined || err.code === code)
}

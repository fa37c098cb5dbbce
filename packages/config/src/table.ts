/**
 * The shape of an option table. Each option is declared once, keyed by its
 * config field (camelCase); everything else is derived from the field name:
 *
 *   field      hashSize
 *   long flag  --hash-size          (negated switches: --no-<long>)
 *   env var    INTERCEPT_HASH_SIZE  (<PROGRAM>_<LONG_NAME>)
 *   file key   hash-size
 *   error code TC_ERR_CONFIG_HASH_SIZE
 */

import { parsePath } from './values.js'

/** Where a value came from. */
export type Origin =
  | { readonly kind: 'flag' }
  | { readonly kind: 'env', readonly name: string }
  | { readonly kind: 'file', readonly path: string, readonly key: string }
  | { readonly kind: 'default' }

/**
 * value/switch: a field of the config object. config: --config <file>.
 * help/version: -h and -v, handled by commander.
 */
export type OptionKind = 'value' | 'switch' | 'config' | 'help' | 'version'

/** A default computed from other options, e.g. tcpcopy -k = -t + 120. */
export type DefaultFn<T, C> = (config: Readonly<C>, given: (field: keyof C & string) => boolean) => T

/** One option, fully derived. */
export interface OptionSpec {
  readonly kind: OptionKind
  /** Config field and commander attribute name (camelCase of `long`). */
  readonly field: string
  /** One letter, without "-". */
  readonly short: string | undefined
  /** kebab-case, without "--" and without "no-". */
  readonly long: string
  /** The flag is --no-<long>: giving it sets the field to false. */
  readonly negate: boolean
  /** Placeholder in help, e.g. "port"; undefined for switches. */
  readonly value: string | undefined
  /** The accepted values, phrased to follow "must be": "a port number 1-65535". */
  readonly type: string
  readonly required: boolean
  readonly default: unknown
  readonly computeDefault: DefaultFn<unknown, any> | undefined
  /** The default as shown in help and docs. */
  readonly defaultText: string
  readonly parse: (text: string) => unknown
  /** An accepted value, as typed after the flag. */
  readonly example: string
  /** One line for --help. */
  readonly help: string
  /** Longer notes for docs/config.md (differences from the original, edge cases). */
  readonly notes: string | undefined
  /** Environment variable; undefined for -h/-v. */
  readonly env: string | undefined
  /** Config-file key; undefined for --config, -h, -v. */
  readonly fileKey: string | undefined
  /** ConfigError code for a bad value of this option. */
  readonly code: string
}

/** What a table entry declares; the rest of OptionSpec is derived. */
export interface EntryInput<T, C> {
  readonly short?: string
  /** Declares a negated switch: the flag is --no-<long>, the field defaults to true. */
  readonly negate?: boolean
  /** Placeholder for a value option; omit for switches. */
  readonly value?: string
  readonly type: string
  /** Must be given (flag, env or file); then `default` is not used. */
  readonly required?: boolean
  readonly default?: T | DefaultFn<T, C>
  readonly defaultText?: string
  readonly parse: (text: string) => T
  readonly example: string
  readonly help: string
  readonly notes?: string
}

export type Entries<C> = { readonly [K in keyof C]-?: EntryInput<C[K], C> }

export type Mutable<C> = { -readonly [K in keyof C]: C[K] }

/** Handed to a table's cross-option check. */
export interface CheckContext<C> {
  /** True when the field was set by a flag, the environment or the file. */
  given (field: keyof C & string): boolean
  /** "-x/--passlist (from flag)" — the option's name and where its value came from. */
  describe (field: keyof C & string): string
  /** "from flag", "from env INTERCEPT_PORT", "from default" … */
  source (field: keyof C & string): string
  /** The ConfigError code for a bad value of this option. */
  code (field: keyof C & string): string
  /** The option's name alone: "-x/--passlist". */
  name (field: keyof C & string): string
  /** The raw text of a given field (lists from the file are joined with ","). */
  text (field: keyof C & string): string | undefined
  /** "-x 10.0.0.1" — the option's example as a flag. */
  example (field: keyof C & string): string
  fail (code: string, message: string): never
  warn (message: string): void
}

export interface OptionTable<C> {
  /** "intercept" or "tcpcopy". */
  readonly program: string
  readonly summary: string
  /** "INTERCEPT_" */
  readonly envPrefix: string
  /** Every option in display order, including --config, -h and -v. */
  readonly options: readonly OptionSpec[]
  /** Cross-option rules, one sentence each, for docs/config.md. */
  readonly rules: readonly string[]
  /** Decisions and differences from the original, for docs/config.md. */
  readonly notes: readonly string[]
  /** Cross-option checks and fill-ins; runs after every field has a value. */
  readonly check: (config: Mutable<C>, ctx: CheckContext<C>) => void
}

/** Stable codes of errors that are not about one option's value. */
export const ConfigCodes = {
  /** A required option is missing. */
  required: 'TC_ERR_CONFIG_REQUIRED',
  /** Two options that cannot be used together (or one that needs another). */
  conflict: 'TC_ERR_CONFIG_CONFLICT',
  /** The config file is missing or unreadable. */
  file: 'TC_ERR_CONFIG_FILE',
  /** The config file is not valid YAML, or not a mapping. */
  fileYaml: 'TC_ERR_CONFIG_FILE_YAML',
  /** The config file has a key that is not an option. */
  fileKey: 'TC_ERR_CONFIG_FILE_KEY'
} as const

export function kebabToCamel (kebab: string): string {
  return kebab.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

export function camelToKebab (camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

export function upperSnake (kebab: string): string {
  return kebab.replace(/-/g, '_').toUpperCase()
}

/** "-p/--port", "--mode", "-W/--no-wait". */
export function optionName (spec: OptionSpec): string {
  const long = `--${spec.negate ? 'no-' : ''}${spec.long}`
  return spec.short === undefined ? long : `-${spec.short}/${long}`
}

/** The flag as typed: the short form when there is one. */
export function flagForm (spec: OptionSpec): string {
  if (spec.short !== undefined) return `-${spec.short}`
  return `--${spec.negate ? 'no-' : ''}${spec.long}`
}

/** Quotes a value for a POSIX shell when it needs it. */
export function shellQuote (text: string): string {
  return /^[\w.,:/@=+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`
}

function formatDefault (value: unknown, kind: OptionKind, negate: boolean): string {
  if (kind === 'switch') return value === true ? (negate ? 'on (the flag turns it off)' : 'on') : 'off'
  if (value === undefined) return 'none'
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',')
  return String(value)
}

export interface TableInput<C> {
  readonly program: string
  readonly summary: string
  readonly entries: Entries<C>
  readonly rules: readonly string[]
  readonly notes: readonly string[]
  readonly check: (config: Mutable<C>, ctx: CheckContext<C>) => void
}

/** Builds a table: derives names, env vars, file keys and codes; appends --config, -h and -v. */
export function defineTable<C> (input: TableInput<C>): OptionTable<C> {
  const envPrefix = `${upperSnake(input.program)}_`
  const options: OptionSpec[] = []
  for (const [field, raw] of Object.entries(input.entries)) {
    const e = raw as EntryInput<unknown, C>
    if (e.value !== undefined && e.required !== true && !('default' in e)) {
      throw new Error(`option table ${input.program}: "${field}" needs a default or required: true`)
    }
    const long = camelToKebab(field)
    const kind: OptionKind = e.value === undefined ? 'switch' : 'value'
    const negate = e.negate === true
    const computed = typeof e.default === 'function'
    const value = kind === 'switch' && e.default === undefined ? negate : e.default
    options.push({
      kind,
      field,
      short: e.short,
      long,
      negate,
      value: e.value,
      type: e.type,
      required: e.required === true,
      default: computed ? undefined : value,
      computeDefault: computed ? e.default as DefaultFn<unknown, any> : undefined,
      defaultText: e.defaultText ?? (e.required === true ? 'required' : formatDefault(value, kind, negate)),
      parse: e.parse,
      example: e.example,
      help: e.help,
      notes: e.notes,
      env: envPrefix + upperSnake(long),
      fileKey: long,
      code: `TC_ERR_CONFIG_${upperSnake(long)}`
    })
  }
  const meta = (kind: OptionKind, short: string | undefined, long: string, value: string | undefined, type: string, help: string, env: string | undefined): OptionSpec => ({
    kind,
    field: long,
    short,
    long,
    negate: false,
    value,
    type,
    required: false,
    default: undefined,
    computeDefault: undefined,
    defaultText: 'none',
    parse: parsePath,
    example: kind === 'config' ? `/etc/${input.program}.yaml` : '',
    help,
    notes: undefined,
    env,
    fileKey: undefined,
    code: `TC_ERR_CONFIG_${upperSnake(long)}`
  })
  options.push(
    meta('config', undefined, 'config', 'file', 'a path to a YAML file', 'read options from a YAML file whose keys are the long option names', `${envPrefix}CONFIG`),
    meta('help', 'h', 'help', undefined, '', 'print usage and exit', undefined),
    meta('version', 'v', 'version', undefined, '', 'print the version and exit', undefined)
  )
  return { program: input.program, summary: input.summary, envPrefix, options, rules: input.rules, notes: input.notes, check: input.check }
}

import { readFileSync } from 'node:fs'
import { ConfigError } from '@tcpcopy/interface'
import { parseDocument } from 'yaml'
import { closest } from './suggest.js'
import {
  type CheckContext,
  type Mutable,
  type OptionSpec,
  type OptionTable,
  type Origin,
  ConfigCodes,
  camelToKebab,
  flagForm,
  optionName,
  shellQuote
} from './table.js'
import { ValueError } from './values.js'

/** A config file's path and its YAML text. */
export interface ConfigFileText {
  readonly path: string
  readonly text: string
}

/** Where resolveConfig looks for values, highest precedence first. */
export interface ConfigSources {
  /**
   * Command-line values keyed by config field, which is also commander's
   * attribute name: pass `command.opts()` after `addOptions`. Values may be
   * strings (parsed and checked here), numbers, booleans or arrays; undefined
   * means "not given". Keys that are not options are ignored.
   */
  readonly flags?: Readonly<Record<string, unknown>>
  /** Usually `process.env`. An empty variable counts as unset. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /**
   * The YAML config file: a path to read, or its text. When absent, the path
   * comes from the --config flag, then from <PROGRAM>_CONFIG; no path, no file.
   */
  readonly file?: string | ConfigFileText
  /** Receives warnings (addresses dropped from a pool, unknown <PROGRAM>_* variables). */
  readonly warn?: (message: string) => void
}

const DEFAULT: Origin = { kind: 'default' }

/** "from flag", "from env INTERCEPT_PORT", "from config file "a.yaml", key "port"", "default". */
export function describeOrigin (origin: Origin): string {
  switch (origin.kind) {
    case 'flag': return 'from flag'
    case 'env': return `from env ${origin.name}`
    case 'file': return `from config file "${origin.path}", key "${origin.key}"`
    case 'default': return 'default'
  }
}

function yamlScalar (text: string): string {
  return /^[\w./@-][\w.,:/@ -]*$/.test(text) && !/: |:$/.test(text) ? text : JSON.stringify(text)
}

/** An accepted setting of the option, written the way the origin is written. */
export function exampleFor (spec: OptionSpec, origin: Origin = { kind: 'flag' }): string {
  const isSwitch = spec.kind === 'switch'
  switch (origin.kind) {
    case 'env':
      return `${spec.env ?? ''}=${isSwitch ? (spec.negate ? '0' : '1') : shellQuote(spec.example)}`
    case 'file':
      return `${spec.fileKey ?? ''}: ${isSwitch ? String(!spec.negate) : yamlScalar(spec.example)}`
    default:
      return isSwitch || spec.kind === 'help' || spec.kind === 'version' ? flagForm(spec) : `${flagForm(spec)} ${shellQuote(spec.example)}`
  }
}

function badValue (spec: OptionSpec, shown: string, origin: Origin, detail: string): ConfigError {
  const type = spec.kind === 'switch' ? 'a switch: true/false, 1/0, yes/no or on/off' : spec.type
  return new ConfigError(
    `${optionName(spec)} must be ${type}, got ${shown} (${describeOrigin(origin)})${detail === '' ? '' : `: ${detail}`}; example: ${exampleFor(spec, origin)}`,
    spec.code
  )
}

/** A flag or file value as option text; undefined when it cannot be one (an object, null, NaN). */
function asText (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined
  if (typeof value === 'boolean') return String(value)
  if (Array.isArray(value)) {
    const parts = value.map(asText)
    return value.every((v) => !Array.isArray(v)) && parts.every((p) => p !== undefined) ? parts.join(',') : undefined
  }
  return undefined
}

function shownValue (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

function fileError (path: string, via: string, hint: string, err: unknown): ConfigError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const where = `config file "${path}" (${via})`
  const problem = code === 'ENOENT'
    ? `does not exist; check the path${hint === '' ? '' : `, or drop ${hint}`}`
    : code === 'EACCES' || code === 'EPERM'
      ? 'is not readable (permission denied); fix its permissions or run as a user that can read it'
      : code === 'EISDIR'
        ? 'is a directory; name a YAML file'
        : `cannot be read (${code ?? String(err)}); check the path and the file`
  return new ConfigError(`${where} ${problem}`, ConfigCodes.file, { cause: err })
}

/**
 * Reads a config file. Throws ConfigError TC_ERR_CONFIG_FILE naming the file
 * and the fix when it is missing or unreadable.
 */
export function readConfigFile (path: string, via = 'given to resolveConfig', hint = ''): ConfigFileText {
  try {
    return { path, text: readFileSync(path, 'utf8') }
  } catch (err) {
    throw fileError(path, via, hint, err)
  }
}

/**
 * Parses a config file's YAML into key → value, checking that it is a mapping
 * whose keys are options of `table`. Throws ConfigError TC_ERR_CONFIG_FILE_YAML
 * or TC_ERR_CONFIG_FILE_KEY.
 */
export function parseConfigFile (table: Pick<OptionTable<unknown>, 'program' | 'options'>, file: ConfigFileText): Map<string, unknown> {
  const doc = parseDocument(file.text)
  const first = doc.errors[0]
  if (first !== undefined) {
    const what = (first.message.split('\n')[0] ?? '').replace(/:$/, '')
    throw new ConfigError(`config file "${file.path}" is not valid YAML: ${what}; fix the file (it must be a mapping of option names to values, e.g. "port: 36524")`, ConfigCodes.fileYaml, { cause: first })
  }
  const data: unknown = doc.toJS()
  if (data === null || data === undefined) return new Map()
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file "${file.path}" must be a YAML mapping of option names to values (e.g. "port: 36524"), but it holds ${Array.isArray(data) ? 'a list' : `the plain value ${shownValue(data)}`}`, ConfigCodes.fileYaml)
  }
  const keys = table.options.filter((o) => o.fileKey !== undefined)
  const out = new Map<string, unknown>()
  for (const [key, value] of Object.entries(data)) {
    if (!keys.some((o) => o.fileKey === key)) throw unknownKey(table, file.path, key, keys)
    out.set(key, value)
  }
  return out
}

function unknownKey (table: Pick<OptionTable<unknown>, 'program'>, path: string, key: string, keys: readonly OptionSpec[]): ConfigError {
  const where = `config file "${path}" has the key "${key}", which is not an option of ${table.program}`
  if (key === 'config') return new ConfigError(`${where}: a config file cannot name another config file; remove the key`, ConfigCodes.fileKey)
  const normal = camelToKebab(key.replace(/^-+/, '')).toLowerCase().replace(/_/g, '-').replace(/^no-/, '')
  const byShort = key.length === 1 ? keys.find((o) => o.short === key) : undefined
  const names = keys.map((o) => o.fileKey ?? '')
  const best = byShort?.fileKey ?? (names.includes(normal) ? normal : closest(normal, names))
  const hint = best === undefined ? '' : `; the closest valid key is "${best}"`
  return new ConfigError(`${where}${hint} (keys are the long option names in kebab-case; see docs/config.md)`, ConfigCodes.fileKey)
}

interface Found {
  readonly origin: Origin
  readonly raw: unknown
}

function present (value: unknown): boolean {
  return value !== undefined && value !== null
}

/** Resolves every option of `table`: flag > environment > config file > default, then the cross-option checks. */
export function resolveConfig<C> (table: OptionTable<C>, sources: ConfigSources = {}): C {
  const flags = sources.flags ?? {}
  const env = sources.env ?? {}
  const warn = sources.warn ?? (() => {})
  const envValue = (name: string | undefined): string | undefined => {
    const v = name === undefined ? undefined : env[name]
    return v === '' ? undefined : v
  }

  // the config file
  const configSpec = table.options.find((o) => o.kind === 'config')
  let file: ConfigFileText | undefined
  if (typeof sources.file === 'object') {
    file = sources.file
  } else if (typeof sources.file === 'string') {
    file = readConfigFile(sources.file)
  } else if (configSpec !== undefined) {
    const fromFlag = flags[configSpec.field]
    const fromEnv = envValue(configSpec.env)
    const origin: Origin = present(fromFlag) ? { kind: 'flag' } : { kind: 'env', name: configSpec.env ?? '' }
    const raw = present(fromFlag) ? fromFlag : fromEnv
    if (raw !== undefined) {
      const text = asText(raw)
      if (text === undefined || text === '') throw badValue(configSpec, shownValue(raw), origin, text === '' ? 'the path is empty' : '')
      const hint = origin.kind === 'flag' ? '--config' : configSpec.env ?? ''
      file = readConfigFile(text, describeOrigin(origin), hint)
    }
  }
  const fileValues = file === undefined ? new Map<string, unknown>() : parseConfigFile(table, file)

  // unknown <PROGRAM>_* variables are probably typos
  const envNames = table.options.map((o) => o.env).filter((n): n is string => n !== undefined)
  for (const name of Object.keys(env)) {
    if (name.startsWith(table.envPrefix) && !envNames.includes(name) && envValue(name) !== undefined) {
      warn(`environment variable ${name} is not an option of ${table.program} and is ignored; did you mean ${closest(name, envNames) ?? ''}?`)
    }
  }

  // explicit values
  const fields = table.options.filter((o) => o.kind === 'value' || o.kind === 'switch')
  const config: Record<string, unknown> = {}
  const origins = new Map<string, Origin>()
  const texts = new Map<string, string>()
  for (const spec of fields) {
    let found: Found | undefined
    if (present(flags[spec.field])) {
      found = { origin: { kind: 'flag' }, raw: flags[spec.field] }
    } else if (envValue(spec.env) !== undefined) {
      found = { origin: { kind: 'env', name: spec.env ?? '' }, raw: envValue(spec.env) }
    } else if (file !== undefined && spec.fileKey !== undefined && fileValues.has(spec.fileKey)) {
      found = { origin: { kind: 'file', path: file.path, key: spec.fileKey }, raw: fileValues.get(spec.fileKey) }
    }
    if (found === undefined) continue
    const text = asText(found.raw)
    if (text === undefined) {
      throw badValue(spec, shownValue(found.raw), found.origin, found.raw === null ? 'the key has no value; remove it to use the default' : '')
    }
    try {
      config[spec.field] = spec.parse(text)
    } catch (err) {
      if (err instanceof ValueError) throw badValue(spec, JSON.stringify(text), found.origin, err.detail)
      throw err
    }
    origins.set(spec.field, found.origin)
    texts.set(spec.field, text)
  }

  // defaults: required first, then plain defaults, then those computed from other options
  const given = (field: string): boolean => origins.has(field)
  for (const spec of fields) {
    if (given(spec.field) || !spec.required) continue
    throw new ConfigError(
      `${optionName(spec)} is required; example: ${exampleFor(spec)} (or ${exampleFor(spec, { kind: 'env', name: '' })}, or "${exampleFor(spec, { kind: 'file', path: '', key: '' })}" in the config file)`,
      ConfigCodes.required
    )
  }
  for (const spec of fields) {
    if (!given(spec.field) && spec.computeDefault === undefined) config[spec.field] = structuredClone(spec.default)
  }
  for (const spec of fields) {
    if (!given(spec.field) && spec.computeDefault !== undefined) config[spec.field] = spec.computeDefault(config, given)
  }

  // cross-option checks
  const specOf = (field: string): OptionSpec => {
    const spec = fields.find((o) => o.field === field)
    if (spec === undefined) throw new Error(`option table ${table.program} has no field "${field}"`)
    return spec
  }
  const source = (field: string): string => describeOrigin(origins.get(field) ?? DEFAULT)
  const ctx: CheckContext<C> = {
    given,
    source,
    describe: (field) => `${optionName(specOf(field))} (${source(field)})`,
    name: (field) => optionName(specOf(field)),
    code: (field) => specOf(field).code,
    text: (field) => texts.get(field),
    example: (field) => exampleFor(specOf(field)),
    fail: (code, message) => { throw new ConfigError(message, code) },
    warn
  }
  table.check(config as unknown as Mutable<C>, ctx)
  return config as C
}

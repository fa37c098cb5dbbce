import { type Command, InvalidArgumentError, Option } from 'commander'
import { exampleFor } from './resolve.js'
import type { OptionSpec, OptionTable } from './table.js'
import { ValueError } from './values.js'

export interface AddOptionsSettings {
  /** When given, -v/--version prints it and exits (commander's `version()`); otherwise -v is a plain switch named "version". */
  readonly version?: string
}

/** The commander flags string: "-p, --port <port>", "--no-combined". */
export function commanderFlags (spec: OptionSpec): string {
  const long = `--${spec.negate ? 'no-' : ''}${spec.long}`
  const value = spec.value === undefined ? '' : ` <${spec.value}>`
  return `${spec.short === undefined ? '' : `-${spec.short}, `}${long}${value}`
}

/** The text after "argument 'x' is invalid." in commander's error. */
export function invalidArgumentMessage (spec: OptionSpec, detail: string): string {
  return `It must be ${spec.type}${detail === '' ? '' : ` (${detail})`}; example: ${exampleFor(spec)}`
}

/**
 * Adds every option of `table` to `command`. Value options check their
 * argument with the table's parser and throw commander's InvalidArgumentError;
 * the stored value stays the raw text, so `command.opts()` can be handed to
 * resolveConfig as `flags`. No commander defaults are set (an option absent
 * from `opts()` was not given), so the environment and the config file can
 * still supply it; the help text shows the table's default and env variable.
 */
export function addOptions<C> (command: Command, table: OptionTable<C>, settings: AddOptionsSettings = {}): Command {
  for (const spec of table.options) {
    const flags = commanderFlags(spec)
    if (spec.kind === 'help') {
      command.helpOption(flags, spec.help)
      continue
    }
    if (spec.kind === 'version') {
      if (settings.version !== undefined) command.version(settings.version, flags, spec.help)
      else command.addOption(new Option(flags, spec.help))
      continue
    }
    const extra = spec.kind === 'config' || spec.required
      ? `${spec.required ? 'required; ' : ''}env ${spec.env ?? ''}`
      : `default: ${spec.defaultText}; env ${spec.env ?? ''}`
    const option = new Option(flags, `${spec.help} (${extra})`)
    if (spec.value !== undefined) {
      option.argParser((value: string) => {
        try {
          spec.parse(value)
        } catch (err) {
          if (err instanceof ValueError) throw new InvalidArgumentError(invalidArgumentMessage(spec, err.detail))
          throw err
        }
        return value
      })
    }
    command.addOption(option)
    // commander presets negated switches to true; undefined keeps "not given" visible to resolveConfig
    if (spec.negate) command.setOptionValueWithSource(spec.field, undefined, 'default')
  }
  return command
}

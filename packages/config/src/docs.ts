import { isTcpcopyError } from '@tcpcopy/interface'
import { interceptOptions } from './intercept-options.js'
import { exampleFor, resolveConfig } from './resolve.js'
import { type OptionSpec, type OptionTable, ConfigCodes } from './table.js'
import { tcpcopyOptions } from './tcpcopy-options.js'

/** Fields shown in each program's example config file (docs/config.md); a test resolves them. */
export const exampleFileFields: Readonly<Record<string, readonly string[]>> = {
  intercept: ['devices', 'filter', 'port', 'allow', 'logFile'],
  tcpcopy: ['targets', 'intercepts', 'clients', 'connections', 'wait', 'logFile']
}

/** The example config file of a table, built from the options' examples. */
export function exampleConfigFile (table: OptionTable<any>): string {
  const fields = exampleFileFields[table.program] ?? []
  return fields.map((field) => {
    const spec = table.options.find((o) => o.field === field)
    return spec === undefined ? '' : `${exampleFor(spec, { kind: 'file', path: '', key: '' })}\n`
  }).join('')
}

/** Markdown text outside code spans: "<file>" must not read as an HTML tag. */
function prose (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function cell (text: string): string {
  return prose(text).replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function code (text: string): string {
  return text === '' ? '' : `\`${text}\``
}

function flagCell (spec: OptionSpec): string {
  const long = `--${spec.negate ? 'no-' : ''}${spec.long}${spec.value === undefined ? '' : ` <${spec.value}>`}`
  return spec.short === undefined ? code(long) : `${code(`-${spec.short}`)}, ${code(long)}`
}

function row (spec: OptionSpec): string {
  const isMeta = spec.kind === 'help' || spec.kind === 'version'
  const value = spec.kind === 'switch' ? 'switch' : isMeta ? '—' : spec.type
  const where = [spec.env === undefined ? '—' : code(spec.env), spec.fileKey === undefined ? '—' : code(spec.fileKey)].join(' · ')
  const deflt = isMeta ? '—' : spec.defaultText
  const text = spec.notes === undefined ? `${spec.help}.` : `${spec.help}. ${spec.notes}`
  return `| ${flagCell(spec)} | ${cell(value)} | ${cell(deflt)} | ${where} | ${cell(text.charAt(0).toUpperCase() + text.slice(1))} |`
}

function sampleError (): string {
  try {
    resolveConfig(interceptOptions, { flags: { port: 'x' } })
  } catch (err) {
    if (isTcpcopyError(err)) return err.message
  }
  return ''
}

function programSection (table: OptionTable<any>): string {
  const lines = [
    `## ${table.program}`,
    '',
    table.summary,
    '',
    '| Flag | Value | Default | Environment · file key | Description |',
    '|---|---|---|---|---|',
    ...table.options.map(row),
    '',
    '### Rules between options',
    '',
    ...table.rules.map((r) => `- ${prose(r)}`),
    '',
    '### Decisions and differences from the original',
    '',
    ...table.notes.map((n) => `- ${prose(n)}`),
    '',
    '### Example config file',
    '',
    '```yaml',
    exampleConfigFile(table).trimEnd(),
    '```',
    ''
  ]
  return lines.join('\n')
}

/** The text of docs/config.md. */
export function renderConfigDocs (tables: ReadonlyArray<OptionTable<any>> = [interceptOptions, tcpcopyOptions]): string {
  const head = `# Configuration of intercept and tcpcopy

<!-- Generated from packages/config/src/*-options.ts by \`npm run docs\` in packages/config. Do not edit: a test fails when this file and the option tables differ. -->

Every option is declared once, in the option tables of \`@tcpcopy/config\`. The command-line flags, the environment variables, the config-file keys, the checks and this page all come from those tables.

## Where a value comes from

Each option takes the first value found here:

1. **Flag**: the short or the long form, \`-p 36524\` or \`--port 36524\`.
2. **Environment**: the program name and the long name in upper case with \`_\` for \`-\`: \`--hash-size\` of intercept is \`INTERCEPT_HASH_SIZE\`, \`-x/--targets\` of tcpcopy is \`TCPCOPY_TARGETS\`. An empty variable counts as unset. Switches take \`1\`/\`0\`, \`true\`/\`false\`, \`yes\`/\`no\` or \`on\`/\`off\`; a negated switch uses its positive name (\`INTERCEPT_COMBINED=0\` for \`--no-combined\`). A variable with the program's prefix that is not an option is ignored with a warning.
3. **Config file**: a YAML file named by \`--config <file>\`, or by \`INTERCEPT_CONFIG\` / \`TCPCOPY_CONFIG\`. It is a mapping whose keys are the long option names in kebab-case, as written after \`--\` (\`hash-size\`, not \`hashSize\`). Lists are YAML sequences or comma-separated strings; switches are \`true\`/\`false\`; a negated switch uses its positive name (\`combined: false\`). An unknown key, a key without a value, a missing or unreadable file and invalid YAML are errors.
4. **Default**, from the Default column. Some defaults are computed from other options (tcpcopy \`-k\` is \`-t\` + 120).

Then the rules between options are checked (see each program).

## Errors

Every problem is a \`ConfigError\` from \`@tcpcopy/interface\`. The message names the option in both forms, the value, where it came from, and an accepted example written the same way (flag, variable or file key):

    ${sampleError()}

| Code | Meaning |
|---|---|
| \`TC_ERR_CONFIG_<LONG_NAME>\` | A bad value of that option, e.g. \`TC_ERR_CONFIG_PORT\`, \`TC_ERR_CONFIG_HASH_SIZE\` |
| \`${ConfigCodes.required}\` | A required option is missing |
| \`${ConfigCodes.conflict}\` | Options that do not go together, or an option that needs another one |
| \`${ConfigCodes.file}\` | The config file does not exist or cannot be read |
| \`${ConfigCodes.fileYaml}\` | The config file is not valid YAML or not a mapping |
| \`${ConfigCodes.fileKey}\` | The config file has a key that is not an option (the message names the closest valid key) |

On the command line, the value check also runs while commander parses, and a bad value is reported as commander's \`InvalidArgumentError\` (code \`commander.invalidArgument\`).
`
  return [head, ...tables.map(programSection)].join('\n')
}

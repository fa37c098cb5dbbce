import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import { exampleConfigFile, renderConfigDocs } from './docs.js'
import { docsPath } from './gen-docs.js'
import { interceptOptions } from './intercept-options.js'
import { resolveConfig } from './resolve.js'
import { tcpcopyOptions } from './tcpcopy-options.js'

describe('docs/config.md', () => {
  it('equals the text generated from the option tables (run npm run docs in packages/config to update it)', () => {
    expect(readFileSync(docsPath, 'utf8')).to.equal(renderConfigDocs())
  })

  it('lists every flag, variable and file key of both programs', () => {
    const text = renderConfigDocs()
    for (const table of [interceptOptions, tcpcopyOptions]) {
      for (const spec of table.options) {
        expect(text).to.include(`--${spec.negate ? 'no-' : ''}${spec.long}`)
        if (spec.env !== undefined) expect(text).to.include(`\`${spec.env}\``)
        if (spec.fileKey !== undefined) expect(text).to.include(`\`${spec.fileKey}\``)
      }
    }
  })

  it('shows example config files that resolve', () => {
    const intercept = resolveConfig(interceptOptions, { file: { path: 'example.yaml', text: exampleConfigFile(interceptOptions) } })
    expect(intercept.mode).to.equal('advanced')
    const tcpcopy = resolveConfig(tcpcopyOptions, { file: { path: 'example.yaml', text: exampleConfigFile(tcpcopyOptions) } })
    expect(tcpcopy.targets).to.have.length(1)
  })
})

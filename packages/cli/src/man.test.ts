import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { renderedDocs, docsPath } from './gen-man.js'
import { interceptManPage } from './intercept-man.js'
import { renderRoff } from './man.js'

describe('man pages', () => {
  it('are up to date in docs/ (npm run docs -w @tcpcopy/cli regenerates them)', () => {
    for (const [file, text] of renderedDocs()) expect(readFileSync(docsPath(file), 'utf8'), file).to.equal(text)
  })

  it('list every option of the table with its default', () => {
    const roff = renderRoff(interceptManPage)
    for (const o of interceptManPage.table.options) expect(roff).to.contain(o.long.replace(/-/g, '\\-'))
    expect(roff).to.contain('Default: 36524')
    expect(roff).to.match(/^\.TH INTERCEPT 1 /m)
  })

  it('give the NFQUEUE rule and say where -j QUEUE still works', () => {
    const roff = renderRoff(interceptManPage)
    expect(roff).to.contain('\\-j NFQUEUE \\-\\-queue\\-num 0')
    expect(roff).to.contain('iptables\\-legacy')
  })
})

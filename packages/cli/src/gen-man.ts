// Writes docs/intercept.1, docs/tcpcopy.1 and their .md from the option table.
// `node dist/gen-man.js` writes; `--check` exits 1 when a file is stale.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { renderMarkdown, renderRoff, type ManPage } from './man.js'
import { interceptManPage } from './intercept-man.js'
import { tcpcopyManPage } from './tcpcopy-man.js'

export const MAN_PAGES: ManPage[] = [interceptManPage, tcpcopyManPage]

export function docsPath (file: string): string {
  return fileURLToPath(new URL(`../../../docs/${file}`, import.meta.url))
}

export function renderedDocs (): Array<[string, string]> {
  return MAN_PAGES.flatMap((p): Array<[string, string]> => [[`${p.name}.1`, renderRoff(p)], [`${p.name}.md`, renderMarkdown(p)]])
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check')
  let stale = false
  for (const [file, text] of renderedDocs()) {
    let old = ''
    try { old = readFileSync(docsPath(file), 'utf8') } catch { old = '' }
    if (old === text) continue
    if (check) { stale = true; console.error(`docs/${file} is out of date: run npm run docs -w @tcpcopy/cli`) } else writeFileSync(docsPath(file), text)
  }
  process.exitCode = stale ? 1 : 0
}

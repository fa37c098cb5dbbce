/**
 * Writes docs/config.md from the option tables: `npm run docs` in packages/config.
 * docs.test.ts fails when the committed file differs from this output.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { renderConfigDocs } from './docs.js'

/** docs/config.md at the repository root, seen from dist/. */
export const docsPath = fileURLToPath(new URL('../../../docs/config.md', import.meta.url))

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(docsPath, renderConfigDocs())
}

// Runs the end-to-end suites (real programs in network namespaces). They need
// root (CAP_NET_ADMIN + CAP_NET_RAW); without it this says so loudly and exits 0.
import { readdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const suites = readdirSync(here).filter(f => f.endsWith('.test.js')).map(f => join(here, f))

if (typeof process.getuid === 'function' && process.getuid() !== 0) {
  console.log('#'.repeat(78))
  console.log('# e2e SKIPPED: the end-to-end suites need root (network namespaces, NFQUEUE,')
  console.log('# raw sockets). Run `sudo npm run test:e2e` to run them.')
  console.log('#'.repeat(78))
  process.exit(0)
}
if (suites.length === 0) {
  console.log('e2e: no end-to-end suites in e2e/ yet (the packet I/O layer is not built yet)')
  process.exit(0)
}
const r = spawnSync(process.execPath, [join(here, '..', 'node_modules', 'mocha', 'bin', 'mocha.js'), '--timeout', '120000', ...suites], { stdio: 'inherit' })
process.exit(r.status ?? 1)

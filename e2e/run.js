// Runs the end-to-end suites (real sockets in network namespaces the tests
// create and remove). They need root (CAP_NET_ADMIN + CAP_NET_RAW); without it
// this says so loudly and exits 0. The system tools they use are listed in
// e2e/apt-packages.txt (.ci/run installs them). Each mocha run is bounded in
// time; when it ends, however it ended, the namespaces it made (named after
// its pid) are removed with everything still running in them.
import { existsSync, readdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isRoot, missingTools } from './lib/preflight.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const suites = readdirSync(here).filter(f => f.endsWith('.test.js')).sort().map(f => join(here, f))

if (!isRoot()) {
  console.log('#'.repeat(78))
  console.log('# e2e SKIPPED: the end-to-end suites need root (network namespaces, NFQUEUE,')
  console.log('# raw sockets). Run `sudo npm run test:e2e` to run them.')
  console.log('#'.repeat(78))
  process.exit(0)
}
if (suites.length === 0) {
  console.log('e2e: no end-to-end suites in e2e/ yet')
  process.exit(0)
}

// The system tools the suites run (inside the namespaces they create).
const missing = missingTools(['ip', 'iptables', 'ss'])
if (missing.length > 0) {
  console.error(`e2e: missing ${missing.join(', ')}: install the packages in e2e/apt-packages.txt ` +
    '(apt-get install -y $(grep -v "^#" e2e/apt-packages.txt))')
  process.exit(1)
}

// The native shim must be built (npm ci builds it through the root build once
// lerna knows the package; until then, build it here).
const shim = join(root, 'native-shim')
if (!existsSync(join(shim, 'build', 'Release', 'tcpcopy_native.node')) || !existsSync(join(shim, 'dist', 'index.js'))) {
  console.log('e2e: building @tcpcopy/native-shim (npm run build -w @tcpcopy/native-shim)')
  const b = spawnSync('npm', ['run', 'build', '-w', '@tcpcopy/native-shim'], { cwd: root, stdio: 'inherit', timeout: 300_000 })
  if (b.status !== 0) {
    console.error('e2e: building the native shim failed')
    process.exit(1)
  }
}

// Namespaces a killed earlier run left behind (named tcx-e2e-<dead pid>-...).
const { removeStaleNamespaces, runCleaningUp, removeNamespace, Netns } = await import('./lib/netns.js')
const stale = removeStaleNamespaces()
if (stale.length > 0) console.log(`e2e: removed stale namespaces of an earlier run: ${stale.join(' ')}`)

const mocha = [join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--timeout', '60000']
let failed = false

// Time limits of the two mocha runs. The suites in e2e/ take about 60 s (CI)
// and the in-namespace ones about 10 s; the limits leave several times that
// for a slow machine while keeping a hung run inside the CI budget (20 min
// for npm ci, the unit tests and e2e together).
const SUITES_LIMIT_MS = 420_000
const IN_NETNS_LIMIT_MS = 180_000

// 1. Suites that run here and start their helpers inside namespaces they create.
const r = await runCleaningUp(process.execPath, [...mocha, ...suites], { limitMs: SUITES_LIMIT_MS, what: 'mocha' })
if (r.status !== 0) failed = true

// 2. Suites that must run inside a namespace themselves (e2e/in-netns/): each
//    run gets a fresh namespace, deleted afterwards whatever happened.
const inNetns = existsSync(join(here, 'in-netns'))
  ? readdirSync(join(here, 'in-netns')).filter(f => f.endsWith('.test.js')).sort().map(f => join(here, 'in-netns', f))
  : []
if (inNetns.length > 0) {
  const ns = Netns.create('in')
  try {
    // ip netns exec execs node: the pid is mocha's, and so is the prefix of any namespace it makes
    const n = await runCleaningUp('ip', ['netns', 'exec', ns.name, process.execPath, ...mocha, ...inNetns],
      { limitMs: IN_NETNS_LIMIT_MS, env: { ...process.env, TCX_E2E_NETNS: ns.name }, what: 'the in-namespace mocha' })
    if (n.status !== 0) failed = true
  } finally {
    removeNamespace(ns.name) // with whatever still runs in it
  }
}
process.exit(failed ? 1 : 0)

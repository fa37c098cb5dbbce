// npm run bench (@tcpcopy/cli): runs the benches one after the other,
// intercept-bench.js then tcpcopy-bench.js. BENCH_ONLY=intercept or
// BENCH_ONLY=tcpcopy runs only that one. Each bench runs as a child with the
// same output, in a process group of its own: a SIGINT/SIGTERM (Ctrl-C, or a
// kill of this process) is passed on to it once, by its PID, and it cleans up
// and exits (a second signal straight from the terminal would cut its cleanup
// short). Exits with the first non-zero status, after running them all.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const BENCHES = ['intercept', 'tcpcopy']
const only = (process.env.BENCH_ONLY ?? '').trim()
if (only !== '' && !BENCHES.includes(only)) {
  console.error(`BENCH_ONLY must be one of ${BENCHES.join(', ')} (or unset for all), got "${only}"`)
  process.exit(2)
}

let child
let stopping = false
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return
    stopping = true
    if (child !== undefined && child.exitCode === null) { try { process.kill(child.pid, sig) } catch {} }
  })
}

let status = 0
for (const name of only === '' ? BENCHES : [only]) {
  if (stopping) break
  child = spawn(process.execPath, [join(here, `${name}-bench.js`)], { stdio: ['ignore', 'inherit', 'inherit'], detached: true })
  const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? (s ? 128 : 1))))
  if (code !== 0 && status === 0) status = code
}
process.exit(stopping && status === 0 ? 130 : status)

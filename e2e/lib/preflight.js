// Checks shared by the e2e runner and the benchmarks before they touch the
// kernel: root, the system tools they run, and a loud banner for what stops them.
import { spawnSync } from 'node:child_process'

/** True when running as root on Linux (namespaces, NFQUEUE and raw sockets need it). */
export function isRoot () {
  return process.platform === 'linux' && typeof process.getuid === 'function' && process.getuid() === 0
}

/** The tools of `names` that are not on PATH. */
export function missingTools (names) {
  return names.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0)
}

/** Prints lines inside a '#' box, so they stand out in a long log. */
export function loud (lines) {
  console.log('#'.repeat(78))
  for (const l of lines) console.log(`# ${l}`)
  console.log('#'.repeat(78))
}

// Checks shared by the e2e runner and the benchmarks before they touch the
// kernel: root, the system tools they run, a loud banner for what stops them,
// and the CPUs to pin to.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

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

/** The CPUs this process may run on (Cpus_allowed_list, e.g. "0-3,8"), for pinning in the benchmarks. */
export function allowedCpus () {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('Cpus_allowed_list:'))
    const cpus = []
    for (const part of line.split(':')[1].trim().split(',')) {
      const [a, b = a] = part.split('-').map(Number)
      for (let c = a; c <= b; c++) cpus.push(c)
    }
    if (cpus.length > 0 && cpus.every(Number.isInteger)) return cpus
  } catch {}
  return Array.from({ length: availableParallelism() }, (_, i) => i)
}

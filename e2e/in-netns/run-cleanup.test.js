// How e2e/run.js ends a mocha run (lib/netns.js runCleaningUp): past its time
// limit SIGTERM, then SIGKILL; and whatever way the run ended, the
// namespaces it made (tcx-e2e-<its pid>-…) are removed with the processes
// still inside them. The runs here are small scripts standing in for a mocha
// that never reached its `after` hooks. Needs root (ip netns); it runs
// wherever it is started, also inside the namespace run.js gives this folder.
import { expect } from 'chai'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Netns, runCleaningUp } from '../lib/netns.js'

const NETNS = new URL('../lib/netns.js', import.meta.url).href

/** A script that makes a namespace, starts `sleep 300` in it, writes both to `out`, then does `then`. */
function leaver (out, then) {
  return `
    import { spawn } from 'node:child_process'
    import { writeFileSync } from 'node:fs'
    import { Netns } from ${JSON.stringify(NETNS)}
    const ns = Netns.create('left')
    const sleeper = spawn('ip', ['netns', 'exec', ns.name, 'sleep', '300'], { stdio: 'ignore', detached: true })
    sleeper.unref()
    writeFileSync(${JSON.stringify(out)}, JSON.stringify({ ns: ns.name, pid: sleeper.pid }))
    ${then}
  `
}

/** Whether `pid` still runs (a zombie waiting for its reaper does not count), checked for up to 1 s. */
async function alive (pid) {
  const running = () => { try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false } }
  for (let i = 0; i < 50 && running(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  return running()
}

describe('e2e runner: a mocha run that ends without its after hooks', function () {
  this.timeout(30_000)
  let dir
  before(() => { dir = mkdtempSync(join(tmpdir(), 'tcx-run-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  /** Runs a leaver script through runCleaningUp; returns what it left and what runCleaningUp reported. */
  async function runLeaver (name, then, limits) {
    const out = join(dir, `${name}.json`)
    const script = join(dir, `${name}.mjs`)
    writeFileSync(script, leaver(out, then))
    const result = await runCleaningUp(process.execPath, [script], { ...limits, stdio: 'ignore', what: name })
    const left = JSON.parse(readFileSync(out, 'utf8'))
    return { result, left }
  }

  it('past its time limit gets SIGTERM; then its namespaces and the processes in them are removed', async () => {
    const { result, left } = await runLeaver('hangs', 'setInterval(() => {}, 1000)', { limitMs: 1500, graceMs: 2000 })
    expect(result).to.include({ timedOut: true, signal: 'SIGTERM' })
    expect(result.removed).to.deep.equal([left.ns])
    expect(existsSync(`/run/netns/${left.ns}`)).to.equal(false)
    expect(await alive(left.pid), 'the process left in the namespace').to.equal(false)
  })

  it('gets SIGKILL when it ignores SIGTERM, and is cleaned up the same way', async () => {
    const { result, left } = await runLeaver('stubborn', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)", { limitMs: 1500, graceMs: 1000 })
    expect(result).to.include({ timedOut: true, signal: 'SIGKILL' })
    expect(result.removed).to.deep.equal([left.ns])
    expect(await alive(left.pid)).to.equal(false)
  })

  it('ending on its own without cleaning up, it loses its namespaces too; other namespaces stay', async () => {
    const mine = Netns.create('keep')
    try {
      const { result, left } = await runLeaver('exits', 'process.exit(0)', { limitMs: 10_000 })
      expect(result).to.include({ timedOut: false, status: 0 })
      expect(result.removed).to.deep.equal([left.ns])
      expect(await alive(left.pid)).to.equal(false)
      expect(existsSync(`/run/netns/${mine.name}`), 'a namespace of another process').to.equal(true)
    } finally {
      await mine.destroy()
    }
  })
})

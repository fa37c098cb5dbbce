// Network namespaces for the e2e tests. Every name starts with
// `tcx-e2e-<pid>-`, addresses live only inside the namespaces, and each
// namespace (with its interfaces and iptables rules) goes with `ip netns del`.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const PREFIX = 'tcx-e2e-'
const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url))

/** Runs a command to completion (bounded by timeoutMs); throws with its stderr on failure. */
export function run (cmd, args, { timeoutMs = 10_000, allowFail = false } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs })
  if (!allowFail && (r.status !== 0 || r.error !== undefined)) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr.trim()}`)
  }
  return r
}

/**
 * Deletes namespace `name` after ending (SIGKILL, by PID) the processes
 * still running in it: agents, servers, a tcpdump a killed test left. Its
 * interfaces and iptables rules go with it.
 */
export function removeNamespace (name) {
  const pids = run('ip', ['netns', 'pids', name], { allowFail: true }).stdout?.split(/\s+/).filter((p) => /^\d+$/.test(p)) ?? []
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue
    try { process.kill(Number(pid), 'SIGKILL') } catch {}
  }
  run('ip', ['netns', 'del', name], { allowFail: true })
}

/** The namespaces (by name) that a process `pid` created: tcx-e2e-<pid>-…. */
export function namespacesOf (pid) {
  if (!existsSync('/run/netns')) return []
  return readdirSync('/run/netns').filter((name) => name.startsWith(`${PREFIX}${pid}-`))
}

/** Removes every namespace the process `pid` created (see removeNamespace); returns their names. */
export function removeNamespacesOf (pid) {
  const names = namespacesOf(pid)
  for (const name of names) removeNamespace(name)
  return names
}

/**
 * Runs cmd (e.g. mocha) with inherited stdio. Past `limitMs` it gets SIGTERM,
 * and SIGKILL `graceMs` later. Either way its `after` hooks may not have
 * run, so once it has ended, the namespaces it made (tcx-e2e-<its pid>-…)
 * are removed with the processes still in them. Resolves with
 * { status, signal, timedOut, removed }.
 */
export async function runCleaningUp (cmd, args, { limitMs, graceMs = 10_000, env = process.env, what = cmd, stdio = 'inherit' }) {
  const child = spawn(cmd, args, { stdio, env })
  let timedOut = false
  let kill
  const term = setTimeout(() => {
    timedOut = true
    console.error(`e2e: ${what} still running after ${limitMs / 1000} s: SIGTERM to ${child.pid}`)
    child.kill('SIGTERM')
    kill = setTimeout(() => { console.error(`e2e: ${what} ignored SIGTERM: SIGKILL to ${child.pid}`); child.kill('SIGKILL') }, graceMs)
  }, limitMs)
  const [status, signal] = await new Promise((resolve) => {
    child.once('error', (err) => { console.error(`e2e: ${what} did not start: ${err.message}`); resolve([null, null]) })
    child.once('exit', (code, sig) => resolve([code, sig]))
  })
  clearTimeout(term)
  clearTimeout(kill)
  const removed = child.pid !== undefined ? removeNamespacesOf(child.pid) : []
  if (removed.length > 0) console.log(`e2e: removed namespaces ${what} left behind: ${removed.join(' ')}`)
  return { status, signal, timedOut, removed }
}

/** Removes namespaces a killed earlier run left behind (its pid no longer exists). */
export function removeStaleNamespaces () {
  if (!existsSync('/run/netns')) return []
  const removed = []
  for (const name of readdirSync('/run/netns')) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)
    if (m === null || m[1] === String(process.pid)) continue
    if (existsSync(`/proc/${m[1]}`)) continue
    removeNamespace(name)
    removed.push(name)
  }
  return removed
}

export class Netns {
  static #count = 0

  /** Creates a namespace with lo up, rp_filter off, forwarding off. */
  static create (tag) {
    const name = `${PREFIX}${process.pid}-${tag}-${Netns.#count++}`
    run('ip', ['netns', 'add', name])
    const ns = new Netns(name)
    ns.ip('link', 'set', 'lo', 'up')
    ns.sh('for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done; echo 0 > /proc/sys/net/ipv4/ip_forward')
    return ns
  }

  constructor (name) {
    this.name = name
    this.agents = []
  }

  /** `ip -n NS ...` */
  ip (...args) { return run('ip', ['-n', this.name, ...args]) }

  /** `ip netns exec NS cmd args...` */
  exec (cmd, args = [], opts = {}) { return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts) }

  /** A shell line inside the namespace. */
  sh (line, opts = {}) { return this.exec('sh', ['-c', line], opts) }

  /** MAC address of an interface in this namespace. */
  mac (dev) {
    return JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev).stdout)[0].address
  }

  /** Starts an agent (lib/agent.js, or another script speaking its JSON lines) inside this namespace; resolves once it is ready. */
  async agent (script = AGENT) {
    const a = await Agent.start(this.name, script)
    this.agents.push(a)
    return a
  }

  /** Stops this namespace's agents (by their PIDs) and deletes the namespace. */
  async destroy () {
    for (const a of this.agents) await a.stop()
    this.agents = []
    run('ip', ['netns', 'del', this.name], { allowFail: true })
  }
}

/**
 * A veth pair between two namespaces, `dev` in both, with the given
 * addresses (CIDR). Created directly inside the namespaces: no interface
 * ever appears in the host's namespace.
 */
export function vethPair (a, b, addrA, addrB, dev = 'eth0') {
  a.ip('link', 'add', dev, 'type', 'veth', 'peer', 'name', dev, 'netns', b.name)
  a.ip('addr', 'add', addrA, 'dev', dev)
  b.ip('addr', 'add', addrB, 'dev', dev)
  a.ip('link', 'set', dev, 'up')
  b.ip('link', 'set', dev, 'up')
  // No neighbour discovery surprises: static ARP entries both ways.
  a.ip('neigh', 'replace', addrB.split('/')[0], 'lladdr', b.mac(dev), 'dev', dev, 'nud', 'permanent')
  b.ip('neigh', 'replace', addrA.split('/')[0], 'lladdr', a.mac(dev), 'dev', dev, 'nud', 'permanent')
}

/** The test side of an agent: request(op, args) -> result; errors reject with the agent's error fields. */
export class Agent {
  static async start (ns, script = AGENT) {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script], { stdio: ['pipe', 'pipe', 'pipe'] })
    const agent = new Agent(child)
    await agent.#ready
    return agent
  }

  #child
  #waiting = new Map()
  #nextId = 1
  #ready
  #stderr = ''

  constructor (child) {
    this.#child = child
    this.pid = child.pid
    let readyResolve, readyReject
    this.#ready = new Promise((resolve, reject) => { readyResolve = resolve; readyReject = reject })
    const timer = setTimeout(() => readyReject(new Error(`agent did not start in 10 s: ${this.#stderr}`)), 10_000)
    child.stderr.on('data', (d) => { this.#stderr += d })
    child.on('exit', (code) => {
      clearTimeout(timer)
      readyReject(new Error(`agent exited (${code}) before it was ready: ${this.#stderr}`))
      for (const w of this.#waiting.values()) w.reject(new Error(`agent exited (${code}): ${this.#stderr}`))
      this.#waiting.clear()
    })
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg
      try { msg = JSON.parse(line) } catch { return }
      if (msg.ready === true) { clearTimeout(timer); readyResolve(); return }
      const w = this.#waiting.get(msg.id)
      if (w === undefined) return
      this.#waiting.delete(msg.id)
      if (msg.ok) w.resolve(msg.result)
      else w.reject(Object.assign(new Error(msg.error.message), msg.error))
    })
  }

  request (op, args = {}, timeoutMs = 15_000) {
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#waiting.delete(id); reject(new Error(`agent ${op} timed out`)) }, timeoutMs)
      this.#waiting.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.#child.stdin.write(JSON.stringify({ id, op, ...args }) + '\n')
    })
  }

  /** Asks the agent to exit; kills it by PID if it does not within 2 s. */
  async stop () {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = new Promise((resolve) => this.#child.once('exit', resolve))
    this.#child.stdin.end()
    const t = setTimeout(() => { try { process.kill(this.pid, 'SIGKILL') } catch {} }, 2000)
    await exited
    clearTimeout(t)
  }
}

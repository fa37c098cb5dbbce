// The request loop every agent script runs (lib/agent.js, lib/flood-agent.js,
// lib/tcpcopy-peer.js): one JSON request per stdin line
// {id, op, ...args} → one JSON reply per stdout line {id, ok, result|error},
// a {ready, pid} line first. The agent shuts down when the test process goes
// away (stdin closes) and after maxLifeMs whatever happens.
import { createInterface } from 'node:readline'

export function reply (obj) { process.stdout.write(JSON.stringify(obj) + '\n') }

/** Serves `ops` (name → async function of the request); `shutdown(code)` releases the agent's resources and exits. */
export function serveAgent (ops, { shutdown, maxLifeMs }) {
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    let req
    try { req = JSON.parse(line) } catch { return }
    const fn = ops[req.op]
    if (fn === undefined) { reply({ id: req.id, ok: false, error: { message: `unknown op ${req.op}` } }); return }
    fn(req).then(
      (result) => reply({ id: req.id, ok: true, result }),
      (err) => reply({ id: req.id, ok: false, error: { message: err.message, code: err.code, errno: err.errno, syscall: err.syscall, name: err.name } })
    )
  })
  rl.on('close', () => shutdown(0)) // the test process went away: do not linger
  setTimeout(() => shutdown(3), maxLifeMs).unref() // a hard cap on the agent's life
  reply({ ready: true, pid: process.pid })
}

// Without privileges, opening each real socket fails with the EPERM IoError
// and leaves nothing open. Each case runs in a child process without
// CAP_NET_ADMIN and CAP_NET_RAW (as root: under setpriv, see test-helpers).
import { expect } from 'chai'
import { canDropNetCaps, runWithoutNetCaps } from './test-helpers.js'

const SHIM = new URL('./index.js', import.meta.url).href

interface Outcome { name?: string, code?: string, errno?: number, syscall?: string, message?: string, fdsBefore: number, fdsAfter: number }

function openWithoutCaps (call: string): Outcome {
  const r = runWithoutNetCaps(`
    import { readdirSync } from 'node:fs'
    import * as shim from ${JSON.stringify(SHIM)}
    const memory = new WebAssembly.Memory({ initial: 2 })
    const opts = { regions: { memory, rxDescOff: 0, rxDataOff: 4096, rxDataSize: 65536, txDescOff: 8192 }, snap: 256 }
    shim.loadAddon() // loading the addon opens its file once; count fds after that
    const fdsBefore = readdirSync('/proc/self/fd').length
    let out = {}
    try { shim.${call}.close(); out = { name: 'opened' } }
    catch (e) { out = { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message } }
    console.log(JSON.stringify({ ...out, fdsBefore, fdsAfter: readdirSync('/proc/self/fd').length }))
  `)
  expect(r.status, r.stderr).to.equal(0)
  return JSON.parse(r.stdout) as Outcome
}

function expectPermission (o: Outcome, syscall: string, fix: string): void {
  expect(o).to.include({ name: 'IoError', code: 'TC_ERR_IO_PERMISSION', errno: 1, syscall })
  expect(o.message).to.contain(fix)
  expect(o.fdsAfter).to.equal(o.fdsBefore) // nothing left open by the failed constructor
}

const why = canDropNetCaps ? '' : ' — skipped: running as root without setpriv (util-linux), which these tests need to drop CAP_NET_ADMIN/CAP_NET_RAW'
const itDrop = canDropNetCaps ? it : it.skip

describe('opening sockets without privileges', () => {
  itDrop(`nfqueue gives EPERM naming CAP_NET_ADMIN and how to get it${why}`, () => {
    expectPermission(openWithoutCaps('createNfqueueIo(opts)'), 'capget', 'run as root, or grant CAP_NET_ADMIN')
  })
  itDrop(`packet gives EPERM naming CAP_NET_RAW${why}`, () => {
    expectPermission(openWithoutCaps("createPacketIo({ ...opts, interface: 'lo' })"), 'socket', 'needs root or CAP_NET_RAW (packet capture)')
  })
  itDrop(`raw-ipv4 gives EPERM naming CAP_NET_RAW${why}`, () => {
    expectPermission(openWithoutCaps('createRawIpv4Io(opts)'), 'socket', 'needs root or CAP_NET_RAW (raw IPv4 send)')
  })
})

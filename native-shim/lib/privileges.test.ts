// Without privileges, opening each real socket fails with the EPERM IoError.
import { expect } from 'chai'
import { IoError } from '@tcpcopy/interface'
import { createNfqueueIo, createPacketIo, createRawIpv4Io } from './native-packet-io.js'
import { isRoot, openFds } from './test-helpers.js'

const memory = new WebAssembly.Memory({ initial: 2 })
const opts = { regions: { memory, rxDescOff: 0, rxDataOff: 4096, rxDataSize: 65536, txDescOff: 8192 }, snap: 256 }

function expectPermission (fn: () => unknown, syscall: string, fix: string): void {
  const before = openFds()
  let err: unknown
  try { fn() } catch (e) { err = e }
  expect(err).to.be.instanceOf(IoError)
  expect(err).to.include({ code: 'TC_ERR_IO_PERMISSION', errno: 1, syscall })
  expect((err as Error).message).to.contain(fix)
  expect(openFds()).to.equal(before) // nothing left open by the failed constructor
}

const why = ' (skipped: running as root, where opening succeeds; run npm test as a normal user)'
const itUser = isRoot ? it.skip : it

describe('opening sockets without privileges', () => {
  itUser(`nfqueue gives EPERM naming CAP_NET_ADMIN${isRoot ? why : ''}`, () => {
    expectPermission(() => createNfqueueIo(opts), 'capget', 'CAP_NET_ADMIN')
  })
  itUser(`packet gives EPERM naming CAP_NET_RAW${isRoot ? why : ''}`, () => {
    expectPermission(() => createPacketIo({ ...opts, interface: 'lo' }), 'socket', 'CAP_NET_RAW')
  })
  itUser(`raw-ipv4 gives EPERM naming CAP_NET_RAW${isRoot ? why : ''}`, () => {
    expectPermission(() => createRawIpv4Io(opts), 'socket', 'CAP_NET_RAW')
  })
})

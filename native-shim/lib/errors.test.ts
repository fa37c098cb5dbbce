// Native failures -> one IoError with a stable code and the fix in the message.
import { expect } from 'chai'
import { IoError, ConfigError } from '@tcpcopy/interface'
import { toIoError, IoErrorCode } from './errors.js'
import { loadAddon, NOT_BUILT_MESSAGE, type NativeKind, type NativeSocketClass, type NativeSocketOptions } from './native.js'
import { createNfqueueIo, createPacketIo, createRawIpv4Io } from './native-packet-io.js'
import { FakeNativeSocket } from './test-helpers.js'

/** What the addon throws: an Error with errno, code, syscall (and sometimes detail). */
function errnoError (errno: number, code: string, syscall: string, detail?: string): Error {
  const e = new Error(`${syscall} failed: ${code}`) as Error & Record<string, unknown>
  Object.assign(e, { errno, code, syscall })
  if (detail !== undefined) e.detail = detail
  return e
}

/** A fake native class whose constructor throws `err`. */
function throwingNative (err: unknown): NativeSocketClass {
  return class {
    constructor (_kind: NativeKind, _opts: NativeSocketOptions) { throw err }
  } as unknown as NativeSocketClass
}

const memory = new WebAssembly.Memory({ initial: 2 })
const opts = { regions: { memory, rxDescOff: 0, rxDataOff: 4096, rxDataSize: 65536, txDescOff: 8192 }, snap: 256 }

function caught (fn: () => unknown): IoError {
  try { fn() } catch (err) {
    expect(err).to.be.instanceOf(IoError)
    return err as IoError
  }
  throw new Error('expected a throw')
}

describe('native error mapping', () => {
  it('EPERM opening an nfqueue socket: TC_ERR_IO_PERMISSION naming CAP_NET_ADMIN', () => {
    const e = caught(() => createNfqueueIo(opts, throwingNative(errnoError(1, 'EPERM', 'capget', 'CAP_NET_ADMIN is not in the effective set'))))
    expect(e).to.include({ code: 'TC_ERR_IO_PERMISSION', errno: 1, syscall: 'capget' })
    expect(e.message).to.contain('needs root or CAP_NET_ADMIN (nfqueue)')
  })

  it('EPERM/EACCES opening a packet or raw socket: TC_ERR_IO_PERMISSION naming CAP_NET_RAW', () => {
    const p = caught(() => createPacketIo({ ...opts, interface: 'eth0' }, throwingNative(errnoError(1, 'EPERM', 'socket'))))
    expect(p).to.include({ code: 'TC_ERR_IO_PERMISSION', errno: 1, syscall: 'socket' })
    expect(p.message).to.contain('CAP_NET_RAW').and.contain('packet socket on eth0')
    const r = caught(() => createRawIpv4Io(opts, throwingNative(errnoError(13, 'EACCES', 'socket'))))
    expect(r).to.include({ code: 'TC_ERR_IO_PERMISSION', errno: 13, syscall: 'socket' })
    expect(r.message).to.contain('needs root or CAP_NET_RAW')
  })

  it('EPROTONOSUPPORT on the netlink socket: TC_ERR_IO_NO_NFQUEUE with the modprobe hint', () => {
    const e = caught(() => createNfqueueIo(opts, throwingNative(errnoError(93, 'EPROTONOSUPPORT', 'socket'))))
    expect(e).to.include({ code: 'TC_ERR_IO_NO_NFQUEUE', errno: 93, syscall: 'socket' })
    expect(e.message).to.contain('modprobe nfnetlink_queue')
  })

  it('an unknown interface: TC_ERR_IO_NO_INTERFACE naming it', () => {
    const e = caught(() => createPacketIo({ ...opts, interface: 'nosuch9' }, throwingNative(errnoError(19, 'ENODEV', 'if_nametoindex', 'nosuch9'))))
    expect(e).to.include({ code: 'TC_ERR_IO_NO_INTERFACE', errno: 19, syscall: 'if_nametoindex' })
    expect(e.message).to.contain('no network interface named "nosuch9" (ip link shows the names)')
  })

  it('the real addon: an unknown interface name gives TC_ERR_IO_NO_INTERFACE before any privilege is needed', function () {
    // socket(AF_PACKET) comes first, so without CAP_NET_RAW this is EPERM instead.
    if (typeof process.getuid === 'function' && process.getuid() !== 0) this.skip()
    const e = caught(() => createPacketIo({ ...opts, interface: 'tcx-nosuch' }))
    expect(e.code).to.equal('TC_ERR_IO_NO_INTERFACE')
    expect(e.message).to.contain('tcx-nosuch')
  })

  it('the kernel refusing the BPF program: TC_ERR_IO_FILTER', () => {
    const e = caught(() => createPacketIo({ ...opts, interface: 'lo', filter: new Uint8Array(8) }, throwingNative(errnoError(22, 'EINVAL', 'setsockopt', 'SO_ATTACH_FILTER'))))
    expect(e).to.include({ code: 'TC_ERR_IO_FILTER', errno: 22, syscall: 'setsockopt' })
    expect(e.message).to.contain('rejected the BPF filter')
  })

  it('a filter that is not whole 8-byte instructions is a ConfigError before any syscall', () => {
    expect(() => createPacketIo({ ...opts, filter: new Uint8Array(12) }, throwingNative(new Error('not reached')))).to.throw(ConfigError, /8-byte/)
  })

  it('EPERM from sendmmsg names a firewall rule, not only privileges', () => {
    const e = toIoError(errnoError(1, 'EPERM', 'sendmmsg'), { kind: 'raw-ipv4', op: 'send' })
    expect(e.code).to.equal('TC_ERR_IO_PERMISSION')
    expect(e.message).to.contain('firewall rule')
  })

  it('any other errno: TC_ERR_IO keeping errno and syscall', () => {
    const e = toIoError(errnoError(12, 'ENOMEM', 'recvmmsg'), { kind: 'nfqueue', op: 'receive' })
    expect(e).to.include({ code: IoErrorCode.Syscall, errno: 12, syscall: 'recvmmsg' })
    expect(e.cause).to.be.instanceOf(Error)
  })

  it('a TypeError/RangeError from the addon\'s argument checks: TC_ERR_IO_ARGUMENT', () => {
    const e = toIoError(new RangeError('receive regions lie outside the buffer'), { kind: 'packet', op: 'receive' })
    expect(e).to.include({ code: 'TC_ERR_IO_ARGUMENT', errno: 22, syscall: 'receive' })
  })

  it('errors from receive/send go through the same mapping', () => {
    class Fake extends FakeNativeSocket {
      override recvBatch (): number { throw errnoError(105, 'ENOBUFS', 'recvmmsg') }
      override sendBatch (): number { throw errnoError(101, 'ENETUNREACH', 'sendmmsg') }
    }
    const io = createPacketIo({ ...opts, interface: 'eth0' }, Fake as unknown as NativeSocketClass)
    expect(caught(() => io.receive(4))).to.include({ code: 'TC_ERR_IO', errno: 105, syscall: 'recvmmsg' })
    expect(caught(() => io.send(1))).to.include({ code: 'TC_ERR_IO', errno: 101, syscall: 'sendmmsg' })
  })

  it('a missing addon build: TC_ERR_IO_NOT_BUILT telling how to build it', () => {
    const e = caught(() => loadAddon('/nonexistent/tcpcopy_native.node'))
    expect(e.code).to.equal('TC_ERR_IO_NOT_BUILT')
    expect(e.message).to.contain(NOT_BUILT_MESSAGE)
    expect(NOT_BUILT_MESSAGE).to.contain('npm run build -w @tcpcopy/native-shim')
  })
})

// Native failures -> one IoError with a stable code and the fix in the message.
import { expect } from 'chai'
import { IoError, ConfigError } from '@tcpcopy/interface'
import { toIoError, IoErrorCode } from './errors.js'
import { loadAddon, NOT_BUILT_MESSAGE, type NativeKind, type NativeSocketClass, type NativeSocketOptions } from './native.js'
import { createNfqueueIo, createPacketIo, createRawIpv4Io } from './native-packet-io.js'
import { FakeNativeSocket, canDropNetCaps, runWithoutNetCaps } from './test-helpers.js'

const SHIM = new URL('./index.js', import.meta.url).href
const noSetpriv = canDropNetCaps ? '' : ' — skipped: running as root without setpriv (util-linux), which the test needs to drop CAP_NET_ADMIN/CAP_NET_RAW'

/** Opens a socket in a child without CAP_NET_ADMIN/CAP_NET_RAW; returns the IoError fields it threw (or 'opened'). */
function openUnprivileged (call: string): Record<string, unknown> {
  const r = runWithoutNetCaps(`
    import * as shim from ${JSON.stringify(SHIM)}
    const memory = new WebAssembly.Memory({ initial: 2 })
    const opts = { regions: { memory, rxDescOff: 0, rxDataOff: 4096, rxDataSize: 65536, txDescOff: 8192 }, snap: 256 }
    try { const io = shim.${call}; io.close(); console.log(JSON.stringify({ opened: true })) }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message })) }
  `)
  expect(r.status, r.stderr).to.equal(0)
  return JSON.parse(r.stdout) as Record<string, unknown>
}

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
  it('CAP_NET_ADMIN missing for an nfqueue socket: TC_ERR_IO_PERMISSION saying how to get it', () => {
    const missing = Object.assign(new Error('CAP_NET_ADMIN is not in the effective capability set of this process'), { errno: 1, code: 'EPERM', syscall: 'capget', detail: 'CAP_NET_ADMIN' })
    const e = caught(() => createNfqueueIo(opts, throwingNative(missing)))
    expect(e).to.include({ code: 'TC_ERR_IO_PERMISSION', errno: 1, syscall: 'capget' })
    expect(e.message).to.equal('nfqueue socket: CAP_NET_ADMIN is not in the effective capability set of this process — ' +
      'run as root, or grant CAP_NET_ADMIN (setcap cap_net_admin+ep on the node binary, or --cap-add NET_ADMIN for a container)')
  })

  it(`the real addon without CAP_NET_ADMIN names the missing capability, not a failed capget${noSetpriv}`, function () {
    if (!canDropNetCaps) this.skip()
    const e = openUnprivileged('createNfqueueIo(opts)')
    expect(e).to.include({ name: 'IoError', code: 'TC_ERR_IO_PERMISSION', errno: 1, syscall: 'capget' })
    expect(e.message).to.contain('CAP_NET_ADMIN is not in the effective capability set').and.contain('run as root, or grant CAP_NET_ADMIN')
    expect(e.message).to.not.contain('capget failed')
  })

  it('EPERM/EACCES opening a packet or raw socket: TC_ERR_IO_PERMISSION naming CAP_NET_RAW', () => {
    const p = caught(() => createPacketIo({ ...opts, interface: 'eth0' }, throwingNative(errnoError(1, 'EPERM', 'socket'))))
    expect(p).to.include({ code: 'TC_ERR_IO_PERMISSION', errno: 1, syscall: 'socket' })
    expect(p.message).to.contain('needs root or CAP_NET_RAW (packet capture): run as root, or grant CAP_NET_RAW').and.contain('packet socket on eth0')
    const r = caught(() => createRawIpv4Io(opts, throwingNative(errnoError(13, 'EACCES', 'socket'))))
    expect(r).to.include({ code: 'TC_ERR_IO_PERMISSION', errno: 13, syscall: 'socket' })
    expect(r.message).to.contain('needs root or CAP_NET_RAW')
  })

  it('EPROTONOSUPPORT on the netlink socket: TC_ERR_IO_NO_NFQUEUE with the modprobe hint', () => {
    const e = caught(() => createNfqueueIo(opts, throwingNative(errnoError(93, 'EPROTONOSUPPORT', 'socket'))))
    expect(e).to.include({ code: 'TC_ERR_IO_NO_NFQUEUE', errno: 93, syscall: 'socket' })
    expect(e.message).to.contain('modprobe nfnetlink_queue')
  })

  it('EAFNOSUPPORT for AF_PACKET: TC_ERR_IO_NO_AF_PACKET with the modprobe hint', () => {
    const e = caught(() => createPacketIo({ ...opts, interface: 'eth0' }, throwingNative(errnoError(97, 'EAFNOSUPPORT', 'socket', 'AF_PACKET'))))
    expect(e).to.include({ code: 'TC_ERR_IO_NO_AF_PACKET', errno: 97, syscall: 'socket' })
    expect(e.message).to.contain('the kernel has no packet sockets (modprobe af_packet; CONFIG_PACKET)')
  })

  it('ENODEV from bind (the interface went away after its lookup): TC_ERR_IO_NO_INTERFACE saying so', () => {
    const e = caught(() => createPacketIo({ ...opts, interface: 'veth7' }, throwingNative(errnoError(19, 'ENODEV', 'bind', 'veth7'))))
    expect(e).to.include({ code: 'TC_ERR_IO_NO_INTERFACE', errno: 19, syscall: 'bind' })
    expect(e.message).to.contain('the interface "veth7" went away while the socket was being opened')
  })

  it('an unknown interface: TC_ERR_IO_NO_INTERFACE naming it', () => {
    const e = caught(() => createPacketIo({ ...opts, interface: 'nosuch9' }, throwingNative(errnoError(19, 'ENODEV', 'if_nametoindex', 'nosuch9'))))
    expect(e).to.include({ code: 'TC_ERR_IO_NO_INTERFACE', errno: 19, syscall: 'if_nametoindex' })
    expect(e.message).to.contain('no network interface named "nosuch9" (ip link shows the names)')
  })

  it(`the real addon: an unknown interface name gives TC_ERR_IO_NO_INTERFACE before any privilege is needed${noSetpriv}`, function () {
    if (!canDropNetCaps) this.skip()
    // in a child without CAP_NET_RAW: the name is looked up before socket(AF_PACKET)
    const e = openUnprivileged("createPacketIo({ ...opts, interface: 'tcx-nosuch' })")
    expect(e).to.include({ name: 'IoError', code: 'TC_ERR_IO_NO_INTERFACE', syscall: 'if_nametoindex' })
    expect(e.message).to.contain('no network interface named "tcx-nosuch"')
  })

  it('the kernel refusing the BPF program: TC_ERR_IO_FILTER', () => {
    const e = caught(() => createPacketIo({ ...opts, interface: 'lo', filter: new Uint8Array(8) }, throwingNative(errnoError(22, 'EINVAL', 'setsockopt', 'SO_ATTACH_FILTER'))))
    expect(e).to.include({ code: 'TC_ERR_IO_FILTER', errno: 22, syscall: 'setsockopt' })
    expect(e.message).to.contain('rejected the BPF filter')
  })

  it('a filter that is not whole 8-byte instructions is a ConfigError before any syscall', () => {
    expect(() => createPacketIo({ ...opts, filter: new Uint8Array(12) }, throwingNative(new Error('not reached')))).to.throw(ConfigError, /8-byte/)
  })

  it('EPERM from sendmmsg: TC_ERR_IO_REFUSED naming a firewall rule, not a capability (the socket is open)', () => {
    const e = toIoError(errnoError(1, 'EPERM', 'sendmmsg'), { kind: 'raw-ipv4', op: 'send' })
    expect(e).to.include({ code: 'TC_ERR_IO_REFUSED', errno: 1, syscall: 'sendmmsg' })
    expect(e.message).to.contain('a firewall rule refused a datagram')
    expect(e.message).to.not.match(/CAP_NET|root/)
  })

  it('EACCES from sendmmsg: TC_ERR_IO_REFUSED naming a broadcast destination or a firewall rule', () => {
    const e = toIoError(errnoError(13, 'EACCES', 'sendmmsg'), { kind: 'raw-ipv4', op: 'send' })
    expect(e).to.include({ code: 'TC_ERR_IO_REFUSED', errno: 13, syscall: 'sendmmsg' })
    expect(e.message).to.contain('broadcast destination').and.contain('firewall rule')
    expect(e.message).to.not.match(/CAP_NET|root/)
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

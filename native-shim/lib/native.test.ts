// The addon itself, through its test-only 'loopback-test' kind (a
// socketpair: what sendBatch sends comes back through recvBatch). No root.
import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadAddon, type NativeSocket } from './native.js'
import { openFds, runChild, sleep } from './test-helpers.js'

const { NativeSocket: Native } = loadAddon()

const DESC = 0 //           receive descriptors
const DATA = 64 * 1024 //   receive data
const DATA_SIZE = 256 * 1024
const TX_DESC = 512 * 1024
const TX = 600 * 1024

function setup (): { buf: ArrayBuffer, u8: Uint8Array, dv: DataView } {
  const buf = new ArrayBuffer(1024 * 1024)
  return { buf, u8: new Uint8Array(buf), dv: new DataView(buf) }
}

/** Writes datagrams of the given lengths into TX (byte i of datagram k is k+1) and describes them. */
function stage (dv: DataView, u8: Uint8Array, lengths: number[]): void {
  let at = TX
  lengths.forEach((len, k) => {
    u8.fill(k + 1, at, at + len)
    dv.setUint32(TX_DESC + k * 16, at, true)
    dv.setUint32(TX_DESC + k * 16 + 4, len, true)
    at += len
  })
}

describe('native addon', () => {
  let s: NativeSocket | undefined
  afterEach(() => { s?.close(); s = undefined })

  it('loads and reports N-API version 8', () => {
    expect(typeof Native).to.equal('function')
    expect(loadAddon().napiVersion).to.equal(8)
  })

  it('sleepMs blocks the thread at least the time asked on the monotonic clock, and refuses bad durations', () => {
    const { sleepMs } = loadAddon()
    for (const ms of [0.5, 3, 7.25]) {
      const t0 = process.hrtime.bigint()
      sleepMs(ms)
      const took = Number(process.hrtime.bigint() - t0) / 1e6
      expect(took, `sleepMs(${ms})`).to.be.at.least(ms)
    }
    expect(() => { sleepMs(0) }).not.to.throw()
    expect(() => { sleepMs(-1) }).to.throw(RangeError, /0-1000/)
    expect(() => { sleepMs(1001) }).to.throw(RangeError, /0-1000/)
    expect(() => { sleepMs(Number.NaN) }).to.throw(RangeError, /0-1000/)
    expect(() => { (sleepMs as (x: unknown) => void)('2') }).to.throw(TypeError, /sleepMs/)
  })

  it('WakeTimer calls its function once per arming, no sooner than asked; arming again restarts it; disarm and close stop it', async () => {
    const { WakeTimer } = loadAddon()
    const fired: number[] = []
    let t0 = performance.now()
    const t = new WakeTimer(() => { fired.push(performance.now() - t0) })
    try {
      expect(t.armed).to.equal(false)
      t.arm(15)
      expect(t.armed).to.equal(true)
      await sleep(60)
      expect(fired).to.have.length(1)
      expect(fired[0]).to.be.at.least(14) // the loop's clock is whole milliseconds, as for setTimeout
      expect(t.armed).to.equal(false)

      // arming again while it runs counts from the new arming
      t0 = performance.now()
      t.arm(20)
      await sleep(10)
      t0 = performance.now()
      t.arm(20)
      await sleep(60)
      expect(fired).to.have.length(2)
      expect(fired[1]).to.be.at.least(19)

      t.arm(10)
      t.disarm()
      expect(t.armed).to.equal(false)
      await sleep(40)
      expect(fired).to.have.length(2)

      // the function may arm it again from inside
      let again = 0
      const u = new WakeTimer(() => { if (++again < 3) u.arm(1) })
      u.arm(0)
      await sleep(50)
      expect(again).to.equal(3)
      u.close()

      t.arm(5)
      t.close()
      expect(t.closed).to.equal(true)
      await sleep(30)
      expect(fired).to.have.length(2)
      expect(() => { t.arm(1) }).to.throw(Error, /closed/)
      expect(() => { t.close() }).not.to.throw()
    } finally {
      t.close()
    }
  })

  it('WakeTimer refuses bad arguments, keeps the loop alive only while armed, and sends exceptions to uncaughtException (in a child)', () => {
    const { WakeTimer } = loadAddon()
    expect(() => new (WakeTimer as unknown as new (x: unknown) => unknown)(5)).to.throw(TypeError, /callback/)
    const t = new WakeTimer(() => {})
    expect(() => { t.arm(-1) }).to.throw(RangeError, /0-2147483647/)
    expect(() => { t.arm(Number.NaN) }).to.throw(RangeError, /0-2147483647/)
    expect(() => { t.arm(2 ** 31) }).to.throw(RangeError, /0-2147483647/)
    expect(() => { (t.arm as (x: unknown) => void)('5') }).to.throw(TypeError, /arm/)
    t.close()
    const native = JSON.stringify(new URL('./native.js', import.meta.url).href)
    // armed: the process waits for it; disarmed: it exits at once
    const armed = runChild(`
      import { loadAddon } from ${native}
      const t0 = Date.now()
      const t = new (loadAddon().WakeTimer)(() => { console.log('fired after', Date.now() - t0 >= 299 ? 'enough' : 'too little') })
      t.arm(300)
    `)
    expect(armed.status, armed.stderr).to.equal(0)
    expect(armed.stdout.trim()).to.equal('fired after enough')
    const disarmed = runChild(`
      import { loadAddon } from ${native}
      const t = new (loadAddon().WakeTimer)(() => { console.log('fired') })
      t.arm(5000)
      t.disarm()
      const t0 = Date.now()
      process.on('exit', () => { console.log(Date.now() - t0 < 4000 ? 'exited' : 'waited') })
    `)
    expect(disarmed.status, disarmed.stderr).to.equal(0)
    expect(disarmed.stdout.trim()).to.equal('exited')
    const thrown = runChild(`
      import { loadAddon } from ${native}
      process.on('uncaughtException', (err) => { console.log('caught: ' + err.message); process.exit(0) })
      new (loadAddon().WakeTimer)(() => { throw new Error('from the timer') }).arm(1)
    `)
    expect(thrown.status, thrown.stderr).to.equal(0)
    expect(thrown.stdout.trim()).to.equal('caught: from the timer')
  })

  it('a WakeTimer that is not armed holds nothing: it and its function are collected; an armed one is kept until it fires', async function () {
    const gc = (globalThis as { gc?: () => void }).gc
    if (gc === undefined) this.skip() // needs node --expose-gc (the test script passes it)
    const { WakeTimer } = loadAddon()
    const collected = new Set<string>()
    const registry = new FinalizationRegistry<string>((what) => { collected.add(what) })
    let fired = false
    ;(() => {
      const idle = new WakeTimer(() => {})
      idle.arm(10_000)
      idle.disarm()
      registry.register(idle, 'disarmed')
      const armed = new WakeTimer(() => { fired = true })
      armed.arm(150)
      registry.register(armed, 'armed')
    })()
    for (let i = 0; i < 10 && !collected.has('disarmed'); i++) { gc!(); await sleep(10) }
    expect([...collected]).to.deep.equal(['disarmed'])
    await sleep(200)
    expect(fired).to.equal(true)
    for (let i = 0; i < 10 && !collected.has('armed'); i++) { gc!(); await sleep(10) }
    expect(collected.has('armed')).to.equal(true)
  })

  it('rejects an unknown kind with a TypeError naming it', () => {
    expect(() => new Native('bogus' as never, {})).to.throw(TypeError, /bogus/)
  })

  it('moves a batch: sendBatch reads 16-byte descriptors, recvBatch writes [offset, length] at 8-byte aligned slots', () => {
    const { buf, u8, dv } = setup()
    s = new Native('loopback-test', {})
    stage(dv, u8, [10, 1, 17, 64])
    expect(s.sendBatch(buf, TX_DESC, 4)).to.equal(4)
    expect(s.recvBatch(buf, DESC, DATA, DATA_SIZE, 64, 100)).to.equal(4)
    const lengths = [10, 1, 17, 64]
    for (let i = 0; i < 4; i++) {
      const off = dv.getUint32(DESC + i * 8, true)
      const len = dv.getUint32(DESC + i * 8 + 4, true)
      expect(off).to.equal(DATA + i * 64)
      expect(off % 8).to.equal(0)
      expect(len).to.equal(lengths[i])
      expect(Array.from(u8.subarray(off, off + len)).every((b) => b === i + 1)).to.equal(true)
    }
    expect(s.stats()).to.deep.equal({ received: 4, sent: 4, truncated: 0, overruns: 0, drops: 0 })
  })

  it('rounds the slot up to 8 bytes and cuts a longer datagram to snap, counting it as truncated', () => {
    const { buf, u8, dv } = setup()
    s = new Native('loopback-test', {})
    stage(dv, u8, [100, 13, 300])
    s.sendBatch(buf, TX_DESC, 3)
    expect(s.recvBatch(buf, DESC, DATA, DATA_SIZE, 13, 10)).to.equal(3)
    expect([0, 1, 2].map((i) => dv.getUint32(DESC + i * 8, true))).to.deep.equal([DATA, DATA + 16, DATA + 32])
    expect([0, 1, 2].map((i) => dv.getUint32(DESC + i * 8 + 4, true))).to.deep.equal([13, 13, 13])
    expect(s.stats().truncated).to.equal(2)
  })

  it('returns 0 when nothing is pending (EAGAIN is not an error)', () => {
    const { buf } = setup()
    s = new Native('loopback-test', {})
    expect(s.recvBatch(buf, DESC, DATA, DATA_SIZE, 64, 16)).to.equal(0)
  })

  it('reads at most max datagrams, and no more than fit in the data region', () => {
    const { buf, u8, dv } = setup()
    s = new Native('loopback-test', {})
    stage(dv, u8, Array(20).fill(8))
    expect(s.sendBatch(buf, TX_DESC, 20)).to.equal(20)
    expect(s.recvBatch(buf, DESC, DATA, DATA_SIZE, 8, 5)).to.equal(5)
    expect(s.recvBatch(buf, DESC, DATA, 24, 8, 100)).to.equal(3) // 24 bytes hold three 8-byte slots
    expect(s.recvBatch(buf, DESC, DATA, DATA_SIZE, 8, 100)).to.equal(12)
  })

  it('moves more than one recvmmsg/sendmmsg vector (1024) in one call', () => {
    const n = 1500
    const buf = new ArrayBuffer(4 * 1024 * 1024)
    const dv = new DataView(buf)
    s = new Native('loopback-test', {})
    for (let k = 0; k < n; k++) {
      dv.setUint32(k * 16, 1024 * 1024 + k * 8, true) //  descriptor k: offset
      dv.setUint32(k * 16 + 4, 8, true) //                descriptor k: length
      dv.setUint32(1024 * 1024 + k * 8, k, true) //       datagram k holds k
    }
    let sent = 0
    let got = 0
    for (let round = 0; round < 10 && got < n; round++) {
      // the socketpair queue is bounded: send what fits, then drain
      if (sent < n) sent += s.sendBatch(buf, sent * 16, n - sent)
      const r = s.recvBatch(buf, 2 * 1024 * 1024, 3 * 1024 * 1024, 1024 * 1024, 8, n)
      for (let i = 0; i < r; i++) {
        const off = dv.getUint32(2 * 1024 * 1024 + i * 8, true)
        expect(dv.getUint32(off, true)).to.equal(got + i)
      }
      got += r
    }
    expect(got).to.equal(n)
  })

  it('throws RangeError for regions outside the buffer and TypeError for a non-ArrayBuffer', () => {
    const { buf } = setup()
    s = new Native('loopback-test', {})
    expect(() => s!.recvBatch(buf, buf.byteLength - 8, DATA, DATA_SIZE, 64, 2)).to.throw(RangeError)
    expect(() => s!.recvBatch(buf, DESC, buf.byteLength - 64, 128, 64, 2)).to.throw(RangeError)
    expect(() => s!.recvBatch(buf, DESC, DATA + 4, DATA_SIZE, 64, 2)).to.throw(RangeError, /aligned/)
    expect(() => s!.recvBatch(buf, DESC, DATA, DATA_SIZE, 0, 2)).to.throw(RangeError)
    expect(() => s!.recvBatch(new Uint8Array(8) as never, DESC, DATA, DATA_SIZE, 64, 2)).to.throw(TypeError)
    expect(() => s!.sendBatch(buf, buf.byteLength - 16, 2)).to.throw(RangeError)
    const view = new DataView(buf)
    view.setUint32(TX_DESC, buf.byteLength - 4, true)
    view.setUint32(TX_DESC + 4, 8, true)
    expect(() => s!.sendBatch(buf, TX_DESC, 1)).to.throw(RangeError, /descriptor 0/)
    expect(() => s!.recvBatch(buf, -1, DATA, DATA_SIZE, 64, 2)).to.throw(RangeError)
  })

  it('writes at most descCount descriptors, and refuses descriptors that overlap the data region', () => {
    const { buf, u8, dv } = setup()
    s = new Native('loopback-test', {})
    stage(dv, u8, Array(6).fill(8))
    expect(s.sendBatch(buf, TX_DESC, 6)).to.equal(6)
    dv.setUint32(DESC + 3 * 8, 0xdeadbeef, true)
    expect(s.recvBatch(buf, DESC, DATA, DATA_SIZE, 8, 100, 3)).to.equal(3)
    expect(dv.getUint32(DESC + 3 * 8, true)).to.equal(0xdeadbeef) // descriptor 3 was not written
    expect(() => s!.recvBatch(buf, DATA + 64, DATA, DATA_SIZE, 8, 100, 100)).to.throw(RangeError, /overlap/)
    expect(s.recvBatch(buf, DESC, DATA, DATA_SIZE, 8, 100)).to.equal(3)
  })

  it('refuses SharedArrayBuffer and detached buffers with a TypeError/RangeError and never reads them (in a child: a bad read would crash it)', () => {
    const r = runChild(`
      import { loadAddon } from ${JSON.stringify(new URL('./native.js', import.meta.url).href)}
      const { NativeSocket, fillForTest } = loadAddon()
      const detached = () => { const b = new ArrayBuffer(16); structuredClone(b, { transfer: [b] }); return b }
      const out = []
      const attempt = (what, fn) => { try { fn(); out.push(what + ': ok') } catch (e) { out.push(what + ': ' + e.constructor.name) } }
      // the filter is read before socket(AF_PACKET): no privilege needed to reach these checks
      attempt('filter on a SharedArrayBuffer', () => new NativeSocket('packet', { interface: 'lo', filter: new Uint8Array(new SharedArrayBuffer(8)) }))
      attempt('filter at an offset into a SharedArrayBuffer', () => new NativeSocket('packet', { interface: 'lo', filter: new Uint8Array(new SharedArrayBuffer(16), 8) }))
      attempt('filter on a detached buffer', () => { const u = new Uint8Array(new ArrayBuffer(8)); structuredClone(u.buffer, { transfer: [u.buffer] }); return new NativeSocket('packet', { interface: 'lo', filter: u }) })
      attempt('filter as a detached ArrayBuffer', () => new NativeSocket('packet', { interface: 'lo', filter: detached() }))
      const s = new NativeSocket('loopback-test', {})
      attempt('recvBatch into a SharedArrayBuffer', () => s.recvBatch(new SharedArrayBuffer(4096), 0, 1024, 1024, 64, 4))
      attempt('sendBatch from a SharedArrayBuffer', () => s.sendBatch(new SharedArrayBuffer(4096), 0, 1))
      attempt('recvBatch into a detached buffer', () => s.recvBatch(detached(), 0, 8, 8, 8, 1))
      attempt('fillForTest on a SharedArrayBuffer', () => fillForTest(new SharedArrayBuffer(16), 0, 4, 1))
      attempt('fillForTest on a detached buffer', () => fillForTest(detached(), 0, 4, 1))
      s.close()
      console.log(JSON.stringify(out))
    `)
    expect(r.signal, r.stderr).to.equal(null)
    expect(r.status, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout)).to.deep.equal([
      'filter on a SharedArrayBuffer: TypeError',
      'filter at an offset into a SharedArrayBuffer: TypeError',
      'filter on a detached buffer: RangeError',
      'filter as a detached ArrayBuffer: RangeError',
      'recvBatch into a SharedArrayBuffer: TypeError',
      'sendBatch from a SharedArrayBuffer: TypeError',
      'recvBatch into a detached buffer: TypeError',
      'fillForTest on a SharedArrayBuffer: TypeError',
      'fillForTest on a detached buffer: RangeError'
    ])
  })

  it('calls the poll callback on the loop thread while readable, and not after stopPoll', async () => {
    const { buf, u8, dv } = setup()
    s = new Native('loopback-test', {})
    const sock = s
    let calls = 0
    let got = 0
    sock.startPoll(() => {
      calls++
      got += sock.recvBatch(buf, DESC, DATA, DATA_SIZE, 64, 64)
    })
    await sleep(20)
    expect(calls).to.equal(0)
    stage(dv, u8, [5, 6, 7])
    sock.sendBatch(buf, TX_DESC, 3)
    for (let i = 0; i < 50 && got < 3; i++) await sleep(5)
    expect(got).to.equal(3)
    expect(calls).to.be.greaterThan(0)
    sock.stopPoll()
    const before = calls
    sock.sendBatch(buf, TX_DESC, 1)
    await sleep(30)
    expect(calls).to.equal(before)
  })

  it('routes an exception thrown by the poll callback to uncaughtException', async () => {
    const { buf, u8, dv } = setup()
    s = new Native('loopback-test', {})
    const sock = s
    const seen: unknown[] = []
    const listeners = process.listeners('uncaughtException')
    process.removeAllListeners('uncaughtException')
    const onErr = (err: unknown): void => { seen.push(err); sock.stopPoll() }
    process.on('uncaughtException', onErr)
    try {
      sock.startPoll(() => { throw new Error('boom from callback') })
      stage(dv, u8, [4])
      sock.sendBatch(buf, TX_DESC, 1)
      for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(5)
    } finally {
      process.removeListener('uncaughtException', onErr)
      for (const l of listeners) process.on('uncaughtException', l)
    }
    expect(seen).to.have.length(1)
    expect((seen[0] as Error).message).to.equal('boom from callback')
  })

  it('can be closed from inside its own poll callback', async () => {
    const { buf, u8, dv } = setup()
    const sock = new Native('loopback-test', {})
    let calls = 0
    sock.startPoll(() => { calls++; sock.close() })
    stage(dv, u8, [4, 4])
    sock.sendBatch(buf, TX_DESC, 2)
    for (let i = 0; i < 50 && calls === 0; i++) await sleep(5)
    await sleep(20)
    expect(calls).to.equal(1) // still readable, but closed: never called again
    expect(sock.closed).to.equal(true)
  })

  it('close() is idempotent, stops the poll, and leaves no fd open', async () => {
    const before = openFds()
    for (let i = 0; i < 20; i++) {
      const sock = new Native('loopback-test', {})
      sock.startPoll(() => {})
      expect(sock.fd).to.be.greaterThan(2)
      sock.close()
      sock.close()
      expect(sock.closed).to.equal(true)
      expect(sock.fd).to.equal(-1)
    }
    await sleep(10) // let libuv finish closing the poll handles
    expect(openFds()).to.equal(before)
  })

  it('after close, recvBatch/sendBatch/startPoll throw EBADF errors with errno, code and syscall', () => {
    const { buf } = setup()
    const sock = new Native('loopback-test', {})
    sock.close()
    const err = (() => { try { sock.recvBatch(buf, DESC, DATA, DATA_SIZE, 64, 1) } catch (e) { return e as Record<string, unknown> } })()
    expect(err).to.include({ errno: 9, code: 'EBADF', syscall: 'recvmmsg' })
    expect(() => sock.sendBatch(buf, TX_DESC, 1)).to.throw(/EBADF/)
    expect(() => sock.startPoll(() => {})).to.throw(/EBADF/)
  })

  it('survives a worker being terminated while its socket polls, and a process exiting while polling', function () {
    this.timeout(15_000)
    // In a child process: a failure here would be an abort, not an exception.
    const dir = mkdtempSync(join(tmpdir(), 'tcx-shim-'))
    const script = join(dir, 'worker-poll.mjs')
    writeFileSync(script, `
      import { Worker, isMainThread, parentPort } from 'node:worker_threads'
      import { loadAddon } from ${JSON.stringify(new URL('./native.js', import.meta.url).href)}
      const { NativeSocket } = loadAddon()
      if (isMainThread) {
        const w = new Worker(new URL(import.meta.url))
        w.once('message', async () => {
          await w.terminate()
          const s = new NativeSocket('loopback-test', {})
          s.startPoll(() => {})
          setTimeout(() => { console.log('ok'); process.exit(0) }, 20)
        })
      } else {
        const s = new NativeSocket('loopback-test', {})
        const buf = new ArrayBuffer(65536)
        const dv = new DataView(buf)
        s.startPoll(() => { parentPort.postMessage('readable') }) // never reads: stays readable
        dv.setUint32(4096, 1000, true); dv.setUint32(4100, 10, true)
        s.sendBatch(buf, 4096, 1)
      }
    `)
    try {
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 10_000 })
      expect(r.stderr).to.not.match(/FATAL|abort/i)
      expect(r.status).to.equal(0)
      expect(r.stdout.trim()).to.equal('ok')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the finalizer closes a socket that was never closed', async function () {
    const gc = (globalThis as { gc?: () => void }).gc
    if (gc === undefined) this.skip() // needs node --expose-gc (the test script passes it)
    const before = openFds()
    ;(() => { for (let i = 0; i < 50; i++) void new Native('loopback-test', {}) })()
    expect(openFds()).to.be.greaterThan(before)
    for (let i = 0; i < 20 && openFds() > before; i++) { gc!(); await sleep(10) }
    expect(openFds()).to.equal(before)
  })
})

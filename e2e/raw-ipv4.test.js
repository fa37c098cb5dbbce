// Raw IPv4 send (IP_HDRINCL) through @tcpcopy/native-shim: tcpcopy's way of
// putting copies on the wire with the client's (spoofed) source address.
// 10.203.0.1 sends; 10.203.0.2 receives; 10.203.9.0/24 is assigned nowhere.
import { expect } from 'chai'
import { Netns, vethPair } from './lib/netns.js'
import { ipProtoDstPort } from './lib/bpf.js'
import { bytes, hex, ipFields, tcpSyn, udp } from './lib/packets.js'

const S = '10.203.0.1'
const T = '10.203.0.2'

describe('raw IPv4 (raw-ipv4 PacketIo) in namespaces', function () {
  this.timeout(30_000)
  let nsS, nsT, s, t, raw

  before(async () => {
    nsS = Netns.create('rs')
    nsT = Netns.create('rt')
    vethPair(nsS, nsT, `${S}/24`, `${T}/24`)
    // T answers the fake clients through S (which drops them: forwarding is off)
    nsT.ip('route', 'add', '10.203.9.0/24', 'via', S)
    s = await nsS.agent()
    t = await nsT.agent()
    raw = (await s.request('open', { kind: 'raw-ipv4', sndbuf: 1 << 20 })).handle
  })
  after(async () => {
    await nsS?.destroy()
    await nsT?.destroy()
  })

  it('a SYN with a spoofed source reaches a listener in the other namespace (capture + SYN-RECV)', async () => {
    await t.request('tcpListen', { port: 8080 })
    const cap = await t.request('open', { kind: 'packet', interface: 'eth0', filter: hex(ipProtoDstPort(6, 8080)) })
    const syn = tcpSyn({ src: '10.203.9.9', dst: T, sport: 40001, dport: 8080 })
    expect(await s.request('send', { handle: raw, datagrams: [{ hex: hex(syn), dst: T }] })).to.deep.equal({ sent: 1 })
    const { datagrams } = await t.request('collect', { handle: cap.handle, count: 1, ms: 3000 })
    expect(datagrams).to.have.length(1)
    const f = bytes(datagrams[0])
    expect(ipFields(f, 14)).to.include({ src: '10.203.9.9', dst: T, sport: 40001, dport: 8080, proto: 6 })
    expect(hex(f.subarray(14))).to.equal(hex(syn)) // on the wire as written
    let seen = ''
    for (let i = 0; i < 40 && !seen.includes('10.203.9.9:40001'); i++) {
      seen = nsT.exec('ss', ['-tnH', 'state', 'syn-recv', '( sport = :8080 )']).stdout
      if (!seen.includes('10.203.9.9:40001')) await new Promise((resolve) => setTimeout(resolve, 25))
    }
    expect(seen, 'the listener has the spoofed client in its SYN queue').to.contain('10.203.9.9:40001')
    await t.request('close', { handle: cap.handle })
  })

  it('sends a batch of 100 packets (sendmmsg), each to the destination in its descriptor', async () => {
    const cap = await t.request('open', { kind: 'packet', interface: 'eth0', filter: hex(ipProtoDstPort(17, 6010)) })
    const datagrams = Array.from({ length: 100 }, (_, i) => ({
      hex: hex(udp({ src: `10.203.9.${i + 1}`, dst: T, sport: 5000 + i, dport: 6010, payload: `raw-${i}` })),
      dst: T
    }))
    expect((await s.request('send', { handle: raw, datagrams })).sent).to.equal(100)
    const got = await t.request('collect', { handle: cap.handle, count: 100, ms: 3000, quietMs: 200 })
    expect(got.datagrams).to.have.length(100)
    const sources = got.datagrams.map((h) => ipFields(bytes(h), 14).src).sort()
    expect(sources).to.deep.equal(datagrams.map((_, i) => `10.203.9.${i + 1}`).sort())
    await t.request('close', { handle: cap.handle })
  })

  it('a destination without a route fails with an IoError carrying ENETUNREACH from sendmmsg', async () => {
    const pkt = udp({ src: S, dst: '192.168.250.1', sport: 1, dport: 9, payload: 'x' })
    const err = await s.request('send', { handle: raw, datagrams: [{ hex: hex(pkt), dst: '192.168.250.1' }] }).then(() => undefined, (e) => e)
    expect(err).to.include({ name: 'IoError', code: 'TC_ERR_IO', errno: 101, syscall: 'sendmmsg' })
  })

  it('a firewall rule refusing the packet (EPERM) is TC_ERR_IO_REFUSED naming the rule, not a capability', async () => {
    nsS.exec('iptables', ['-I', 'OUTPUT', '-p', 'udp', '--dport', '6019', '-j', 'DROP'])
    try {
      const pkt = udp({ src: S, dst: T, sport: 1, dport: 6019, payload: 'x' })
      const err = await s.request('send', { handle: raw, datagrams: [{ hex: hex(pkt), dst: T }] }).then(() => undefined, (e) => e)
      expect(err).to.include({ name: 'IoError', code: 'TC_ERR_IO_REFUSED', errno: 1, syscall: 'sendmmsg' })
      expect(err.message).to.contain('a firewall rule refused a datagram').and.not.contain('CAP_NET_RAW')
    } finally {
      nsS.exec('iptables', ['-D', 'OUTPUT', '-p', 'udp', '--dport', '6019', '-j', 'DROP'], { allowFail: true })
    }
  })

  it('a broadcast destination (EACCES without SO_BROADCAST) is TC_ERR_IO_REFUSED naming it', async () => {
    const pkt = udp({ src: S, dst: '10.203.0.255', sport: 1, dport: 9, payload: 'x' })
    const err = await s.request('send', { handle: raw, datagrams: [{ hex: hex(pkt), dst: '10.203.0.255' }] }).then(() => undefined, (e) => e)
    expect(err).to.include({ name: 'IoError', code: 'TC_ERR_IO_REFUSED', errno: 13, syscall: 'sendmmsg' })
    expect(err.message).to.contain('broadcast destination')
  })

  it('receive() on a raw IPv4 socket returns 0 and the socket never polls', async () => {
    const got = await s.request('collect', { handle: raw, ms: 50 })
    expect(got.datagrams).to.deep.equal([])
    expect(got.readableCalls).to.equal(0)
  })

  it('leaves no fd open after close (counted in /proc/self/fd)', async () => {
    const before = (await s.request('fds')).count
    for (let i = 0; i < 5; i++) {
      const { handle } = await s.request('open', { kind: 'raw-ipv4' })
      await s.request('close', { handle })
    }
    expect((await s.request('fds')).count).to.equal(before)
  })
})

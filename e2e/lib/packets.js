// Byte builders for the e2e tests: IPv4, UDP, TCP, Ethernet, with checksums.

export function ipBytes (text) { return text.split('.').map(Number) }

export function checksum (bytes, initial = 0) {
  let sum = initial
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1]
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1] << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

function pseudoSum (src, dst, proto, len) {
  const s = ipBytes(src); const d = ipBytes(dst)
  return ((s[0] << 8) | s[1]) + ((s[2] << 8) | s[3]) + ((d[0] << 8) | d[1]) + ((d[2] << 8) | d[3]) + proto + len
}

/** An IPv4 packet around `l4` (protocol `proto`), header checksum filled in. */
export function ipv4 ({ src, dst, proto, id = 0x4242, ttl = 64 }, l4) {
  const p = new Uint8Array(20 + l4.length)
  const dv = new DataView(p.buffer)
  p[0] = 0x45
  dv.setUint16(2, p.length)
  dv.setUint16(4, id)
  dv.setUint16(6, 0x4000) // DF
  p[8] = ttl
  p[9] = proto
  p.set(ipBytes(src), 12)
  p.set(ipBytes(dst), 16)
  dv.setUint16(10, checksum(p.subarray(0, 20)))
  p.set(l4, 20)
  return p
}

export function udp ({ src, dst, sport, dport, payload }) {
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload
  const u = new Uint8Array(8 + body.length)
  const dv = new DataView(u.buffer)
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint16(4, u.length)
  u.set(body, 8)
  dv.setUint16(6, checksum(u, pseudoSum(src, dst, 17, u.length)) || 0xffff)
  return ipv4({ src, dst, proto: 17 }, u)
}

export function tcpSyn ({ src, dst, sport, dport, seq = 1000 }) {
  const t = new Uint8Array(20)
  const dv = new DataView(t.buffer)
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint32(4, seq)
  t[12] = 0x50; t[13] = 0x02 // doff 5, SYN
  dv.setUint16(14, 29200)
  dv.setUint16(16, checksum(t, pseudoSum(src, dst, 6, t.length)))
  return ipv4({ src, dst, proto: 6 }, t)
}

/** A TCP segment without options (flags: 0x02 SYN, 0x10 ACK, 0x12 SYN+ACK, 0x18 PSH+ACK, ...) in an IPv4 packet. */
export function tcpSegment ({ src, dst, sport, dport, seq = 1000, ack = 0, flags = 0x10, window = 29200, payload = new Uint8Array(0), id }) {
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload
  const t = new Uint8Array(20 + body.length)
  const dv = new DataView(t.buffer)
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint32(4, seq >>> 0); dv.setUint32(8, ack >>> 0)
  t[12] = 0x50; t[13] = flags
  dv.setUint16(14, window)
  t.set(body, 20)
  dv.setUint16(16, checksum(t, pseudoSum(src, dst, 6, t.length)))
  return ipv4({ src, dst, proto: 6, ...(id !== undefined ? { id } : {}) }, t)
}

export function ethernet ({ dstMac, srcMac, type = 0x0800 }, payload) {
  const f = new Uint8Array(14 + payload.length)
  f.set(dstMac.split(':').map((h) => parseInt(h, 16)), 0)
  f.set(srcMac.split(':').map((h) => parseInt(h, 16)), 6)
  f[12] = type >> 8; f[13] = type & 0xff
  f.set(payload, 14)
  return f
}

export const hex = (u8) => Buffer.from(u8).toString('hex')
export const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'))

/** Fields of an IPv4 packet at `off` of `b` (enough for the assertions). */
export function ipFields (b, off = 0) {
  const dv = new DataView(b.buffer, b.byteOffset)
  const ihl = (b[off] & 0x0f) * 4
  return {
    version: b[off] >> 4,
    proto: b[off + 9],
    src: Array.from(b.subarray(off + 12, off + 16)).join('.'),
    dst: Array.from(b.subarray(off + 16, off + 20)).join('.'),
    sport: dv.getUint16(off + ihl),
    dport: dv.getUint16(off + ihl + 2),
    l4: off + ihl
  }
}

// Hand-written classic BPF programs for the e2e tests (what `tcpdump -dd`
// prints for the same expressions, without the IPv6 and VLAN branches).
const LD_H_ABS = 0x28; const LD_B_ABS = 0x30; const LDX_MSH = 0xb1; const LD_H_IND = 0x48
const JEQ_K = 0x15; const JSET_K = 0x45; const RET_K = 0x06

function insns (list) {
  const out = new Uint8Array(list.length * 8)
  const dv = new DataView(out.buffer)
  list.forEach(([code, jt, jf, k], i) => {
    dv.setUint16(i * 8, code, true); out[i * 8 + 2] = jt; out[i * 8 + 3] = jf; dv.setUint32(i * 8 + 4, k >>> 0, true)
  })
  return out
}

/**
 * `ip and proto P and dst port N` (not a later fragment) on frames whose IPv4
 * header starts at `net` (14: Ethernet, 0: raw IP); `ethertype` checked
 * only when there is a link header. Accepts with `snap` bytes.
 */
export function ipProtoDstPort (proto, port, { net = 14, snap = 262144 } = {}) {
  const prog = []
  if (net > 0) prog.push([LD_H_ABS, 0, 0, 12], [JEQ_K, 0, 8, 0x0800]) //   ethertype IPv4, else reject
  else prog.push([LD_B_ABS, 0, 0, 0], [0x54, 0, 0, 0xf0], [JEQ_K, 0, 8, 0x40]) // version 4 (A & 0xf0 == 0x40)
  prog.push(
    [LD_B_ABS, 0, 0, net + 9], [JEQ_K, 0, 6, proto], //                          protocol
    [LD_H_ABS, 0, 0, net + 6], [JSET_K, 4, 0, 0x1fff], //                        fragment offset != 0 -> reject
    [LDX_MSH, 0, 0, net], //                                                     X = IHL * 4
    [LD_H_IND, 0, 0, net + 2], [JEQ_K, 0, 1, port], //                           destination port
    [RET_K, 0, 0, snap],
    [RET_K, 0, 0, 0]
  )
  return insns(prog)
}

/** Accepts every packet, `snap` bytes of it. */
export function acceptAll (snap = 262144) { return insns([[RET_K, 0, 0, snap]]) }

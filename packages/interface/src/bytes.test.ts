import { expect } from 'chai'
import { hex, toHex, toSpacedHex, concat } from './bytes.js'

describe('byte helpers', () => {
  it('hex reads pairs of digits, skipping whitespace and // comments, as a template or a string', () => {
    const n = 0x2a
    expect(Array.from(hex`
      45 00  // version, TOS
      0A ${n.toString(16)}
    `)).to.deep.equal([0x45, 0x00, 0x0a, 0x2a])
    expect(Array.from(hex('de ad // x\n be ef'))).to.deep.equal([0xde, 0xad, 0xbe, 0xef])
    expect(hex('')).to.have.length(0)
  })

  it('hex refuses odd digits and other characters', () => {
    expect(() => hex('abc')).to.throw('not hex: abc')
    expect(() => hex('0a:0b')).to.throw('not hex')
  })

  it('toHex and toSpacedHex write lower-case pairs', () => {
    const b = new Uint8Array([0, 0xab, 7])
    expect(toHex(b)).to.equal('00ab07')
    expect(toSpacedHex(b)).to.equal('00 ab 07')
    expect(toHex(hex(toHex(b)))).to.equal('00ab07')
  })

  it('concat joins in order into a new array', () => {
    const a = new Uint8Array([1, 2])
    const out = concat(a, new Uint8Array(0), new Uint8Array([3]))
    expect(Array.from(out)).to.deep.equal([1, 2, 3])
    out[0] = 9
    expect(a[0]).to.equal(1)
  })
})

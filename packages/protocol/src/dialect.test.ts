import { expect } from 'chai'
import { dialectForVersion, formatVersion, helloVersionFor, HELLO_VERSION_09, HELLO_VERSION_09_ADVANCED, HELLO_VERSION_1X, KNOWN_HELLO_VERSIONS, versionWarning } from './dialect.js'

describe('dialect', () => {
  it('maps hello 5 and 0x8005 to 0.9 and 6 to 1.x', () => {
    expect(dialectForVersion(5)).to.equal('0.9')
    expect(dialectForVersion(32773)).to.equal('0.9')
    expect(dialectForVersion(6)).to.equal('1.x')
  })

  it('leaves older and unknown versions to the caller', () => {
    for (const v of [0, 3, 4, 7, 0x8006, 0xffff]) expect(dialectForVersion(v), String(v)).to.equal(undefined)
  })

  it('gives the version a tcpcopy of each dialect sends', () => {
    expect(helloVersionFor('0.9')).to.equal(HELLO_VERSION_09)
    expect(helloVersionFor('0.9', true)).to.equal(HELLO_VERSION_09_ADVANCED)
    expect(helloVersionFor('1.x')).to.equal(HELLO_VERSION_1X)
    expect(helloVersionFor('1.x', true)).to.equal(6)
    expect(KNOWN_HELLO_VERSIONS).to.deep.equal([5, 0x8005, 6])
  })

  it('writes the advanced version in hex and warns only about unknown versions', () => {
    expect(formatVersion(0x8005)).to.equal('0x8005')
    expect(formatVersion(6)).to.equal('6')
    expect(versionWarning(7)).to.equal('hello announced version 7; this peer speaks 5, 0x8005 and 6')
    expect(versionWarning(6)).to.equal(undefined)
    expect(versionWarning(5, [6])).to.equal('hello announced version 5; this peer speaks 6')
  })
})

import { expect } from 'chai'
import {
  dialectForVersion, formatVersion, helloVersionFor, helloVersionInfo, HELLO_VERSION_09, HELLO_VERSION_09_ADVANCED, HELLO_VERSION_1X,
  HELLO_VERSIONS_09, KNOWN_HELLO_VERSIONS, versionWarning
} from './dialect.js'

describe('dialect', () => {
  it('maps hello 5 and 0x8005 to 0.9 and 6 to 1.x', () => {
    expect(dialectForVersion(5)).to.equal('0.9')
    expect(dialectForVersion(32773)).to.equal('0.9')
    expect(dialectForVersion(6)).to.equal('1.x')
  })

  it('maps the hellos of tcpcopy 0.9.2 – 0.9.7 (3, 4, 0x8003, 0x8004) to 0.9 (80-byte records)', () => {
    for (const v of [3, 4, 0x8003, 0x8004]) expect(dialectForVersion(v), formatVersion(v)).to.equal('0.9')
    expect(HELLO_VERSIONS_09).to.deep.equal([3, 4, 5, 0x8003, 0x8004, 0x8005])
  })

  it('leaves versions no release sent to the caller', () => {
    for (const v of [0, 1, 2, 7, 0x8000, 0x8002, 0x8006, 0xffff]) expect(dialectForVersion(v), String(v)).to.equal(undefined)
  })

  it('names the releases behind each version and the combined limit that tcpcopy reads', () => {
    expect(helloVersionInfo(3)).to.deep.equal({ version: 3, dialect: '0.9', release: 'tcpcopy 0.9.2 – 0.9.7', advanced: false, combMaxNum: 20 })
    expect(helloVersionInfo(0x8004)).to.deep.equal({
      version: 0x8004, dialect: '0.9', release: 'tcpcopy 0.9.2 – 0.9.7 built with --enable-advanced', advanced: true, combMaxNum: 20
    })
    expect(helloVersionInfo(5)).to.deep.include({ dialect: '0.9', release: 'tcpcopy 0.9.8 or later 0.9', combMaxNum: 16 })
    expect(helloVersionInfo(6)).to.deep.include({ dialect: '1.x', release: 'tcpcopy 1.x', advanced: false, combMaxNum: 16 })
    expect(helloVersionInfo(0x8006)).to.deep.equal({ version: 0x8006, dialect: undefined, release: undefined, advanced: false, combMaxNum: undefined })
  })

  it('gives the version a tcpcopy of each dialect sends', () => {
    expect(helloVersionFor('0.9')).to.equal(HELLO_VERSION_09)
    expect(helloVersionFor('0.9', true)).to.equal(HELLO_VERSION_09_ADVANCED)
    expect(helloVersionFor('1.x')).to.equal(HELLO_VERSION_1X)
    expect(helloVersionFor('1.x', true)).to.equal(6)
    expect(KNOWN_HELLO_VERSIONS).to.deep.equal([3, 4, 5, 0x8003, 0x8004, 0x8005, 6])
  })

  it('writes the advanced version in hex and warns only about unknown versions', () => {
    expect(formatVersion(0x8005)).to.equal('0x8005')
    expect(formatVersion(6)).to.equal('6')
    expect(versionWarning(7)).to.equal('hello announced version 7; this peer speaks 3, 4, 5 (0.9; also with the advanced bit: 0x8003, 0x8004, 0x8005) and 6 (1.x)')
    expect(versionWarning(6)).to.equal(undefined)
    expect(versionWarning(3)).to.equal(undefined)
    expect(versionWarning(0x8004)).to.equal(undefined)
    expect(versionWarning(5, [6])).to.equal('hello announced version 5; this peer speaks 6')
    expect(versionWarning(7, [5, 0x8005])).to.equal('hello announced version 7; this peer speaks 5 and 0x8005')
  })
})

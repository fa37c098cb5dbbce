import { expect } from 'chai'
import { TcpcopyError, ConfigError, CoreError, IoError, CanceledError, ProtocolError, isTcpcopyError } from './errors.js'

describe('error family', () => {
  it('names each subclass after itself and keeps the code', () => {
    const err = new ConfigError('"-p" must be a port, got "x"', 'TC_ERR_CONFIG_PORT')
    expect(err).to.be.instanceOf(TcpcopyError)
    expect(err.name).to.equal('ConfigError')
    expect(err.code).to.equal('TC_ERR_CONFIG_PORT')
    expect(new ProtocolError('bad', 'TC_ERR_PROTO').name).to.equal('ProtocolError')
  })

  it('carries the raw status of a core error and the errno of an I/O error', () => {
    expect(new CoreError('full', 'TC_ERR_CORE_FULL', 7).status).to.equal(7)
    const io = new IoError('bind failed', 'TC_ERR_IO', 1, 'bind')
    expect([io.errno, io.syscall]).to.deep.equal([1, 'bind'])
  })

  it('recognises errors by code', () => {
    expect(isTcpcopyError(new CanceledError(), 'TC_ERR_CANCELED')).to.equal(true)
    expect(isTcpcopyError(new Error('x'))).to.equal(false)
    expect(isTcpcopyError(new CanceledError(), 'TC_ERR_OTHER')).to.equal(false)
  })
})

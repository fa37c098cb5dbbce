import { expect } from 'chai'
import { RateLimitedLog, createDebugLogger, silentLogger } from './logger.js'

describe('logging helpers', () => {
  it('writes a recurring line at most once per interval and counts the ones held back', () => {
    let now = 0
    const lines: string[] = []
    const log = new RateLimitedLog((m) => { lines.push(m) }, () => now, 1000)
    log.write(() => 'drop')
    log.write(() => 'drop')
    now = 500
    log.write(() => 'drop')
    now = 1000
    log.write(() => 'drop')
    expect(lines).to.deep.equal(['drop', 'drop (2 more since the last line)'])
  })

  it('does not build the message of a suppressed line', () => {
    const log = new RateLimitedLog(() => {}, () => 0, 1000)
    let built = 0
    log.write(() => { built++; return 'x' })
    log.write(() => { built++; return 'x' })
    expect(built).to.equal(1)
  })

  it('provides a debug-package logger and a silent one with every level', () => {
    for (const logger of [createDebugLogger('tcpcopy:intercept:test'), silentLogger]) {
      for (const level of ['error', 'warn', 'notice', 'info', 'debug'] as const) logger[level]('hello')
    }
  })
})

import { expect } from 'chai'
import { BurstLimitedLog, RateLimitedLog, createDebugLogger, silentLogger } from './logger.js'

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

  it('lets a burst of up to max lines through per window, then one summary with the count held back', () => {
    let now = 0
    const summaries: string[] = []
    const log = new BurstLimitedLog((n, ms) => { summaries.push(`${n} more in ${ms} ms`) }, () => now, 3, 10000)
    const passed = Array.from({ length: 10 }, () => log.allow())
    expect(passed).to.deep.equal([true, true, true, false, false, false, false, false, false, false])
    expect(log.suppressed).to.equal(7)
    now = 9999
    log.tick()
    expect(summaries).to.deep.equal([]) // the window is not over yet
    now = 10000
    log.tick()
    expect(summaries).to.deep.equal(['7 more in 10000 ms'])
    log.tick()
    expect(summaries).to.have.length(1) // once per window
    expect(log.allow()).to.equal(true) // a new window
    now = 30000
    for (let i = 0; i < 5; i++) log.allow()
    expect(summaries).to.have.length(1)
    now = 45000
    expect(log.allow()).to.equal(true) // the next line after the window writes the summary first
    expect(summaries).to.deep.equal(['7 more in 10000 ms', '2 more in 10000 ms'])
  })

  it('provides a debug-package logger and a silent one with every level', () => {
    for (const logger of [createDebugLogger('tcpcopy:intercept:test'), silentLogger]) {
      for (const level of ['error', 'warn', 'notice', 'info', 'debug'] as const) logger[level]('hello')
    }
  })
})

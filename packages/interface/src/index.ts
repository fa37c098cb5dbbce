export * from './errors.js'
export * from './packet-io.js'
export * from './logger.js'
export * from './bytes.js'

export * from './errors.js'
export * from './packet-io.js'

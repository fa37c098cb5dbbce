export * from './native.js'
export * from './errors.js'
export * from './native-packet-io.js'

export * from './mock-packet-io.js'
export * from './network.js'
export * from './kernel-queue.js'
export * from './regions.js'

export * from './exports.js'
export * from './loader.js'

// Entry of the WASM core: every public function.
export { coreInit, coreArenaBytes } from './core'
export * from './parse'
export * from './checksum'
export * from './router'
export * from './delay'
export { connSetFormat, outReset } from './record'
export * from './batch'

export * from '../shared/layout.js'
export * from '../shared/status.js'
export * from '../shared/enums.js'
export { RELEASE_WASM_BASE64, DEBUG_WASM_BASE64 } from './generated/wasm-bytes.js'

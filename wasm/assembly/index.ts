// Entry of the WASM core: the public functions (CoreExports in packages/core).
export { coreInit, coreArenaBytes } from './core'
export { parsePacket } from './parse'
export {
  checksumCompute, ipChecksumCompute, ipChecksumVerify, tcpChecksumCompute, tcpChecksumVerify,
  checksumAdjust16, checksumAdjust32, ipRewriteAddr, tcpRewritePort
} from './checksum'
export { routerAdd, routerLookup, routerDelete, routerDeleteConn, routerExpire, routerLookupBatch } from './router'
export { delayStore, delayExpire } from './delay'
export { connSetFormat, outReset } from './record'
export { routeClientAdd, passlistCommit, batchProcess } from './batch'
export { nfqConfigBuild, nfqParseBatch, nfqVerdictBuild, nfqStat, nfqCounter } from './nfq'

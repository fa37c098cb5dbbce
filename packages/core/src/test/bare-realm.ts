// Run by loader.test.ts as `node --experimental-vm-modules dist/test/bare-realm.js`:
// loads the import graph of @tcpcopy/core as ES modules in a fresh node:vm
// context that has only what a browser or worker has for the core
// (WebAssembly, TextEncoder/TextDecoder, atob, crypto), creates a core there,
// routes a packet, and prints what happened as JSON. Importing a Node
// built-in from anywhere in the graph fails the run.
import vm from 'node:vm'
import { readFileSync } from 'node:fs'
import { builtinModules, createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

const context = vm.createContext({ WebAssembly, TextEncoder, TextDecoder, atob, crypto: globalThis.crypto })
const modules = new Map<string, vm.SourceTextModule>()

function load (file: string, source = readFileSync(file, 'utf8')): vm.SourceTextModule {
  let m = modules.get(file)
  if (m === undefined) {
    m = new vm.SourceTextModule(source, { identifier: pathToFileURL(file).href, context })
    modules.set(file, m)
  }
  return m
}

function link (specifier: string, referencing: vm.Module): vm.SourceTextModule {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier)) {
    throw new Error(`${referencing.identifier} imports the Node built-in ${specifier}`)
  }
  if (specifier.startsWith('./') || specifier.startsWith('../')) {
    return load(fileURLToPath(new URL(specifier, referencing.identifier)))
  }
  return load(createRequire(fileURLToPath(referencing.identifier)).resolve(specifier))
}

// A module inside the realm, next to this file so that '@tcpcopy/core' resolves
// as it would for any package of the workspace.
const probe = load(fileURLToPath(new URL('./bare-realm-probe.js', import.meta.url)), `
import { createCore, LinkType } from '@tcpcopy/core'

function bytes (hex) {
  const digits = hex.replace(/\\s+/g, '')
  const out = new Uint8Array(digits.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16)
  return out
}
// IPv4 10.0.1.2 -> 10.0.0.1, TCP 8080 -> 40000, SYN-ACK (checksums are not checked)
const synAck = bytes('45 00 00 28 00 00 40 00 40 06 00 00 0a 00 01 02 0a 00 00 01' +
  '1f 90 9c 40 11 22 33 44 01 02 03 05 50 12 72 10 00 00 00 00')
// the same to port 40001 (no route) as a plain ACK
const ack = synAck.slice()
ack[23] = 0x41
ack[33] = 0x10

const core = createCore({ hashSize: 64, maxRoutes: 64, delayTotal: 16 })
core.routerAdd({ clientIp: 0x0a000001, clientPort: 40000, targetIp: 0x0a000102, targetPort: 8080 }, 7, 1)
const verdicts = Array.from(core.processFrames([synAck, ack], LinkType.Raw, 2))
const routed = []
core.drainOut((conn) => { routed.push(conn) })
export const result = {
  globals: {
    process: typeof process, Buffer: typeof Buffer, require: typeof require, setTimeout: typeof setTimeout,
    WebAssembly: typeof WebAssembly
  },
  verdicts,
  routed
}
`)

await probe.link(link)
await probe.evaluate()
const { result } = probe.namespace as { result: object }
process.stdout.write(JSON.stringify({ ...JSON.parse(JSON.stringify(result)), modules: [...modules.keys()] }))

#!/usr/bin/env node
// A SIGUSR1 listener before anything else: without one, Node starts its
// inspector on SIGUSR1, and that must never happen in a root process.
process.on('SIGUSR1', () => {})
const { runInterceptCli } = await import('../dist/intercept-main.js')

process.exitCode = await runInterceptCli(process.argv)

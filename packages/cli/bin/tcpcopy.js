#!/usr/bin/env node
// A SIGUSR1 listener before anything else: without one, Node starts its
// inspector on SIGUSR1, and that must never happen in a root process.
process.on('SIGUSR1', () => {})
const { runTcpcopyCli } = await import('../dist/tcpcopy-main.js')

process.exitCode = await runTcpcopyCli(process.argv)

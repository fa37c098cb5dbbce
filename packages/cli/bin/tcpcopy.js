#!/usr/bin/env node
import { runTcpcopyCli } from '../dist/tcpcopy-main.js'

process.exitCode = await runTcpcopyCli(process.argv)

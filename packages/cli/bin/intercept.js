#!/usr/bin/env node
import { runInterceptCli } from '../dist/intercept-main.js'

process.exitCode = await runInterceptCli(process.argv)

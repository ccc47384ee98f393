#!/usr/bin/env node
import { runDaemon } from '../daemon/main.js'

const code = await runDaemon(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) })
process.exit(code)

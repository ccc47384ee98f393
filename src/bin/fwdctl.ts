#!/usr/bin/env node
import { runCli } from '../cli/main.js'

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  isTty: process.stdout.isTTY === true,
  env: process.env,
})
process.exitCode = code

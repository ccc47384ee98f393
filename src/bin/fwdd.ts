#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size
// The V8 flags keep the daemon small on a 1 GiB node: its live heap is ~20 MB at 1000 listeners,
// but with default young-generation sizing V8 holds 3-4 times that (bench/README.md: footprint).
// Anything that starts the daemon without this file's shebang (the benchmarks) reads the flags here.
import { runDaemon } from '../daemon/main.js'

const code = await runDaemon(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) })
process.exit(code)

#!/usr/bin/env -S node --max-semi-space-size=1
// The V8 flag keeps the daemon small on a 1 GiB node: its live heap is ~20 MB at 1000 listeners,
// but with the default young-generation size V8 holds several times that (bench: footprint).
// (--optimize-for-size saved 5 MB more but doubled the /lb p99 under load, so it is not used.)
// Anything that starts the daemon without this file's shebang (the benchmarks) reads the flags here.
import { parseDaemonArgs } from '../daemon/args.js'
import { VERSION } from '../version.js'

// `--version` is answered here, before the daemon's modules load; a bad command line falls through
// to runDaemon, which prints the problem with the usage and exits 64.
const wantsVersion = ((): boolean => {
  try {
    return parseDaemonArgs(process.argv.slice(2), process.env).version
  } catch {
    return false
  }
})()
if (wantsVersion) {
  process.stdout.write(`fwdd ${VERSION}\n`)
  process.exit(0)
}
const { runDaemon } = await import('../daemon/main.js')
const code = await runDaemon(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) })
process.exit(code)

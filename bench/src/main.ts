/**
 * `npm run bench [-- --quick] [--only NAME,...] [--listeners N,...] [--out DIR]`: runs every measurement (or the
 * named ones), each against a baseline taken in the same run, and writes
 * `bench/results/<date>.md`, `.json` and `-sync.svg`. Needs root (network namespaces, iptables).
 * Exit codes: 0 when every measurement ran (whatever the numbers), 1 when one failed, 130 on
 * SIGINT. `--quick` is the CI smoke check: fewer trials and shorter runs, under two minutes.
 * Namespaces and child processes are removed on every exit path.
 */
import { parseArgs } from 'node:util'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { killAll, killAllAndRunSync } from './processes.js'
import { destroyAllNamespaces, liveNamespaces } from './topology.js'
import { describeMachine } from './machine.js'
import { MEASUREMENTS, type MeasurementName } from './measurements.js'
import { writeReport, type BenchReport } from './report.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

async function cleanup(): Promise<void> {
  await killAll()
  await destroyAllNamespaces()
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
      listeners: { type: 'string' },
    },
    strict: true,
  })
  const quick = values.quick ?? false
  const sizes = values.listeners?.split(',').map(Number)
  if (sizes?.some((n) => !Number.isInteger(n) || n < 1 || n > 10000)) throw new Error('--listeners takes a comma-separated list of counts from 1 to 10000')
  const names = (values.only ? values.only.split(',') : Object.keys(MEASUREMENTS)) as MeasurementName[]
  for (const n of names) if (!(n in MEASUREMENTS)) throw new Error(`unknown measurement "${n}"; known: ${Object.keys(MEASUREMENTS).join(', ')}`)
  const outDir = values.out ?? path.join(ROOT, 'bench/results', quick ? 'quick' : '')

  // Synchronous on purpose: nothing may run between the signal and the exit but the cleanup.
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}; removing namespaces and processes\n`)
    killAllAndRunSync(liveNamespaces().map((ns) => ['ip', ['netns', 'del', ns]] as const))
    process.exit(130)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const started = Date.now()
  const report: BenchReport = { date: new Date().toISOString(), quick, machine: await describeMachine(), results: {}, errors: {}, durationSeconds: 0 }
  let failed = false
  for (const name of names) {
    const t0 = Date.now()
    process.stderr.write(`bench: ${name}...\n`)
    try {
      report.results[name] = await MEASUREMENTS[name]({ quick, ...(sizes ? { sizes } : {}), log: (m) => process.stderr.write(`  ${m}\n`) })
      process.stderr.write(`bench: ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
    } catch (err: unknown) {
      failed = true
      report.errors[name] = err instanceof Error ? err.stack ?? err.message : String(err)
      process.stderr.write(`bench: ${name} FAILED: ${report.errors[name]}\n`)
    } finally {
      await cleanup()
    }
  }
  report.durationSeconds = Math.round((Date.now() - started) / 1000)
  const files = writeReport(report, outDir)
  process.stderr.write(`bench: wrote ${files.join(', ')} in ${report.durationSeconds} s\n`)
  return failed ? 1 : 0
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err: unknown) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`)
  await cleanup()
  process.exitCode = 1
}

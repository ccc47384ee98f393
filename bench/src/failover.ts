/**
 * Measurement 2, failover: how long after a target starts failing until new connections through
 * fwdd all succeed again. Two targets behind one listener; a probe in the client namespace opens a
 * connection every 10 ms (success: handshake within 200 ms). The fault is an iptables rule in the
 * server's namespace: `REJECT --reject-with tcp-reset` (the target refuses) or `DROP` (SYNs vanish,
 * the harder case: each check must time out). Recovery is the time from just before the rule is
 * inserted to the start of the first of 20 consecutive successful connections after the last
 * failure (probe-client.ts). Between trials the rule is removed and both targets must be healthy.
 */
import { startDaemon, type BenchDaemon } from './daemon.js'
import { killAll } from './processes.js'
import { startHttpServer, startScript, sleep } from './servers.js'
import { max, median, round } from './stats.js'
import { createTopology, inNs, type Topology } from './topology.js'

export interface CheckSetting { intervalMs: number; timeoutMs: number; fall: number; rise: number }

export interface FailoverSeries {
  check: CheckSetting
  fault: 'refuse' | 'drop'
  trials: number
  medianMs: number
  worstMs: number
  samplesMs: number[]
  /** Trials in which no probe connection failed at all (the target left rotation first). */
  trialsWithoutFailures: number
}

export interface FailoverResult {
  series: FailoverSeries[]
  method: { probePeriodMs: number; attemptTimeoutMs: number; runLength: number }
}

const SETTINGS_FULL: CheckSetting[] = [
  { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 },
  { intervalMs: 1000, timeoutMs: 1000, fall: 2, rise: 2 },
  { intervalMs: 100, timeoutMs: 100, fall: 3, rise: 2 },
]
const PROBE = { probePeriodMs: 10, attemptTimeoutMs: 200, runLength: 20 }

export async function measureFailover(opts: { quick: boolean; log(m: string): void }): Promise<FailoverResult> {
  const settings = opts.quick ? SETTINGS_FULL.slice(0, 1) : SETTINGS_FULL
  const trials = opts.quick ? 2 : 20
  const topo = await createTopology(2)
  try {
    for (const s of topo.servers) await startHttpServer(s.ns, s.address, [80])
    const series: FailoverSeries[] = []
    for (const check of settings) {
      const daemon = startDaemon(topo.node.ns, {
        // Active checks alone (passive health, on by default, has its own rows: passive-failover.ts).
        listeners: [{ name: 'web', port: 8000, check, passive: '{ enabled: false }', targets: topo.servers.map((s) => ({ host: s.address, port: 80 })) }],
      })
      await daemon.waitReady(30000)
      for (const fault of ['refuse', 'drop'] as const) {
        const samples: number[] = []
        let clean = 0
        for (let i = 0; i < trials; i++) {
          const r = await trial(topo, daemon, fault, check)
          samples.push(r.recoveryMs)
          if (r.failures === 0) clean++
        }
        opts.log(`interval ${check.intervalMs} ms, timeout ${check.timeoutMs} ms, fall ${check.fall}, ${fault}: median ${median(samples)} ms, worst ${max(samples)} ms`)
        series.push({ check, fault, trials, medianMs: round(median(samples)), worstMs: round(max(samples)), samplesMs: samples, trialsWithoutFailures: clean })
      }
      await daemon.stop()
    }
    return { series, method: PROBE }
  } finally {
    await killAll()
    await topo.destroy()
  }
}

async function trial(topo: Topology, daemon: BenchDaemon, fault: 'refuse' | 'drop', check: CheckSetting): Promise<{ recoveryMs: number; failures: number }> {
  await waitBothHealthy(daemon, 10000 + 4 * check.intervalMs * check.rise)
  const maxMs = 10 * (check.intervalMs + check.timeoutMs) * check.fall + 5000
  const r = await faultRun(topo, fault, { ...PROBE, maxMs, readyTimeoutMs: 10000 }, async () => undefined)
  return { recoveryMs: r.recoveryMs, failures: r.failures }
}

/**
 * One failover trial's fault, shared by the active and passive benchmarks: a probe client makes a
 * new connection every `probePeriodMs` through listener 8000, the first server then refuses (TCP
 * reset) or drops SYNs, and the client reports when `runLength` connections in a row succeeded
 * again. `inspect(t0)` runs while the fault still stands (to read the daemon's status); the fault
 * and the probe are removed on every path.
 */
export async function faultRun<T>(topo: Topology, fault: 'refuse' | 'drop',
  o: { probePeriodMs: number; attemptTimeoutMs: number; runLength: number; maxMs: number; readyTimeoutMs: number },
  inspect: (t0: number) => Promise<T>): Promise<{ recoveryMs: number; failures: number; inspected: T }> {
  const victim = topo.servers[0]!
  const probe = startScript(topo.client.ns, 'probe-client', ['198.18.0.1', '8000', String(o.probePeriodMs), String(o.attemptTimeoutMs), String(o.runLength), String(o.maxMs)])
  const rule = ['-p', 'tcp', '--dport', '80', '-j', ...(fault === 'refuse' ? ['REJECT', '--reject-with', 'tcp-reset'] : ['DROP'])]
  try {
    await probe.waitLine(/^ready$/, o.readyTimeoutMs)
    const t0 = Date.now()
    await inNs(victim.ns, 'iptables', ['-I', 'INPUT', ...rule])
    probe.write(`fault ${t0}\n`)
    const line = await probe.waitLine(/^\{/, o.maxMs + 5000)
    const r = JSON.parse(line) as { recoveryMs?: number; failures?: number; error?: string }
    if (r.error !== undefined || r.recoveryMs === undefined) throw new Error(`failover probe: ${r.error ?? line}`)
    return { recoveryMs: r.recoveryMs, failures: r.failures ?? 0, inspected: await inspect(t0) }
  } finally {
    await inNs(victim.ns, 'iptables', ['-D', 'INPUT', ...rule], { reject: false })
    await probe.stop('SIGKILL')
  }
}

async function waitBothHealthy(daemon: BenchDaemon, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const s = await daemon.status()
    const targets = s.listeners.flatMap((l) => l.targets)
    if (s.node.inSync && targets.length > 0 && targets.every((t) => t.state === 'healthy')) return
    if (Date.now() > until) throw new Error(`targets not healthy again after ${timeoutMs} ms: ${JSON.stringify(targets)}`)
    await sleep(50)
  }
}

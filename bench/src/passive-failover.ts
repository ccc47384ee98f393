/**
 * Measurement 2b, passive health: the failover rows of measurement 2 (failover.ts) with passive
 * health on, beside active checks alone, in the same run on the same machine, at the default
 * active check (1 s interval, 1 s timeout, fall 2). The probe in the client namespace is the
 * traffic: one new connection every 50 ms (20 a second, the least the goal allows), success =
 * handshake within 200 ms. Per trial: when the daemon took the target out (its own `since`
 * stamp: the ejection, or the active transition to unhealthy), minus the instant the fault rule
 * went in; the connections that failed meanwhile (sent to the dead target); the probe's recovery
 * time as in measurement 2. The ejection time is set to 1 s (base and cap) so trials do not wait
 * on growing ejections; it does not change detection.
 *
 * Cost: a client opens new connections at a fixed rate (5000 a second in the full run) through
 * the node for a few seconds, once with passive health on and once off; the CPU time of the
 * daemon and of its `conntrack -E` children over the window, and the events lost, are reported.
 * Steady state: an answered flow's DESTROY comes when the kernel reaps it from TIME_WAIT, 120 s or
 * more after it closed, far outside a window of seconds; so during the window a reaper in the node
 * namespace deletes fwdd's TIME_WAIT and CLOSE flows every 200 ms (`conntrack -D --state ...`, its
 * CPU not counted), and each flow's DESTROY falls in the window as it would in steady state. Each
 * backend runs twice: the default sample (passive.maxFlowsPerSecond) and one above the rate.
 */
import { readFileSync } from 'node:fs'
import { PASSIVE_DEFAULTS } from '../../src/config/load.js'
import { startDaemon, type BenchDaemon } from './daemon.js'
import { faultRun } from './failover.js'
import { killAll, spawnChild } from './processes.js'
import { startHttpServer, startScript, sleep } from './servers.js'
import { max, median, round } from './stats.js'
import { createTopology, inNs, type Topology } from './topology.js'

const CHECK = { intervalMs: 1000, timeoutMs: 1000, fall: 2, rise: 2 }
const PASSIVE_ON = '{ unansweredMs: 200, fall: 2, baseEjectionMs: 1000, maxEjectionMs: 1000 }'
const PASSIVE_OFF = '{ enabled: false }'
/** The same with `fall: 1`: one unanswered or reset connection ejects (the trade: one lost SYN ejects too). */
const PASSIVE_FALL1 = '{ unansweredMs: 200, fall: 1, baseEjectionMs: 1000, maxEjectionMs: 1000 }'
const PROBE = { probePeriodMs: 50, attemptTimeoutMs: 200, runLength: 20 }

export interface PassiveSeries {
  mode: 'active-only' | 'passive' | 'passive-fall1'
  fault: 'refuse' | 'drop'
  trials: number
  /** Fault to out of rotation (the daemon's decision stamp), median and worst. */
  leaveMedianMs: number
  leaveWorstMs: number
  leaveSamplesMs: number[]
  /** Connections the probe sent to the dead target during the failover (they failed), median and total. */
  deadConnectionsMedian: number
  deadConnectionsTotal: number
  /** Probe recovery (first of 20 consecutive successes after the last failure), median. */
  recoveryMedianMs: number
}

export interface PassiveCost {
  /** The dataplane backend the daemon ran (absent in reports before 2026-12-07: iptables). */
  backend?: 'iptables' | 'nftables'
  /** passive.maxFlowsPerSecond of the listener (absent in older reports: every flow judged). */
  sample?: number
  rate: number
  seconds: number
  /** Connections the client opened and saw established, per mode. */
  opened: Record<'passive' | 'off', number>
  established: Record<'passive' | 'off', number>
  /** CPU share of one core over the window: daemon, and conntrack -E (passive only). */
  daemonCpu: Record<'passive' | 'off', number>
  watcherCpu: number
  lostEvents: number
  passiveMode: string
}

export interface PassiveResult {
  series: PassiveSeries[]
  /** On the default backend (iptables), the default sample. */
  cost: PassiveCost
  /** Every cost run: both backends, the default sample and one above the rate (every flow judged). Absent in older reports. */
  costs?: PassiveCost[]
  method: typeof PROBE & { check: typeof CHECK; passive: string }
}

export async function measurePassive(opts: { quick: boolean; log(m: string): void }): Promise<PassiveResult> {
  // FWDD_BENCH_TRIALS overrides the trial count (for a focused rerun; the report says how many ran).
  const trials = Number(process.env.FWDD_BENCH_TRIALS ?? 0) || (opts.quick ? 1 : 20)
  const topo = await createTopology(2)
  try {
    for (const s of topo.servers) await startHttpServer(s.ns, s.address, [80])
    const series: PassiveSeries[] = []
    // FWDD_BENCH_PASSIVE=cost measures the cost alone (a focused rerun while working on the watcher's CPU).
    const all = opts.quick ? (['active-only', 'passive'] as const) : (['active-only', 'passive', 'passive-fall1'] as const)
    const modes = process.env.FWDD_BENCH_PASSIVE === 'cost' ? [] : all
    for (const mode of modes) {
      const daemon = startDaemon(topo.node.ns, { listeners: [listener(topo, mode === 'passive' ? PASSIVE_ON : mode === 'passive-fall1' ? PASSIVE_FALL1 : PASSIVE_OFF)] })
      await daemon.waitReady(30000)
      for (const fault of ['refuse', 'drop'] as const) {
        const leave: number[] = []
        const dead: number[] = []
        const recovery: number[] = []
        for (let i = 0; i < trials; i++) {
          const r = await trial(topo, daemon, fault).catch((err: unknown) => {
            throw new Error(`${mode} ${fault} trial ${i + 1}: ${err instanceof Error ? err.message : String(err)}; the daemon's output:\n${daemon.child.output().slice(-4000)}`)
          })
          leave.push(r.leaveMs)
          dead.push(r.failures)
          recovery.push(r.recoveryMs)
        }
        opts.log(`${mode}, ${fault}: out of rotation median ${median(leave)} ms (worst ${max(leave)}), connections to the dead target median ${median(dead)}, recovery median ${median(recovery)} ms`)
        series.push({ mode, fault, trials, leaveMedianMs: round(median(leave)), leaveWorstMs: round(max(leave)), leaveSamplesMs: leave, deadConnectionsMedian: median(dead), deadConnectionsTotal: dead.reduce((a, b) => a + b, 0), recoveryMedianMs: round(median(recovery)) })
      }
      await daemon.stop()
    }
    // Both backends; the default sample (1000 flows a second per listener) and one above the rate,
    // where every flow is judged: what the sample saves, measured in the same run.
    const rate = opts.quick ? 500 : 5000
    const costs: PassiveCost[] = []
    for (const backend of ['iptables', 'nftables'] as const) {
      for (const sample of [PASSIVE_DEFAULTS.maxFlowsPerSecond, 100000]) {
        const cost = await measureCost(topo, rate, opts.quick ? 1500 : 8000, backend, sample)
        opts.log(`cost at ${cost.rate} new connections/s on ${backend}, sample ${sample}/s: daemon ${(cost.daemonCpu.passive * 100).toFixed(1)}% (off: ${(cost.daemonCpu.off * 100).toFixed(1)}%) + conntrack -E ${(cost.watcherCpu * 100).toFixed(1)}% of one core; lost events ${cost.lostEvents}`)
        costs.push(cost)
      }
    }
    return { series, cost: costs[0]!, costs, method: { ...PROBE, check: CHECK, passive: PASSIVE_ON } }
  } finally {
    await killAll()
    await topo.destroy()
  }
}

function listener(topo: Topology, passive: string) {
  return { name: 'web', port: 8000, check: CHECK, passive, targets: topo.servers.map((s) => ({ host: s.address, port: 80 })) }
}

async function trial(topo: Topology, daemon: BenchDaemon, fault: 'refuse' | 'drop'): Promise<{ leaveMs: number; failures: number; recoveryMs: number }> {
  const victim = topo.servers[0]!
  await waitBothInRotation(daemon, 20000)
  const maxMs = 10 * (CHECK.intervalMs + CHECK.timeoutMs) * CHECK.fall + 5000
  const r = await faultRun(topo, fault, { ...PROBE, maxMs, readyTimeoutMs: 20000 }, async (t0) => {
    const s = await daemon.status()
    const t = s.listeners[0]!.targets.find((x) => x.address === victim.address)!
    const since = t.ejected ? t.ejected.since : t.since
    return Date.parse(since) - t0
  })
  return { leaveMs: r.inspected, failures: r.failures, recoveryMs: r.recoveryMs }
}

async function waitBothInRotation(daemon: BenchDaemon, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const s = await daemon.status()
    const targets = s.listeners.flatMap((l) => l.targets)
    if (s.node.inSync && targets.length > 0 && targets.every((t) => t.state === 'healthy' && t.inRotation === true)) return
    if (Date.now() > until) throw new Error(`targets not back in rotation after ${timeoutMs} ms: ${JSON.stringify(targets)}`)
    await sleep(50)
  }
}

/** utime + stime of a process, in seconds (0 when it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return 0
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

async function measureCost(topo: Topology, rate: number, ms: number, backend: 'iptables' | 'nftables', sample: number): Promise<PassiveCost> {
  const out: PassiveCost = { backend, sample, rate, seconds: ms / 1000, opened: { passive: 0, off: 0 }, established: { passive: 0, off: 0 }, daemonCpu: { passive: 0, off: 0 }, watcherCpu: 0, lostEvents: 0, passiveMode: 'off' }
  for (const mode of ['off', 'passive'] as const) {
    const daemon = startDaemon(topo.node.ns, { backend, listeners: [listener(topo, mode === 'passive' ? `{ maxFlowsPerSecond: ${sample} }` : PASSIVE_OFF)] })
    await daemon.waitReady(30000)
    await sleep(500)
    const watchers = mode === 'passive' ? childPids(daemon.child.pid) : []
    const d0 = daemon.proc().cpuSeconds
    const w0 = watchers.reduce((a, p) => a + cpuSeconds(p), 0)
    const started = Date.now()
    const client = startScript(topo.client.ns, 'connect-rate', ['198.18.0.1', '8000', String(rate), String(ms)])
    // Closed flows wait in TIME_WAIT (120 s) or, closed by a reset as most are here, in CLOSE
    // (10 s) before their DESTROY: both are deleted every 200 ms so each flow's DESTROY falls in
    // the window, as in steady state. Reaping TIME_WAIT alone (the 2026-12-07-passive report) let 80 %
    // of the DESTROYs fall after the window and read the cost low.
    const reaper = spawnChild(topo.node.ns, 'bash', ['-c', 'while :; do for s in TIME_WAIT CLOSE; do conntrack -D -p tcp --state $s -m 0x40000/0x40000 >/dev/null 2>&1; done; sleep 0.2; done'])
    const line = await client.waitLine(/^\{/, ms + 30000)
    await reaper.stop('SIGKILL')
    const wall = (Date.now() - started) / 1000
    const r = JSON.parse(line) as { opened: number; established: number }
    out.opened[mode] = r.opened
    out.established[mode] = r.established
    out.daemonCpu[mode] = (daemon.proc().cpuSeconds - d0) / wall
    if (mode === 'passive') {
      out.watcherCpu = (watchers.reduce((a, p) => a + cpuSeconds(p), 0) - w0) / wall
      const s = await daemon.status()
      out.lostEvents = s.node.passive?.lostEvents ?? -1
      out.passiveMode = s.node.passive?.mode ?? 'absent'
    }
    await client.stop('SIGKILL')
    await daemon.stop()
  }
  return out
}

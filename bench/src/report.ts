/**
 * Writes a run's report: `<date>.json` (every figure and sample), `<date>.md` (tables, goals met or
 * missed) and `<date>-sync.svg` (sync time against listener count). The Markdown links the SVG by
 * its file name, so the three files travel together.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ApplierCostRow } from './applier-cost.js'
import { lineChartSvg } from './chart.js'
import type { DataplaneResult } from './dataplane.js'
import type { DisruptionResult } from './disruption.js'
import type { FailoverResult } from './failover.js'
import type { PassiveResult } from './passive-failover.js'
import type { HealthEndpointResult } from './health-endpoint.js'
import type { MachineDescription } from './machine.js'
import type { ProbeFloodResult } from './probe-flood.js'
import type { ReloadRobustnessResult } from './reload-robustness.js'
import type { ScaleRow } from './scale.js'

export interface BenchReport {
  date: string
  quick: boolean
  machine: MachineDescription
  results: Record<string, unknown>
  errors: Record<string, string>
  durationSeconds: number
}

interface Goal { goal: string; measured: string; met: boolean | null }

/** The issue's goals, judged against this run (null: not measured in this run). */
export function goals(r: BenchReport): Goal[] {
  const d = r.results.dataplane as DataplaneResult | undefined
  const f = r.results.failover as FailoverResult | undefined
  const s = r.results.scale as ScaleRow[] | undefined
  const h = r.results.healthEndpoint as HealthEndpointResult | undefined
  const out: Goal[] = []
  if (d) {
    out.push({ goal: 'throughput >= 0.93 x direct', measured: `${d.throughputGbps.ratioFwdd} x`, met: d.throughputGbps.ratioFwdd >= 0.93 })
    out.push({ goal: 'connection rate >= 0.55 x direct', measured: `${d.connectionsPerSecond.ratioFwdd} x`, met: d.connectionsPerSecond.ratioFwdd >= 0.55 })
  }
  for (const x of f?.series.filter((x) => x.check.intervalMs === 300 && x.check.fall === 2) ?? []) {
    out.push({ goal: `failover (${x.fault}) median <= 1 s at intervalMs 300, fall 2`, measured: `${x.medianMs} ms (worst ${x.worstMs} ms)`, met: x.medianMs <= 1000 })
  }
  const k = s?.find((x) => x.listeners === 1000 && (x.backend ?? 'iptables') === 'iptables')
  if (k) {
    out.push({ goal: '1000 listeners in sync <= 2 s from start', measured: k.startToInSyncMs === null ? `not in sync within ${k.readyTimeoutMs / 1000} s` : `${(k.startToInSyncMs / 1000).toFixed(2)} s`, met: k.startToInSyncMs !== null && k.startToInSyncMs <= 2000 })
    out.push({ goal: 'RSS <= 80 MB at 1000 listeners', measured: `${k.rssMB} MB (peak ${k.peakRssMB} MB)`, met: k.rssMB <= 80 })
  }
  const p = r.results.passive as PassiveResult | undefined
  for (const fault of ['drop', 'refuse'] as const) {
    const on = p?.series.find((x) => x.mode === 'passive' && x.fault === fault)
    const off = p?.series.find((x) => x.mode === 'active-only' && x.fault === fault)
    if (!on || !off) continue
    const limit = fault === 'drop' ? 300 : 100
    out.push({ goal: `passive: ${fault === 'drop' ? 'SYN-dropping' : 'refusing'} target out of rotation <= ${limit} ms (median)`, measured: `${on.leaveMedianMs} ms (active-only ${off.leaveMedianMs} ms)`, met: on.leaveMedianMs <= limit })
    const ratio = on.deadConnectionsTotal === 0 ? Infinity : off.deadConnectionsTotal / on.deadConnectionsTotal
    out.push({ goal: `passive: connections to the dead target (${fault}) >= 5 x fewer than active-only`, measured: `${on.deadConnectionsTotal} vs ${off.deadConnectionsTotal} (${Number.isFinite(ratio) ? ratio.toFixed(1) : 'inf'} x)`, met: ratio >= 5 })
  }
  if (p) {
    for (const c of p.costs ?? [p.cost]) {
      out.push({ goal: `passive watcher < 15 % of one core at ${c.rate} new connections/s, nothing lost silently${c.backend ? ` (${c.backend}, sample ${c.sample}/s${(c.sample ?? 0) >= c.rate ? ': every flow judged' : ''})` : ''}`, measured: `conntrack -E ${(c.watcherCpu * 100).toFixed(1)} % + daemon ${((c.daemonCpu.passive - c.daemonCpu.off) * 100).toFixed(1)} % over passive off; lost ${c.lostEvents} (mode ${c.passiveMode})`, met: c.watcherCpu + Math.max(0, c.daemonCpu.passive - c.daemonCpu.off) < 0.15 })
    }
  }
  if (h) out.push({ goal: '/lb p99 <= 5 ms', measured: `${h.fwdd.p99Ms} ms (p50 ${h.fwdd.p50Ms} ms)`, met: h.fwdd.p99Ms <= 5 })
  const fl = r.results.probeFlood as ProbeFloodResult | undefined
  if (fl) out.push({ goal: '/lb probe answers within 1 s while /metrics and the control socket are flooded', measured: `${fl.flooded.successPercent}% ok, p99 ${fl.flooded.p99Ms} ms (idle ${fl.idle.p99Ms} ms)`, met: fl.flooded.successPercent === 100 && fl.flooded.p99Ms < 1000 })
  const rr = r.results.reloadRobustness as ReloadRobustnessResult | undefined
  if (rr) out.push({ goal: 'generated reloads: 0 crashes, 0 refusals without position, 0 echoes lost', measured: `${rr.figures.crashes} crashes, ${rr.figures.rejectedWithoutPosition} without position, ${rr.held.lost} lost of ${rr.figures.cases} cases`, met: rr.figures.crashes === 0 && rr.figures.rejectedWithoutPosition === 0 && rr.figures.rulesChanged === 0 && rr.held.lost === 0 && !rr.held.closed })
  return out
}

function table(head: string[], rows: Array<Array<string | number | null>>): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map((c) => (c === null ? '-' : String(c))).join(' | ')} |`)].join('\n')
}

export function markdown(r: BenchReport, svgName: string | null): string {
  const m = r.machine
  const out: string[] = [
    `# fwdd benchmark, ${r.date.slice(0, 10)}${r.quick ? ' (quick smoke run: few samples, figures are not to be quoted)' : ''}`,
    '',
    'Produced by `sudo npm run bench` (src/bench/). Every figure is taken against a baseline in the same run, on the same machine; quote ratios, not absolute numbers.',
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, kernel ${m.kernel}, virtualization ${m.virtualization}; Node ${m.node}; iptables backend ${m.iptablesBackend} (${m.iptablesVersion}); ${m.haproxy.split(' - ')[0]}; ${m.iperf3}; ${m.wrk.split(' Copyright')[0]}. Run took ${r.durationSeconds} s.`,
    '',
    '## Goals',
    '',
    table(['goal', 'measured', 'met'], goals(r).map((g) => [g.goal, g.measured, g.met === null ? '-' : g.met ? 'yes' : '**no**'])),
    '',
  ]
  const d = r.results.dataplane as DataplaneResult | undefined
  if (d) {
    out.push('## 1. Data plane', '', `Client namespace -> node -> server namespace over veth pairs. Direct: routed by the node, no NAT (the limit). fwdd: DNAT rules. HAProxy: \`mode tcp\` on the node, ${d.settings.haproxyThreads} threads. Medians of ${d.settings.rounds} alternating rounds; iperf3 one stream ${d.settings.iperfSeconds} s; wrk ${d.settings.wrkConnections} connections ${d.settings.wrkSeconds} s with \`Connection: close\` (one TCP connection per request) against HAProxy returning a constant.`, '',
      table(['', 'direct', 'fwdd', 'HAProxy', 'fwdd / direct', 'HAProxy / direct'], [
        ['throughput (Gbit/s)', d.throughputGbps.direct, d.throughputGbps.fwdd, d.throughputGbps.haproxy, d.throughputGbps.ratioFwdd, d.throughputGbps.ratioHaproxy],
        ['connections/s', d.connectionsPerSecond.direct, d.connectionsPerSecond.fwdd, d.connectionsPerSecond.haproxy, d.connectionsPerSecond.ratioFwdd, d.connectionsPerSecond.ratioHaproxy],
      ]), '')
  }
  const f = r.results.failover as FailoverResult | undefined
  if (f) {
    out.push('## 2. Failover', '', `Two targets, one fails: \`refuse\` = TCP reset, \`drop\` = SYNs dropped (iptables in the server's namespace). Time from the fault to the first of ${f.method.runLength} consecutive successful new connections (one every ${f.method.probePeriodMs} ms, success = handshake within ${f.method.attemptTimeoutMs} ms).`, '',
      table(['intervalMs', 'timeoutMs', 'fall', 'fault', 'trials', 'median ms', 'worst ms'], f.series.map((x) => [x.check.intervalMs, x.check.timeoutMs, x.check.fall, x.fault, x.trials, x.medianMs, x.worstMs])), '')
  }
  const pf = r.results.passive as PassiveResult | undefined
  if (pf) {
    out.push('### 2b. Failover with passive health', '', `Active checks at the default (interval ${pf.method.check.intervalMs} ms, timeout ${pf.method.check.timeoutMs} ms, fall ${pf.method.check.fall}) alone, and with passive health \`${pf.method.passive}\` (\`minUnansweredMs: 50\` and \`resetFall: 1\` at their defaults; and, as \`passive-fall1\`, the same with \`fall: 1\`), same run. Traffic: one new connection every ${pf.method.probePeriodMs} ms (success = handshake within ${pf.method.attemptTimeoutMs} ms). "out of rotation": the daemon's own stamp of the ejection (or of the active transition) minus the fault; "dead conns": connections that failed during the failover.`, '',
      table(['mode', 'fault', 'trials', 'out of rotation median ms', 'worst ms', 'dead conns median', 'dead conns total', 'recovery median ms'], pf.series.map((x) => [x.mode, x.fault, x.trials, x.leaveMedianMs, x.leaveWorstMs, x.deadConnectionsMedian, x.deadConnectionsTotal, x.recoveryMedianMs])), '',
      ...(pf.costs ?? [pf.cost]).map((c) => `Cost${c.backend ? ` on ${c.backend}, sample ${c.sample} flows/s` : ''} at ${c.rate} new connections/s for ${c.seconds} s, fwdd's TIME_WAIT and CLOSE flows deleted every 200 ms so each flow's DESTROY falls in the window as in steady state (opened ${c.opened.passive}, established ${c.established.passive} with passive on; ${c.opened.off}/${c.established.off} off): conntrack -E ${(c.watcherCpu * 100).toFixed(1)} % of one core, daemon ${(c.daemonCpu.passive * 100).toFixed(1)} % (passive off: ${(c.daemonCpu.off * 100).toFixed(1)} %); lost events ${c.lostEvents}, mode ${c.passiveMode}.`), '')
  }
  const s = r.results.scale as ScaleRow[] | undefined
  const a = r.results.applierCost as ApplierCostRow[] | undefined
  if (s || a) out.push('## 3. Sync cost as work grows', '')
  if (s) {
    out.push('The daemon, default checks (1 s interval: 2 x N checks a second) and sync settings, empty table at start. Idle figures over a quiet window (health checks and the periodic verified resync running).', '',
      table(['backend', 'listeners', 'start to in sync ms', 'verified resync ms', 'single flip: recovery ms', 'flip sync ms', 'idle CPU %', 'RSS MB', 'notes'], s.map((x) => [x.backend ?? 'iptables', x.listeners, x.startToInSyncMs ?? `not within ${x.readyTimeoutMs / 1000} s`, x.verifiedResyncMs, x.flipRecoveryMs, x.flipSyncMs, x.idleCpuPercent, x.rssMB, (x.notes ?? []).join('; ') || null])), '')
  }
  if (a) {
    out.push('The real renderer and Applier in process, against an empty namespace; time split into iptables-save (read), iptables-restore (write) and the rest (JS).', '',
      table(['listeners', 'kernel rules', 'render ms', 'full ms (rules)', 'full: restore ms', 'verified no-op ms', 'of which save ms', 'no-op ms', 'flip ms (rules)', 'flip: restore ms'],
        a.map((x) => [x.listeners, x.kernelRules, x.renderMs, `${x.full.ms} (${x.full.rulesWritten})`, x.full.restoreMs, x.verifiedNoop.ms, x.verifiedNoop.saveMs, x.noop.ms, `${x.flip.ms} (${x.flip.rulesWritten})`, x.flip.restoreMs])), '')
  }
  if (svgName) out.push(`![sync time against listeners](${svgName})`, '')
  const h = r.results.healthEndpoint as HealthEndpointResult | undefined
  if (h) {
    out.push('## 4. Health endpoint', '', `wrk, ${h.settings.connections} keep-alive connections, ${h.settings.seconds} s x ${h.settings.rounds} alternating rounds, from the client namespace.`, '',
      table(['server', 'requests/s', 'p50 ms', 'p99 ms', 'non-2xx'], [[`fwdd ${h.settings.path}`, h.fwdd.requestsPerSecond, h.fwdd.p50Ms, h.fwdd.p99Ms, h.fwdd.non2xx], ['bare Node HTTP, constant', h.bareNode.requestsPerSecond, h.bareNode.p50Ms, h.bareNode.p99Ms, h.bareNode.non2xx]]),
      '', `Ratio of requests/s to the bare server: ${h.ratioRps}.`, '')
  }
  if (s) {
    out.push('## 5. Footprint', '', table(['backend', 'listeners', 'targets', 'idle CPU % of one core', 'RSS MB', 'peak RSS MB'], s.map((x) => [x.backend ?? 'iptables', x.listeners, x.targets, x.idleCpuPercent, x.rssMB, x.peakRssMB])), '')
  }
  const x = r.results.disruption as DisruptionResult | undefined
  if (x) {
    out.push('## 6. Disruption', '', `${x.connections} long-lived connections (an echo every 200 ms) across ${x.rewrites} reloads that each rewrite the listener's chain (${x.syncsThatWroteRules} syncs wrote rules), a verified resync every second, one plain reload and a daemon restart.`, '',
      table(['broken', 'stalled', 'longest silence ms'], [[x.broken, x.stalled, x.maxSilenceMs]]), '')
  }
  const fl = r.results.probeFlood as ProbeFloodResult | undefined
  if (fl) {
    out.push('## 7. LB probe under a flood', '', `\`GET /lb/web\` on a new connection every ${fl.settings.periodMs} ms for ${fl.settings.seconds} s from the client namespace, on the idle node and then while ${fl.settings.metricsConnections} connections pipeline \`GET /metrics\` and ${fl.settings.controlConnections} pipeline \`GET /rules\` on the control socket.`, '',
      table(['node', 'probes', 'success %', 'p50 ms', 'p99 ms', 'flood answered'], [
        ['idle', fl.idle.attempts, fl.idle.successPercent, fl.idle.p50Ms, fl.idle.p99Ms, null],
        ['flooded', fl.flooded.attempts, fl.flooded.successPercent, fl.flooded.p50Ms, fl.flooded.p99Ms, `${fl.flooded.metricsAnswered} /metrics, ${fl.flooded.rulesAnswered} /rules`],
      ]), '', `p99 flooded / idle: ${fl.ratioP99}.`, '')
  }
  const rr = r.results.reloadRobustness as ReloadRobustnessResult | undefined
  if (rr) {
    out.push('## 8. Generated configs reloaded into a running daemon', '', `${rr.figures.cases} generated configs (over the schema and beyond it) reloaded one by one in ${rr.seconds} s, a connection held through the node throughout.`, '',
      table(['cases', 'accepted', 'rejected with position', 'rejected without', 'crashes', 'rules changed', 'held echoes lost'], [[rr.figures.cases, rr.figures.accepted, rr.figures.rejectedWithPosition, rr.figures.rejectedWithoutPosition, rr.figures.crashes, rr.figures.rulesChanged, `${rr.held.lost} of ${rr.held.sent}`]]), '',
      ...rr.examples.map((e) => `- ${e}`), '')
  }
  const errs = Object.entries(r.errors)
  if (errs.length > 0) out.push('## Measurements that failed', '', ...errs.map(([k, v]) => `- ${k}: \`${v.split('\n')[0]}\``), '')
  return out.join('\n')
}

/** Writes the files; returns their paths. */
export function writeReport(report: BenchReport, dir: string): string[] {
  mkdirSync(dir, { recursive: true })
  const day = report.date.slice(0, 10)
  const files: string[] = []
  const s = report.results.scale as ScaleRow[] | undefined
  const a = report.results.applierCost as ApplierCostRow[] | undefined
  let svgName: string | null = null
  if (s || a) {
    svgName = `${day}-sync.svg`
    const series = [
      ...(s ? (['iptables', 'nftables'] as const).flatMap((b) => {
        const rows = s.filter((x) => (x.backend ?? 'iptables') === b)
        return rows.length === 0 ? [] : [{ name: `daemon (${b}): start to in sync`, color: b === 'iptables' ? '#d62728' : '#ff7f0e', points: rows.map((x) => ({ x: x.listeners, y: x.startToInSyncMs })) }]
      }) : []),
      ...(a ? [
        { name: 'applier: full write', color: '#1f77b4', points: a.map((x) => ({ x: x.listeners, y: x.full.ms })) },
        { name: 'applier: verified no-op', color: '#2ca02c', points: a.map((x) => ({ x: x.listeners, y: x.verifiedNoop.ms })) },
        { name: 'applier: one flip', color: '#9467bd', points: a.map((x) => ({ x: x.listeners, y: x.flip.ms })) },
        { name: 'render (pure JS)', color: '#8c564b', points: a.map((x) => ({ x: x.listeners, y: x.renderMs })) },
      ] : []),
    ]
    writeFileSync(path.join(dir, svgName), lineChartSvg('fwdd sync cost against listener count', 'milliseconds (log scale)', series))
    files.push(path.join(dir, svgName))
  }
  const json = path.join(dir, `${day}.json`)
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
  const md = path.join(dir, `${day}.md`)
  writeFileSync(md, markdown(report, svgName))
  files.push(json, md)
  return files
}

/**
 * The scale curve's report: one row per (backend, listener count), whatever order or how many
 * times points arrive (a point measured again replaces the earlier one: the 2026-12-02 report
 * repeated its 5000 rows), sorted by size then backend; and a chart of the ratios against the
 * listener count. Pure: curve.ts measures, this formats.
 */
import { lineChartSvg } from './chart.js'
import { percentile } from './stats.js'

export type CurveBackend = 'iptables' | 'nftables'

/** One point of the curve; null where a figure was not taken (a failed step says why in `notes`). */
export interface CurvePoint {
  backend: CurveBackend
  listeners: number
  /** iperf3 Gbit/s through the first and the last listener, a routed non-fwdd flow, and that flow on the node without rules. */
  gbps: { first: number; last: number; routed: number; routedBare: number }
  /** New connections per second (sequential, one request per connection) through the first and the last listener. */
  connectionsPerSecond: { first: number | null; last: number | null }
  /**
   * The dataplane's first write, ms; a single flip's write, ms (median of samplesMs, when there are
   * several), and how many chains (nftables: blocks) and, on nftables, map elements it wrote.
   */
  fullApplyMs: number
  /** A full verify that finds nothing to repair, ms (median of 3; absent in older reports). */
  verifyMs?: number
  flip: { ms: number; chainsWritten: number; elementsWritten?: number; samplesMs?: number[] }
  /** The daemon: spawn to `/lb` 200, ms, the median of startSamplesMs when there are several (null: not in sync in time). */
  startToInSyncMs: number | null
  startSamplesMs?: number[]
  /** Flush -> repaired through the running daemon (see drift-repair.ts); null when not measured. */
  drift: { trials: number; medianMs: number; worstMs: number; lies: number; probesInWindows: number } | null
  /** nftables: fwdd's table deleted -> repaired, the same figures; null or absent when not measured (iptables, older reports). */
  tableDrift?: CurvePoint['drift']
  notes: string[]
}

const key = (p: CurvePoint): string => `${p.backend}|${p.listeners}`

/** The points to report: the last one per (backend, listeners), sorted by listeners then backend. */
export function uniquePoints(points: readonly CurvePoint[]): CurvePoint[] {
  const byKey = new Map<string, CurvePoint>()
  for (const p of points) byKey.set(key(p), p)
  return [...byKey.values()].sort((a, b) => a.listeners - b.listeners || a.backend.localeCompare(b.backend))
}

/** What a flip wrote: chains on iptables, map elements on nftables. */
function flipWrites(f: CurvePoint['flip']): string {
  if (f.elementsWritten) return `${f.elementsWritten} element${f.elementsWritten === 1 ? '' : 's'}`
  return `${f.chainsWritten} chain${f.chainsWritten === 1 ? '' : 's'}`
}

/** The 90th percentile of the flips, when there are enough of them for one to mean something. */
function flipP90(f: CurvePoint['flip']): string {
  return f.samplesMs && f.samplesMs.length >= 10 ? `p90 ${percentile(f.samplesMs, 90).toFixed(0)} ms; ` : ''
}

const ratio = (a: number | null, b: number | null): string => (a === null || b === null || b === 0 ? '-' : (a / b).toFixed(2))

/** The Markdown table of the curve (header, then one row per unique point). */
export function curveTable(points: readonly CurvePoint[]): string {
  const rows = [
    '| backend | listeners | last/first throughput | routed non-fwdd / no rules | last/first connection rate | full apply | verify | single flip | start to in sync | flush -> repaired median (worst) of n | /lb 200 while broken | table deleted -> repaired median (worst) of n, /lb 200 | Gbit/s first / last / routed / bare | conn/s first / last |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const p of uniquePoints(points)) {
    const d = p.drift
    rows.push(`| ${[
      p.backend, p.listeners,
      ratio(p.gbps.last, p.gbps.first), ratio(p.gbps.routed, p.gbps.routedBare),
      ratio(p.connectionsPerSecond.last, p.connectionsPerSecond.first),
      `${(p.fullApplyMs / 1000).toFixed(2)} s`, p.verifyMs === undefined ? '-' : `${(p.verifyMs / 1000).toFixed(2)} s`, `${p.flip.ms.toFixed(0)} ms (${flipP90(p.flip)}${flipWrites(p.flip)})`,
      p.startToInSyncMs === null ? '-' : `${(p.startToInSyncMs / 1000).toFixed(2)} s`,
      d ? `${d.medianMs.toFixed(0)} ms (${d.worstMs.toFixed(0)} ms) of ${d.trials}` : '-',
      d ? `${d.lies} of ${d.probesInWindows}` : '-',
      p.tableDrift ? `${p.tableDrift.medianMs.toFixed(0)} ms (${p.tableDrift.worstMs.toFixed(0)} ms) of ${p.tableDrift.trials}, ${p.tableDrift.lies} of ${p.tableDrift.probesInWindows}` : '-',
      `${p.gbps.first.toFixed(1)} / ${p.gbps.last.toFixed(1)} / ${p.gbps.routed.toFixed(1)} / ${p.gbps.routedBare.toFixed(1)}`,
      `${p.connectionsPerSecond.first?.toFixed(0) ?? '-'} / ${p.connectionsPerSecond.last?.toFixed(0) ?? '-'}`,
    ].join(' | ')} |`)
  }
  const notes = uniquePoints(points).flatMap((p) => p.notes.map((n) => `- ${p.backend} ${p.listeners}: ${n}`))
  return `${rows.join('\n')}\n${notes.length > 0 ? `\nNotes:\n${notes.join('\n')}\n` : ''}`
}

/** The chart: the three ratios of each backend against the listener count (1.0 = no cost of scale). */
export function curveChartSvg(points: readonly CurvePoint[]): string {
  const u = uniquePoints(points)
  const colors: Record<CurveBackend, string[]> = { iptables: ['#1f77b4', '#aec7e8', '#17becf'], nftables: ['#d62728', '#ff9896', '#e377c2'] }
  const series = (['iptables', 'nftables'] as const).flatMap((b) => {
    const ps = u.filter((p) => p.backend === b)
    if (ps.length === 0) return []
    const r = (a: number | null, c: number | null): number | null => (a === null || c === null || c === 0 ? null : a / c)
    return [
      { name: `${b}: last/first throughput`, color: colors[b][0]!, points: ps.map((p) => ({ x: p.listeners, y: r(p.gbps.last, p.gbps.first) })) },
      { name: `${b}: routed / no rules`, color: colors[b][1]!, points: ps.map((p) => ({ x: p.listeners, y: r(p.gbps.routed, p.gbps.routedBare) })) },
      { name: `${b}: last/first conn rate`, color: colors[b][2]!, points: ps.map((p) => ({ x: p.listeners, y: r(p.connectionsPerSecond.last, p.connectionsPerSecond.first) })) },
    ]
  })
  return lineChartSvg('fwdd data-plane scale curve (ratios in one run)', 'ratio (log scale; 1 = no cost of scale)', series)
}

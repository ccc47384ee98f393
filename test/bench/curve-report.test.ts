// The curve report: one row per (backend, listeners) however often a point arrives, sorted.
import t from 'tap'
import { curveChartSvg, curveTable, uniquePoints, type CurvePoint } from '../../bench/src/curve-report.js'

function p(backend: CurvePoint['backend'], listeners: number, first: number): CurvePoint {
  return {
    backend, listeners, gbps: { first, last: first / 2, routed: 4, routedBare: 4 }, connectionsPerSecond: { first: 1000, last: 900 },
    fullApplyMs: 1500, flip: { ms: 40, chainsWritten: 1 }, startToInSyncMs: 2500,
    drift: { trials: 20, medianMs: 120, worstMs: 300, lies: 0, probesInWindows: 50 }, notes: [],
  }
}

t.test('a point measured again replaces the earlier one; rows are sorted by size, then backend', async (t) => {
  const points = [p('nftables', 5000, 1), p('iptables', 5000, 2), p('iptables', 1, 3), p('nftables', 5000, 4), p('iptables', 5000, 5), p('nftables', 1, 6)]
  t.same(uniquePoints(points).map((x) => `${x.backend} ${x.listeners} ${x.gbps.first}`), ['iptables 1 3', 'nftables 1 6', 'iptables 5000 5', 'nftables 5000 4'])
  const rows = curveTable(points).split('\n').filter((l) => /^\| (iptables|nftables) \|/.test(l))
  t.equal(rows.length, 4, 'one row each (the 2026-12-02 report repeated its 5000 rows)')
  t.match(rows[2], /^\| iptables \| 5000 \| 0\.50 \| 1\.00 \| 0\.90 \| 1\.50 s \| - \| 40 ms \(1 chain\) \| 2\.50 s \| 120 ms \(300 ms\) of 20 \| 0 of 50 \| - \| 5\.0 \/ 2\.5 \/ 4\.0 \/ 4\.0 \| 1000 \/ 900 \|$/)
  const withTable = curveTable([{ ...p('nftables', 10000, 1), tableDrift: { trials: 10, medianMs: 1400, worstMs: 2100, lies: 1, probesInWindows: 300 } }])
  const flips = curveTable([{ ...p('iptables', 10000, 1), verifyMs: 700, flip: { ms: 44, chainsWritten: 1, samplesMs: [40, 41, 42, 43, 44, 44, 45, 46, 47, 60, 80] } }])
  t.match(flips, /\| 0\.70 s \| 44 ms \(p90 60 ms; 1 chain\) \|/, 'with ten flips or more, their 90th percentile too')
  t.match(withTable, /\| 120 ms \(300 ms\) of 20 \| 0 of 50 \| 1400 ms \(2100 ms\) of 10, 1 of 300 \|/, 'table deletions are a column of their own, apart from flushes')
})

t.test('missing figures print as -, notes follow the table, the chart names both backends', async (t) => {
  const x = { ...p('nftables', 10000, 1), startToInSyncMs: null, drift: null, connectionsPerSecond: { first: null, last: null }, notes: ['the daemon was not in sync within 180 s'] }
  const text = curveTable([x])
  t.match(text, /\| nftables \| 10000 \| 0\.50 \| 1\.00 \| - \| 1\.50 s \| - \| 40 ms \(1 chain\) \| - \| - \| - \| - \|/)
  t.match(text, /- nftables 10000: the daemon was not in sync within 180 s/)
  const svg = curveChartSvg([p('iptables', 1, 1), p('iptables', 100, 1), x])
  t.match(svg, /^<svg /)
  t.match(svg, /iptables: last\/first throughput/)
  t.match(svg, /nftables: routed \/ no rules/)
})

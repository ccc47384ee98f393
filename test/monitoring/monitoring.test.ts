/**
 * The alert rules pass `promtool check rules` and fire on the series they are about
 * (`promtool test rules`, monitoring/fwdd-alerts.test.yaml); the Grafana dashboard is valid JSON
 * whose every query names a metric fwdd exports (or node_exporter's conntrack pair, or the
 * process metrics), so a renamed metric breaks this test and not a dashboard in production.
 * promtool comes from Debian's `prometheus` package (.ci/run installs it); a missing one fails.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { Metrics } from '../../src/metrics/metrics.js'
import { ROOT } from '../helpers/daemon.js'

const DIR = path.join(ROOT, 'monitoring')

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' })
  if (r.error) throw r.error
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

/** Metric families fwdd exposes (counters as exposed, histograms with their _bucket). */
async function exported(): Promise<Set<string>> {
  const m = new Metrics({ version: '0' })
  m.setTargetHealth('l', '198.18.1.2:80', 'healthy')
  const names = new Set<string>()
  for (const line of (await m.text()).split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line)
    if (!t) continue
    names.add(t[1]!)
    if (t[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${t[1]}${s}`)
  }
  return names
}

t.test('promtool check rules passes', async (t) => {
  const r = promtool(['check', 'rules', 'fwdd-alerts.yaml'])
  t.equal(r.status, 0, r.out)
})

t.test('promtool test rules: the alerts fire on their series and not otherwise', async (t) => {
  const r = promtool(['test', 'rules', 'fwdd-alerts.test.yaml'])
  t.equal(r.status, 0, r.out)
})

t.test('the alerts the operator issue asks for are all there', async (t) => {
  const text = readFileSync(path.join(DIR, 'fwdd-alerts.yaml'), 'utf8')
  for (const a of ['FwddTargetDown', 'FwddListenerNotServing', 'FwddNotInSync', 'FwddDriftRepaired', 'FwddReloadFailed', 'FwddConntrackNearLimit', 'FwddSourcePortsNearLimit']) {
    t.match(text, new RegExp(`alert: ${a}\\n`), a)
  }
})

t.test('every metric in the rules and the dashboard exists', async (t) => {
  const known = await exported()
  const external = new Set(['node_nf_conntrack_entries', 'node_nf_conntrack_entries_limit'])
  const dashboard = JSON.parse(readFileSync(path.join(DIR, 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> }
  const rules = readFileSync(path.join(DIR, 'fwdd-alerts.yaml'), 'utf8')
  const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((q) => q.expr)), ...[...rules.matchAll(/expr: (.+)/g)].map((m) => m[1]!)]
  t.ok(exprs.length > 20, 'queries found')
  for (const expr of exprs) {
    for (const name of expr.match(/\b(?:fwdd|node|process|nodejs)_[a-z_]+\b/g) ?? []) {
      t.ok(known.has(name) || external.has(name), `${name} (in ${expr})`)
    }
  }
})

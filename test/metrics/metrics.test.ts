// Targets here use the test plan's addresses (198.18.0.0/15); the tests prove they never reach the
// exposition text, which is served on the network-facing health port.
import t from 'tap'
import { Metrics } from '../../src/metrics/metrics.js'

const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}\b/
const A = '198.18.0.10:8000'
const B = '198.18.0.11:8000'

/** The sample lines (not HELP/TYPE) of one metric, sorted, for exact comparison. */
async function samples(m: Metrics, name: string): Promise<string[]> {
  const text = await m.text()
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).sort()
}

t.test('without a labeller, target labels are <listener>/seen-<n>, stable, never reused, and the mapping is available', async (t) => {
  const m = new Metrics({ defaultMetrics: false })
  t.equal(m.targetLabel('web', A), 'web/seen-0')
  t.equal(m.targetLabel('web', B), 'web/seen-1')
  t.equal(m.targetLabel('web', A), 'web/seen-0')
  t.equal(m.targetLabel('dns', A), 'dns/seen-0')
  m.removeTarget('web', A)
  t.equal(m.targetLabel('web', A), 'web/seen-2', 'a returning target gets a fresh series')
  t.same(m.targetLabels(), [
    { listener: 'dns', target: A, label: 'dns/seen-0' },
    { listener: 'web', target: B, label: 'web/seen-1' },
    { listener: 'web', target: A, label: 'web/seen-2' },
  ])
})

t.test('a custom labeller is used, and one returning an address is refused', async (t) => {
  const m = new Metrics({ defaultMetrics: false, labelTarget: (l, target) => (target === A ? `${l}/first` : target) })
  t.equal(m.targetLabel('web', A), 'web/first')
  t.throws(() => m.setTargetHealth('web', B, 'healthy'), { message: 'metrics label for a target of listener "web" contains an address' })
})

t.test('target state is one-hot and transitions are counted', async (t) => {
  const m = new Metrics({ defaultMetrics: false })
  m.setTargetHealth('web', A, 'unknown')
  m.setTargetHealth('web', A, 'healthy')
  m.recordTransition('web', A, 'unknown', 'healthy')
  m.setTargetHealth('web', B, 'unhealthy')
  t.same(await samples(m, 'fwdd_target_state'), [
    'fwdd_target_state{listener="web",target="web/seen-0",state="healthy"} 1',
    'fwdd_target_state{listener="web",target="web/seen-0",state="unhealthy"} 0',
    'fwdd_target_state{listener="web",target="web/seen-0",state="unknown"} 0',
    'fwdd_target_state{listener="web",target="web/seen-1",state="healthy"} 0',
    'fwdd_target_state{listener="web",target="web/seen-1",state="unhealthy"} 1',
    'fwdd_target_state{listener="web",target="web/seen-1",state="unknown"} 0',
  ])
  t.same(await samples(m, 'fwdd_target_transitions_total'), [
    'fwdd_target_transitions_total{listener="web",target="web/seen-0",from="unknown",to="healthy"} 1',
  ])
})

t.test('rule counters accumulate increases and survive a rule rewrite (reset to a lower value)', async (t) => {
  const m = new Metrics({ defaultMetrics: false })
  m.setRuleCounters([{ listener: 'web', target: A, packets: 10, bytes: 1000 }, { listener: 'web', target: B, packets: 1, bytes: 60 }])
  m.setRuleCounters([{ listener: 'web', target: A, packets: 15, bytes: 1500 }, { listener: 'web', target: B, packets: 1, bytes: 60 }])
  // Rules rewritten: A's counters start again from zero and have counted 3 packets since.
  m.setRuleCounters([{ listener: 'web', target: A, packets: 3, bytes: 180 }])
  t.same(await samples(m, 'fwdd_target_packets_total'), [
    'fwdd_target_packets_total{listener="web",target="web/seen-0"} 18',
    'fwdd_target_packets_total{listener="web",target="web/seen-1"} 1',
  ])
  t.same(await samples(m, 'fwdd_target_bytes_total'), [
    'fwdd_target_bytes_total{listener="web",target="web/seen-0"} 1680',
    'fwdd_target_bytes_total{listener="web",target="web/seen-1"} 60',
  ])
  t.same(await samples(m, 'fwdd_listener_packets_total'), ['fwdd_listener_packets_total{listener="web"} 19'])
  t.same(await samples(m, 'fwdd_listener_bytes_total'), ['fwdd_listener_bytes_total{listener="web"} 1740'])
})

t.test('node-level gauges, counters and histograms', async (t) => {
  const m = new Metrics({ defaultMetrics: false, version: '1.2.3' })
  t.same(await samples(m, 'fwdd_apply_failures_total'), ['fwdd_apply_failures_total 0'], 'present before the first failure')
  m.setLastSync(new Date('2024-01-01T00:00:00.500Z'))
  m.setLastQueued(new Date('2024-01-01T00:00:01Z'))
  m.setDraining(true)
  m.setInSync(false)
  m.incFailedApplies()
  m.incFailedApplies()
  m.incFailedReloads()
  m.incDriftRepairs('rules')
  m.observeSync(0.02, 'full')
  m.observeCheckLatency('web', 0.003, true)
  m.setConntrackEntries('web', A, 42)
  t.same(await samples(m, 'fwdd_last_sync_timestamp_seconds'), ['fwdd_last_sync_timestamp_seconds 1704067200.5'])
  t.same(await samples(m, 'fwdd_last_queued_timestamp_seconds'), ['fwdd_last_queued_timestamp_seconds 1704067201'])
  t.same(await samples(m, 'fwdd_draining'), ['fwdd_draining 1'])
  t.same(await samples(m, 'fwdd_rules_in_sync'), ['fwdd_rules_in_sync 0'])
  t.same(await samples(m, 'fwdd_apply_failures_total'), ['fwdd_apply_failures_total 2'])
  t.same(await samples(m, 'fwdd_reload_failures_total'), ['fwdd_reload_failures_total 1'])
  t.same(await samples(m, 'fwdd_drift_repairs_total'), ['fwdd_drift_repairs_total{kind="rules"} 1'])
  t.same(await samples(m, 'fwdd_build_info'), ['fwdd_build_info{version="1.2.3"} 1'])
  t.same(await samples(m, 'fwdd_target_conntrack_entries'), ['fwdd_target_conntrack_entries{listener="web",target="web/seen-0"} 42'])
  t.same(await samples(m, 'fwdd_sync_duration_seconds_count'), ['fwdd_sync_duration_seconds_count{kind="full"} 1'])
  t.same(await samples(m, 'fwdd_check_duration_seconds_count'), ['fwdd_check_duration_seconds_count{listener="web",result="ok"} 1'])
  t.ok((await samples(m, 'fwdd_check_duration_seconds_bucket')).includes('fwdd_check_duration_seconds_bucket{le="0.005",listener="web",result="ok"} 1'))
})

t.test('removed targets and listeners lose their series', async (t) => {
  const m = new Metrics({ defaultMetrics: false })
  for (const target of [A, B]) {
    m.setTargetHealth('web', target, 'healthy')
    m.recordTransition('web', target, 'unknown', 'healthy')
    m.setConntrackEntries('web', target, 1)
    m.setRuleCounters([{ listener: 'web', target, packets: 1, bytes: 1 }])
  }
  m.setRuleCounters([{ listener: 'dns', target: A, packets: 1, bytes: 1 }])
  m.observeCheckLatency('dns', 0.001, false)
  m.retainTargets([{ listener: 'web', target: B }, { listener: 'dns', target: A }])
  let text = await m.text()
  t.notMatch(text, /target="web\/seen-0"/)
  t.match(text, /fwdd_target_state\{listener="web",target="web\/seen-1",state="healthy"\} 1/)
  t.match(text, /fwdd_listener_packets_total\{listener="web"\} 2/, 'listener totals keep what removed targets counted')
  m.retainListeners(['web'])
  text = await m.text()
  t.notMatch(text, /listener="dns"/)
  t.match(text, /listener="web"/)
  m.removeTarget('web', B)
  m.removeTarget('web', B)
  text = await m.text()
  t.notMatch(text, /target="web\//)
  t.same(m.targetLabels(), [])
})

t.test('no address ever appears in the exposition text, default metrics included', async (t) => {
  const m = new Metrics({ version: '0.1.0' })
  for (const [l, target] of [['web', A], ['web', B], ['dns', '198.18.1.1:53']] as const) {
    m.setTargetHealth(l, target, 'unhealthy')
    m.recordTransition(l, target, 'healthy', 'unhealthy')
    m.setConntrackEntries(l, target, 3)
    m.setRuleCounters([{ listener: l, target, packets: 9, bytes: 900 }])
  }
  const text = await m.text()
  t.match(text, /process_resident_memory_bytes \d+/, 'default process metrics are collected')
  t.match(text, /fwdd_target_state\{listener="dns",target="dns\/seen-0",state="unhealthy"\} 1/)
  t.notMatch(text, IPV4)
  t.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8')
})

t.test('two instances do not share a registry', async (t) => {
  const a = new Metrics({ defaultMetrics: false })
  const b = new Metrics({ defaultMetrics: false })
  a.incFailedReloads()
  t.same(await samples(a, 'fwdd_reload_failures_total'), ['fwdd_reload_failures_total 1'])
  t.same(await samples(b, 'fwdd_reload_failures_total'), ['fwdd_reload_failures_total 0'])
})

t.test('defect 2, labels map back to a server: the config label is used whatever order results arrive in', async (t) => {
  // As the daemon wires it: the label comes from the config position (TargetStatus.label).
  const labels = new Map([[`web|${A}`, 'web/0'], [`web|${B}`, 'web/1']])
  const m = new Metrics({ defaultMetrics: false, labelTarget: (l, target) => labels.get(`${l}|${target}`) })
  m.setTargetHealth('web', B, 'healthy') // B's result arrives first
  m.setTargetHealth('web', A, 'healthy')
  t.same(m.targetLabels(), [{ listener: 'web', target: A, label: 'web/0' }, { listener: 'web', target: B, label: 'web/1' }])
  // A reload swapped the two targets in the config: relabel moves the series.
  labels.set(`web|${A}`, 'web/1')
  labels.set(`web|${B}`, 'web/0')
  m.relabel()
  m.relabel()
  t.same(m.targetLabels(), [{ listener: 'web', target: B, label: 'web/0' }, { listener: 'web', target: A, label: 'web/1' }])
  t.same(await samples(m, 'fwdd_target_state'), [
    'fwdd_target_state{listener="web",target="web/0",state="healthy"} 1',
    'fwdd_target_state{listener="web",target="web/0",state="unhealthy"} 0',
    'fwdd_target_state{listener="web",target="web/0",state="unknown"} 0',
    'fwdd_target_state{listener="web",target="web/1",state="healthy"} 1',
    'fwdd_target_state{listener="web",target="web/1",state="unhealthy"} 0',
    'fwdd_target_state{listener="web",target="web/1",state="unknown"} 0',
  ], 'the state moves with the label')
})

t.test('source-port use: flows over the ceiling per target, the ceiling once, and the series goes with its target', async (t) => {
  const m = new Metrics({ defaultMetrics: false })
  m.setSourcePortUse('web', A, 16128, 64512)
  m.setSourcePortUse('web', B, 0, 64512)
  t.same(await samples(m, 'fwdd_target_source_ports_used_ratio'), [
    'fwdd_target_source_ports_used_ratio{listener="web",target="web/seen-0"} 0.25',
    'fwdd_target_source_ports_used_ratio{listener="web",target="web/seen-1"} 0',
  ])
  t.same(await samples(m, 'fwdd_source_port_ceiling'), ['fwdd_source_port_ceiling 64512'])
  m.retainTargets([{ listener: 'web', target: B }])
  t.same(await samples(m, 'fwdd_target_source_ports_used_ratio'), ['fwdd_target_source_ports_used_ratio{listener="web",target="web/seen-1"} 0'], 'a removed target takes its series along')
  t.notMatch(await m.text(), IPV4, 'no address in the exposition')
})

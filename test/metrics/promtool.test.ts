/**
 * Defect 4, `promtool check metrics` failed (exit 3) on prom-client's default gauges named `_total`:
 * the full exposition (default Node.js metrics included, every fwdd family populated) must pass
 * the real promtool (Debian's `prometheus` package; CI installs it). Addresses: 198.18.0.0/15 only,
 * and only as strings; nothing is sent anywhere.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import t from 'tap'
import { Metrics } from '../../src/metrics/metrics.js'

t.test('defect 4: the exposition text passes promtool check metrics', async (t) => {
  const m = new Metrics({ version: '0.1.0', labelTarget: (l, target) => `${l}/${target.endsWith(':80') ? 0 : 1}` })
  m.setTargetHealth('web', '198.18.1.2:80', 'healthy')
  m.recordTransition('web', '198.18.1.2:80', 'unknown', 'healthy')
  m.setTargetHealth('web', '198.18.2.2:81', 'unhealthy')
  m.observeCheckLatency('web', 0.002, true)
  m.setRuleCounters([{ listener: 'web', target: '198.18.1.2:80', packets: 3, bytes: 300 }])
  m.setConntrackEntries('web', '198.18.1.2:80', 2)
  m.setSourcePortUse('web', '198.18.1.2:80', 2, 64512)
  m.observeSync(0.01, 'partial')
  m.setLastSync(new Date())
  m.setLastQueued(new Date())
  m.incDriftRepairs('chain')
  m.setDraining(false)
  m.setInSync(true)
  const text = await m.text()
  t.match(text, /nodejs_active_handles\{/, 'the per-type handle gauges stay')
  t.notMatch(text, /^nodejs_active_handles_total/m, 'the gauge named _total is gone')
  execFileSync('promtool', ['--version'], { stdio: 'ignore' }) // a missing promtool fails the test
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  t.equal(r.status, 0, `promtool check metrics: ${r.stdout}${r.stderr}`)
})

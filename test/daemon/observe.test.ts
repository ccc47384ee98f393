// The reconciler's metric hooks: a health transition is counted at once; the state gauge comes from
// the status pushed before every scrape (refreshMetrics), as the daemon's /metrics route does.
// Addresses are from the test plan (198.18.0.0/15) and never leave the process.
import t from 'tap'
import { metricsHooks, refreshMetrics } from '../../src/daemon/observe.js'
import { Metrics } from '../../src/metrics/metrics.js'
import type { ResolvedTarget } from '../../src/reconcile/desired.js'
import type { Status } from '../../src/status.js'

const target: ResolvedTarget = { key: 'web|198.18.1.2:80', listener: 'web', host: '198.18.1.2', address: '198.18.1.2', port: 80, weight: 1, label: 'web/0', sourceError: null }
const health = (state: 'healthy' | 'unhealthy') => ({ state, since: 0, successes: 0, failures: 0, lastError: null })

function statusWith(state: 'healthy' | 'unhealthy'): Status {
  return {
    node: { ready: false, draining: false, inSync: true, lastSyncAt: null, lastError: null, version: 'test' },
    listeners: [{ name: 'web', protocol: 'tcp', port: 8000, serving: state === 'healthy', targets: [{ host: '198.18.1.2', label: 'web/0', address: '198.18.1.2', port: 80, state, since: new Date(0).toISOString(), lastError: null }] }],
  } as Status
}

async function lines(m: Metrics, name: string): Promise<string[]> {
  return (await m.text()).split('\n').filter((l) => l.startsWith(`${name}{`)).sort()
}

t.test('a transition is counted at once; the scrape shows the state the status holds', async (t) => {
  const m = new Metrics({ defaultMetrics: false, labelTarget: () => 'web/0' })
  const hooks = metricsHooks(m)
  hooks.onTransition!(target, health('healthy'), health('unhealthy'))
  t.same(await lines(m, 'fwdd_target_transitions_total'), ['fwdd_target_transitions_total{listener="web",target="web/0",from="healthy",to="unhealthy"} 1'])
  refreshMetrics(statusWith('unhealthy'), m)
  t.same(await lines(m, 'fwdd_target_state'), [
    'fwdd_target_state{listener="web",target="web/0",state="healthy"} 0',
    'fwdd_target_state{listener="web",target="web/0",state="unhealthy"} 1',
    'fwdd_target_state{listener="web",target="web/0",state="unknown"} 0',
  ])
})

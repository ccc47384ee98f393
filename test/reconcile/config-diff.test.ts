/**
 * Defect 3, a reload said "reloaded" for changes it did not apply: `diffConfigs` names what
 * changed and compares the health address with the one bound, not with the last config loaded.
 * Configs come from YAML through the real loader. Addresses: 198.18.0.0/15 (strings only).
 */
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import { diffConfigs } from '../../src/reconcile/config-diff.js'
import { describeChanges, isConfigChanges, isUnchanged } from '../../src/control/reload-reply.js'

function cfg(yaml: string): Config {
  const r = parseConfig(yaml, 'c.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  return r.config
}

const BASE = `
listeners:
  - name: web
    port: 8000
    targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }]
  - name: dns
    protocol: udp
    port: 5300
    targets: [{ host: 198.18.1.2, port: 53 }]
`
const BOUND = { address: '0.0.0.0', port: 8080 }

t.test('an identical config changes nothing', async (t) => {
  const c = diffConfigs(cfg(BASE), cfg(BASE), BOUND)
  t.ok(isUnchanged(c))
  t.ok(isConfigChanges(c), 'the reply guard accepts what diffConfigs builds')
  t.same(describeChanges(c), [])
})

t.test('listeners added, removed, changed; targets added and removed', async (t) => {
  const next = cfg(`
sources: [198.18.0.0/24]
sync: { resyncSeconds: 30 }
listeners:
  - name: web
    port: 8001
    targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.3.2, port: 80, weight: 2, name: c }]
  - name: api
    port: 9000
    targets: [{ host: 198.18.1.2, port: 9000 }]
`)
  const c = diffConfigs(cfg(BASE), next, BOUND)
  t.same(c.listeners, { added: ['api (tcp/9000)'], removed: ['dns (udp/5300)'], changed: ['web (port 8000 -> 8001, targets)'] })
  t.same(c.targets, { added: ['web: 198.18.3.2:80 weight 2 (c)'], removed: ['web: 198.18.2.2:80'] })
  t.same(c.settings, ['sources', 'sync.resyncSeconds'])
  t.same(c.restartNeeded, [])
  t.same(describeChanges(c), [
    'listener added: api (tcp/9000)',
    'listener removed: dns (udp/5300)',
    'listener changed: web (port 8000 -> 8001, targets)',
    'target added: web: 198.18.3.2:80 weight 2 (c)',
    'target removed: web: 198.18.2.2:80',
    'setting changed: sources',
    'setting changed: sync.resyncSeconds',
  ])
})

t.test('a reorder of targets is a change (labels are positions)', async (t) => {
  const swapped = cfg(BASE.replace('[{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }]', '[{ host: 198.18.2.2, port: 80 }, { host: 198.18.1.2, port: 80 }]'))
  const c = diffConfigs(cfg(BASE), swapped, BOUND)
  t.same(c.listeners.changed, ['web (targets)'])
  t.same(c.targets, { added: [], removed: [] })
})

t.test('defect 3: health.port waits for a restart, compared with what is bound', async (t) => {
  const moved = cfg(`health: { port: 8081 }\n${BASE}`)
  const c = diffConfigs(cfg(BASE), moved, BOUND)
  t.equal(c.restartNeeded.length, 1)
  t.match(c.restartNeeded[0], /listens on 0\.0\.0\.0:8080; the config's 0\.0\.0\.0:8081 applies at the next restart/)
  // Back to 8080 while still bound to 8080: the last config loaded said 8081, but nothing waits.
  const back = diffConfigs(moved, cfg(BASE), BOUND)
  t.same(back.restartNeeded, [], 'nothing waits: the server never left 8080')
  t.ok(isUnchanged(back), 'and the health port is not reported as a setting change either')
  const address = diffConfigs(cfg(BASE), cfg(`health: { address: 127.0.0.1 }\n${BASE}`), BOUND)
  t.match(address.restartNeeded[0], /127\.0\.0\.1:8080 applies at the next restart/)
})

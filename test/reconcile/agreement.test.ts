// One table, every reader: for each listener state, `/lb/<l>`, `/lb`, the status object, the status
// table and `fwdctl status`'s exit code must agree, because all of them read the one verdict that
// node-status.ts builds. No root, no network: the server is exercised with inject().
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { TargetHealth } from '../../src/health/target-health.js'
import { buildStatus } from '../../src/reconcile/node-status.js'
import { initialState, rotations, withHealth, type ReconcilerState } from '../../src/reconcile/state.js'
import { applied, failed, queued, syncStarted, STALE_AFTER_MS } from '../../src/reconcile/sync-health.js'
import { buildServer } from '../../src/server/build-server.js'
import { formatStatusTable, statusExitCode } from '../../src/cli/status-table.js'

const NOW = 1_000_000
const world = { dns: () => undefined, ipGroup: () => undefined, privateLinkService: () => undefined }

function stateFor(whenAllDown: 'reject' | 'all', health: Array<'healthy' | 'unhealthy' | null>): ReconcilerState {
  const r = parseConfig(`listeners:
  - name: web
    port: 8000
    whenAllDown: ${whenAllDown}
    targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }]
`, 'agree.yaml')
  if (!r.ok) throw new Error('bad test config')
  let s = initialState(r.config, world)
  const changes = new Map<string, TargetHealth>()
  s.index.checks.forEach((c, i) => {
    const state = health[i]
    if (state) changes.set(c.key, { state, since: NOW - 5000, successes: 0, failures: 0, lastError: state === 'unhealthy' ? 'connection refused' : null })
  })
  s = withHealth(s, changes)
  return { ...s, started: true, applied: rotations(s), sync: applied(syncStarted(queued(s.sync, NOW - 100), NOW - 100), NOW - 50), lastSyncWallAt: 1_700_000_000_000 }
}

interface Row {
  name: string
  state: ReconcilerState
  serving: boolean
  reason: string | null
}

const rows: Row[] = [
  { name: 'healthy', state: stateFor('reject', ['healthy', 'healthy']), serving: true, reason: null },
  { name: 'some down', state: stateFor('reject', ['healthy', 'unhealthy']), serving: true, reason: null },
  { name: 'all down, reject', state: stateFor('reject', ['unhealthy', 'unhealthy']), serving: false, reason: 'no-target-in-rotation' },
  { name: 'all down, all', state: stateFor('all', ['unhealthy', 'unhealthy']), serving: false, reason: 'no-healthy-target' },
  { name: 'unknown, all (targets in rotation, none known healthy)', state: stateFor('all', [null, null]), serving: false, reason: 'no-healthy-target' },
  { name: 'unknown, reject', state: stateFor('reject', [null, null]), serving: false, reason: 'no-target-in-rotation' },
  { name: 'draining', state: { ...stateFor('reject', ['healthy', 'healthy']), draining: true }, serving: false, reason: 'draining' },
  { name: 'not in sync (apply failing)', state: (() => { const s = stateFor('reject', ['healthy', 'healthy']); return { ...s, sync: failed(s.sync, 'apply', 'applying the rule set: exited 4', NOW - 10) } })(), serving: false, reason: 'not-in-sync' },
  { name: 'not in sync (stale)', state: (() => { const s = stateFor('reject', ['healthy', 'healthy']); return { ...s, sync: queued(s.sync, NOW - STALE_AFTER_MS - 1) } })(), serving: false, reason: 'not-in-sync' },
]

for (const row of rows) {
  t.test(row.name, async (t) => {
    const ctx = { now: NOW, wall: (at: number) => 1_700_000_000_000 + at, startedAt: 0, version: 'test' }
    const status = buildStatus(row.state, ctx)
    // What the health server reads (the daemon builds it without target statuses): the same verdicts.
    const probe = buildStatus(row.state, ctx, {}, false)
    t.same(probe.listeners[0]!.targets, [], 'the probes\' status has no target statuses')
    t.same({ ...probe, listeners: probe.listeners.map((x) => ({ ...x, targets: status.listeners[0]!.targets })) }, status, 'and is otherwise the same status')
    const l = status.listeners[0]!
    t.equal(l.serving, row.serving, 'status: serving')
    t.equal(l.reason, row.reason, 'status: reason')
    t.equal(status.node.ready, row.serving, 'status: node ready iff its only listener serves')
    const app = buildServer({ status: () => probe, nodeHealth: () => status.node.health!, metricsText: async () => '', logger: false })
    const one = await app.inject({ method: 'GET', url: '/lb/web' })
    t.equal(one.statusCode, row.serving ? 200 : 503, '/lb/web code')
    t.equal(one.body, row.serving ? 'ok\n' : `unavailable: ${row.reason}\n`, '/lb/web body names the same reason')
    const all = await app.inject({ method: 'GET', url: '/lb' })
    t.equal(all.statusCode, row.serving ? 200 : 503, '/lb code')
    t.equal(statusExitCode(status), row.serving ? 0 : 1, 'fwdctl status exit code')
    const table = formatStatusTable(status, { color: false, now: new Date(1_700_000_000_000 + NOW) })
    t.match(table, row.serving ? /serving/ : /NOT SERVING/, 'the table says the same')
    t.equal(status.node.health!.healthy, true, '/health: the node itself is fine in every one of these (never the targets)')
    await app.close()
  })
}

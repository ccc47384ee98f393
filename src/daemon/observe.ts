/**
 * What the daemon tells the metrics: reconciler events become metric updates as they happen, and
 * before each scrape the status (built once, node-status.ts) and the traffic readings are pushed
 * into the gauges. The metrics never decide anything themselves.
 */
import type { Metrics } from '../metrics/metrics.js'
import type { ReconcilerHooks } from '../reconcile/reconciler.js'
import type { Status } from '../status.js'

/** Reconciler hooks that update the metrics. */
export function metricsHooks(metrics: Metrics): ReconcilerHooks {
  return {
    onSynced: (result, seconds) => {
      metrics.observeSync(seconds, result.chainsWritten + result.chainsDeleted + result.jumpsFixed === 0 ? 'noop' : result.drift.length > 0 || result.jumpsFixed > 0 ? 'full' : 'partial')
      metrics.setLastSync(new Date())
      for (const d of result.drift) metrics.incDriftRepairs(d.includes('->') ? 'jump' : 'chain')
    },
    onApplyFailed: () => metrics.incFailedApplies(),
    // Only counted here: the state gauge is set from the status before every scrape (refreshMetrics
    // below), and one check shared by 10,000 listeners fires this 10,000 times at once (setting the
    // gauge too was ~55% of the cost of each such transition, on the start's fail-static wait).
    onTransition: (t, from, to) => metrics.recordTransition(t.listener, `${t.address}:${t.port}`, from.state, to.state),
    onCheck: (t, r) => metrics.observeCheckLatency(t.listener, r.latencyMs / 1000, r.ok),
    onQueued: () => metrics.setLastQueued(new Date()),
    onEjected: (t, reason) => metrics.recordEjection(t.listener, `${t.address}:${t.port}`, reason),
    onFlowOutcomes: (outcomes) => {
      let ok = 0
      let reset = 0
      for (const o of outcomes) if (o.ok) ok++; else if (o.reason === 'reset') reset++
      metrics.recordVerdicts(ok, outcomes.length - ok - reset, reset)
    },
  }
}

/** Pushes a status (with its traffic readings) into the gauges before a scrape. */
export function refreshMetrics(status: Status, metrics: Metrics): void {
  const rows = []
  metrics.setInSync(status.node.inSync)
  if (status.node.passive) metrics.setPassiveWatch(status.node.passive.mode, status.node.passive.lostEvents)
  metrics.setDraining(status.node.draining)
  metrics.setScheduledEvent(status.node.drainReasons ?? [], status.node.scheduledEvent ?? null)
  for (const l of status.listeners) {
    for (const t of l.targets) {
      const target = `${t.address}:${t.port}`
      metrics.setTargetHealth(l.name, target, t.state)
      if (t.bytes !== undefined && t.packets !== undefined) rows.push({ listener: l.name, target, bytes: t.bytes, packets: t.packets })
      if (t.connections !== undefined) metrics.setConntrackEntries(l.name, target, t.connections)
      if (t.connections !== undefined && t.sourcePortCeiling !== undefined) metrics.setSourcePortUse(l.name, target, t.connections, t.sourcePortCeiling)
      if (t.ejected !== undefined) metrics.setEjected(l.name, target, t.ejected !== null)
    }
  }
  metrics.setRuleCounters(rows)
  metrics.retainTargets(status.listeners.flatMap((l) => l.targets.map((t) => ({ listener: l.name, target: `${t.address}:${t.port}` }))))
}

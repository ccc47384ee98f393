/**
 * What the daemon tells metrics and status about traffic: engine events become metric updates, and
 * rule counters and conntrack counts are read from the kernel on demand (a scrape or a status
 * call), at most once per second, never on the health probe path.
 */
import type { Dataplane } from '../dataplane/dataplane.js'
import type { Conntrack } from '../dataplane/conntrack.js'
import { listenerFilterChain } from '../dataplane/chains.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Engine, EngineHooks } from '../reconcile/engine.js'
import type { Status } from '../status.js'

/** Engine hooks that update the metrics. */
export function metricsHooks(metrics: Metrics): EngineHooks {
  return {
    onSynced: (result, seconds) => {
      metrics.observeSync(seconds, result.chainsWritten + result.chainsDeleted + result.jumpsFixed === 0 ? 'noop' : result.drift.length > 0 || result.jumpsFixed > 0 ? 'full' : 'partial')
      metrics.setLastSync(new Date())
      metrics.setInSync(true)
      for (const d of result.drift) metrics.incDriftRepairs(d.includes('->') ? 'jump' : 'chain')
    },
    onApplyFailed: () => {
      metrics.incFailedApplies()
      metrics.setInSync(false)
    },
    onTransition: (t, from, to) => {
      const target = `${t.address}:${t.port}`
      metrics.recordTransition(t.listener, target, from.state, to.state)
      metrics.setTargetHealth(t.listener, target, to.state)
    },
    onCheck: (t, r) => metrics.observeCheckLatency(t.listener, r.latencyMs / 1000, r.ok),
    onQueued: (at) => metrics.setLastQueued(at),
  }
}

export interface TrafficView {
  read(): Promise<{ counters: Map<string, { bytes: number; packets: number }>; connections: Map<string, number> }>
  statusWithTraffic(status: Status): Promise<Status>
}

/** Reads per-target counters (filter FWD-F- rules) and conntrack counts, cached for a second. */
export function trafficView(applier: Dataplane, conntrack: Conntrack, engine: Engine): TrafficView {
  let cache: { at: number; value: Awaited<ReturnType<TrafficView['read']>> } | null = null
  const read: TrafficView['read'] = async () => {
    if (cache && Date.now() - cache.at < 1000) return cache.value
    const counters = new Map<string, { bytes: number; packets: number }>()
    const connections = new Map<string, number>()
    const byRule = await applier.counters().catch(() => new Map<string, { bytes: number; packets: number }>())
    const flows = await conntrack.countByTarget().catch(() => new Map<string, number>())
    const protocolOf = new Map(engine.currentConfig().listeners.map((l) => [l.name, l.protocol]))
    for (const t of engine.resolvedTargets()) {
      const c = byRule.get(t.key)
      if (c) counters.set(t.key, c)
      connections.set(t.key, flows.get(`${t.address}:${t.port}/${protocolOf.get(t.listener) ?? 'tcp'}`) ?? 0)
    }
    cache = { at: Date.now(), value: { counters, connections } }
    return cache.value
  }
  return {
    read,
    async statusWithTraffic(status) {
      const { counters, connections } = await read()
      for (const l of status.listeners) {
        for (const t of l.targets) {
          const key = `${l.name}|${t.address}:${t.port}`
          const c = counters.get(key)
          if (c) Object.assign(t, { bytes: c.bytes, packets: c.packets })
          t.connections = connections.get(key) ?? 0
        }
      }
      return status
    },
  }
}

/** Pushes the current traffic and health readings (of `status`, the daemon's current one) into the metrics before a scrape. */
export async function refreshTrafficMetrics(traffic: TrafficView, status: Status, metrics: Metrics): Promise<void> {
  const { counters, connections } = await traffic.read()
  const rows = []
  metrics.setInSync(status.node.inSync)
  for (const l of status.listeners) {
    for (const t of l.targets) {
      const target = `${t.address}:${t.port}`
      const key = `${l.name}|${target}`
      metrics.setTargetHealth(l.name, target, t.state)
      const c = counters.get(key)
      if (c) rows.push({ listener: l.name, target, bytes: c.bytes, packets: c.packets })
      metrics.setConntrackEntries(l.name, target, connections.get(key) ?? 0)
    }
  }
  metrics.setRuleCounters(rows)
  metrics.retainTargets(status.listeners.flatMap((l) => l.targets.map((t) => ({ listener: l.name, target: `${t.address}:${t.port}` }))))
}

/**
 * The traffic readings of the status and the metrics: per-target bytes and packets from the
 * dataplane, live flows per target from conntrack. Read on demand (a scrape, `fwdctl status`), never
 * on the probe path, and shared through a single flight cached for a second, so any number of
 * callers costs one read of the kernel per second. A reading that fails is absent (shown as
 * unknown), not zero.
 */
import type { Clock } from '../clock.js'
import type { ReconcilerState } from '../reconcile/state.js'
import { singleFlight } from '../reconcile/single-flight.js'
import type { TrafficReadings } from '../reconcile/node-status.js'

export interface TrafficSources {
  /** Per-target counters keyed by target key (`listener|address:port`). */
  counters(): Promise<Map<string, { bytes: number; packets: number }>>
  /** Live flows per `address:port/protocol` of the target. */
  countByTarget(): Promise<Map<string, number>>
}

/** How long one reading serves every caller. */
export const TRAFFIC_TTL_MS = 1000

/** Returns `read(state)`: the readings for the targets of `state`, from a shared, cached kernel read. */
export function trafficReader(clock: Clock, sources: TrafficSources): (state: ReconcilerState) => Promise<TrafficReadings> {
  const kernel = singleFlight(clock, TRAFFIC_TTL_MS, async () => {
    const [counters, flows] = await Promise.all([
      sources.counters().catch(() => undefined),
      sources.countByTarget().catch(() => undefined),
    ])
    return { counters, flows }
  })
  return async (state) => {
    const { counters, flows } = await kernel.get()
    if (!flows) return counters ? { counters } : {}
    const totalFlows = [...flows.values()].reduce((a, b) => a + b, 0)
    const connections = new Map<string, number>()
    for (const t of state.index.byKey.values()) {
      const protocol = state.index.listeners.get(t.listener)?.protocol ?? 'tcp'
      connections.set(t.key, flows.get(`${t.address}:${t.port}/${protocol}`) ?? 0)
    }
    return counters ? { counters, connections, totalFlows } : { connections, totalFlows }
  }
}

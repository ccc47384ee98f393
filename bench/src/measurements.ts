/** The registry of measurements `main` runs, in order; each takes the mode and a progress logger. */
import { measureDataplane } from './dataplane.js'
import { measureFailover } from './failover.js'
import { measurePassive } from './passive-failover.js'
import { measureApplierCost } from './applier-cost.js'
import { measureScale } from './scale.js'
import { measureHealthEndpoint } from './health-endpoint.js'
import { measureDisruption } from './disruption.js'
import { measureProbeFlood } from './probe-flood.js'
import { measureReloadRobustness } from './reload-robustness.js'

export interface MeasureContext {
  quick: boolean
  /** Listener counts for the scale and applier-cost measurements (`--listeners`); default by mode. */
  sizes?: number[]
  log(message: string): void
}

export const MEASUREMENTS = {
  dataplane: (c: MeasureContext) => measureDataplane(c),
  failover: (c: MeasureContext) => measureFailover(c),
  passive: (c: MeasureContext) => measurePassive(c),
  scale: (c: MeasureContext) => measureScale(c),
  applierCost: (c: MeasureContext) => measureApplierCost(c),
  healthEndpoint: (c: MeasureContext) => measureHealthEndpoint(c),
  disruption: (c: MeasureContext) => measureDisruption(c),
  probeFlood: (c: MeasureContext) => measureProbeFlood(c),
  reloadRobustness: (c: MeasureContext) => measureReloadRobustness(c),
} satisfies Record<string, (c: MeasureContext) => Promise<unknown>>

export type MeasurementName = keyof typeof MEASUREMENTS

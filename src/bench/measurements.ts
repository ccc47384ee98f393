/** The registry of measurements `main` runs, in order; each takes the mode and a progress logger. */
import { measureDataplane } from './dataplane.js'

export interface MeasureContext {
  quick: boolean
  log(message: string): void
}

export const MEASUREMENTS = {
  dataplane: (c: MeasureContext) => measureDataplane(c),
} satisfies Record<string, (c: MeasureContext) => Promise<unknown>>

export type MeasurementName = keyof typeof MEASUREMENTS

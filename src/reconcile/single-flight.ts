/**
 * One read shared by every caller in flight, and kept for a short time: a flood of `/metrics`
 * scrapes or `fwdctl status` calls costs one `iptables-save -c` and one `conntrack -L` per `ttlMs`,
 * never one per request. Time comes from the injected clock.
 */
import type { Clock } from '../clock.js'

/** Wraps `read` so that concurrent and recent callers share one result. A failed read is not cached. */
export function singleFlight<T>(clock: Clock, ttlMs: number, read: () => Promise<T>): { get(): Promise<T>; reads(): number } {
  let inFlight: Promise<T> | null = null
  let cached: { at: number; value: T } | null = null
  let count = 0
  return {
    get() {
      if (cached && clock.now() - cached.at < ttlMs) return Promise.resolve(cached.value)
      if (inFlight) return inFlight
      count++
      inFlight = read().then(
        (value) => {
          cached = { at: clock.now(), value }
          inFlight = null
          return value
        },
        (err: unknown) => {
          inFlight = null
          throw err
        },
      )
      return inFlight
    },
    reads: () => count,
  }
}

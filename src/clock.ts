/**
 * The one clock of the daemon. Every timer, interval, age and deadline is measured on `now()`, a
 * monotonic clock (performance.now, which never steps), so a wall-clock step (NTP, a VM resumed, an
 * operator's `date -s`) cannot stall or rush a sync, a check or a poll. Wall time (`wallNow()`) is
 * only for what people read: timestamps in the status object and the logs. Tests inject a fake that
 * moves both by hand. This module imports nothing, so every layer may depend on it.
 */

/** Time and timers. `setTimeout` handles are opaque; only `clearTimeout` consumes them. */
export interface Clock {
  /** Monotonic milliseconds (arbitrary origin): for every interval, age and deadline. */
  now(): number
  /** Milliseconds since the Unix epoch: only for display. */
  wallNow(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The real clock: performance.now for time, Date.now for display, Node's timers (monotonic too). */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

/** The wall time (ms since epoch) at which a monotonic instant `at` happened, for display. */
export function wallTimeOf(clock: Clock, at: number): number {
  return clock.wallNow() - (clock.now() - at)
}

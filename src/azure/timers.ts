/**
 * Time and logging seams shared by the Azure pollers (sets refresher, userData source), so tests
 * drive the schedule with a manual clock instead of sleeping (STYLE.md, "a loop with bounds").
 */

/** Injectable clock and timers. `setTimeout` handles are opaque; only `clearTimeout` consumes them. */
export interface RefresherTimers {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The subset of a pino logger the Azure pollers use; a pino child logger satisfies it. */
export interface AzureLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

/** Wall-clock time and Node's timers. Timers are not unref'd: the daemon keeps running anyway. */
export const realTimers: RefresherTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/** Injectable timers that never fire on their own: tests read the scheduled delays and fire them. */
import type { RefresherTimers } from '../../../src/azure/sets.js'

/** Manual timers plus the clock and pending list tests inspect. */
export interface ManualTimers extends RefresherTimers {
  nowMs: number
  pending: Map<number, { fn: () => void; at: number; ms: number }>
  /** Moves the clock and fires every timer that is due, in order. */
  advance(ms: number): void
}

/** A fresh manual clock starting at 2025-01-01T00:00:00Z. */
export function manualTimers(start = Date.parse('2025-01-01T00:00:00Z')): ManualTimers {
  let next = 1
  const timers: ManualTimers = {
    nowMs: start,
    pending: new Map(),
    now: () => timers.nowMs,
    setTimeout(fn, ms) {
      const id = next++
      timers.pending.set(id, { fn, at: timers.nowMs + ms, ms })
      return id
    },
    clearTimeout(handle) {
      timers.pending.delete(handle as number)
    },
    advance(ms) {
      timers.nowMs += ms
      for (const [id, t] of [...timers.pending.entries()].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= timers.nowMs) {
          timers.pending.delete(id)
          t.fn()
        }
      }
    },
  }
  return timers
}

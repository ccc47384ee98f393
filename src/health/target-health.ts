/**
 * The health state machine of one target (pure). The first result decides at once (a restarted
 * daemon must not wait `rise` intervals before it forwards); after that a target changes state only
 * after `fall` consecutive failures or `rise` consecutive successes, so one lost probe does not
 * flap the rule set.
 */
import type { TargetState } from '../status.js'

export interface HealthThresholds {
  fall: number
  rise: number
}

export interface TargetHealth {
  state: TargetState
  /** When the state last changed (ms since epoch). */
  since: number
  successes: number
  failures: number
  lastError: string | null
}

export function initialHealth(now: number): TargetHealth {
  return { state: 'unknown', since: now, successes: 0, failures: 0, lastError: null }
}

/** Folds one check result into the state; returns the new state (the input is not modified). */
export function recordResult(h: TargetHealth, ok: boolean, error: string | null, t: HealthThresholds, now: number): TargetHealth {
  if (ok) {
    const successes = h.successes + 1
    const up = h.state === 'unknown' || (h.state === 'unhealthy' && successes >= t.rise)
    return { state: up ? 'healthy' : h.state, since: up ? now : h.since, successes, failures: 0, lastError: h.state === 'healthy' || up ? null : h.lastError }
  }
  const failures = h.failures + 1
  const down = h.state === 'unknown' || (h.state === 'healthy' && failures >= t.fall)
  return { state: down ? 'unhealthy' : h.state, since: down ? now : h.since, successes: 0, failures, lastError: error }
}

/**
 * The passive ejection state machine of one target (pure, times on the monotonic clock).
 *
 * Ejection on `fall` CONSECUTIVE failures, not on a failure share over a window: a share needs a
 * minimum number of flows per window before it means anything (Envoy's success-rate detection
 * waits for 100 requests per host per 10 s interval), so at the 20 new connections a second this
 * must work at it would decide in seconds, not milliseconds; a run of failures decides after `fall`
 * flows at any rate, and a healthy target answers nearly every SYN, so `fall` unanswered or reset
 * SYNs in a row is strong evidence. Partial loss (one SYN in three dropped) is left to the active
 * check and to TCP's retransmission.
 *
 * A reset is stronger evidence than silence, so it has its own count, `resetFall` (default 1): a
 * SYN answered by a reset is the target's kernel saying nothing listens there (or a firewall on its
 * path refusing it), and no loss on a healthy path produces one; one unanswered SYN is what a single
 * lost packet looks like, and at thousands of connections a second a path that loses one packet in
 * 10,000 would eject a healthy target every few seconds at `fall: 1`. The run counts both kinds:
 * it ejects when it reaches `fall`, or `resetFall` with a reset as its latest.
 *
 * An ejected target stays out for its ejection time, `baseEjectionMs` times the number of recent
 * ejections (Envoy's linear growth), at most `maxEjectionMs`; the count starts again once the
 * target went `maxEjectionMs` without an ejection. After the ejection time it comes back only
 * after `rise` consecutive active successes (the active check decides, never traffic that cannot
 * reach it).
 */
import type { PassiveSpec } from '../config/types.js'

/** A target out of rotation on traffic evidence. */
export interface Ejection {
  /** Monotonic instant of the ejection. */
  at: number
  /** Monotonic instant from which active successes count towards its return. */
  until: number
  /** What the traffic showed, e.g. `2 consecutive connections unanswered after 200 ms`. */
  reason: string
  /** Active successes since `until`. */
  successes: number
}

export interface PassiveTargetState {
  /** Consecutive passive failures (reset by a success). */
  failures: number
  lastReason: 'unanswered' | 'reset' | null
  /** Recent ejections: the multiplier of the next ejection time. */
  ejections: number
  /** When the last ejection ended (null: never ejected). */
  lastEndedAt: number | null
  ejection: Ejection | null
  /** Why an ejection the evidence called for was held back (max share), null when not held. */
  held: string | null
}

export const initialPassiveState: PassiveTargetState = { failures: 0, lastReason: null, ejections: 0, lastEndedAt: null, ejection: null, held: null }

/** The ejection time of the `n`-th recent ejection (n >= 1). */
export function ejectionTimeMs(n: number, spec: Pick<PassiveSpec, 'baseEjectionMs' | 'maxEjectionMs'>): number {
  return Math.min(spec.baseEjectionMs * Math.max(1, n), spec.maxEjectionMs)
}

/** How many of a listener's `total` targets may be ejected at once (floor of the share). */
export function maxEjected(total: number, percent: number): number {
  return Math.floor((total * percent) / 100)
}

function describe(reason: 'unanswered' | 'reset', n: number, spec: PassiveSpec, thresholdMs?: number): string {
  const what = n === 1 ? 'connection' : 'consecutive connections'
  return reason === 'reset'
    ? `${n} ${what} reset before ${n === 1 ? 'it was' : 'they were'} established`
    : `${n} ${what} unanswered after ${thresholdMs ?? spec.unansweredMs} ms${thresholdMs !== undefined && thresholdMs < spec.unansweredMs ? ' (learned from its answer times)' : ''}`
}

/**
 * Folds one flow verdict in. `mayEject` says whether the listener's share allows one more ejection.
 * Verdicts on an ejected target are ignored (its flows started before it left rotation).
 */
export function recordFlow(s: PassiveTargetState, ok: boolean, reason: 'unanswered' | 'reset' | null, spec: PassiveSpec, now: number, mayEject: boolean, thresholdMs?: number): { state: PassiveTargetState; ejected: boolean } {
  if (s.ejection) return { state: s, ejected: false }
  if (ok) return { state: s.failures === 0 && s.held === null ? s : { ...s, failures: 0, held: null }, ejected: false }
  const failures = s.failures + 1
  const why = reason ?? 'unanswered'
  if (failures < (why === 'reset' ? Math.min(spec.fall, spec.resetFall) : spec.fall)) return { state: { ...s, failures, lastReason: why }, ejected: false }
  if (!mayEject) {
    return { state: { ...s, failures, lastReason: why, held: `${describe(why, failures, spec, thresholdMs)}, but ejecting it would take more than ${spec.maxEjectionPercent}% of the listener's targets out (passive.maxEjectionPercent)` }, ejected: false }
  }
  const recent = s.lastEndedAt !== null && now - s.lastEndedAt <= spec.maxEjectionMs ? s.ejections : 0
  const ejections = recent + 1
  const ms = ejectionTimeMs(ejections, spec)
  const ejection: Ejection = { at: now, until: now + ms, reason: `ejected by traffic for ${ms} ms: ${describe(why, failures, spec, thresholdMs)}`, successes: 0 }
  return { state: { ...s, failures: 0, lastReason: why, ejections, ejection, held: null }, ejected: true }
}

/**
 * Folds one active check result in: after the ejection time, `rise` consecutive successes end the
 * ejection (`restored`); a failure starts the count again. Before it, results do not count.
 */
export function recordActive(s: PassiveTargetState, ok: boolean, rise: number, now: number): { state: PassiveTargetState; restored: boolean } {
  const e = s.ejection
  if (!e || now < e.until) return { state: s, restored: false }
  if (!ok) return { state: e.successes === 0 ? s : { ...s, ejection: { ...e, successes: 0 } }, restored: false }
  const successes = e.successes + 1
  if (successes < rise) return { state: { ...s, ejection: { ...e, successes } }, restored: false }
  return { state: { ...s, ejection: null, failures: 0, lastEndedAt: now }, restored: true }
}

/**
 * Passive health as input to the reconciler's one state value (state.ts): traffic verdicts and
 * active results folded into per-target ejections, and the health view that rotations, flow cuts
 * and the status read. Pure. An ejected target counts as unhealthy everywhere a rotation is
 * decided, so `whenAllDown` still decides what a listener does when nothing is left.
 */
import type { PassiveSpec } from '../config/types.js'
import { maxEjected, recordActive, recordFlow, type PassiveTargetState, initialPassiveState } from '../passive/ejection.js'
import type { FlowOutcome } from '../passive/flow-tracker.js'
import type { HealthView } from './desired.js'
import { healthOf, type ReconcilerState } from './state.js'

/** The watcher's own condition, for status and metrics (NodeStatus.passive). */
export interface PassiveWatchState {
  /** `watching`; `fallback`: events were lost, active checks only until the hold ends; `off`: no listener uses it; `unavailable`: conntrack -E could not run. */
  mode: 'watching' | 'fallback' | 'off' | 'unavailable'
  /** Events the kernel dropped (ENOBUFS reports), since start. */
  lostEvents: number
  /** Why it is not watching; null when it is. */
  reason: string | null
}

export const initialPassiveWatch: PassiveWatchState = { mode: 'off', lostEvents: 0, reason: null }

/** The listener's passive settings when passive health is on for it, else null. */
export function passiveSpecOf(state: Pick<ReconcilerState, 'index'>, listener: string): PassiveSpec | null {
  const p = state.index.listeners.get(listener)?.passive
  return p?.enabled ? p : null
}

/**
 * The health that decides rotation: an ejected target is unhealthy; with the ejection as its
 * reason (since: the ejection) unless the active check finds it unhealthy as well, whose error
 * then stands. Otherwise the active check's health.
 */
export function effectiveHealthOf(state: Pick<ReconcilerState, 'index' | 'health' | 'passive'>, key: string): HealthView | undefined {
  const active = healthOf(state, key)
  const e = state.passive.get(key)?.ejection
  // Unhealthy by the active check too: its error is the more direct one (`ejected` still says more).
  if (e && active?.state !== 'unhealthy') return { state: 'unhealthy', since: e.at, lastError: e.reason }
  return active
}

/**
 * Folds flow verdicts in; returns the targets ejected by them. Never ejects past the listener's
 * `maxEjectionPercent`. Ejected targets are queued for a cut of their unanswered flows.
 */
export function withFlowOutcomes(state: ReconcilerState, outcomes: readonly FlowOutcome[]): { state: ReconcilerState; ejected: string[] } {
  if (outcomes.length === 0) return { state, ejected: [] }
  // Copied on the first change only: most batches are successes on targets with nothing pending,
  // and a node may hold 20,000 targets.
  let passive: Map<string, PassiveTargetState> | null = null
  const ejected: string[] = []
  for (const o of outcomes) {
    const t = state.index.byKey.get(o.key)
    const spec = t && passiveSpecOf(state, t.listener)
    if (!t || !spec) continue
    const current = passive ?? state.passive
    const before = current.get(o.key) ?? initialPassiveState
    const r = recordFlow(before, o.ok, o.reason, spec, o.at, o.ok || mayEject(state, current, t.listener, spec), o.thresholdMs)
    if (r.state === before) continue
    passive ??= new Map(state.passive)
    passive.set(o.key, r.state)
    if (r.ejected) ejected.push(o.key)
  }
  if (!passive) return { state, ejected }
  const toCut = ejected.length === 0 ? state.toCut : new Set([...state.toCut, ...ejected])
  return { state: { ...state, passive, toCut }, ejected }
}

/** Whether the listener's share allows one more of its targets out (counted only on a failure). */
function mayEject(state: ReconcilerState, passive: ReadonlyMap<string, PassiveTargetState>, listener: string, spec: PassiveSpec): boolean {
  const siblings = state.index.byListener.get(listener) ?? []
  let out = 0
  for (const x of siblings) if (passive.get(x.key)?.ejection) out++
  return out < maxEjected(siblings.length, spec.maxEjectionPercent)
}

/** Folds an active check result into the ejections of the targets sharing that check; returns those restored. */
export function withActiveResult(state: ReconcilerState, checkKey: string, ok: boolean, now: number): { state: ReconcilerState; restored: string[] } {
  const keys = state.index.targetsOfCheck.get(checkKey) ?? []
  const restored: string[] = []
  let passive: Map<string, PassiveTargetState> | null = null
  for (const key of keys) {
    const s = state.passive.get(key)
    if (!s?.ejection) continue
    const t = state.index.byKey.get(key)
    const rise = t ? state.index.listeners.get(t.listener)?.check.rise ?? 1 : 1
    const r = recordActive(s, ok, rise, now)
    if (r.state === s) continue
    passive ??= new Map(state.passive)
    passive.set(key, r.state)
    if (r.restored) restored.push(key)
  }
  if (!passive) return { state, restored }
  const toCut = restored.length === 0 ? state.toCut : new Set([...state.toCut].filter((k) => !restored.includes(k) || healthOf(state, k)?.state === 'unhealthy'))
  return { state: { ...state, passive, toCut }, restored }
}

/** Drops passive state of targets that went away or whose listener no longer uses passive health. */
export function prunePassive(state: ReconcilerState): ReadonlyMap<string, PassiveTargetState> {
  const keep = [...state.passive].filter(([k]) => {
    const t = state.index.byKey.get(k)
    return t !== undefined && passiveSpecOf(state, t.listener) !== null
  })
  return keep.length === state.passive.size ? state.passive : new Map(keep)
}

/** Ejected target keys (for the watcher: their flows are no longer judged). */
export function ejectedKeys(state: Pick<ReconcilerState, 'passive'>): Set<string> {
  return new Set([...state.passive].filter(([, s]) => s.ejection !== null).map(([k]) => k))
}

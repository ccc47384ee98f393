/**
 * The reconciler's state as one value, and the pure functions over it: which concrete targets each
 * listener has, which of them share one health check, which are in rotation, and which flows must be
 * cut once the rules no longer send to a target. No I/O and no clock: the reconciler
 * (reconciler.ts) moves this value forward through one path, and every decision here is a table test.
 */
import { forbiddenTargetReason, isIpv4 } from '../config/addresses.js'
import type { Config, ListenerSpec } from '../config/types.js'
import type { CheckedTarget } from '../health/checker.js'
import type { TargetHealth } from '../health/target-health.js'
import { initialSyncHealth, type SyncHealth } from './sync-health.js'
import { isCheckable, resolveTargets, rotationOf, type ResolvedTarget, type WorldView } from './desired.js'
import type { PassiveTargetState } from '../passive/ejection.js'
import { effectiveHealthOf, initialPassiveWatch, prunePassive, type PassiveWatchState } from './passive-state.js'

/** Targets of the config in force and how they are checked; rebuilt when the config or the world changes. */
export interface TargetIndex {
  /** Listener name -> its concrete targets, in config order. */
  byListener: ReadonlyMap<string, readonly ResolvedTarget[]>
  byKey: ReadonlyMap<string, ResolvedTarget>
  listeners: ReadonlyMap<string, ListenerSpec>
  /** Target key -> the key of the check it shares with same-endpoint targets of other listeners. */
  checkOf: ReadonlyMap<string, string>
  /** Check key -> the target keys that share it. */
  targetsOfCheck: ReadonlyMap<string, readonly string[]>
  /** The checks to run: one per address, port and check settings. */
  checks: readonly CheckedTarget[]
  /** Listener -> why some answers were not made targets (a DNS name or IP Group holding a forbidden address). */
  problems: ReadonlyMap<string, readonly string[]>
}

/**
 * Answers that cannot be targets (loopback, link-local, the WireServer...): resolveTargets leaves
 * them out, and this says so, so a name that resolves only to forbidden addresses does not just
 * vanish from the status.
 */
export function refusedAnswers(config: Config, world: WorldView): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const l of config.listeners) {
    const list: string[] = []
    for (const t of l.targets) {
      const name = t.kind === 'host' ? t.host : t.resourceId
      if (t.kind === 'host' && isIpv4(t.host)) continue
      const r = t.kind === 'host' ? world.dns(t.host) : world.ipGroup(t.resourceId)
      for (const a of r?.addresses ?? []) {
        const why = forbiddenTargetReason(a)
        if (why !== null) list.push(`${name} answered ${a}, which cannot be a target (${why}); it is left out`)
      }
    }
    if (list.length > 0) out.set(l.name, list)
  }
  return out
}

/** Everything the reconciler knows. Replaced, never mutated; `version` grows with each replacement. */
export interface ReconcilerState {
  version: number
  config: Config
  index: TargetIndex
  /** Check key -> health, as the checker last reported it. */
  health: ReadonlyMap<string, TargetHealth>
  /** Listener -> targets in rotation in the rules last applied (empty before the first sync). */
  applied: ReadonlyMap<string, readonly ResolvedTarget[]>
  /** Target key -> passive health (consecutive failures, ejection); see passive-state.ts. */
  passive: ReadonlyMap<string, PassiveTargetState>
  /** The conntrack event watcher's condition. */
  passiveWatch: PassiveWatchState
  /** Target keys that turned unhealthy (or were ejected) and whose flows wait to be cut. */
  toCut: ReadonlySet<string>
  sync: SyncHealth
  draining: boolean
  /**
   * A second drain reason beside the operator's `draining`: an Azure Scheduled Event that takes the
   * node away (azure/scheduled-events.ts). Not persisted: IMDS lists the event again after a restart.
   */
  eventDrain: EventDrainState | null
  ipForwarding: boolean
  /** False until the first round of checks is in (or its bound passed): no sync before. */
  started: boolean
  /** Rule sets found changed behind fwdd and repaired. */
  driftRepairs: number
  /** Wall time of the last successful sync, for display. */
  lastSyncWallAt: number | null
}

/** The scheduled event this node drains for (the shape of `NodeStatus.scheduledEvent`). */
export interface EventDrainState {
  id: string
  type: string
  notBefore: string | null
  status: string
  flowsLeft: number | null
  approved: boolean
}

/** Whether the node drains for any reason (operator or scheduled event). */
export function isDraining(state: Pick<ReconcilerState, 'draining' | 'eventDrain'>): boolean {
  return state.draining || state.eventDrain != null
}

/** Builds the target index for a config and what is known about the world. */
export function indexTargets(config: Config, world: WorldView): TargetIndex {
  const byListener = resolveTargets(config, world)
  const byKey = new Map<string, ResolvedTarget>()
  const checkOf = new Map<string, string>()
  const checks = new Map<string, CheckedTarget>()
  const targetsOfCheck = new Map<string, string[]>()
  for (const l of config.listeners) {
    for (const t of byListener.get(l.name) ?? []) {
      byKey.set(t.key, t)
      if (!isCheckable(l)) continue
      const port = l.check.port ?? t.port
      const { intervalMs, timeoutMs, fall, rise } = l.check
      const checkKey = `${t.address}:${port}/${intervalMs}/${timeoutMs}/${fall}/${rise}`
      checkOf.set(t.key, checkKey)
      const sharing = targetsOfCheck.get(checkKey)
      if (sharing) sharing.push(t.key)
      else targetsOfCheck.set(checkKey, [t.key])
      if (!checks.has(checkKey)) checks.set(checkKey, { key: checkKey, listener: l.name, address: t.address, port, intervalMs, timeoutMs, fall, rise })
    }
  }
  return { byListener, byKey, listeners: new Map(config.listeners.map((l) => [l.name, l])), checkOf, targetsOfCheck, checks: [...checks.values()], problems: refusedAnswers(config, world) }
}

/** The state of a daemon that has loaded `config` and checked nothing yet. */
export function initialState(config: Config, world: WorldView, opts: { draining?: boolean } = {}): ReconcilerState {
  return {
    version: 0,
    config,
    index: indexTargets(config, world),
    health: new Map(),
    passive: new Map(),
    passiveWatch: initialPassiveWatch,
    applied: new Map(),
    toCut: new Set(),
    sync: initialSyncHealth,
    draining: opts.draining ?? false,
    eventDrain: null,
    ipForwarding: true,
    started: false,
    driftRepairs: 0,
    lastSyncWallAt: null,
  }
}

/** Health of a target through its shared check; undefined when it is not checked. */
export function healthOf(state: Pick<ReconcilerState, 'index' | 'health'>, key: string): TargetHealth | undefined {
  const c = state.index.checkOf.get(key)
  return c === undefined ? undefined : state.health.get(c)
}

/**
 * A new config or new world answers (DNS, Azure sets): targets kept keep their health (their check
 * keys are unchanged), health of checks that went away is dropped, and targets to cut that no longer
 * exist are forgotten.
 */
export function withTargets(state: ReconcilerState, config: Config, world: WorldView): ReconcilerState {
  const index = indexTargets(config, world)
  const live = new Set(index.checks.map((c) => c.key))
  const health = new Map([...state.health].filter(([k]) => live.has(k)))
  const toCut = new Set([...state.toCut].filter((k) => index.byKey.has(k)))
  const next = { ...state, config, index, health, toCut }
  return { ...next, passive: prunePassive(next) }
}

/**
 * Folds check results into the state. A target that turned unhealthy is queued for a flow cut; one
 * that came back (or is unknown again) is taken off the queue.
 */
export function withHealth(state: ReconcilerState, changes: ReadonlyMap<string, TargetHealth>): ReconcilerState {
  if (changes.size === 0) return state
  const health = new Map(state.health)
  const toCut = new Set(state.toCut)
  for (const [checkKey, h] of changes) {
    const sharing = state.index.targetsOfCheck.get(checkKey)
    if (!sharing) continue
    const before = health.get(checkKey)?.state
    health.set(checkKey, h)
    if (before === h.state) continue
    for (const key of sharing) {
      if (h.state === 'unhealthy') toCut.add(key)
      else if (!state.passive.get(key)?.ejection) toCut.delete(key)
    }
  }
  return { ...state, health, toCut }
}

/** Every listener's rotation under the current health (what the next sync writes). */
export function rotations(state: Pick<ReconcilerState, 'config' | 'index' | 'health' | 'passive'>): Map<string, ResolvedTarget[]> {
  const out = new Map<string, ResolvedTarget[]>()
  for (const l of state.config.listeners) out.set(l.name, rotationOf(l, state.index.byListener.get(l.name) ?? [], (k) => effectiveHealthOf(state, k)))
  return out
}

/** One `conntrack -D` to make: flows to an endpoint, all of them or only through one listener port. */
export interface FlowCut {
  protocol: 'tcp' | 'udp'
  address: string
  port: number
  /** Only flows that came in on this listener port; undefined: every flow to the endpoint. */
  listenerPort?: number
  /** Target keys this cut serves (for logs and for dropping a cut whose targets recovered). */
  keys: string[]
  /**
   * Only flows still in SYN_SENT (never answered): the targets are ejected by traffic but their
   * active check still passes, so their established flows may well be fine and are kept.
   */
  unansweredOnly?: boolean
}

/**
 * Which flows to cut now that `applied` is in the kernel. A queued target is cut only when the
 * applied rotation no longer sends to it (whenAllDown: all keeps it, and a change newer than the
 * rules waits for the next sync); a target that recovered or went away leaves the queue. When no
 * listener sends to an endpoint any more, one cut covers every flow to it; else one per listener.
 */
export function flowCutsFor(state: ReconcilerState, applied: ReadonlyMap<string, readonly ResolvedTarget[]>): { cuts: FlowCut[]; toCut: Set<string> } {
  const toCut = new Set<string>()
  const groups = new Map<string, { protocol: 'tcp' | 'udp'; address: string; port: number; unansweredOnly: boolean; listeners: Array<{ port: number; key: string }> }>()
  for (const key of state.toCut) {
    const t = state.index.byKey.get(key)
    const l = t && state.index.listeners.get(t.listener)
    if (!t || !l || effectiveHealthOf(state, key)?.state !== 'unhealthy') continue
    const unansweredOnly = healthOf(state, key)?.state !== 'unhealthy'
    if ((applied.get(t.listener) ?? []).some((r) => r.key === key)) {
      toCut.add(key)
      continue
    }
    const endpoint = `${l.protocol}|${t.address}:${t.port}|${unansweredOnly ? 'syn' : 'all'}`
    const g = groups.get(endpoint) ?? { protocol: l.protocol, address: t.address, port: t.port, unansweredOnly, listeners: [] }
    g.listeners.push({ port: l.port, key })
    groups.set(endpoint, g)
  }
  const cuts: FlowCut[] = []
  // Most syncs cut nothing: the endpoints still sent to (one string per listener and target, 20,000
  // at 10,000 listeners, ~100 ms after the start's first write) are only gathered when there is.
  if (groups.size === 0) return { cuts, toCut }
  const stillSent = new Set<string>()
  for (const [name, list] of applied) {
    const l = state.index.listeners.get(name)
    if (l) for (const t of list) stillSent.add(`${l.protocol}|${t.address}:${t.port}`)
  }
  for (const g of groups.values()) {
    const base = { protocol: g.protocol, address: g.address, port: g.port, ...(g.unansweredOnly ? { unansweredOnly: true } : {}) }
    if (stillSent.has(`${g.protocol}|${g.address}:${g.port}`)) for (const x of g.listeners) cuts.push({ ...base, listenerPort: x.port, keys: [x.key] })
    else cuts.push({ ...base, keys: g.listeners.map((x) => x.key) })
  }
  return { cuts, toCut }
}

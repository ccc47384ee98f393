/**
 * The one place that decides what the node reports: whether each listener serves and why not, whether
 * the node is ready, and the `/health` verdict with its reasons. Pure: built from the reconciler's
 * state, the time and the traffic readings. `/lb`, `/health`, `/metrics`, the control socket and
 * `fwdctl` only read what this returns, so they cannot disagree.
 */
import type { ListenerSpec } from '../config/types.js'
import type { ListenerStatus, NodeStatus, Status, TargetStatus } from '../status.js'
import { sourcePortCeiling } from '../dataplane/source-ports.js'
import { isCheckable, type ResolvedTarget } from './desired.js'
import { isDraining, type ReconcilerState } from './state.js'
import { effectiveHealthOf, passiveSpecOf } from './passive-state.js'
import { failingForMs, isInSync, lastErrorOf, oldestPending } from './sync-health.js'

/** A failing apply makes the node itself Unhealthy on `/health` only after this long (README). */
export const APPLY_FAILING_UNHEALTHY_MS = 60_000

/** Per-target readings from the kernel; a missing map means "could not be read" (shown as absent, not 0). */
export interface TrafficReadings {
  counters?: ReadonlyMap<string, { bytes: number; packets: number }>
  connections?: ReadonlyMap<string, number>
  /** Every forwarded flow (fwdd's connmark), summed over targets: the scheduled-event drain waits for 0. */
  totalFlows?: number
}

export interface StatusContext {
  /** Monotonic now. */
  now: number
  /** Converts a monotonic instant to wall milliseconds, for display. */
  wall(at: number): number
  /** Monotonic instant the daemon started: the `since` of targets never checked. */
  startedAt: number
  version: string
  backend?: string
  configSource?: string
  azure?: { errors: string[]; warnings: string[] }
  /** The Scheduled Events poller's last read error (null: fine); undefined when the poller is off. */
  scheduledEventsError?: string | null
}

/** Why a listener does not serve, or null when it does. Order matters: the first reason is reported. */
export function listenerReason(l: ListenerSpec, targets: readonly ResolvedTarget[], state: ReconcilerState, inSync: boolean): string | null {
  if (isDraining(state)) return 'draining'
  if (!inSync) return 'not-in-sync'
  if (targets.length === 0) return 'no-targets'
  if (!isCheckable(l)) return null
  if (targets.some((t) => effectiveHealthOf(state, t.key)?.state === 'healthy')) return null
  return l.whenAllDown === 'all' ? 'no-healthy-target' : 'no-target-in-rotation'
}

/** The `/health` verdict: the node itself (rules applied and kept, forwarding on), never the targets. */
export function nodeHealthOf(state: ReconcilerState, now: number): { healthy: boolean; reasons: string[] } {
  const reasons: string[] = []
  if (!state.sync.everApplied) reasons.push('not-in-sync')
  else if (failingForMs(state.sync, now) > APPLY_FAILING_UNHEALTHY_MS) reasons.push('apply-failing')
  else if (now - (oldestPending(state.sync) ?? now) > APPLY_FAILING_UNHEALTHY_MS) reasons.push('sync-stuck')
  if (!state.ipForwarding) reasons.push('ip-forwarding-off')
  return { healthy: reasons.length === 0, reasons }
}

function targetStatus(t: ResolvedTarget, state: ReconcilerState, inRotation: boolean, ctx: StatusContext, traffic: TrafficReadings): TargetStatus {
  // An ejected target reports unhealthy with the ejection as its error (`ejected` says more).
  const h = effectiveHealthOf(state, t.key)
  const c = traffic.counters?.get(t.key)
  const conns = traffic.connections?.get(t.key) ?? (traffic.connections ? 0 : undefined)
  return {
    host: t.host,
    address: t.address,
    port: t.port,
    ...(t.label !== undefined ? { label: t.label } : {}),
    state: h?.state ?? 'unknown',
    since: new Date(ctx.wall(h?.since ?? ctx.startedAt)).toISOString(),
    lastError: h?.lastError ?? t.sourceError,
    inRotation,
    weight: t.weight,
    ...(c ? { bytes: c.bytes, packets: c.packets } : {}),
    ...(conns !== undefined ? { connections: conns, sourcePortCeiling: sourcePortCeiling() } : {}),
    ...passiveStatus(t, state, ctx),
  }
}

function passiveStatus(t: ResolvedTarget, state: ReconcilerState, ctx: StatusContext): Pick<TargetStatus, 'ejected' | 'ejectionHeld'> {
  if (!passiveSpecOf(state, t.listener)) return {}
  const p = state.passive.get(t.key)
  const e = p?.ejection
  const iso = (at: number): string => new Date(ctx.wall(at)).toISOString()
  return {
    ejected: e ? { reason: e.reason, since: iso(e.at), until: iso(e.until), ejections: p.ejections } : null,
    ...(p?.held ? { ejectionHeld: p.held } : {}),
  }
}

/**
 * Builds the whole status object. Same state, time and readings: same status. `withTargets: false`
 * leaves every listener's `targets` empty: what the LB probes read (serving, reason, the node's
 * verdicts) costs O(listeners) cheap checks, not a status object per target (20,000 of them at
 * 10,000 listeners, ~100 ms to build, rebuilt whenever the state changed).
 */
export function buildStatus(state: ReconcilerState, ctx: StatusContext, traffic: TrafficReadings = {}, withTargets = true): Status {
  const inSync = isInSync(state.sync, ctx.now)
  const listeners: ListenerStatus[] = state.config.listeners.map((l) => {
    const targets = state.index.byListener.get(l.name) ?? []
    const inRot = withTargets ? new Set((state.applied.get(l.name) ?? []).map((t) => t.key)) : null
    const reason = listenerReason(l, targets, state, inSync)
    return {
      name: l.name,
      protocol: l.protocol,
      port: l.port,
      serving: reason === null,
      reason,
      whenAllDown: l.whenAllDown,
      ...(state.index.problems.has(l.name) ? { problems: [...state.index.problems.get(l.name)!] } : {}),
      targets: inRot ? targets.map((t) => targetStatus(t, state, inRot.has(t.key), ctx, traffic)) : [],
    }
  })
  const node: NodeStatus = {
    ready: inSync && !isDraining(state) && listeners.every((l) => l.serving),
    draining: isDraining(state),
    drainReasons: [...(state.draining ? ['operator'] : []), ...(state.eventDrain ? ['scheduled-event'] : [])],
    scheduledEvent: state.eventDrain ? { ...state.eventDrain } : null,
    inSync,
    lastSyncAt: state.lastSyncWallAt === null ? null : new Date(state.lastSyncWallAt).toISOString(),
    lastError: lastErrorOf(state.sync),
    version: ctx.version,
    health: nodeHealthOf(state, ctx.now),
    errors: { ...state.sync.errors },
    ipForwarding: state.ipForwarding,
    driftRepairs: state.driftRepairs,
    passive: { ...state.passiveWatch },
    ...(ctx.backend ? { backend: ctx.backend } : {}),
    ...(ctx.configSource ? { configSource: ctx.configSource } : {}),
    ...(ctx.azure ? { azure: ctx.azure } : {}),
    ...(ctx.scheduledEventsError !== undefined ? { scheduledEventsError: ctx.scheduledEventsError } : {}),
  }
  return { node, listeners }
}

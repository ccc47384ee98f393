/**
 * Whether the kernel holds what fwdd wants, as a small value (after kube-proxy's
 * `pkg/proxy/healthcheck/proxier_health.go`): a change is *queued* when something asks for a sync,
 * *applied* when a sync that started after it succeeded. The rules are in sync when the last sync
 * succeeded and no queued change has waited longer than the bound. Errors are kept by kind, so the
 * success of the step that failed clears exactly its error, whatever its message said.
 *
 * Pure: every function takes the time (`now`, monotonic ms) and returns a new value.
 */

/** What can fail on the sync path; each kind is cleared by the next success of that step. */
export type SyncErrorKind =
  /** Reading the kernel's rules (iptables-save, nft list) or starting the process. */
  | 'read'
  /** Writing the rule set (iptables-restore, nft -f). */
  | 'apply'
  /** The last reload was rejected (the last good config stays in force). */
  | 'reload'

export interface SyncHealth {
  /** When the oldest change not yet taken up by a sync was queued; null when none waits. */
  queuedAt: number | null
  /** When the oldest change that the sync now running writes was queued; null when none runs. */
  inFlightSince: number | null
  /** When the last successful sync finished; null before the first. */
  appliedAt: number | null
  /** When syncs started failing; null while the last one succeeded (or none ran yet). */
  failingSince: number | null
  /**
   * When another tool was seen changing the ruleset (nft monitor); null when not. Not in sync from
   * then until a verifying sync that started after it has repaired the kernel, so `/lb` never
   * answers 200 while fwdd's jumps or chains may be missing.
   */
  driftSince?: number | null
  /**
   * What the drift seen so far may have touched: 'entries', only the built-in chains fwdd jumps
   * from (a verify of those alone repairs it); 'full', anything (only a full verify repairs it).
   */
  driftScope?: VerifyScope | null
  /** Whether at least one sync succeeded since the daemon started. */
  everApplied: boolean
  /** Kind -> message of the last failure of that kind. */
  errors: Partial<Record<SyncErrorKind, string>>
}

/** How much of the kernel a verify reads: the entry points alone, or everything fwdd owns. */
export type VerifyScope = 'entries' | 'full'

/** A change not applied within this long makes the node "not in sync" (and `/lb` answer 503). */
export const STALE_AFTER_MS = 5000

export const initialSyncHealth: SyncHealth = Object.freeze({ queuedAt: null, inFlightSince: null, appliedAt: null, failingSince: null, everApplied: false, errors: Object.freeze({}) })

/** A change was queued at `now` (the oldest pending one counts). */
export function queued(h: SyncHealth, now: number): SyncHealth {
  return h.queuedAt === null ? { ...h, queuedAt: now } : h
}

/** A sync starts: it takes up every change queued so far (changes queued from now on wait for the next). */
export function syncStarted(h: SyncHealth, now: number): SyncHealth {
  return { ...h, queuedAt: null, inFlightSince: h.queuedAt ?? h.inFlightSince ?? now }
}

/** The running sync succeeded at `now`: what it took up is applied. Clears the read and apply errors. */
export function applied(h: SyncHealth, now: number): SyncHealth {
  const { read: _r, apply: _a, ...rest } = h.errors
  return { ...h, inFlightSince: null, appliedAt: now, failingSince: null, everApplied: true, errors: rest }
}

/** The running sync failed at `now` with an error of `kind`: what it took up is queued again. */
export function failed(h: SyncHealth, kind: 'read' | 'apply', message: string, now: number): SyncHealth {
  const other = kind === 'read' ? 'apply' : 'read'
  const { [other]: _drop, ...rest } = h.errors
  const oldest = Math.min(h.inFlightSince ?? Infinity, h.queuedAt ?? Infinity, now)
  return { ...h, queuedAt: oldest, inFlightSince: null, failingSince: h.failingSince ?? now, errors: { ...rest, [kind]: message } }
}

/** Someone else changed the ruleset at `now`, within `scope`: not in sync until a verify of that scope repairs it. */
export function drifted(h: SyncHealth, now: number, scope: VerifyScope = 'full'): SyncHealth {
  return { ...h, driftSince: h.driftSince ?? now, driftScope: h.driftScope === 'full' ? 'full' : scope }
}

/**
 * A verifying sync of `scope` that started at `startedAt` succeeded: drift seen before it is
 * repaired, unless the drift may reach beyond what that sync read (an entries verify cannot clear
 * drift of unknown scope).
 */
export function driftRepaired(h: SyncHealth, startedAt: number, scope: VerifyScope = 'full'): SyncHealth {
  if (h.driftSince == null || h.driftSince > startedAt) return h
  if (scope === 'entries' && h.driftScope !== 'entries') return h
  return { ...h, driftSince: null, driftScope: null }
}

/** Sets or clears (null) the error of a kind outside the sync path (a rejected reload). */
export function withError(h: SyncHealth, kind: SyncErrorKind, message: string | null): SyncHealth {
  const { [kind]: _drop, ...rest } = h.errors
  return { ...h, errors: message === null ? rest : { ...rest, [kind]: message } }
}

/** In sync: the last sync succeeded and nothing queued has waited `STALE_AFTER_MS` or more. */
export function isInSync(h: SyncHealth, now: number): boolean {
  if (!h.everApplied || h.failingSince !== null || h.driftSince != null) return false
  const oldest = oldestPending(h)
  return oldest === null || now - oldest < STALE_AFTER_MS
}

/** When the oldest change not yet applied was queued (waiting or being written); null when none. */
export function oldestPending(h: SyncHealth): number | null {
  if (h.queuedAt === null) return h.inFlightSince
  if (h.inFlightSince === null) return h.queuedAt
  return Math.min(h.queuedAt, h.inFlightSince)
}

/** How long syncs have been failing (ms), 0 when they are not. */
export function failingForMs(h: SyncHealth, now: number): number {
  return h.failingSince === null ? 0 : now - h.failingSince
}

/** The error to show (`node.lastError`): the newest kinds first, null when none. */
export function lastErrorOf(h: SyncHealth): string | null {
  return h.errors.apply ?? h.errors.read ?? h.errors.reload ?? null
}

/**
 * Keeps the Azure-sourced sets (IP Group targets, Private Link Service NAT IPs) fresh: re-reads
 * every resource each `refreshSeconds`, and on any failure keeps the last good set for that
 * resource, so an Azure outage never empties a listener or opens the sources.
 *
 * Failures are scheduled by kind (see `read-error.ts`): 429 waits for Retry-After, 5xx/timeouts/
 * connection errors back off exponentially with jitter (capped at `refreshSeconds`), 401/403/404
 * and bad bodies wait for the next regular refresh. Resources are read independently: one failing
 * IP Group does not delay another.
 */
import type { IpGroupAddresses } from './network.js'
import { classifyReadError, type AzureReadError } from './read-error.js'
import { realTimers, type AzureLogger, type RefresherTimers } from './timers.js'

export type { AzureLogger, RefresherTimers } from './timers.js'

/** The two reads, injected so the refresher is tested without ARM; `createAzureSetsReader` (reader.ts) is the real one. */
export interface AzureSetsReader {
  readIpGroup(resourceId: string, signal: AbortSignal): Promise<IpGroupAddresses>
  readPrivateLinkService(resourceId: string, signal: AbortSignal): Promise<string[]>
}

/**
 * What is known now. A resource missing from `ipGroups`/`privateLinkServices` has never been read
 * successfully: callers must treat a missing Private Link Service as "no source allowed" (never as
 * an empty `sources`, which means anyone) and a missing IP Group as "no targets yet".
 */
export interface AzureSnapshot {
  /** IP Group id (as configured) → its single addresses, sorted. */
  ipGroups: Map<string, string[]>
  /** Private Link Service id (as configured) → its NAT IPs, sorted. */
  privateLinkServices: Map<string, string[]>
  /** Resource id → why its last read failed. Cleared by the next successful read. */
  errors: Map<string, AzureReadError>
  /** Resource id → a note about a successful read, e.g. CIDR entries of an IP Group that were left out. */
  warnings: Map<string, string>
}

/** What the refresher reads and how often; see the field comments for defaults. */
export interface AzureSetsRefresherOptions {
  ipGroups: readonly string[]
  privateLinkServices: readonly string[]
  refreshSeconds: number
  reader: AzureSetsReader
  /** Named in 401/403 messages; omit for a system-assigned identity. */
  identityClientId?: string
  /** Abort one read after this long; default min(30 s, refreshSeconds). */
  readTimeoutMs?: number
  timers?: RefresherTimers
  /** In [0, 1); default Math.random. Jitter scales each backoff by 0.5 to 1. */
  random?: () => number
  logger?: AzureLogger
  /**
   * Last good sets from an earlier refresher (a reconfigured daemon): a resource found here starts
   * with that set instead of none, so a failing first read keeps it rather than emptying it.
   */
  seed?: Pick<AzureSnapshot, 'ipGroups' | 'privateLinkServices'>
}

type Kind = 'ipGroup' | 'privateLinkService'

interface ResourceState {
  kind: Kind
  resourceId: string
  good?: string[]
  error?: AzureReadError
  warning?: string
  consecutiveFailures: number
  nextAt: number
  /** Set while a read runs, so `refreshNow` and the timer never read one resource twice at once. */
  inFlight?: Promise<boolean>
}

const STOPPED = new DOMException('refresher stopped', 'AbortError')

/** First backoff step for transient failures; doubles per consecutive failure. */
export const BACKOFF_BASE_MS = 1000

const SUBJECTS: Record<Kind, { kind: string; action: string }> = {
  ipGroup: { kind: 'IP Group', action: 'Microsoft.Network/ipGroups/read' },
  privateLinkService: { kind: 'Private Link Service', action: 'Microsoft.Network/privateLinkServices/read' },
}

/**
 * The refresher. `start()` reads everything at once and then on schedule; `refreshNow()` reads
 * now; `snapshot()` is always safe to call. `onChange` listeners run after a round of reads in
 * which at least one set changed (compared as sets), once per round, with the new snapshot.
 */
export class AzureSetsRefresher {
  private readonly states: ResourceState[]
  private readonly timers: RefresherTimers
  private readonly random: () => number
  private readonly refreshMs: number
  private readonly readTimeoutMs: number
  private readonly listeners: Array<(snapshot: AzureSnapshot) => void> = []
  private readonly problemListeners: Array<(snapshot: AzureSnapshot) => void> = []
  private readonly aborts = new Set<AbortController>()
  private timer: unknown
  private running = false

  constructor(private readonly options: AzureSetsRefresherOptions) {
    if (!(options.refreshSeconds > 0)) throw new RangeError('refreshSeconds must be positive')
    this.timers = options.timers ?? realTimers
    this.random = options.random ?? Math.random
    this.refreshMs = options.refreshSeconds * 1000
    this.readTimeoutMs = options.readTimeoutMs ?? Math.min(30_000, this.refreshMs)
    const now = this.timers.now()
    const unique = (ids: readonly string[]) => [...new Set(ids)]
    const seeded = (set: string[] | undefined) => (set ? { good: [...set] } : {})
    this.states = [
      ...unique(options.ipGroups).map((resourceId) => ({ kind: 'ipGroup' as const, resourceId, consecutiveFailures: 0, nextAt: now, ...seeded(options.seed?.ipGroups.get(resourceId)) })),
      ...unique(options.privateLinkServices).map((resourceId) => ({ kind: 'privateLinkService' as const, resourceId, consecutiveFailures: 0, nextAt: now, ...seeded(options.seed?.privateLinkServices.get(resourceId)) })),
    ]
  }

  /** Registers a listener; returns a function that removes it. Listener errors are logged, not thrown. */
  onChange(listener: (snapshot: AzureSnapshot) => void): () => void {
    this.listeners.push(listener)
    return () => {
      const i = this.listeners.indexOf(listener)
      if (i >= 0) this.listeners.splice(i, 1)
    }
  }

  /**
   * Registers a listener for problems: it runs after a round of reads in which a resource's error
   * or warning appeared, changed or cleared (sets unchanged or not), so whoever shows errors next
   * to the sets (a target's `lastError`) can refresh them. Returns a function that removes it.
   */
  onProblemsChange(listener: (snapshot: AzureSnapshot) => void): () => void {
    this.problemListeners.push(listener)
    return () => {
      const i = this.problemListeners.indexOf(listener)
      if (i >= 0) this.problemListeners.splice(i, 1)
    }
  }

  /** Starts reading: every resource now, then each on its own schedule. Idempotent. */
  start(): void {
    if (this.running) return
    this.running = true
    void this.runDue()
  }

  /** Stops the schedule and aborts reads in flight; the last good sets stay readable. Idempotent. */
  stop(): void {
    this.running = false
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    for (const abort of this.aborts) abort.abort(STOPPED)
    this.aborts.clear()
  }

  /**
   * Reads every resource now, except those whose Retry-After has not passed yet (a 429 is obeyed
   * even when asked for). Resolves with the snapshot once the reads finished; never rejects.
   */
  async refreshNow(): Promise<AzureSnapshot> {
    const now = this.timers.now()
    const due = this.states.filter((s) => !(s.error?.kind === 'throttled' && s.nextAt > now))
    await this.readAll(due)
    return this.snapshot()
  }

  /** A copy of what is known now; later reads do not change it. */
  snapshot(): AzureSnapshot {
    const snapshot: AzureSnapshot = { ipGroups: new Map(), privateLinkServices: new Map(), errors: new Map(), warnings: new Map() }
    for (const s of this.states) {
      if (s.good) (s.kind === 'ipGroup' ? snapshot.ipGroups : snapshot.privateLinkServices).set(s.resourceId, [...s.good])
      if (s.error) snapshot.errors.set(s.resourceId, { ...s.error })
      if (s.warning) snapshot.warnings.set(s.resourceId, s.warning)
    }
    return snapshot
  }

  /** When each resource will next be read (epoch ms), for status output and tests. */
  nextReadAt(resourceId: string): number | undefined {
    return this.states.find((s) => s.resourceId === resourceId)?.nextAt
  }

  private async runDue(): Promise<void> {
    this.timer = undefined
    const now = this.timers.now()
    await this.readAll(this.states.filter((s) => s.nextAt <= now))
  }

  private async readAll(states: ResourceState[]): Promise<void> {
    const problemsBefore = this.problemsKey()
    const results = await Promise.all(states.map((s) => (s.inFlight ??= this.readOne(s).finally(() => (s.inFlight = undefined)))))
    if (results.some(Boolean)) this.notify(this.listeners)
    if (this.problemsKey() !== problemsBefore) this.notify(this.problemListeners)
    this.schedule()
  }

  private notify(listeners: ReadonlyArray<(snapshot: AzureSnapshot) => void>): void {
    if (listeners.length === 0) return
    const snapshot = this.snapshot()
    for (const listener of [...listeners]) {
      try {
        listener(snapshot)
      } catch (error) {
        this.options.logger?.warn({ err: error }, 'azure sets change listener threw')
      }
    }
  }

  /** Every resource's current error message and warning, to notice when they change. */
  private problemsKey(): string {
    return JSON.stringify(this.states.map((s) => [s.error?.message ?? null, s.warning ?? null]))
  }

  /** Reads one resource and updates its state; resolves true when its set changed. */
  private async readOne(s: ResourceState): Promise<boolean> {
    const abort = new AbortController()
    this.aborts.add(abort)
    const timeout = this.timers.setTimeout(() => abort.abort(new DOMException('read timed out', 'TimeoutError')), this.readTimeoutMs)
    try {
      const read: Promise<{ set: string[]; warning?: string }> =
        s.kind === 'ipGroup'
          ? this.options.reader.readIpGroup(s.resourceId, abort.signal).then((r) => ({
              set: r.addresses,
              ...(r.ignored.length > 0 ? { warning: `IP Group ${s.resourceId}: ignored ${r.ignored.join(', ')}: only single IPv4 addresses (or /32) can be targets` } : {}),
            }))
          : this.options.reader.readPrivateLinkService(s.resourceId, abort.signal).then((set) => ({ set }))
      const result = await Promise.race([read, aborted(abort.signal)])
      const changed = !s.good || !sameSet(s.good, result.set)
      if (changed) this.options.logger?.info({ resourceId: s.resourceId, set: result.set }, `${SUBJECTS[s.kind].kind} set changed`)
      if (s.error) this.options.logger?.info({ resourceId: s.resourceId }, `${SUBJECTS[s.kind].kind} read recovered`)
      s.good = [...result.set]
      s.error = undefined
      s.warning = result.warning
      s.consecutiveFailures = 0
      s.nextAt = this.timers.now() + this.refreshMs
      return changed
    } catch (error) {
      if (abort.signal.reason === STOPPED) return false
      const now = this.timers.now()
      const classified = classifyReadError(error, {
        ...SUBJECTS[s.kind],
        resourceId: s.resourceId,
        ...(this.options.identityClientId ? { identityClientId: this.options.identityClientId } : {}),
      }, now)
      s.error = classified
      s.consecutiveFailures += 1
      s.nextAt = now + this.delayAfter(classified, s.consecutiveFailures)
      this.options.logger?.warn({ resourceId: s.resourceId, kind: classified.kind, retryInMs: s.nextAt - now }, classified.message)
      return false
    } finally {
      this.timers.clearTimeout(timeout)
      this.aborts.delete(abort)
    }
  }

  private delayAfter(error: AzureReadError, failures: number): number {
    switch (error.kind) {
      case 'throttled':
        return error.retryAfterMs !== undefined ? Math.max(error.retryAfterMs, 1000) : this.backoff(failures)
      case 'transient':
        return this.backoff(failures)
      default:
        return this.refreshMs
    }
  }

  /** Exponential backoff with jitter, capped at the refresh interval. */
  private backoff(failures: number): number {
    const raw = Math.min(this.refreshMs, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30))
    return Math.round(raw * (0.5 + 0.5 * this.random()))
  }

  private schedule(): void {
    if (!this.running) return
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    const next = Math.min(...this.states.map((s) => s.nextAt))
    if (!Number.isFinite(next)) return
    this.timer = this.timers.setTimeout(() => void this.runDue(), Math.max(0, next - this.timers.now()))
  }
}

/** Order-insensitive, duplicate-insensitive comparison. */
export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a)
  const sb = new Set(b)
  return sa.size === sb.size && [...sa].every((x) => sb.has(x))
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError'))
    if (signal.aborted) fail()
    else signal.addEventListener('abort', fail, { once: true })
  })
}

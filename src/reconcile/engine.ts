/**
 * The engine keeps the kernel matching the config and the world: it owns the current (last good)
 * config, the health checker, the DNS resolver and the applier, and turns every change into a
 * request to the bounded sync runner. It reports what it does through `EngineHooks` (metrics,
 * logs) and answers `status()`.
 */
import type { Logger } from 'pino'
import type { Config, ListenerSpec } from '../config/types.js'
import type { ApplyResult } from '../dataplane/applier.js'
import type { Dataplane } from '../dataplane/dataplane.js'
import type { Conntrack } from '../dataplane/conntrack.js'
import { FIRST_CHECK_SPREAD_MS, HealthChecker, type CheckedTarget } from '../health/checker.js'
import type { TargetHealth } from '../health/target-health.js'
import type { CheckResult, TcpCheck } from '../health/tcp-check.js'
import { DnsResolver, type ResolveFn } from '../targets/dns-resolver.js'
import { messageOf } from '../errors.js'
import type { Status } from '../status.js'
import {
  isCheckable, listenerStatuses, renderInputOf, resolveSources, resolveTargets, rotationOf,
  type ResolvedTarget, type WorldView,
} from './desired.js'
import { SyncRunner } from './sync-runner.js'

export interface EngineHooks {
  onSynced?(result: ApplyResult, seconds: number, verify: boolean): void
  onApplyFailed?(err: unknown): void
  onTransition?(target: ResolvedTarget, from: TargetHealth, to: TargetHealth): void
  onCheck?(target: CheckedTarget, result: CheckResult): void
  onQueued?(at: Date): void
}

/** Azure-sourced sets, when configured (issue "Azure integration"); absent means none. */
export interface AzureView {
  ipGroup(resourceId: string): { addresses: string[]; error: string | null } | undefined
  privateLinkService(resourceId: string): { addresses: string[]; error: string | null } | undefined
}

export interface EngineOptions {
  config: Config
  applier: Dataplane
  conntrack: Conntrack
  logger: Logger
  check: TcpCheck
  resolve: ResolveFn
  hooks?: EngineHooks
  azure?: AzureView
  version: string
}

/** A change not applied within this long makes the node report "not in sync". */
const STALE_AFTER_MS = 5000

export class Engine {
  private config: Config
  private targets = new Map<string, ResolvedTarget[]>()
  private rotation = new Map<string, ResolvedTarget[]>()
  /** Indexes rebuilt when the targets change, so a health change costs O(its listener), not O(all). */
  private byKey = new Map<string, ResolvedTarget>()
  private listeners = new Map<string, ListenerSpec>()
  /** Target key -> shared check key, and back: listeners that send to the same address, port and check settings share one check. */
  private checkOf = new Map<string, string>()
  private targetsOfCheck = new Map<string, string[]>()
  /** Listeners whose rotation must be recomputed at the next sync (null: all of them). */
  private dirty: Set<string> | null = null
  private readonly checker: HealthChecker
  private readonly dns: DnsResolver
  private readonly runner: SyncRunner
  private readonly log: Logger
  private lastSyncOk = false
  private lastSyncAt: Date | null = null
  private queuedAt: number | null = null
  private lastError: string | null = null
  private applyFailingSince: number | null = null
  private readonly toCut = new Set<string>()
  private started = false
  private readonly startedAt = Date.now()
  driftRepairs = 0
  private changes = 0
  private drainingNow = false
  private forwardingOn = true

  /** Draining: every listener reports not serving (the LB stops sending new flows); forwarding goes on. */
  get draining(): boolean {
    return this.drainingNow
  }

  set draining(value: boolean) {
    if (value !== this.drainingNow) this.changes++
    this.drainingNow = value
  }

  /** Whether net.ipv4.ip_forward is on, as the daemon last read it. */
  get ipForwarding(): boolean {
    return this.forwardingOn
  }

  set ipForwarding(value: boolean) {
    if (value !== this.forwardingOn) this.changes++
    this.forwardingOn = value
  }

  /**
   * Counts changes that can alter the status (health, syncs, reloads, and whatever the caller
   * reports with `touch()`), so callers may cache `status()` between changes.
   */
  get changeCount(): number {
    return this.changes
  }

  /** Records a change made from outside (drain, IP forwarding) for `changeCount`. */
  touch(): void {
    this.changes++
  }

  constructor(private readonly o: EngineOptions) {
    this.config = o.config
    this.log = o.logger.child({ component: 'engine' })
    this.checker = new HealthChecker(o.check, {
      onChange: (checkKey, from, to) => {
        for (const key of this.targetsOfCheck.get(checkKey) ?? []) this.onHealthChange(key, from, to)
      },
      onResult: (t, r) => o.hooks?.onCheck?.(t, r),
    })
    this.dns = new DnsResolver(o.resolve, (name) => {
      this.log.info({ name, resolution: this.dns.get(name) }, 'dns answer changed')
      this.refreshTargets()
      void this.requestWhenChecked()
    })
    this.runner = new SyncRunner({
      minIntervalMs: this.config.sync.minIntervalMs,
      sync: (verify) => this.sync(verify),
      onError: (err, retry) => {
        this.changes++
        this.lastSyncOk = false
        this.applyFailingSince ??= Date.now()
        this.lastError = messageOf(err)
        this.o.hooks?.onApplyFailed?.(err)
        this.log.error({ err: messageOf(err), retryInMs: retry }, 'sync failed; retrying with a full rewrite')
      },
    })
  }

  /** Resolves names, starts checks, and applies once the first round of checks is in (or after `firstRoundMaxMs`). */
  async start(firstRoundMaxMs: number): Promise<void> {
    await this.dns.setNames(this.dnsNames())
    this.refreshTargets()
    const deadline = Date.now() + firstRoundMaxMs
    while (!this.checker.firstRoundDone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    this.started = true
    this.dirty = null
    this.refreshRotation()
    this.request(true)
  }

  /** Asks for a sync. `verify` reads the kernel and repairs drift. */
  request(verify: boolean): void {
    if (!this.started) return
    if (this.queuedAt === null) this.queuedAt = Date.now()
    this.o.hooks?.onQueued?.(new Date())
    this.runner.request(verify)
  }

  /**
   * Requests a sync once every target has had its first check (bounded by the first-check spread
   * plus the longest timeout). New targets (a DNS answer that moved, a reload, an Azure set) start
   * `unknown`, so syncing at once would drop the old address before the new one may take new
   * connections: a listener whose only target moved would refuse connections for a check round.
   */
  private async requestWhenChecked(): Promise<void> {
    const waitMs = Math.max(0, ...this.config.listeners.map((l) => Math.min(l.check.intervalMs, FIRST_CHECK_SPREAD_MS) + l.check.timeoutMs)) + 100
    const deadline = Date.now() + waitMs
    while (!this.checker.firstRoundDone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    this.request(false)
  }

  /** Swaps in a new (valid) config: kept targets keep their health and their flows. */
  async reload(config: Config): Promise<void> {
    this.config = config
    await this.dns.setNames(this.dnsNames())
    this.refreshTargets()
    this.lastError = null
    await this.requestWhenChecked()
  }

  /** Records a rejected reload: the last good config stays, the error shows in status. */
  rejectReload(message: string): void {
    this.changes++
    this.lastError = message
  }

  currentConfig(): Config {
    return this.config
  }

  /** Called by the Azure refresher when a set changed. */
  azureChanged(): void {
    this.refreshTargets()
    void this.requestWhenChecked()
  }

  /** True when the last sync succeeded and no queued change has waited past the bound. */
  inSync(): boolean {
    if (!this.lastSyncOk) return false
    return this.queuedAt === null || Date.now() - this.queuedAt < STALE_AFTER_MS
  }

  /** How long applies have been failing (ms), 0 when the last one succeeded. */
  applyFailingForMs(): number {
    return this.applyFailingSince === null ? 0 : Date.now() - this.applyFailingSince
  }

  stop(): void {
    this.runner.stop()
    this.checker.stop()
    this.dns.stop()
  }

  status(extra: { counters?: (key: string) => { bytes: number; packets: number } | undefined; connections?: (key: string) => number | undefined; backend?: string; configSource?: string } = {}): Status {
    const inSync = this.inSync()
    const listeners = listenerStatuses(this.config, this.targets, this.rotation, {
      inSync, draining: this.draining, health: (k) => this.health(k), startedAt: this.startedAt, ...extra,
    })
    return {
      node: {
        ready: inSync && !this.draining && listeners.every((l) => l.serving),
        draining: this.draining,
        inSync,
        lastSyncAt: this.lastSyncAt?.toISOString() ?? null,
        lastError: this.lastError,
        version: this.o.version,
        ipForwarding: this.ipForwarding,
        driftRepairs: this.driftRepairs,
        ...(extra.backend ? { backend: extra.backend } : {}),
        ...(extra.configSource ? { configSource: extra.configSource } : {}),
      },
      listeners,
    }
  }

  /** Every resolved target, for mapping rule counters and conntrack counts to keys. */
  resolvedTargets(): ResolvedTarget[] {
    return [...this.targets.values()].flat()
  }

  private dnsNames(): string[] {
    return this.config.listeners.flatMap((l) => l.targets.flatMap((t) => (t.kind === 'host' ? [t.host] : [])))
  }

  private world(): WorldView {
    return {
      dns: (name) => this.dns.get(name),
      ipGroup: (id) => this.o.azure?.ipGroup(id),
      privateLinkService: (id) => this.o.azure?.privateLinkService(id),
    }
  }

  /** Health of a target (through the check it shares with same-endpoint targets of other listeners). */
  private health(key: string): TargetHealth | undefined {
    const c = this.checkOf.get(key)
    return c === undefined ? undefined : this.checker.health(c)
  }

  private refreshTargets(): void {
    this.changes++
    this.targets = resolveTargets(this.config, this.world())
    this.listeners = new Map(this.config.listeners.map((l) => [l.name, l]))
    this.byKey = new Map()
    this.checkOf = new Map()
    this.targetsOfCheck = new Map()
    const checked = new Map<string, CheckedTarget>()
    for (const l of this.config.listeners) {
      for (const t of this.targets.get(l.name) ?? []) {
        this.byKey.set(t.key, t)
        if (!isCheckable(l)) continue
        const port = l.check.port ?? t.port
        const { intervalMs, timeoutMs, fall, rise } = l.check
        const checkKey = `${t.address}:${port}/${intervalMs}/${timeoutMs}/${fall}/${rise}`
        this.checkOf.set(t.key, checkKey)
        const list = this.targetsOfCheck.get(checkKey)
        if (list) list.push(t.key)
        else this.targetsOfCheck.set(checkKey, [t.key])
        if (!checked.has(checkKey)) checked.set(checkKey, { key: checkKey, listener: l.name, address: t.address, port, intervalMs, timeoutMs, fall, rise })
      }
    }
    this.checker.setTargets([...checked.values()])
    this.dirty = null
    this.refreshRotation()
  }

  /** Recomputes the rotation of the listeners marked dirty (all when `dirty` is null), copy-on-write. */
  private refreshRotation(): void {
    const names = this.dirty ?? this.listeners.keys()
    const next = this.dirty === null ? new Map<string, ResolvedTarget[]>() : new Map(this.rotation)
    for (const name of names) {
      const l = this.listeners.get(name)
      if (l) next.set(name, rotationOf(l, this.targets.get(name) ?? [], (k) => this.health(k)))
    }
    this.rotation = next
    this.dirty = new Set()
  }

  private onHealthChange(key: string, from: TargetHealth, to: TargetHealth): void {
    const target = this.byKey.get(key)
    if (!target) return
    this.changes++
    this.log.info({ listener: target.listener, target: `${target.address}:${target.port}`, from: from.state, to: to.state, reason: to.lastError }, 'target health changed')
    this.o.hooks?.onTransition?.(target, from, to)
    if (to.state === 'unhealthy') this.toCut.add(key)
    else this.toCut.delete(key)
    // The rotation is recomputed by the sync this requests: at start-up thousands of targets turn
    // healthy within a few hundred ms, and recomputing per change would make that quadratic.
    this.dirty?.add(target.listener)
    this.request(false)
  }

  private async sync(verify: boolean): Promise<void> {
    this.changes++
    const started = performance.now()
    const queued = this.queuedAt
    this.queuedAt = null
    this.refreshRotation()
    // What this sync applies: flows are cut only for targets that these rules no longer send to (a
    // health change arriving while the rules are written waits for the next sync, or the cut would
    // come before the DNAT rule to the dead target is gone and new flows would follow it).
    const applied = this.rotation
    const sources = resolveSources(this.config, this.world())
    const rules = (renderInputOf(this.config, this.targets, applied, sources))
    let result: ApplyResult
    try {
      result = await this.o.applier.apply(rules, { verify })
    } catch (err: unknown) {
      this.queuedAt = queued ?? Date.now()
      throw err
    }
    if (result.drift.length > 0) {
      this.driftRepairs += result.drift.length
      this.log.warn({ drift: result.drift }, 'repaired rules changed behind fwdd')
    }
    this.changes++
    this.lastSyncOk = true
    this.applyFailingSince = null
    this.lastSyncAt = new Date()
    if (this.lastError?.startsWith('applying')) this.lastError = null
    await this.cutDeadFlows(applied)
    this.o.hooks?.onSynced?.(result, (performance.now() - started) / 1000, verify)
  }

  /**
   * Deletes the conntrack entries of targets that left rotation as unhealthy, once the applied rules
   * no longer send to them. A target still in the applied rotation (whenAllDown: all, or a change
   * newer than these rules) stays queued; one that recovered or was removed is dropped from the queue.
   */
  private async cutDeadFlows(applied: Map<string, ResolvedTarget[]>): Promise<void> {
    // Group the targets to cut by endpoint: when every listener that sends to an endpoint has it out
    // of rotation (a dead server behind many listeners), one conntrack call cuts them all.
    const groups = new Map<string, { protocol: 'tcp' | 'udp'; address: string; port: number; listeners: ListenerSpec[] }>()
    for (const key of [...this.toCut]) {
      const t = this.byKey.get(key)
      const listener = t && this.listeners.get(t.listener)
      if (!t || !listener || this.health(key)?.state !== 'unhealthy') {
        this.toCut.delete(key)
        continue
      }
      if ((applied.get(t.listener) ?? []).some((r) => r.key === key)) continue
      this.toCut.delete(key)
      const endpoint = `${listener.protocol}|${t.address}:${t.port}`
      const g = groups.get(endpoint) ?? { protocol: listener.protocol, address: t.address, port: t.port, listeners: [] }
      g.listeners.push(listener)
      groups.set(endpoint, g)
    }
    if (groups.size === 0) return
    const stillSent = this.endpointsIn(applied)
    for (const [endpoint, g] of groups) {
      // No listener sends to it any more: cut every flow to it at once; else only these listeners'.
      const calls = stillSent.has(endpoint) ? g.listeners.map((l) => l.port) : [undefined]
      for (const listenerPort of calls) {
        try {
          const n = await this.o.conntrack.deleteFlowsTo(g.protocol, g.address, g.port, listenerPort)
          this.log.info({ target: `${g.address}:${g.port}`, listeners: g.listeners.length, flows: n }, 'cut flows to an unhealthy target')
        } catch (err: unknown) {
          this.log.error({ err: messageOf(err) }, 'cutting flows failed')
        }
      }
    }
  }

  /** Endpoints (`proto|address:port`) that some listener's rotation still sends to. */
  private endpointsIn(rotation: Map<string, ResolvedTarget[]>): Set<string> {
    const out = new Set<string>()
    for (const [name, list] of rotation) {
      const l = this.listeners.get(name)
      if (l) for (const t of list) out.add(`${l.protocol}|${t.address}:${t.port}`)
    }
    return out
  }


}

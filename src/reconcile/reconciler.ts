/**
 * The reconciler keeps the kernel matching the config and the world. It holds one state value
 * (state.ts) and moves it forward through one path, `update()`, which also versions it; health
 * checks, DNS answers, Azure sets, reloads, drain and syncs all come in as events on that path.
 * Syncs run through the bounded runner; flows of dead targets are cut in the background once the
 * applied rules no longer send to them. Everything it touches is injected (clock, check, resolver,
 * dataplane, conntrack), so it is tested at its own level with fakes and no sleeps.
 */
import type { Logger } from 'pino'
import { wallTimeOf } from '../clock.js'
import { isIpv4 } from '../config/addresses.js'
import type { Config } from '../config/types.js'
import { messageOf, syncErrorKind } from '../errors.js'
import { FIRST_CHECK_SPREAD_MS, HealthChecker } from '../health/checker.js'
import type { TargetHealth } from '../health/target-health.js'
import { DEFAULT_DNS_OPTIONS, DnsResolver } from '../targets/dns-resolver.js'
import type { Status } from '../status.js'
import { renderInputOf, resolveSources, type ResolvedTarget, type WorldView } from './desired.js'
import { FlowCutter } from './flow-cutter.js'
import { buildStatus, type StatusContext, type TrafficReadings } from './node-status.js'
import { PassiveLink } from './passive-link.js'
import { effectiveHealthOf } from './passive-state.js'
import { flowCutsFor, healthOf, initialState, rotations, withHealth, withTargets, type EventDrainState, type ReconcilerState } from './state.js'
import { applied, drifted, driftRepaired, failed, queued, syncStarted, withError } from './sync-health.js'
import { SyncRunner, type Verify } from './sync-runner.js'
import type { RulesetChange } from '../dataplane/dataplane.js'

/** Targets named in a health-change log line when one check serves many listeners. */
const LOGGED_TARGETS = 5
/** Repaired chains named in the drift log line; the rest are counted (driftCount). */
const DRIFT_LOGGED = 10

import type { ReconcilerOptions } from './reconciler-options.js'

export type { AzureView, ReconcilerHooks, ReconcilerOptions, RuleWriter } from './reconciler-options.js'

/** After a sync, ruleset events this recent may be the echo of fwdd's own write (see driftSuspected). */
const OWN_WRITE_ECHO_MS = 2000

export class Reconciler {
  private current: ReconcilerState
  /** Check results not yet folded into the state: folded at the next read, so a burst costs one copy. */
  private pendingHealth = new Map<string, TargetHealth>()
  private readonly checker: HealthChecker
  private readonly dns: DnsResolver
  private readonly runner: SyncRunner
  private readonly cutter: FlowCutter
  private readonly log: Logger
  private readonly startedAt: number
  /** Set while a sync waits for new targets' first checks; the timer bounds the wait. */
  private waitingForChecks: { timer: unknown } | null = null
  /** When fwdd last wrote the kernel (monotonic): ruleset events soon after may be its own echo. */
  private lastWroteAt: number | null = null
  private lastVerifyMs = 0
  private firstRound: { resolve: () => void; timer: unknown } | null = null
  private stopped = false
  private readonly passive: PassiveLink

  constructor(private readonly o: ReconcilerOptions) {
    this.log = o.logger.child({ component: 'reconciler' })
    this.startedAt = o.clock.now()
    this.checker = new HealthChecker(o.check, {
      onChange: (checkKey, from, to) => this.onHealthChange(checkKey, from, to),
      onResult: (t, r) => {
        o.hooks?.onCheck?.(t, r)
        if (!r.inconclusive) this.passive.onActiveResult(t.key, r.ok)
        this.onCheckResult()
      },
    }, { clock: o.clock, ...(o.random ? { random: o.random } : {}) })
    this.dns = new DnsResolver(o.resolve, (name) => {
      this.log.info({ name, resolution: this.dns.get(name) }, 'dns answer changed')
      this.worldChanged()
    }, DEFAULT_DNS_OPTIONS, o.clock)
    // After the resolver exists: the world view reads it (names are resolved by `start()`).
    this.current = initialState(o.config, this.world(), { draining: o.draining ?? false })
    this.runner = new SyncRunner({
      minIntervalMs: o.config.sync.minIntervalMs,
      clock: o.clock,
      sync: (verify) => this.sync(verify),
      onError: (err, retryInMs) => {
        this.update((s) => ({ ...s, sync: failed(s.sync, syncErrorKind(err), messageOf(err), o.clock.now()) }))
        o.hooks?.onApplyFailed?.(err)
        this.log.error({ err: messageOf(err), retryInMs }, 'sync failed; retrying with a full rewrite')
      },
    })
    this.passive = new PassiveLink({
      state: () => this.state,
      update: (fn) => this.update(fn),
      request: () => this.request(false),
      // An event listener runs now: iptables' event-mask rules take effect only if rewritten.
      onListening: () => {
        if (!this.o.dataplane.renewEventMask) return
        this.o.dataplane.renewEventMask()
        this.request(false)
      },
      stopped: () => this.stopped,
      now: () => o.clock.now(),
      log: this.log,
      ...(o.hooks ? { hooks: o.hooks } : {}),
      ...(o.watchTraffic ? { watchTraffic: o.watchTraffic } : {}),
    })
    this.cutter = new FlowCutter({
      conntrack: o.conntrack,
      logger: this.log,
      stillWanted: (cut) => cut.keys.some((k) => effectiveHealthOf(this.state, k)?.state === 'unhealthy'),
    })
  }

  /** The current state (check results folded in). Replaced, never mutated: safe to keep. */
  get state(): ReconcilerState {
    if (this.pendingHealth.size > 0) {
      const changes = this.pendingHealth
      this.pendingHealth = new Map()
      this.current = { ...withHealth(this.current, changes), version: this.current.version + 1 }
    }
    return this.current
  }

  /** Grows with every change of the state: callers cache what they derive from it by this. */
  get version(): number {
    return this.current.version + (this.pendingHealth.size > 0 ? 1 : 0)
  }

  /**
   * Resolves names and starts the checks; the first sync waits until every target had its first
   * check, or `firstRoundMaxMs` passed (a restarted daemon adopts the old rules meanwhile).
   *
   * `prewrite` (the kernel holds no rules of fwdd's: nothing was adopted): while the first round is
   * out, every listener is written with all its targets in rotation, and the first sync then writes
   * only what the round changed (the leaves of listeners with a target down). At 10,000 listeners
   * the kernel's work of the first write (0.4-0.8 s) so runs beside the first round and the
   * daemon's own start instead of after them. Nothing is forwarded to this node meanwhile: `/lb`
   * says not in sync until the first sync, so no LB sends it a flow, and before the write a
   * listener port answered nothing anyway.
   */
  async start(firstRoundMaxMs: number, opts: { prewrite?: boolean } = {}): Promise<void> {
    const names = this.dnsNames(this.current.config)
    await this.dns.setNames(names)
    // The constructor indexed the targets before any name was resolved; without names that index
    // is already the one to use (re-indexing 10,000 listeners cost ~130 ms of the start).
    if (names.length > 0) this.update((s) => withTargets(s, s.config, this.world()))
    this.checker.setTargets(this.current.index.checks)
    const prewrite = opts.prewrite === true && !this.checker.firstRoundDone() ? this.prewrite() : null
    if (!this.checker.firstRoundDone()) {
      await new Promise<void>((resolve) => {
        const timer = this.o.clock.setTimeout(() => this.endFirstRound(), firstRoundMaxMs)
        this.firstRound = { resolve, timer }
      })
    }
    const wrote = prewrite ? await prewrite : false
    if (this.stopped) return
    this.update((s) => ({ ...s, started: true }))
    // After a prewrite the kernel holds what it wrote (read back then, from empty): no read needed.
    this.request(!wrote)
    this.passive.sync()
  }

  /** The prewrite of start(): every target in rotation. Resolves whether it was written. */
  private async prewrite(): Promise<boolean> {
    const state = this.state
    const all = state.index.byListener as Map<string, ResolvedTarget[]>
    try {
      await this.o.dataplane.apply(renderInputOf(state.config, all, all, resolveSources(state.config, this.world())), { verify: false })
      return true
    } catch (err: unknown) {
      // The first sync verifies and writes everything instead.
      this.log.warn({ err: messageOf(err) }, 'writing the rules before the first health round failed; the first sync writes them')
      return false
    }
  }

  /** Asks for a sync; `verify` reads the kernel and repairs drift. Before `start()` it does nothing. */
  request(verify: Verify): void {
    if (!this.current.started || this.stopped) return
    this.update((s) => ({ ...s, sync: queued(s.sync, this.o.clock.now()) }))
    this.o.hooks?.onQueued?.()
    this.runner.request(verify)
  }

  /** Swaps in a new (valid) config: kept targets keep their health and their flows. */
  async reload(config: Config): Promise<void> {
    this.runner.setMinInterval(config.sync.minIntervalMs)
    await this.dns.setNames(this.dnsNames(config))
    this.update((s) => ({ ...withTargets(s, config, this.world()), sync: withError(s.sync, 'reload', null) }))
    this.checker.setTargets(this.current.index.checks)
    this.requestWhenChecked()
    this.passive.sync()
  }

  /** How long the last full verify took, ms (0 before the first): the periodic verify's period stretches with it (verify-period.ts). */
  get lastFullVerifyMs(): number {
    return this.lastVerifyMs
  }

  /**
   * Another tool changed the ruleset (the dataplane's watch): the node reports not in sync at once
   * and a verifying sync repairs the kernel. A change the watch `attributed` to another process is
   * drift whenever it comes. One told by timing alone (an `nft` that names no writer) may be the
   * late echo of fwdd's own large write: within OWN_WRITE_ECHO_MS after a sync that wrote it only
   * asks for a verify, so the LB never sees a false 503. A sync that wrote nothing (or one still
   * running: the dataplane hides the events of its own write while it runs) makes no echo.
   */
  driftSuspected(change: RulesetChange = { attributed: false, entriesOnly: false }): void {
    if (!this.current.started || this.stopped) return
    if (change.lost) {
      // Not drift as such (most likely fwdd's own echo overran the watch): a verify finds out.
      this.log.warn('the ruleset watch lost events; verifying the rules in full')
      this.request(true)
      return
    }
    const now = this.o.clock.now()
    const ownWriteEcho = !change.attributed && this.lastWroteAt !== null && now - this.lastWroteAt < OWN_WRITE_ECHO_MS
    // A change only to the built-in chains fwdd jumps from is repaired by reading those chains
    // (milliseconds), not the whole rule set (seconds at 10,000 listeners).
    const scope = change.entriesOnly ? 'entries' : 'full'
    if (!ownWriteEcho) {
      // Once per break (not per event of a tool that keeps writing): why /lb turned 503.
      if (this.current.sync.driftSince == null) this.log.warn({ attributed: change.attributed, scope }, 'the ruleset was changed by another process: not in sync until a verify repairs it')
      this.update((s) => ({ ...s, sync: drifted(s.sync, now, scope) }))
    }
    this.request(change.entriesOnly ? 'entries' : true)
  }

  /** Records a rejected reload: the last good config stays; the error shows until a good reload. */
  rejectReload(message: string): void {
    this.update((s) => ({ ...s, sync: withError(s.sync, 'reload', message) }))
  }

  /** An Azure set changed: targets and sources are recomputed. */
  worldChanged(): void {
    this.update((s) => withTargets(s, s.config, this.world()))
    this.checker.setTargets(this.current.index.checks)
    this.requestWhenChecked()
  }

  /** Draining: every listener reports not serving (the LB stops sending new flows); forwarding goes on. */
  setDraining(draining: boolean): void {
    if (draining !== this.current.draining) this.update((s) => ({ ...s, draining }))
  }

  /** A scheduled event drains (or, with null, stops draining) the node beside the operator's drain. */
  setEventDrain(eventDrain: EventDrainState | null): void {
    if (JSON.stringify(eventDrain) !== JSON.stringify(this.current.eventDrain ?? null)) this.update((s) => ({ ...s, eventDrain }))
  }

  /** Whether net.ipv4.ip_forward is on, as the daemon last read it. */
  setIpForwarding(on: boolean): void {
    if (on !== this.current.ipForwarding) this.update((s) => ({ ...s, ipForwarding: on }))
  }

  /** The status object from the current state; see node-status.ts. */
  status(ctx: Omit<StatusContext, 'now' | 'wall' | 'startedAt'>, traffic?: TrafficReadings, withTargets = true): Status {
    const clock = this.o.clock
    return buildStatus(this.state, { ...ctx, now: clock.now(), wall: (at) => wallTimeOf(clock, at), startedAt: this.startedAt }, traffic, withTargets)
  }

  /** Resolves when no flow cut is queued or running (tests, orderly stop). */
  cutsIdle(): Promise<void> {
    return this.cutter.idle()
  }

  stop(): void {
    this.stopped = true
    this.runner.stop()
    this.checker.stop()
    this.dns.stop()
    this.cutter.stop()
    this.passive.stop()
    if (this.waitingForChecks) this.o.clock.clearTimeout(this.waitingForChecks.timer)
    this.endFirstRound()
  }

  /** The one way the state changes. */
  private update(fn: (s: ReconcilerState) => ReconcilerState): void {
    const base = this.state
    this.current = { ...fn(base), version: base.version + 1 }
  }

  private world(): WorldView {
    return {
      dns: (name) => this.dns.get(name),
      ipGroup: (id) => this.o.azure?.ipGroup(id),
      privateLinkService: (id) => this.o.azure?.privateLinkService(id),
    }
  }

  /** The DNS names the config's targets use (addresses are not names: nothing to resolve). */
  private dnsNames(config: Config): string[] {
    return config.listeners.flatMap((l) => l.targets.flatMap((t) => (t.kind === 'host' && !isIpv4(t.host) ? [t.host] : [])))
  }

  private endFirstRound(): void {
    const f = this.firstRound
    if (!f) return
    this.firstRound = null
    this.o.clock.clearTimeout(f.timer)
    f.resolve()
  }

  /**
   * Requests a sync once every target has had its first check (bounded by the first-check spread
   * plus the longest timeout). New targets start `unknown`, so syncing at once would drop the old
   * address of a moved DNS target before the new one may take connections.
   */
  private requestWhenChecked(): void {
    if (this.checker.firstRoundDone()) {
      this.request(false)
      return
    }
    if (this.waitingForChecks) return
    const cfg = this.current.config
    const waitMs = Math.max(0, ...cfg.listeners.map((l) => Math.min(l.check.intervalMs, FIRST_CHECK_SPREAD_MS) + l.check.timeoutMs)) + 100
    const timer = this.o.clock.setTimeout(() => this.checksArrived(), waitMs)
    this.waitingForChecks = { timer }
  }

  private checksArrived(): void {
    const w = this.waitingForChecks
    if (!w) return
    this.waitingForChecks = null
    this.o.clock.clearTimeout(w.timer)
    this.request(false)
  }

  private onCheckResult(): void {
    if (!this.checker.firstRoundDone()) return
    if (this.firstRound) this.endFirstRound()
    if (this.waitingForChecks) this.checksArrived()
  }

  private onHealthChange(checkKey: string, from: TargetHealth, to: TargetHealth): void {
    this.pendingHealth.set(checkKey, to)
    const targets = (this.current.index.targetsOfCheck.get(checkKey) ?? []).flatMap((key) => this.current.index.byKey.get(key) ?? [])
    for (const target of targets) this.o.hooks?.onTransition?.(target, from, to)
    // One line per check, not per listener: 10,000 listeners sharing two servers would otherwise
    // log 20,000 lines (and spend most of a sync writing them) when one server goes down.
    const first = targets[0]
    if (first) {
      const label = (t: ResolvedTarget): string => t.label ?? `${t.address}:${t.port}`
      const fields = targets.length === 1
        ? { listener: first.listener, target: label(first), from: from.state, to: to.state, reason: to.lastError }
        : { address: `${first.address}:${first.port}`, targets: targets.length, first: targets.slice(0, LOGGED_TARGETS).map(label), from: from.state, to: to.state, reason: to.lastError }
      if (to.state === 'unhealthy') this.log.warn(fields, 'target left rotation')
      else this.log.info(fields, 'target health changed')
    }
    // The rotation is computed by the sync this requests: bursts of changes collapse into one.
    this.request(false)
  }

  private async sync(verify: Verify): Promise<void> {
    const clock = this.o.clock
    const started = clock.now()
    const t0 = performance.now()
    this.update((s) => ({ ...s, sync: syncStarted(s.sync, started) }))
    const state = this.state
    // What this sync applies: flows are cut only for targets these rules no longer send to.
    const rotation = rotations(state)
    const sources = resolveSources(state.config, this.world())
    const input = renderInputOf(state.config, state.index.byListener as Map<string, ResolvedTarget[]>, rotation, sources)
    const result = await this.o.dataplane.apply(input, { verify: verify === true, entries: verify === 'entries' })
    if (result.chainsWritten + result.chainsDeleted + result.jumpsFixed > 0) this.lastWroteAt = clock.now()
    // The first few repaired names say what happened; a deleted table of 10,000 listeners names
    // 10,000 chains, one log line of a quarter megabyte that the daemon serialises and nobody reads.
    if (result.drift.length > 0) this.log.warn({ drift: result.drift.slice(0, DRIFT_LOGGED), driftCount: result.drift.length }, 'repaired rules changed behind fwdd')
    let cuts: ReturnType<typeof flowCutsFor>['cuts'] = []
    this.update((s) => {
      const next = { ...s, applied: rotation, sync: verify ? driftRepaired(applied(s.sync, clock.now()), started, verify === true ? 'full' : 'entries') : applied(s.sync, clock.now()), driftRepairs: s.driftRepairs + result.drift.length, lastSyncWallAt: clock.wallNow() }
      const c = flowCutsFor(next, rotation)
      cuts = c.cuts
      // A target that turned unhealthy while these rules were written is still in them: it stays queued.
      return { ...next, toCut: c.toCut }
    })
    this.cutter.enqueue(cuts)
    if (verify === true) this.lastVerifyMs = performance.now() - t0
    this.o.hooks?.onSynced?.(result, (performance.now() - t0) / 1000, verify)
  }
}

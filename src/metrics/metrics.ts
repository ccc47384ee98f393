/**
 * fwdd's Prometheus metrics, served at `/metrics` on the network-facing health port.
 *
 * Target labels carry no address (CONTRACT.md: bodies on the health port carry no target
 * addresses). The daemon passes `labelTarget`, which returns the target's stable label from the
 * config (`TargetStatus.label`: `<listener>/<index or name>`, see src/reconcile/desired.ts), so the
 * same label names the same server on every node and after restarts; `fwdctl status` shows it next
 * to the address. After a reload moved targets, `relabel()` moves their series to the new labels.
 * Without `labelTarget` (tests, or a target the daemon has no label for yet) a target is labelled
 * `<listener>/seen-<n>`, n counting first sightings in this process, so it is never mistaken for a
 * config position.
 *
 * promtool-clean: prom-client's default gauges `nodejs_active_{handles,requests,resources}_total`
 * break the rule that only counters end in `_total` (`promtool check metrics` exits 3); they are
 * dropped, as their per-type siblings without `_total` carry the same numbers.
 *
 * Rule counters come from the kernel and restart from zero whenever a rule is rewritten. They are
 * exposed as true counters: each reading adds its increase since the last one, and a reading below
 * the last is taken as a reset (the whole reading is the increase). So `rate()` never sees a
 * spurious drop, at the cost of missing what a rule counted between its last reading and a rewrite.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { TargetState } from '../status.js'

const STATES: readonly TargetState[] = ['unknown', 'healthy', 'unhealthy']

/** One rule-counter reading for a target, as parsed from `iptables-save -c`. */
export interface RuleCounterRow {
  listener: string
  /** `ip:port`, the same key as in every other call. */
  target: string
  packets: number
  bytes: number
}

/** Kind of a sync, for the duration histogram. */
export type SyncKind = 'full' | 'partial' | 'noop'

export interface MetricsOptions {
  /**
   * Maps (listener, `ip:port`) to its stable, address-free label (checked), or undefined when the
   * target is not known (yet).
   */
  labelTarget?(listener: string, target: string): string | undefined
  /** Add the process and Node.js metrics (RSS, CPU, event loop); default true. */
  defaultMetrics?: boolean
  /** Exposed as `fwdd_build_info{version}`. */
  version?: string
}

interface TargetEntry {
  listener: string
  target: string
  label: string
  /** Last state set, so a relabelled target keeps its state series. */
  state?: TargetState
  packets?: number
  bytes?: number
}

/** prom-client default gauges whose names end in `_total` (only counters may; promtool). */
const NON_COUNTERS_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}\b/

/** Transitions held before they are counted (bounded memory however long nobody scrapes). */
const MAX_PENDING_TRANSITIONS = 50_000

/**
 * Owns a private registry (never prom-client's global one, so tests and a second instance do not
 * collide). Every method is synchronous and cheap; none throws for an unknown target, it is added.
 */
export class Metrics {
  readonly registry = new Registry()
  private readonly targets = new Map<string, TargetEntry>()
  private readonly nextIndex = new Map<string, number>()
  /** Listeners with listener-level series (counters, check durations). */
  private readonly listeners = new Set<string>()

  private readonly targetState = new Gauge({ name: 'fwdd_target_state', help: 'Health state of a target: 1 for its current state, 0 for the others.', labelNames: ['listener', 'target', 'state'], registers: [this.registry] })
  private readonly transitions = new Counter({ name: 'fwdd_target_transitions_total', help: 'Health state changes of a target.', labelNames: ['listener', 'target', 'from', 'to'], registers: [this.registry] })
  private readonly checkDuration = new Histogram({ name: 'fwdd_check_duration_seconds', help: 'Duration of target health checks.', labelNames: ['listener', 'result'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] })
  private readonly listenerPackets = new Counter({ name: 'fwdd_listener_packets_total', help: 'Packets matched by the listener\'s per-target rules.', labelNames: ['listener'], registers: [this.registry] })
  private readonly listenerBytes = new Counter({ name: 'fwdd_listener_bytes_total', help: 'Bytes matched by the listener\'s per-target rules.', labelNames: ['listener'], registers: [this.registry] })
  private readonly targetPackets = new Counter({ name: 'fwdd_target_packets_total', help: 'Packets matched by the target\'s rule.', labelNames: ['listener', 'target'], registers: [this.registry] })
  private readonly targetBytes = new Counter({ name: 'fwdd_target_bytes_total', help: 'Bytes matched by the target\'s rule.', labelNames: ['listener', 'target'], registers: [this.registry] })
  private readonly conntrack = new Gauge({ name: 'fwdd_target_conntrack_entries', help: 'Conntrack entries to the target.', labelNames: ['listener', 'target'], registers: [this.registry] })
  private readonly sourcePortUse = new Gauge({ name: 'fwdd_target_source_ports_used_ratio', help: 'Concurrent forwarded flows to the target address:port over the source ports one node address can use towards it (fwdd_source_port_ceiling); new flows fail at 1.', labelNames: ['listener', 'target'], registers: [this.registry] })
  private readonly sourcePortCeiling = new Gauge({ name: 'fwdd_source_port_ceiling', help: 'Concurrent flows this node can hold to one target address:port (masquerade source ports of one node address).', registers: [this.registry] })
  private readonly syncDuration = new Histogram({ name: 'fwdd_sync_duration_seconds', help: 'Duration of rule syncs.', labelNames: ['kind'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] })
  private readonly lastSync = new Gauge({ name: 'fwdd_last_sync_timestamp_seconds', help: 'When the rules were last applied successfully (unix seconds).', registers: [this.registry] })
  private readonly lastQueued = new Gauge({ name: 'fwdd_last_queued_timestamp_seconds', help: 'When a change was last queued for sync (unix seconds).', registers: [this.registry] })
  private readonly ejected = new Gauge({ name: 'fwdd_target_ejected', help: 'Whether the target is out of rotation on evidence from its own traffic (passive health): 1 ejected, 0 not.', labelNames: ['listener', 'target'], registers: [this.registry] })
  private readonly ejections = new Counter({ name: 'fwdd_target_ejections_total', help: 'Times passive health ejected the target, by what the traffic showed (unanswered, reset).', labelNames: ['listener', 'target', 'reason'], registers: [this.registry] })
  private readonly verdicts = new Counter({ name: 'fwdd_passive_flow_verdicts_total', help: 'Forwarded tcp flows judged by passive health, by verdict (answered, unanswered, reset).', labelNames: ['verdict'], registers: [this.registry] })
  private readonly lostEvents = new Counter({ name: 'fwdd_passive_events_lost_total', help: 'Times the kernel reported dropped conntrack events (passive health falls back to active checks for a while).', registers: [this.registry] })
  private readonly passiveMode = new Gauge({ name: 'fwdd_passive_mode', help: 'Passive health watch mode: 1 for the current one (watching, fallback, unavailable, off), 0 for the others.', labelNames: ['mode'], registers: [this.registry] })
  private lostSeen = 0
  private readonly driftRepairs = new Counter({ name: 'fwdd_drift_repairs_total', help: 'Times a resync found the kernel differing from the desired rules and repaired it.', labelNames: ['kind'], registers: [this.registry] })
  private readonly failedApplies = new Counter({ name: 'fwdd_apply_failures_total', help: 'Rule set applies that failed.', registers: [this.registry] })
  private readonly failedReloads = new Counter({ name: 'fwdd_reload_failures_total', help: 'Config reloads that failed (the old config stays in force).', registers: [this.registry] })
  private readonly draining = new Gauge({ name: 'fwdd_draining', help: '1 while the node drains, for any reason in fwdd_drain_reason.', registers: [this.registry] })
  private readonly drainReason = new Gauge({ name: 'fwdd_drain_reason', help: '1 for each reason the node drains now (operator, scheduled-event), 0 otherwise.', labelNames: ['reason'], registers: [this.registry] })
  private readonly scheduledEvent = new Gauge({ name: 'fwdd_scheduled_event_pending', help: '1 while an Azure Scheduled Event takes this node away (labelled with its type and whether fwdd approved it).', labelNames: ['type', 'approved'], registers: [this.registry] })
  private readonly flowsLeft = new Gauge({ name: 'fwdd_scheduled_event_flows_left', help: 'Forwarded flows left while a scheduled event drains the node (absent when none or unreadable).', registers: [this.registry] })
  private readonly inSync = new Gauge({ name: 'fwdd_rules_in_sync', help: '1 when the applied rules match the desired rules.', registers: [this.registry] })

  /** Transitions counted but not yet in the counter: listener, target label, from, to. */
  private readonly pendingTransitions: Array<readonly [string, string, TargetState, TargetState]> = []

  constructor(private readonly options: MetricsOptions = {}) {
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry })
      for (const name of NON_COUNTERS_NAMED_TOTAL) this.registry.removeSingleMetric(name)
    }
    if (options.version !== undefined) {
      new Gauge({ name: 'fwdd_build_info', help: 'fwdd version.', labelNames: ['version'], registers: [this.registry] }).set({ version: options.version }, 1)
    }
    this.failedApplies.inc(0)
    this.failedReloads.inc(0)
  }

  /** The label a target has (or gets now); stable until the target is removed. */
  targetLabel(listener: string, target: string): string {
    return this.entry(listener, target).label
  }

  /** Every known target with its label, for the control socket; sorted by listener then label. */
  targetLabels(): Array<{ listener: string; target: string; label: string }> {
    return [...this.targets.values()]
      .map(({ listener, target, label }) => ({ listener, target, label }))
      .sort((a, b) => a.listener.localeCompare(b.listener) || a.label.localeCompare(b.label, undefined, { numeric: true }))
  }

  /** Sets the one-hot state gauge of a target. */
  setTargetHealth(listener: string, target: string, state: TargetState): void {
    const e = this.entry(listener, target)
    e.state = state
    const label = e.label
    for (const s of STATES) this.targetState.set({ listener, target: label, state: s }, s === state ? 1 : 0)
  }

  /**
   * Counts one state change; does not set the state (call `setTargetHealth` too). The count reaches
   * the counter at the next `text()` (or removal, or relabel), or once MAX_PENDING_TRANSITIONS wait:
   * one check shared by 10,000 listeners makes 10,000 transitions at once, and counting them then
   * (~50 ms) held the event loop on the start's way to its first write.
   */
  recordTransition(listener: string, target: string, from: TargetState, to: TargetState): void {
    this.pendingTransitions.push([listener, this.targetLabel(listener, target), from, to])
    if (this.pendingTransitions.length >= MAX_PENDING_TRANSITIONS) this.flushTransitions()
  }

  private flushTransitions(): void {
    for (const [listener, target, from, to] of this.pendingTransitions) this.transitions.inc({ listener, target, from, to })
    this.pendingTransitions.length = 0
  }

  /** Records one check's duration; per listener, not per target, to bound the series count. */
  observeCheckLatency(listener: string, seconds: number, ok: boolean): void {
    this.listeners.add(listener)
    this.checkDuration.observe({ listener, result: ok ? 'ok' : 'fail' }, seconds)
  }

  /**
   * Feeds one reading of the kernel's rule counters (see the module comment on resets). The first
   * reading of a target counts in full: rules outlive daemon restarts, so the counter then starts at
   * what the rule has matched since it was written, which is what a new series should show.
   */
  setRuleCounters(rows: readonly RuleCounterRow[]): void {
    for (const row of rows) {
      const e = this.entry(row.listener, row.target)
      const dp = increase(e.packets, row.packets)
      const db = increase(e.bytes, row.bytes)
      e.packets = row.packets
      e.bytes = row.bytes
      this.listeners.add(row.listener)
      this.targetPackets.inc({ listener: row.listener, target: e.label }, dp)
      this.targetBytes.inc({ listener: row.listener, target: e.label }, db)
      this.listenerPackets.inc({ listener: row.listener }, dp)
      this.listenerBytes.inc({ listener: row.listener }, db)
    }
  }

  /** Sets the conntrack entry count of a target. */
  setConntrackEntries(listener: string, target: string, entries: number): void {
    this.conntrack.set({ listener, target: this.targetLabel(listener, target) }, entries)
  }

  /**
   * Sets a target's share of the source-port ceiling (flows / ceiling), and the ceiling itself.
   * The flows are the target address:port's (shared by listeners that forward to it): that is the
   * tuple space masquerade picks source ports from.
   */
  setSourcePortUse(listener: string, target: string, flows: number, ceiling: number): void {
    this.sourcePortCeiling.set(ceiling)
    this.sourcePortUse.set({ listener, target: this.targetLabel(listener, target) }, ceiling > 0 ? flows / ceiling : 0)
  }

  /** Records one sync's duration by kind. */
  observeSync(seconds: number, kind: SyncKind): void {
    this.syncDuration.observe({ kind }, seconds)
  }

  setLastSync(at: Date): void {
    this.lastSync.set(at.getTime() / 1000)
  }

  setLastQueued(at: Date): void {
    this.lastQueued.set(at.getTime() / 1000)
  }

  /** `kind` says what was repaired, e.g. `rules` or `jumps`. */
  incDriftRepairs(kind: string): void {
    this.driftRepairs.inc({ kind })
  }

  incFailedApplies(): void {
    this.failedApplies.inc()
  }

  incFailedReloads(): void {
    this.failedReloads.inc()
  }

  setDraining(draining: boolean): void {
    this.draining.set(draining ? 1 : 0)
  }

  /** The drain reasons and the pending scheduled event (status.node), replacing the previous ones. */
  setScheduledEvent(reasons: readonly string[], event: { type: string; approved: boolean; flowsLeft: number | null } | null): void {
    for (const reason of ['operator', 'scheduled-event']) this.drainReason.set({ reason }, reasons.includes(reason) ? 1 : 0)
    this.scheduledEvent.reset()
    this.flowsLeft.reset()
    if (!event) return
    this.scheduledEvent.set({ type: event.type, approved: String(event.approved) }, 1)
    if (event.flowsLeft !== null) this.flowsLeft.set(event.flowsLeft)
  }

  /** Sets whether a target is ejected by passive health. */
  setEjected(listener: string, target: string, ejected: boolean): void {
    this.ejected.set({ listener, target: this.targetLabel(listener, target) }, ejected ? 1 : 0)
  }

  /** Counts one passive ejection. */
  recordEjection(listener: string, target: string, reason: 'unanswered' | 'reset'): void {
    this.ejections.inc({ listener, target: this.targetLabel(listener, target), reason })
  }

  /** Counts passive flow verdicts. */
  recordVerdicts(answered: number, unanswered: number, reset: number): void {
    if (answered > 0) this.verdicts.inc({ verdict: 'answered' }, answered)
    if (unanswered > 0) this.verdicts.inc({ verdict: 'unanswered' }, unanswered)
    if (reset > 0) this.verdicts.inc({ verdict: 'reset' }, reset)
  }

  /** The watch's mode and its running total of lost-event reports (the counter follows the total). */
  setPassiveWatch(mode: string, lostEvents: number): void {
    for (const m of ['watching', 'fallback', 'unavailable', 'off']) this.passiveMode.set({ mode: m }, m === mode ? 1 : 0)
    if (lostEvents > this.lostSeen) this.lostEvents.inc(lostEvents - this.lostSeen)
    this.lostSeen = Math.max(this.lostSeen, lostEvents)
  }

  setInSync(inSync: boolean): void {
    this.inSync.set(inSync ? 1 : 0)
  }

  /** Drops every series of one target (idempotent); a target added again later gets a new label by default. */
  removeTarget(listener: string, target: string): void {
    this.flushTransitions()
    const key = keyOf(listener, target)
    const e = this.targets.get(key)
    if (!e) return
    this.targets.delete(key)
    const labels = { listener, target: e.label }
    for (const s of STATES) this.targetState.remove({ ...labels, state: s })
    for (const from of STATES) for (const to of STATES) this.transitions.remove({ ...labels, from, to })
    this.targetPackets.remove(labels)
    this.targetBytes.remove(labels)
    this.conntrack.remove(labels)
    this.sourcePortUse.remove(labels)
    this.ejected.remove(labels)
    for (const reason of ['unanswered', 'reset']) this.ejections.remove({ ...labels, reason })
  }

  /**
   * Asks `labelTarget` again for every known target and moves the series of those whose label
   * changed (a reload that reordered or renamed targets). Their counters restart under the new
   * label, which `rate()` reads as a new series, never as a drop. Idempotent.
   */
  relabel(): void {
    this.flushTransitions()
    // Two passes: when two targets swap labels, removing the second must not drop the first's new series.
    const moved = [...this.targets.values()].filter((e) => {
      const now = this.options.labelTarget?.(e.listener, e.target)
      return now !== undefined && now !== e.label
    })
    for (const e of moved) this.removeTarget(e.listener, e.target)
    for (const e of moved) {
      if (e.state !== undefined) this.setTargetHealth(e.listener, e.target, e.state)
      else this.entry(e.listener, e.target)
    }
  }

  /** Removes every target not in `keep` (e.g. after a reload or DNS change). */
  retainTargets(keep: Iterable<{ listener: string; target: string }>): void {
    const wanted = new Set<string>()
    for (const k of keep) wanted.add(keyOf(k.listener, k.target))
    for (const e of [...this.targets.values()]) if (!wanted.has(keyOf(e.listener, e.target))) this.removeTarget(e.listener, e.target)
  }

  /** Removes the listener-level series (and targets) of listeners not in `names`. */
  retainListeners(names: Iterable<string>): void {
    const keep = new Set(names)
    for (const e of [...this.targets.values()]) if (!keep.has(e.listener)) this.removeTarget(e.listener, e.target)
    for (const listener of [...this.listeners]) {
      if (keep.has(listener)) continue
      this.listeners.delete(listener)
      this.listenerPackets.remove({ listener })
      this.listenerBytes.remove({ listener })
      for (const result of ['ok', 'fail']) this.checkDuration.remove({ listener, result })
    }
  }

  /** The exposition text for `/metrics`. */
  text(): Promise<string> {
    this.flushTransitions()
    return this.registry.metrics()
  }

  /** The content type to serve `text()` with. */
  get contentType(): string {
    return this.registry.contentType
  }

  private entry(listener: string, target: string): TargetEntry {
    const key = keyOf(listener, target)
    let e = this.targets.get(key)
    if (e) return e
    let label = this.options.labelTarget?.(listener, target)
    if (label !== undefined && IPV4.test(label)) throw new Error(`metrics label for a target of listener "${listener}" contains an address`)
    if (label === undefined) {
      const n = this.nextIndex.get(listener) ?? 0
      this.nextIndex.set(listener, n + 1)
      label = `${listener}/seen-${n}`
    }
    e = { listener, target, label }
    this.targets.set(key, e)
    return e
  }
}

function keyOf(listener: string, target: string): string {
  return `${listener}\u0000${target}`
}

/** The counter increase between two kernel readings; a smaller reading means the rule was rewritten. */
function increase(previous: number | undefined, current: number): number {
  if (!Number.isFinite(current) || current < 0) return 0
  if (previous === undefined || current < previous) return current
  return current - previous
}

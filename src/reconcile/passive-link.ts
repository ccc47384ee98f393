/**
 * The reconciler's link to passive health: runs the traffic watch while some listener uses it,
 * tells the watch which flows to judge, and folds its verdicts and the active results that end
 * ejections into the reconciler's state through the reconciler's one update path. Split out of
 * reconciler.ts so that file stays about syncing; it holds no state of its own but the watch.
 */
import type { Logger } from 'pino'
import type { ConntrackEvent } from '../passive/conntrack-event.js'
import type { FlowClass, FlowOutcome } from '../passive/flow-tracker.js'
import type { TrafficWatcherHandlers } from '../passive/traffic-watcher.js'
import type { ReconcilerHooks } from './reconciler.js'
import { ejectedKeys, withActiveResult, withFlowOutcomes } from './passive-state.js'
import type { ReconcilerState } from './state.js'

/** A running traffic watch (passive/traffic-watcher.ts), as the reconciler drives it. */
export interface TrafficWatch {
  start(): void
  stop(): void
  forget(keys: ReadonlySet<string>): void
}

/** What the link needs of the reconciler. */
export interface PassiveLinkDeps {
  state(): ReconcilerState
  update(fn: (s: ReconcilerState) => ReconcilerState): void
  /** Asks for a sync (an ejection or a return changes the rotation). */
  request(): void
  stopped(): boolean
  now(): number
  log: Logger
  hooks?: ReconcilerHooks
  watchTraffic?: (handlers: TrafficWatcherHandlers) => TrafficWatch
  /** The watch's conntrack listens to events now (TrafficWatcherHandlers.onListening). */
  onListening?: () => void
}

export class PassiveLink {
  private watch: TrafficWatch | null = null
  /** `listenerPort|address:port` -> target and threshold, rebuilt when the index changes. */
  private flowClasses: { index: unknown; map: Map<string, FlowClass> } = { index: null, map: new Map() }

  constructor(private readonly d: PassiveLinkDeps) {}

  /** Ends the watch for good. */
  stop(): void {
    this.watch?.stop()
    this.watch = null
  }

  /** Runs the traffic watch while some listener uses passive health, and not otherwise. */
  sync(): void {
    const wanted = !this.d.stopped() && this.d.watchTraffic !== undefined && this.d.state().config.listeners.some((l) => l.protocol === 'tcp' && l.passive?.enabled)
    if (wanted && !this.watch) {
      this.watch = this.d.watchTraffic!({
        classify: (ev) => this.classifyFlow(ev),
        onOutcomes: (outcomes) => this.onFlowOutcomes(outcomes),
        onListening: () => this.d.onListening?.(),
        onReport: (report) => {
          this.d.update((s) => ({ ...s, passiveWatch: { ...report } }))
          this.d.hooks?.onWatchReport?.(report)
          if (report.mode !== 'watching') this.d.log.warn({ mode: report.mode, lostEvents: report.lostEvents, reason: report.reason }, 'passive health paused')
          else this.d.log.info({ lostEvents: report.lostEvents }, 'passive health watching forwarded flows')
        },
      })
      this.d.update((s) => ({ ...s, passiveWatch: { mode: 'watching', lostEvents: s.passiveWatch.lostEvents, reason: null } }))
      this.watch.start()
    } else if (!wanted && this.watch) {
      this.watch.stop()
      this.watch = null
      this.d.update((s) => ({ ...s, passiveWatch: { mode: 'off', lostEvents: s.passiveWatch.lostEvents, reason: null } }))
    }
  }

  private classifyFlow(ev: ConntrackEvent): FlowClass | null {
    const index = this.d.state().index
    if (this.flowClasses.index !== index) {
      const map = new Map<string, FlowClass>()
      for (const l of this.d.state().config.listeners) {
        if (l.protocol !== 'tcp' || !l.passive?.enabled) continue
        for (const t of index.byListener.get(l.name) ?? []) map.set(`${l.port}|${t.address}:${t.port}`, { key: t.key, unansweredMs: l.passive.unansweredMs, minUnansweredMs: l.passive.minUnansweredMs })
      }
      this.flowClasses = { index, map }
    }
    const c = this.flowClasses.map.get(`${ev.listenerPort}|${ev.target.address}:${ev.target.port}`)
    if (!c || this.d.state().passive.get(c.key)?.ejection) return null
    return c
  }

  private onFlowOutcomes(outcomes: FlowOutcome[]): void {
    if (this.d.stopped()) return
    this.d.hooks?.onFlowOutcomes?.(outcomes)
    const base = this.d.state()
    const r = withFlowOutcomes(base, outcomes)
    // Successes on targets with no failure pending change nothing: no new version for them.
    if (r.state !== base) this.d.update(() => r.state)
    const ejected = r.ejected
    // Only failures can start a hold; one log line when a target's hold starts, not per flow.
    const held = r.state === base ? [] : [...new Set(outcomes.filter((o) => !o.ok).map((o) => o.key))].filter((k) => !base.passive.get(k)?.held && this.d.state().passive.get(k)?.held)
    for (const k of held) this.d.log.warn({ target: this.d.state().index.byKey.get(k)?.label, reason: this.d.state().passive.get(k)?.held }, 'ejection held back')
    if (ejected.length === 0) return
    this.watch?.forget(new Set(ejected))
    for (const key of ejected) {
      const t = this.d.state().index.byKey.get(key)
      const p = this.d.state().passive.get(key)
      if (!t || !p?.ejection) continue
      this.d.log.warn({ listener: t.listener, target: t.label, reason: p.ejection.reason }, 'target ejected by traffic')
      this.d.hooks?.onEjected?.(t, p.lastReason ?? 'unanswered', p.ejection.until - p.ejection.at)
    }
    this.d.request()
  }

  /** An active check result: may end the ejections of the targets sharing that check. */
  onActiveResult(checkKey: string, ok: boolean): void {
    if (ejectedKeys(this.d.state()).size === 0) return
    let restored: string[] = []
    this.d.update((s) => {
      const r = withActiveResult(s, checkKey, ok, this.d.now())
      restored = r.restored
      return r.state
    })
    if (restored.length === 0) return
    for (const key of restored) {
      const t = this.d.state().index.byKey.get(key)
      if (!t) continue
      this.d.log.info({ listener: t.listener, target: t.label }, 'ejection ended: back in rotation')
      this.d.hooks?.onRestored?.(t)
    }
    this.d.request()
  }
}

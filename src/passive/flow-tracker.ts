/**
 * Turns the conntrack events of forwarded tcp flows into verdicts on their targets. Pure (no clock,
 * no I/O): every time comes in as an argument, on the monotonic clock, taken from the event's own
 * timestamp, never from when Node read it.
 *
 * A flow is remembered from its NEW event (SYN_SENT). Its first answer from the target (an event in
 * SYN_RECV or ESTABLISHED, or any event without [UNREPLIED]) is a success. A reset before it was
 * established (state CLOSE while unreplied) is a failure, `reset`. A flow with no answer by its
 * created time plus `unansweredMs` is a failure, `unanswered`, once the caller knows every event up
 * to that instant was read (`expire(horizon)`). A DESTROY of an unreplied SYN_SENT flow (fwdd's own
 * cut, or the 120 s timeout) just forgets it.
 */
import type { ConntrackEvent } from './conntrack-event.js'

/** Which target a flow belongs to and its threshold; null: not a flow passive health judges. */
export interface FlowClass {
  /** The target key (`listener|address:port`). */
  key: string
  unansweredMs: number
}

/** One verdict on one flow. `at` is the monotonic instant the verdict became true. */
export interface FlowOutcome {
  key: string
  ok: boolean
  reason: 'unanswered' | 'reset' | null
  at: number
}

interface Flow {
  key: string
  createdAt: number
}

/** Past this many flows awaiting an answer, new ones are not tracked (counted in `untracked`). */
export const MAX_TRACKED_FLOWS = 200_000

/** The set of flows awaiting an answer. One instance per watch; `clear()` after lost events. */
export class FlowTracker {
  /** unansweredMs -> flows in creation order (events arrive in order), so `expire` stops early. */
  private readonly buckets = new Map<number, Map<string, Flow>>()
  private count = 0
  /** Flows not tracked because MAX_TRACKED_FLOWS were already waiting. */
  untracked = 0

  constructor(private readonly classify: (ev: ConntrackEvent) => FlowClass | null, private readonly maxFlows = MAX_TRACKED_FLOWS) {}

  /** Whether flow `id` awaits an answer (lets the watcher skip parsing events of other flows). */
  has(id: string): boolean {
    for (const bucket of this.buckets.values()) if (bucket.has(id)) return true
    return false
  }

  /** Flows awaiting an answer. */
  get size(): number {
    return this.count
  }

  /** Folds one event (at monotonic instant `at`) in; returns the verdicts it settles. */
  onEvent(ev: ConntrackEvent, at: number): FlowOutcome[] {
    if (ev.proto !== 'tcp') return []
    if (ev.type === 'new') {
      if (!ev.unreplied || ev.state !== 'SYN_SENT') return []
      const c = this.classify(ev)
      if (!c) return []
      if (this.count >= this.maxFlows) {
        this.untracked++
        return []
      }
      const bucket = this.buckets.get(c.unansweredMs) ?? new Map<string, Flow>()
      this.buckets.set(c.unansweredMs, bucket)
      if (!bucket.has(ev.id)) this.count++
      bucket.set(ev.id, { key: c.key, createdAt: at })
      return []
    }
    const found = this.take(ev.id, ev.type === 'destroy' || !ev.unreplied || ev.state === 'CLOSE')
    if (!found) return []
    if (!ev.unreplied) return [{ key: found.key, ok: true, reason: null, at }]
    if (ev.state === 'CLOSE') return [{ key: found.key, ok: false, reason: 'reset', at }]
    return []
  }

  /**
   * Flow `id` was answered at `at` (a later event without [UNREPLIED]): the verdict `onEvent` gives
   * such an event, without needing the rest of the event. Nothing when it is not tracked.
   */
  answered(id: string, at: number): FlowOutcome[] {
    const found = this.take(id, true)
    return found ? [{ key: found.key, ok: true, reason: null, at }] : []
  }

  /** Every tracked flow whose deadline is at or before `horizon` becomes an `unanswered` failure. */
  expire(horizon: number): FlowOutcome[] {
    const out: FlowOutcome[] = []
    for (const [ms, bucket] of this.buckets) {
      for (const [id, f] of bucket) {
        if (f.createdAt + ms > horizon) break
        bucket.delete(id)
        this.count--
        out.push({ key: f.key, ok: false, reason: 'unanswered', at: f.createdAt + ms })
      }
    }
    return out.sort((a, b) => a.at - b.at)
  }

  /** The earliest deadline of a tracked flow, or null when none waits. */
  nextDeadline(): number | null {
    let best: number | null = null
    for (const [ms, bucket] of this.buckets) {
      const first = bucket.values().next()
      if (!first.done && (best === null || first.value.createdAt + ms < best)) best = first.value.createdAt + ms
    }
    return best
  }

  /** Forgets every flow (after lost events their answers may never arrive). */
  clear(): void {
    this.buckets.clear()
    this.count = 0
  }

  /** Forgets every flow of these targets (they were ejected: their verdicts no longer matter). */
  forget(keys: ReadonlySet<string>): void {
    for (const bucket of this.buckets.values()) {
      for (const [id, f] of bucket) {
        if (!keys.has(f.key)) continue
        bucket.delete(id)
        this.count--
      }
    }
  }

  private take(id: string, remove: boolean): Flow | undefined {
    for (const bucket of this.buckets.values()) {
      const f = bucket.get(id)
      if (!f) continue
      if (remove) {
        bucket.delete(id)
        this.count--
      }
      return f
    }
    return undefined
  }
}

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
  unansweredMs: number
}

/** Past this many flows awaiting an answer, new ones are not tracked (counted in `untracked`). */
export const MAX_TRACKED_FLOWS = 200_000

/** The answer of most calls (most events settle nothing): one frozen array, not one per event. */
const NO_OUTCOMES = Object.freeze([]) as unknown as FlowOutcome[]

/** The set of flows awaiting an answer. One instance per watch; `clear()` after lost events. */
export class FlowTracker {
  /** Every waiting flow by id (one lookup per event, whichever bucket it waits in). */
  private readonly flows = new Map<string, Flow>()
  /** unansweredMs -> flows in creation order (events arrive in order), so `expire` stops early. */
  private readonly buckets = new Map<number, Map<string, Flow>>()
  /** Flows not tracked because MAX_TRACKED_FLOWS were already waiting. */
  untracked = 0

  constructor(private readonly classify: (ev: ConntrackEvent) => FlowClass | null, private readonly maxFlows = MAX_TRACKED_FLOWS) {}

  /** Whether flow `id` awaits an answer (lets the watcher skip parsing events of other flows). */
  has(id: string): boolean {
    return this.flows.has(id)
  }

  /** Flows awaiting an answer. */
  get size(): number {
    return this.flows.size
  }

  /** Folds one event (at monotonic instant `at`) in; returns the verdicts it settles. */
  onEvent(ev: ConntrackEvent, at: number): FlowOutcome[] {
    if (ev.proto !== 'tcp') return NO_OUTCOMES
    if (ev.type === 'new') {
      if (!ev.unreplied || ev.state !== 'SYN_SENT') return NO_OUTCOMES
      const c = this.classify(ev)
      if (c) this.add(ev.id, { key: c.key, createdAt: at, unansweredMs: c.unansweredMs })
      return NO_OUTCOMES
    }
    const found = this.take(ev.id, ev.type === 'destroy' || !ev.unreplied || ev.state === 'CLOSE')
    if (!found) return NO_OUTCOMES
    if (!ev.unreplied) return [{ key: found.key, ok: true, reason: null, at }]
    if (ev.state === 'CLOSE') return [{ key: found.key, ok: false, reason: 'reset', at }]
    return NO_OUTCOMES
  }

  /**
   * Flow `id` was answered at `at` (a later event without [UNREPLIED]): the verdict `onEvent` gives
   * such an event, without needing the rest of the event. Nothing when it is not tracked.
   */
  answered(id: string, at: number): FlowOutcome[] {
    const found = this.take(id, true)
    return found ? [{ key: found.key, ok: true, reason: null, at }] : NO_OUTCOMES
  }

  /** Every tracked flow whose deadline is at or before `horizon` becomes an `unanswered` failure. */
  expire(horizon: number): FlowOutcome[] {
    if (this.flows.size === 0) return NO_OUTCOMES
    let out: FlowOutcome[] | null = null
    for (const [ms, bucket] of this.buckets) {
      for (const [id, f] of bucket) {
        if (f.createdAt + ms > horizon) break
        bucket.delete(id)
        this.flows.delete(id)
        ;(out ??= []).push({ key: f.key, ok: false, reason: 'unanswered', at: f.createdAt + ms })
      }
    }
    return out === null ? NO_OUTCOMES : out.sort((a, b) => a.at - b.at)
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
    this.flows.clear()
  }

  /** Forgets every flow of these targets (they were ejected: their verdicts no longer matter). */
  forget(keys: ReadonlySet<string>): void {
    for (const bucket of this.buckets.values()) {
      for (const [id, f] of bucket) {
        if (!keys.has(f.key)) continue
        bucket.delete(id)
        this.flows.delete(id)
      }
    }
  }

  private add(id: string, f: Flow): void {
    const old = this.flows.get(id)
    if (old) this.buckets.get(old.unansweredMs)?.delete(id)
    else if (this.flows.size >= this.maxFlows) {
      this.untracked++
      return
    }
    let bucket = this.buckets.get(f.unansweredMs)
    if (!bucket) this.buckets.set(f.unansweredMs, (bucket = new Map()))
    bucket.set(id, f)
    this.flows.set(id, f)
  }

  private take(id: string, remove: boolean): Flow | undefined {
    const f = this.flows.get(id)
    if (f && remove) {
      this.flows.delete(id)
      this.buckets.get(f.unansweredMs)?.delete(id)
    }
    return f
  }
}

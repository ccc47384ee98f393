/**
 * Turns the conntrack events of forwarded tcp flows into verdicts on their targets. Pure (no clock,
 * no I/O): every time comes in as an argument, on the monotonic clock, taken from the event's own
 * timestamp, never from when Node read it.
 *
 * A flow is remembered from its NEW event (SYN_SENT). Its first answer from the target (an event in
 * SYN_RECV or ESTABLISHED, or any event without [UNREPLIED]) is a success. A reset before it was
 * established (state CLOSE while unreplied) is a failure, `reset`. A flow with no answer by its
 * deadline is a failure, `unanswered`, once the caller knows every event up to that instant was
 * read (`expire(horizon)`). A DESTROY of an unreplied SYN_SENT flow (fwdd's own cut, or the 120 s
 * timeout) just forgets it.
 *
 * The deadline is the flow's creation plus its target's threshold: `unansweredMs` until the target
 * has answered MIN_RTT_SAMPLES flows, then learned from how fast it answers, as TCP learns its
 * retransmission timeout (RFC 6298: smoothed round trip plus four times its variation), doubled
 * for margin and kept within [minUnansweredMs, unansweredMs]. A target on a 2 ms path is judged
 * after minUnansweredMs (50 ms), one a second away after about two seconds: silence is judged by
 * what is normal for that path, not by one number for every path. An answer that comes after its
 * flow was judged unanswered (within LATE_ANSWER_MS) is not a success, but it is learned from: a
 * path that became slower raises its threshold by its first late answers instead of being judged
 * by the old, faster one for ever.
 */
import type { ConntrackEvent } from './conntrack-event.js'
import { DeadlineHeap } from './deadline-heap.js'

/** Which target a flow belongs to and its thresholds; null: not a flow passive health judges. */
export interface FlowClass {
  /** The target key (`listener|address:port`). */
  key: string
  /** The longest a SYN may wait (and the threshold until the target's answer time is learned). */
  unansweredMs: number
  /** The least a learned threshold may be. Equal to unansweredMs: nothing is learned. */
  minUnansweredMs: number
}

/** One verdict on one flow. `at` is the monotonic instant the verdict became true. */
export interface FlowOutcome {
  key: string
  ok: boolean
  reason: 'unanswered' | 'reset' | null
  at: number
  /** For `unanswered`: the threshold the flow was judged by (ms). */
  thresholdMs?: number
}

interface Flow {
  id: string
  key: string
  createdAt: number
  thresholdMs: number
}

/** A target's answer time, as TCP keeps a path's round trip (RFC 6298), in ms. */
export interface AnswerTime {
  srtt: number
  rttvar: number
  samples: number
}

/** Past this many flows awaiting an answer, new ones are not tracked (counted in `untracked`). */
export const MAX_TRACKED_FLOWS = 200_000
/** How long after its creation a flow judged unanswered still teaches its target's answer time. */
export const LATE_ANSWER_MS = 3000
const LATE_MAX = 10_000
/** Answers a target gives before its threshold is learned (until then: unansweredMs). */
export const MIN_RTT_SAMPLES = 8

/** The answer of most calls (most events settle nothing): one frozen array, not one per event. */
const NO_OUTCOMES = Object.freeze([]) as unknown as FlowOutcome[]

/** Folds one answer time (ms) into a target's estimate (RFC 6298 section 2, alpha 1/8, beta 1/4). */
export function withAnswer(a: AnswerTime | undefined, sampleMs: number): AnswerTime {
  if (!a) return { srtt: sampleMs, rttvar: sampleMs / 2, samples: 1 }
  const rttvar = 0.75 * a.rttvar + 0.25 * Math.abs(a.srtt - sampleMs)
  return { srtt: 0.875 * a.srtt + 0.125 * sampleMs, rttvar, samples: a.samples + 1 }
}

/** The threshold for a new flow to a target with answer time `a`. */
export function thresholdFor(a: AnswerTime | undefined, c: Pick<FlowClass, 'unansweredMs' | 'minUnansweredMs'>): number {
  const floor = Math.min(c.minUnansweredMs, c.unansweredMs)
  if (!a || a.samples < MIN_RTT_SAMPLES || floor >= c.unansweredMs) return c.unansweredMs
  return Math.min(c.unansweredMs, Math.max(floor, Math.ceil(2 * (a.srtt + 4 * a.rttvar))))
}

/** The set of flows awaiting an answer. One instance per watch; `clear()` after lost events. */
export class FlowTracker {
  /** Every waiting flow by id. */
  private readonly flows = new Map<string, Flow>()
  /** Waiting flows by deadline; entries of flows no longer waiting are skipped when they come up. */
  private readonly deadlines = new DeadlineHeap<Flow>()
  /** Each target's answer time (kept across `clear()`: lost events do not make it wrong). */
  private readonly answers = new Map<string, AnswerTime>()
  /** Flows judged unanswered, by id, in the order judged: a late answer still teaches (LATE_ANSWER_MS). */
  private readonly late = new Map<string, Flow>()
  /** Flows not tracked because MAX_TRACKED_FLOWS were already waiting. */
  untracked = 0

  constructor(private readonly classify: (ev: ConntrackEvent) => FlowClass | null, private readonly maxFlows = MAX_TRACKED_FLOWS) {}

  /** Whether flow `id` awaits an answer (lets the watcher skip parsing events of other flows). */
  has(id: string): boolean {
    return this.flows.has(id) || this.late.has(id)
  }

  /** Flows awaiting an answer. */
  get size(): number {
    return this.flows.size
  }

  /** A target's learned answer time, if it answered any flow. */
  answerTime(key: string): AnswerTime | undefined {
    return this.answers.get(key)
  }

  /** Folds one event (at monotonic instant `at`) in; returns the verdicts it settles. */
  onEvent(ev: ConntrackEvent, at: number): FlowOutcome[] {
    if (ev.proto !== 'tcp') return NO_OUTCOMES
    if (ev.type === 'new') {
      if (!ev.unreplied || ev.state !== 'SYN_SENT') return NO_OUTCOMES
      const c = this.classify(ev)
      if (c) this.add({ id: ev.id, key: c.key, createdAt: at, thresholdMs: thresholdFor(this.answers.get(c.key), c) })
      return NO_OUTCOMES
    }
    const found = this.take(ev.id, ev.type === 'destroy' || !ev.unreplied || ev.state === 'CLOSE')
    if (!found) {
      if (!ev.unreplied) this.learnLate(ev.id, at)
      return NO_OUTCOMES
    }
    if (!ev.unreplied) return this.success(found, at)
    if (ev.state === 'CLOSE') return [{ key: found.key, ok: false, reason: 'reset', at }]
    return NO_OUTCOMES
  }

  /**
   * Flow `id` was answered at `at` (a later event without [UNREPLIED]): the verdict `onEvent` gives
   * such an event, without needing the rest of the event. Nothing when it is not tracked.
   */
  answered(id: string, at: number): FlowOutcome[] {
    const found = this.take(id, true)
    if (found) return this.success(found, at)
    this.learnLate(id, at)
    return NO_OUTCOMES
  }

  /** Every tracked flow whose deadline is at or before `horizon` becomes an `unanswered` failure. */
  expire(horizon: number): FlowOutcome[] {
    for (const [id, f] of this.late) {
      if (f.createdAt + LATE_ANSWER_MS > horizon && this.late.size <= LATE_MAX) break
      this.late.delete(id)
    }
    let out: FlowOutcome[] | null = null
    for (let e = this.deadlines.peek(); e !== undefined && e.deadline <= horizon; e = this.deadlines.peek()) {
      this.deadlines.pop()
      const flow = e.item
      if (this.flows.get(flow.id) !== flow) continue
      this.flows.delete(flow.id)
      this.late.set(flow.id, flow)
      ;(out ??= []).push({ key: flow.key, ok: false, reason: 'unanswered', at: e.deadline, thresholdMs: flow.thresholdMs })
    }
    return out === null ? NO_OUTCOMES : out
  }

  /** The earliest deadline of a tracked flow, or null when none waits. */
  nextDeadline(): number | null {
    for (let e = this.deadlines.peek(); e !== undefined; e = this.deadlines.peek()) {
      if (this.flows.get(e.item.id) === e.item) return e.deadline
      this.deadlines.pop()
    }
    return null
  }

  /** Forgets every flow (after lost events their answers may never arrive). */
  clear(): void {
    this.late.clear()
    this.flows.clear()
    this.deadlines.clear()
  }

  /** Forgets every flow of these targets (they were ejected: their verdicts no longer matter). */
  forget(keys: ReadonlySet<string>): void {
    for (const [id, f] of this.flows) if (keys.has(f.key)) this.flows.delete(id)
  }

  /** An answer to a flow already judged unanswered: no verdict, but its time is learned. */
  private learnLate(id: string, at: number): void {
    const f = this.late.get(id)
    if (!f) return
    this.late.delete(id)
    this.learn(f, at)
  }

  private success(f: Flow, at: number): FlowOutcome[] {
    this.learn(f, at)
    return [{ key: f.key, ok: true, reason: null, at }]
  }

  /** Folds the time from the flow's SYN to its answer at `at` into its target's answer time. */
  private learn(f: Flow, at: number): void {
    this.answers.set(f.key, withAnswer(this.answers.get(f.key), Math.max(0, at - f.createdAt)))
  }

  private add(f: Flow): void {
    if (!this.flows.has(f.id) && this.flows.size >= this.maxFlows) {
      this.untracked++
      return
    }
    this.flows.set(f.id, f)
    this.deadlines.push(f.createdAt + f.thresholdMs, f)
    // Answered flows leave their entries behind until their deadline; past a bound, rebuild.
    if (this.deadlines.size > 4 * this.flows.size + 4096) this.compact()
  }

  private compact(): void {
    this.deadlines.clear()
    for (const f of this.flows.values()) this.deadlines.push(f.createdAt + f.thresholdMs, f)
  }

  private take(id: string, remove: boolean): Flow | undefined {
    const f = this.flows.get(id)
    if (f && remove) this.flows.delete(id)
    return f
  }
}

/**
 * The adapter that feeds passive health: runs `conntrack -E` through the runner's `stream()`,
 * filtered in the kernel to fwdd's forwarded tcp flows (connmark 0x40000, the bit both dataplane
 * backends set), and hands the tracker each event at the instant conntrack received it.
 *
 * Time: each line carries conntrack's receive stamp (`-o timestamp`, wall clock). It is moved to
 * the monotonic clock by the wall-minus-monotonic offset at read time, so a line Node reads late
 * still counts from when it happened. A flow is judged unanswered only up to a horizon that every
 * event before it has certainly been read: the latest event stamp, or the instant of the previous
 * tick (Node's loop polls its pipes between two timer callbacks, so whatever conntrack wrote
 * before the previous tick has been read by this one). A stalled loop thus delays verdicts but
 * cannot invent an unanswered flow.
 *
 * Lost events: conntrack reports ENOBUFS on stderr when the kernel dropped events. Some answers are
 * then unknown, so the watcher forgets every flow it waits on, reports `fallback` (active checks
 * only) for LOSS_HOLD_MS after the last loss, and counts the losses; it never guesses.
 */
import type { Clock } from '../clock.js'
import type { Runner } from '../process/runner.js'
import { isEventLoss, parseConntrackEvent, type ConntrackEvent } from './conntrack-event.js'
import { FlowTracker, type FlowClass, type FlowOutcome } from './flow-tracker.js'

/** How often waiting flows are judged while any wait. */
export const TICK_MS = 10
/** Passive verdicts pause this long after the last lost event. */
export const LOSS_HOLD_MS = 10_000
const RESTART_MS = 1000
const RESTART_MAX_MS = 30_000
/** Netlink receive buffer asked of conntrack (`-b`): room for bursts at thousands of flows a second. */
const BUFFER_BYTES = 16 * 1024 * 1024

/**
 * The conntrack command line: fwdd's tcp flows only, stamped, with flow ids. `-e NEW,UPDATE,DESTROY`
 * stays as it is: the flows of listeners with passive health carry the event mask new,destroy,reply
 * (chains.ts CT_EVENTS), so the kernel never generates their other UPDATEs and the only UPDATE read
 * is the reply.
 */
export const CONNTRACK_EVENT_ARGS = ['-E', '-e', 'NEW,UPDATE,DESTROY', '-p', 'tcp', '-m', '0x40000/0x40000', '-o', 'timestamp,id', '-b', String(BUFFER_BYTES)] as const

/** What the watcher reports about itself (NodeStatus.passive). */
export interface WatchReport {
  mode: 'watching' | 'fallback' | 'unavailable'
  lostEvents: number
  reason: string | null
}

export interface TrafficWatcherHandlers {
  /** The target of a new flow and its threshold; null when passive health does not judge it. */
  classify(ev: ConntrackEvent): FlowClass | null
  /** Verdicts, in time order, batched per tick or per read. */
  onOutcomes(outcomes: FlowOutcome[]): void
  onReport(report: WatchReport): void
  /**
   * conntrack has subscribed to the kernel's events (its first line, the buffer-size notice, comes
   * after it has): once per run of conntrack. Rules that set the event mask only when some
   * listener exists (iptables' xt_CT) are written anew then.
   */
  onListening?(): void
}

/** Lines and events seen, for the cost figure and metrics. */
export interface WatchCounters {
  lines: number
  events: number
  lostEvents: number
}

/** One watch: `start()` runs conntrack (restarting it if it ends), `stop()` ends it. */
export class TrafficWatcher {
  readonly counters: WatchCounters = { lines: 0, events: 0, lostEvents: 0 }
  private readonly tracker: FlowTracker
  private child: { stop(): void } | null = null
  private tick: unknown = null
  private restart: unknown = null
  private stopped = false
  /** Latest event instant (monotonic) read. */
  private watermark = -Infinity
  /** Monotonic instant of the previous tick: everything written before it has been read. */
  private lastTickAt = -Infinity
  private holdUntil = -Infinity
  private restarts = 0
  private pending: FlowOutcome[] = []
  private flushQueued = false
  private report: WatchReport = { mode: 'watching', lostEvents: 0, reason: null }
  /** Whether the running conntrack said anything yet (then it listens). */
  private heard = false

  constructor(private readonly runner: Runner, private readonly clock: Clock, private readonly h: TrafficWatcherHandlers) {
    this.tracker = new FlowTracker((ev) => h.classify(ev))
  }

  /** Flows awaiting an answer. */
  get waiting(): number {
    return this.tracker.size
  }

  start(): void {
    if (this.stopped || this.child) return
    const stream = this.runner.stream?.bind(this.runner)
    if (!stream) {
      this.setReport({ mode: 'unavailable', lostEvents: this.counters.lostEvents, reason: 'the runner cannot stream a process' })
      return
    }
    this.heard = false
    this.child = stream('conntrack', CONNTRACK_EVENT_ARGS, (line) => this.onLine(line), (code) => this.onExit(code), (line) => this.onStderr(line))
    // After a failed start, `watching` is reported only once conntrack says something (its
    // buffer-size notice comes at once), so a missing binary does not flap the mode every restart.
    if (this.report.mode !== 'unavailable') this.setReport({ ...this.report, mode: this.inHold() ? 'fallback' : 'watching', reason: this.inHold() ? this.report.reason : null })
  }

  /** Ends the watch for good. */
  stop(): void {
    this.stopped = true
    this.child?.stop()
    this.child = null
    if (this.tick !== null) this.clock.clearTimeout(this.tick)
    if (this.restart !== null) this.clock.clearTimeout(this.restart)
    this.tick = this.restart = null
  }

  /** Forgets the waiting flows of these targets (ejected: more verdicts on them mean nothing). */
  forget(keys: ReadonlySet<string>): void {
    if (keys.size > 0) this.tracker.forget(keys)
  }

  /** Folds one stdout line in (public for tests that feed lines by hand). */
  onLine(line: string): void {
    this.counters.lines++
    this.hear()
    if (this.report.mode === 'unavailable') this.alive()
    // Cheap pre-filter: an UPDATE or DESTROY of a flow nobody waits on (most lines at high rates:
    // every close step of every answered flow) is not parsed at all.
    if (!line.includes('[NEW]')) {
      const at = line.lastIndexOf(' id=')
      const id = at < 0 ? '' : line.slice(at + 4).trimEnd()
      if (at < 0 || !this.tracker.has(id)) {
        // Its stamp still tells how far the stream has been read.
        if (line.charCodeAt(0) === 91) this.advance(Number(line.slice(1, line.indexOf(']'))) * 1000)
        return
      }
      // A later event of a waiting flow without [UNREPLIED] is its answer, whatever else it says
      // (the tracker's rule): with the event mask that is the reply event, one of the two lines
      // every flow costs, so it is settled from the id and the stamp without the full parse.
      if (!line.includes('[UNREPLIED]')) {
        this.counters.events++
        const when = line.charCodeAt(0) === 91 ? this.advance(Number(line.slice(1, line.indexOf(']'))) * 1000) : this.clock.now()
        if (this.inHold()) return
        this.push(this.tracker.expire(this.watermark))
        this.push(this.tracker.answered(id, when))
        this.arm()
        return
      }
    }
    const ev = parseConntrackEvent(line)
    if (!ev) return
    this.counters.events++
    const at = ev.atWallMs === null ? this.clock.now() : this.advance(ev.atWallMs)
    if (this.inHold()) return
    // Verdicts due before this event are settled first, so they keep their time order.
    this.push(this.tracker.expire(this.watermark))
    this.push(this.tracker.onEvent(ev, at))
    this.arm()
  }

  /** Folds one stderr line in: a lost-event report starts the fallback. */
  onStderr(line: string): void {
    this.hear()
    if (this.report.mode === 'unavailable') this.alive()
    if (!isEventLoss(line)) return
    this.counters.lostEvents++
    this.tracker.clear()
    this.holdUntil = this.clock.now() + LOSS_HOLD_MS
    this.setReport({ mode: 'fallback', lostEvents: this.counters.lostEvents, reason: `the kernel dropped conntrack events (${line.trim().slice(0, 120)}); active checks only until ${LOSS_HOLD_MS / 1000} s pass without a loss` })
    this.arm()
  }

  private onExit(code: number | null): void {
    this.child = null
    if (this.stopped) return
    this.tracker.clear()
    this.setReport({ mode: 'unavailable', lostEvents: this.counters.lostEvents, reason: code === null ? 'conntrack -E could not be started (is conntrack installed?); active checks only' : `conntrack -E exited ${code}; active checks only, restarting it` })
    // Missing binary: retry slowly; it ended: retry soon, backing off while it keeps ending.
    this.restarts++
    const delay = Math.min(RESTART_MAX_MS, RESTART_MS * 2 ** Math.min(this.restarts - 1, 5))
    this.restart = this.clock.setTimeout(() => {
      this.restart = null
      this.start()
    }, delay)
    ;(this.restart as { unref?: () => void } | null)?.unref?.()
  }

  private hear(): void {
    if (this.heard) return
    this.heard = true
    this.h.onListening?.()
  }

  /** conntrack runs again after a failed start. */
  private alive(): void {
    this.restarts = 0
    this.setReport({ mode: this.inHold() ? 'fallback' : 'watching', lostEvents: this.counters.lostEvents, reason: this.inHold() ? this.report.reason : null })
  }

  /** Moves a wall stamp to the monotonic clock (clamped to the last minute) and raises the watermark. */
  private advance(atWallMs: number): number {
    const now = this.clock.now()
    const at = Number.isFinite(atWallMs) ? Math.min(now, Math.max(now - 60_000, now - (this.clock.wallNow() - atWallMs))) : now
    if (at > this.watermark) this.watermark = at
    return at
  }

  private inHold(): boolean {
    return this.clock.now() < this.holdUntil
  }

  private arm(): void {
    if (this.tick !== null || this.stopped) return
    if (this.tracker.size === 0 && !(this.report.mode === 'fallback')) return
    this.tick = this.clock.setTimeout(() => this.onTick(), TICK_MS)
    ;(this.tick as { unref?: () => void } | null)?.unref?.()
  }

  private onTick(): void {
    this.tick = null
    const now = this.clock.now()
    if (this.report.mode === 'fallback' && !this.inHold()) this.setReport({ mode: 'watching', lostEvents: this.counters.lostEvents, reason: null })
    this.push(this.tracker.expire(Math.max(this.watermark, this.lastTickAt)))
    this.lastTickAt = now
    this.flush()
    this.arm()
  }

  private push(outcomes: FlowOutcome[]): void {
    if (outcomes.length === 0) return
    for (const o of outcomes) this.pending.push(o)
    if (this.flushQueued) return
    // One state update per burst of lines, not one per event.
    this.flushQueued = true
    queueMicrotask(() => this.flush())
  }

  private flush(): void {
    this.flushQueued = false
    if (this.pending.length === 0) return
    const out = this.pending
    this.pending = []
    this.h.onOutcomes(out)
  }

  private setReport(r: WatchReport): void {
    if (r.mode === this.report.mode && r.lostEvents === this.report.lostEvents && r.reason === this.report.reason) return
    this.report = r
    this.h.onReport(r)
  }
}

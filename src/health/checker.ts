/**
 * Runs the periodic checks of every target and keeps their health. Each target gets its own timer.
 * The first check of a new target runs within `FIRST_CHECK_SPREAD_MS` (so a starting daemon has its
 * first round quickly, without firing every handshake at once; a few new checks go at once); the
 * second runs at a random phase inside the interval, and every later one an interval after the
 * previous one started. So 1000
 * targets spread their handshakes evenly over the interval instead of firing together. A state
 * change calls `onChange` once; the reconcile loop collapses bursts of changes into one sync.
 */
import { systemClock, type Clock } from '../clock.js'
import { initialHealth, recordResult, type TargetHealth } from './target-health.js'
import type { CheckResult, TcpCheck } from './tcp-check.js'

/** The window over which the first checks of new targets are spread (at most). */
export const FIRST_CHECK_SPREAD_MS = 200
/**
 * The window shrinks to this much per new check, so a few checks go at once instead of waiting up
 * to FIRST_CHECK_SPREAD_MS for nothing (10,000 listeners sharing two servers have 3 checks, and
 * their first round is the start's fail-static wait), while 1000 or more keep the whole window:
 * new handshakes never start faster than 1000 per FIRST_CHECK_SPREAD_MS because of this.
 */
export const FIRST_CHECK_GAP_MS = FIRST_CHECK_SPREAD_MS / 1000

export interface CheckedTarget {
  /** Stable identity: listener, address and port. */
  key: string
  listener: string
  address: string
  /** The port to check (the target's, or the listener's `check.port`). */
  port: number
  intervalMs: number
  timeoutMs: number
  fall: number
  rise: number
}

export interface HealthEvents {
  onChange(key: string, from: TargetHealth, to: TargetHealth): void
  onResult?(target: CheckedTarget, result: CheckResult): void
}

export interface HealthCheckerOptions {
  /** Timers and time; the system clock unless a test injects a fake. */
  clock?: Clock
  /** Uniform in [0, 1): the spread of the checks. */
  random?: () => number
}

interface Entry {
  target: CheckedTarget
  health: TargetHealth
  timer: unknown
  checks: number
}

/** Owns the timers; `setTargets` may be called any number of times with the current set. */
export class HealthChecker {
  private readonly entries = new Map<string, Entry>()
  private stopped = false
  private readonly clock: Clock
  private readonly random: () => number

  constructor(private readonly check: TcpCheck, private readonly events: HealthEvents, options: HealthCheckerOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.random = options.random ?? Math.random
  }

  /** Starts checking new targets, stops removed ones; targets kept keep their health. */
  setTargets(targets: readonly CheckedTarget[]): void {
    const wanted = new Map(targets.map((t) => [t.key, t]))
    for (const [key, e] of this.entries) {
      if (!wanted.has(key)) {
        if (e.timer !== null) this.clock.clearTimeout(e.timer)
        this.entries.delete(key)
      }
    }
    const spread = Math.min(FIRST_CHECK_SPREAD_MS, FIRST_CHECK_GAP_MS * targets.filter((t) => !this.entries.has(t.key)).length)
    for (const t of targets) {
      const e = this.entries.get(t.key)
      if (e) {
        e.target = t
        continue
      }
      const entry: Entry = { target: t, health: initialHealth(this.clock.now()), timer: null, checks: 0 }
      this.entries.set(t.key, entry)
      this.schedule(entry, this.random() * Math.min(t.intervalMs, spread))
    }
  }

  /** The target's current health; undefined for a key not being checked. */
  health(key: string): TargetHealth | undefined {
    return this.entries.get(key)?.health
  }

  /** True once every target has had at least one check result. */
  firstRoundDone(): boolean {
    for (const e of this.entries.values()) if (e.checks === 0) return false
    return true
  }

  /** Stops every timer; checks in flight finish but their results are dropped. Final. */
  stop(): void {
    this.stopped = true
    for (const e of this.entries.values()) if (e.timer !== null) this.clock.clearTimeout(e.timer)
  }

  private schedule(entry: Entry, delayMs: number): void {
    if (this.stopped) return
    const timer = this.clock.setTimeout(() => {
      entry.timer = null
      void this.run(entry)
    }, delayMs)
    ;(timer as { unref?: () => void } | null)?.unref?.()
    entry.timer = timer
  }

  private async run(entry: Entry): Promise<void> {
    const t = entry.target
    const started = this.clock.now()
    let result: CheckResult
    try {
      result = await this.check(t.address, t.port, t.timeoutMs)
    } catch (err: unknown) {
      // A check that throws must not stop this target's timer for good: count it as a failure.
      result = { ok: false, error: `check failed: ${err instanceof Error ? err.message : String(err)}`, latencyMs: this.clock.now() - started }
    }
    if (this.stopped || this.entries.get(t.key) !== entry) return
    entry.checks++
    this.events.onResult?.(t, result)
    if (result.inconclusive) {
      // This node's fault (out of file descriptors, say): the target keeps its state; check again soon.
      this.schedule(entry, Math.min(t.intervalMs, 1000))
      return
    }
    const before = entry.health
    const after = recordResult(before, result.ok, result.error, t, this.clock.now())
    entry.health = after
    if (after.state !== before.state) this.events.onChange(t.key, before, after)
    // After the first check, move to a random phase of the interval (the first checks were packed
    // into a short window); from then on keep the period.
    const delay = entry.checks === 1 ? this.random() * t.intervalMs : t.intervalMs - (this.clock.now() - started)
    this.schedule(entry, Math.max(0, delay))
  }
}

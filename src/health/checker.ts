/**
 * Runs the periodic checks of every target and keeps their health. Each target gets its own timer
 * with a random first offset inside the interval, so 1000 targets spread their handshakes over the
 * interval instead of firing together. A state change calls `onChange` once; the reconcile loop
 * collapses bursts of changes into one sync.
 */
import { initialHealth, recordResult, type TargetHealth } from './target-health.js'
import type { CheckResult, TcpCheck } from './tcp-check.js'

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

interface Entry {
  target: CheckedTarget
  health: TargetHealth
  timer: NodeJS.Timeout | null
  checks: number
}

/** Owns the timers; `setTargets` may be called any number of times with the current set. */
export class HealthChecker {
  private readonly entries = new Map<string, Entry>()
  private stopped = false

  constructor(private readonly check: TcpCheck, private readonly events: HealthEvents, private readonly now: () => number = Date.now) {}

  /** Starts checking new targets, stops removed ones; targets kept keep their health. */
  setTargets(targets: readonly CheckedTarget[]): void {
    const wanted = new Map(targets.map((t) => [t.key, t]))
    for (const [key, e] of this.entries) {
      if (!wanted.has(key)) {
        if (e.timer) clearTimeout(e.timer)
        this.entries.delete(key)
      }
    }
    for (const t of targets) {
      const e = this.entries.get(t.key)
      if (e) {
        e.target = t
        continue
      }
      const entry: Entry = { target: t, health: initialHealth(this.now()), timer: null, checks: 0 }
      this.entries.set(t.key, entry)
      // The first check runs soon (so the first round completes quickly at start); later ones keep
      // the random phase this offset gives them.
      this.schedule(entry, Math.random() * Math.min(t.intervalMs, 200))
    }
  }

  health(key: string): TargetHealth | undefined {
    return this.entries.get(key)?.health
  }

  /** True once every target has had at least one check result. */
  firstRoundDone(): boolean {
    for (const e of this.entries.values()) if (e.checks === 0) return false
    return true
  }

  stop(): void {
    this.stopped = true
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer)
  }

  private schedule(entry: Entry, delayMs: number): void {
    if (this.stopped) return
    entry.timer = setTimeout(() => void this.run(entry), delayMs)
    entry.timer.unref?.()
  }

  private async run(entry: Entry): Promise<void> {
    const t = entry.target
    const started = this.now()
    const result = await this.check(t.address, t.port, t.timeoutMs)
    if (this.stopped || this.entries.get(t.key) !== entry) return
    entry.checks++
    this.events.onResult?.(t, result)
    const before = entry.health
    const after = recordResult(before, result.ok, result.error, t, this.now())
    entry.health = after
    if (after.state !== before.state) this.events.onChange(t.key, before, after)
    const elapsed = this.now() - started
    this.schedule(entry, Math.max(0, t.intervalMs - elapsed))
  }
}

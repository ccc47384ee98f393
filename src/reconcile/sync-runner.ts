/**
 * A bounded-frequency runner for syncs (after kube-proxy's BoundedFrequencyRunner): requests that
 * arrive close together collapse into one sync; two syncs start at least `minIntervalMs` apart; a
 * failed sync is retried with exponential backoff (new requests do not cut the backoff short) and
 * the retry verifies the kernel in full. Only one sync runs at a time. Time comes from an injected
 * clock so tests do not sleep.
 */

import { systemClock, type Clock } from '../clock.js'

/** How much of the kernel a sync reads before writing: nothing (trust memory), the entry points, or all. */
export type Verify = boolean | 'entries'

/** The stronger of two verify levels: false < 'entries' < true. */
export function strongerVerify(a: Verify, b: Verify): Verify {
  return a === true || b === true ? true : a === 'entries' || b === 'entries' ? 'entries' : false
}

export interface SyncRunnerOptions {
  minIntervalMs: number
  /** First retry delay after a failure; doubles up to `maxBackoffMs`. */
  backoffMs?: number
  maxBackoffMs?: number
  clock?: Clock
  /**
   * Does the work. `verify`: true asks for a full read-and-repair of the kernel, 'entries' for a
   * read-and-repair of the entry points alone (the built-in chains fwdd jumps from).
   */
  sync(verify: Verify): Promise<void>
  onError?(err: unknown, retryInMs: number): void
}

/** Runs `sync` on request, within the bounds above. Construct once; `stop()` is final. */
export class SyncRunner {
  private pending = false
  private pendingVerify: Verify = false
  private running = false
  private timer: unknown = null
  private timerAt = 0
  private lastRun = -Infinity
  /** No sync starts before this (the backoff after a failure). */
  private notBefore = -Infinity
  private failures = 0
  private stopped = false
  private readonly clock: Clock
  private minIntervalMs: number

  constructor(private readonly o: SyncRunnerOptions) {
    this.clock = o.clock ?? systemClock
    this.minIntervalMs = o.minIntervalMs
  }

  /** Asks for a sync; returns at once. Several requests before it runs make one sync. */
  request(verify: Verify = false): void {
    if (this.stopped) return
    this.pending = true
    this.pendingVerify = strongerVerify(this.pendingVerify, verify)
    if (!this.running) this.arm(this.nextDelay())
  }

  /** Changes the minimum interval (a reload); applies from the next sync on. */
  setMinInterval(ms: number): void {
    this.minIntervalMs = ms
  }

  /** Consecutive failed syncs (0 after a success). */
  get failureCount(): number {
    return this.failures
  }

  stop(): void {
    this.stopped = true
    if (this.timer !== null) this.clock.clearTimeout(this.timer)
    this.timer = null
  }

  private nextDelay(): number {
    return Math.max(0, this.lastRun + this.minIntervalMs - this.clock.now(), this.notBefore - this.clock.now())
  }

  private arm(delayMs: number): void {
    const at = this.clock.now() + delayMs
    if (this.timer !== null) {
      if (this.timerAt <= at) return
      this.clock.clearTimeout(this.timer)
    }
    this.timerAt = at
    this.timer = this.clock.setTimeout(() => {
      this.timer = null
      void this.run()
    }, delayMs)
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped || !this.pending) return
    const verify = this.pendingVerify
    this.pending = false
    this.pendingVerify = false
    this.running = true
    this.lastRun = this.clock.now()
    try {
      await this.o.sync(verify)
      this.failures = 0
    } catch (err: unknown) {
      this.failures++
      const base = this.o.backoffMs ?? 200
      const delay = Math.min(this.o.maxBackoffMs ?? 10000, base * 2 ** (this.failures - 1))
      this.o.onError?.(err, delay)
      this.pending = true
      this.pendingVerify = true
      this.running = false
      this.notBefore = this.clock.now() + delay
      if (!this.stopped) this.arm(this.nextDelay())
      return
    }
    this.running = false
    this.notBefore = -Infinity
    if (this.pending && !this.stopped) this.arm(this.nextDelay())
  }
}

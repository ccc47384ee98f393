/**
 * A hand-driven clock (monotonic and wall time, as src/clock.ts) for unit tests of timer-based code (SyncRunner, HealthChecker, DnsResolver):
 * time moves only when the test calls `advance`, and timers fire in time order with the promise
 * jobs they start allowed to settle in between, so async callbacks behave as with real timers.
 */
import type { Clock } from '../../src/clock.js'

interface Timer {
  id: number
  at: number
  fn: () => void
}

export class FakeClock implements Clock {
  private t = 0
  private wallOffset = 1_700_000_000_000
  private seq = 0
  private timers: Timer[] = []
  /** Every delay passed to setTimeout, in order (to assert on spreads and backoffs). */
  readonly delays: number[] = []

  constructor(start = 1_000_000) {
    this.t = start
  }

  now(): number {
    return this.t
  }

  /** Wall time: moves with `advance`, and alone with `stepWall` (an NTP or operator step). */
  wallNow(): number {
    return this.t + this.wallOffset
  }

  /** Steps the wall clock by `ms` (negative: backwards) without moving monotonic time. */
  stepWall(ms: number): void {
    this.wallOffset += ms
  }

  setTimeout(fn: () => void, ms: number): unknown {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new Error(`fake clock: bad delay ${ms}`)
    const timer = { id: ++this.seq, at: this.t + ms, fn }
    this.delays.push(ms)
    this.timers.push(timer)
    return timer
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x !== handle)
  }

  /** Timers not yet fired. */
  pending(): number {
    return this.timers.length
  }

  /** Moves time forward by `ms`, firing due timers in order and letting promise jobs run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    await settle()
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id)
      const next = this.timers[0]
      if (!next || next.at > end) break
      this.timers.shift()
      this.t = next.at
      next.fn()
      await settle()
    }
    this.t = end
    await settle()
  }
}

/** Lets queued promise jobs (and jobs they queue) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r))
}

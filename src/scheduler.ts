/**
 * Every periodic job of the daemon in one place (the verify-and-repair resync, the IP forwarding
 * check, and whatever else must run on a period), on the one monotonic clock (clock.ts). A job never
 * overlaps itself; its period is read anew after each run (a reload changes it at once); a job that
 * throws is logged and keeps its schedule. Nothing here reads the wall clock, so a clock step neither
 * stalls nor rushes a job. (node-cron schedules by wall-clock time, which is what made a backward
 * step stop the resync; it is no longer used for these periods.)
 */
import type { Clock } from './clock.js'

export interface SchedulerLogger {
  error(obj: object, msg?: string): void
}

interface Job {
  name: string
  periodMs: () => number
  run: () => Promise<void> | void
  timer: unknown
  running: boolean
}

/** Runs named jobs every `periodMs()` on `clock`. Construct once; `stop()` is final. */
export class Scheduler {
  private readonly jobs = new Map<string, Job>()
  private stopped = false

  constructor(private readonly clock: Clock, private readonly log?: SchedulerLogger) {}

  /** Adds a job that first runs one period from now. A second job of the same name replaces the first. */
  every(name: string, periodMs: number | (() => number), run: () => Promise<void> | void): void {
    this.cancel(name)
    const job: Job = { name, periodMs: typeof periodMs === 'number' ? () => periodMs : periodMs, run, timer: null, running: false }
    this.jobs.set(name, job)
    this.arm(job)
  }

  /** Removes a job; a run in progress finishes. */
  cancel(name: string): void {
    const job = this.jobs.get(name)
    if (!job) return
    if (job.timer !== null) this.clock.clearTimeout(job.timer)
    this.jobs.delete(name)
  }

  /** Names of the scheduled jobs. */
  names(): string[] {
    return [...this.jobs.keys()]
  }

  stop(): void {
    this.stopped = true
    for (const name of [...this.jobs.keys()]) this.cancel(name)
  }

  private arm(job: Job): void {
    if (this.stopped || this.jobs.get(job.name) !== job) return
    const timer = this.clock.setTimeout(() => {
      job.timer = null
      void this.fire(job)
    }, Math.max(1, job.periodMs()))
    ;(timer as { unref?: () => void } | null)?.unref?.()
    job.timer = timer
  }

  private async fire(job: Job): Promise<void> {
    if (job.running) return
    job.running = true
    try {
      await job.run()
    } catch (err: unknown) {
      this.log?.error({ job: job.name, err: err instanceof Error ? err.message : String(err) }, 'periodic job failed; it keeps its schedule')
    } finally {
      job.running = false
      this.arm(job)
    }
  }
}

/**
 * Cuts the flows of dead targets off the sync path. A sync that took targets out of rotation hands
 * their cuts here and returns at once: an on-premises outage of hundreds of endpoints means hundreds
 * of `conntrack -D` calls, and none of them may hold up the next sync or any `/lb` answer. Cuts run a
 * few at a time; a cut whose targets came back before its turn is dropped; a failed cut is logged
 * and not retried (the flows then time out on their own, as without fwdd).
 */
import type { Logger } from 'pino'
import { messageOf } from '../errors.js'
import type { FlowCut } from './state.js'

/** The part of the conntrack adapter the cutter uses. */
export interface FlowDeleter {
  /** `unansweredOnly`: only tcp flows still in SYN_SENT (a target ejected by traffic). */
  deleteFlowsTo(protocol: 'tcp' | 'udp', address: string, port: number, listenerPort?: number, opts?: { unansweredOnly?: boolean }): Promise<number>
}

export interface FlowCutterOptions {
  conntrack: FlowDeleter
  logger: Logger
  /** Whether the cut is still wanted when its turn comes (its targets are still unhealthy). */
  stillWanted(cut: FlowCut): boolean
  /** Cuts in flight at once; conntrack walks the whole table per call, so a few keep the CPU free. */
  concurrency?: number
  onCut?(cut: FlowCut, flows: number): void
}

function cutId(c: FlowCut): string {
  return `${c.protocol}|${c.address}:${c.port}|${c.listenerPort ?? '*'}${c.unansweredOnly ? '|syn' : ''}`
}

/** A queue of flow cuts, worked off in the background. */
export class FlowCutter {
  private readonly queue: FlowCut[] = []
  private readonly queuedIds = new Set<string>()
  private running = 0
  private stopped = false
  private idleWaiters: Array<() => void> = []

  constructor(private readonly o: FlowCutterOptions) {}

  /** Queues cuts (a cut already queued is not queued twice) and returns at once. */
  enqueue(cuts: readonly FlowCut[]): void {
    for (const c of cuts) {
      const id = cutId(c)
      if (this.queuedIds.has(id)) continue
      this.queuedIds.add(id)
      this.queue.push(c)
    }
    this.pump()
  }

  /** Cuts waiting or in flight. */
  get pending(): number {
    return this.queue.length + this.running
  }

  /** Resolves when nothing is queued or in flight (for tests and an orderly stop). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Drops what is queued; cuts in flight finish. Final. */
  stop(): void {
    this.stopped = true
    this.queue.length = 0
    this.queuedIds.clear()
  }

  private pump(): void {
    const limit = this.o.concurrency ?? 4
    while (!this.stopped && this.running < limit && this.queue.length > 0) {
      const cut = this.queue.shift()!
      this.queuedIds.delete(cutId(cut))
      if (!this.o.stillWanted(cut)) continue
      this.running++
      void this.run(cut).finally(() => {
        this.running--
        this.pump()
        if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w()
      })
    }
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w()
  }

  private async run(cut: FlowCut): Promise<void> {
    try {
      const flows = await this.o.conntrack.deleteFlowsTo(cut.protocol, cut.address, cut.port, cut.listenerPort, cut.unansweredOnly ? { unansweredOnly: true } : undefined)
      this.o.logger.info({ target: `${cut.address}:${cut.port}`, listenerPort: cut.listenerPort ?? 'all', flows, ...(cut.unansweredOnly ? { only: 'unanswered' } : {}) }, 'cut flows to an unhealthy target')
      this.o.onCut?.(cut, flows)
    } catch (err: unknown) {
      this.o.logger.error({ target: `${cut.address}:${cut.port}`, err: messageOf(err) }, 'cutting flows failed; they will time out on their own')
    }
  }
}

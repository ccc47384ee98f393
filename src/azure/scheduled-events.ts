/**
 * Drain before Azure takes the node away (issue 16, part 2). Polls IMDS Scheduled Events
 * (`/metadata/scheduledevents`, api-version 2020-07-01) every second while an event for this
 * instance is pending and every 5 s otherwise; on a Terminate/Reboot/Redeploy/Preempt naming this
 * instance it drains at once (through `onChange`), and approves the event early (`StartRequests`)
 * once no forwarded flow is left or its NotBefore is near (scheduled-event-decision.ts). An IMDS that
 * does not answer is a warning and changes nothing: only an event read from IMDS drains, and only an
 * event's absence from a good read undrains.
 */
import type { Clock } from '../clock.js'
import { DEFAULT_IMDS_ENDPOINT } from './endpoints.js'
import type { AzureLogger } from './timers.js'
import { approvalReason, eventForInstance, parseScheduledEvents, type PendingEvent } from './scheduled-event-decision.js'

export const SCHEDULED_EVENTS_API_VERSION = '2020-07-01'
/** Poll periods: while an event for this node is pending and not yet approved, and otherwise. */
export const PENDING_POLL_MS = 1000
export const IDLE_POLL_MS = 1000

/** The event drain as the reconciler state and the status carry it. */
export interface EventDrain extends PendingEvent {
  /** Forwarded flows at the last reading; null when conntrack could not be read. */
  flowsLeft: number | null
  /** Whether fwdd has approved the event (StartRequests accepted by IMDS). */
  approved: boolean
}

/** The HTTP side, so the poller is tested without a network. */
export interface ScheduledEventsApi {
  /** The parsed scheduled-events document. */
  list(): Promise<unknown>
  approve(eventId: string): Promise<void>
}

/** Scheduled Events over HTTP with `Metadata: true` against the IMDS endpoint (FWDD_IMDS_ENDPOINT). */
export function httpScheduledEventsApi(endpoint = DEFAULT_IMDS_ENDPOINT, timeoutMs = 5000): ScheduledEventsApi {
  const url = new URL('/metadata/scheduledevents', endpoint)
  url.searchParams.set('api-version', SCHEDULED_EVENTS_API_VERSION)
  const call = async (init: RequestInit): Promise<string> => {
    let res: Response
    try {
      res = await fetch(url, { ...init, headers: { Metadata: 'true', 'content-type': 'application/json' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' })
    } catch (cause) {
      const why = cause instanceof Error && cause.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : cause instanceof Error ? cause.message : String(cause)
      throw new Error(`${init.method ?? 'GET'} /metadata/scheduledevents at ${endpoint}: ${why}`, { cause })
    }
    const body = await res.text()
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} /metadata/scheduledevents: HTTP ${res.status}: ${body.slice(0, 200)}`)
    return body
  }
  return {
    list: async () => JSON.parse(await call({ method: 'GET' })) as unknown,
    approve: async (eventId) => void (await call({ method: 'POST', body: JSON.stringify({ StartRequests: [{ EventId: eventId }] }) })),
  }
}

export interface ScheduledEventsOptions {
  api: ScheduledEventsApi
  /** This instance's name from IMDS compute metadata (retried on every poll until it answers). */
  instanceName: () => Promise<string>
  /** Forwarded flows now (conntrack, summed); undefined when they could not be read. */
  flows: () => Promise<number | undefined>
  /** Called with the new drain (or null) whenever it changes. */
  onChange: (drain: EventDrain | null) => void
  clock: Clock
  logger: AzureLogger
}

/** The poller. `start()` polls at once; `stop()` is final. */
export class ScheduledEventsWatcher {
  /** Why the last poll failed, or null; for the status. */
  lastError: string | null = null
  private current: EventDrain | null = null
  private drainedAt = 0
  private name: string | undefined
  private timer: unknown = null
  private stopped = false

  constructor(private readonly o: ScheduledEventsOptions) {}

  get drain(): EventDrain | null {
    return this.current
  }

  start(): void {
    void this.loop()
  }

  stop(): void {
    this.stopped = true
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer)
  }

  /** One poll (exported for tests): read, decide, drain/undrain, maybe approve. Never throws. */
  async poll(): Promise<void> {
    try {
      this.name ??= await this.o.instanceName()
      const event = eventForInstance(parseScheduledEvents(await this.o.api.list()), this.name)
      if (this.lastError !== null) this.o.logger.info({}, 'scheduled events readable again')
      this.lastError = null
      await this.apply(event)
    } catch (err: unknown) {
      const message = `reading scheduled events from IMDS failed; nothing changed: ${err instanceof Error ? err.message : String(err)}`
      if (message !== this.lastError) this.o.logger.warn({ err: message }, 'scheduled events unreadable; the drain state stays as it is')
      this.lastError = message
    }
  }

  private async apply(event: PendingEvent | null): Promise<void> {
    const log = this.o.logger
    if (event === null) {
      if (this.current) {
        log.info({ eventId: this.current.id }, 'scheduled event gone; its drain ends (an operator drain stays)')
        this.set(null)
      }
      return
    }
    if (!this.current || this.current.id !== event.id) {
      this.drainedAt = this.o.clock.now()
      log.info({ eventId: event.id, type: event.type, notBefore: event.notBefore }, 'scheduled event for this instance: draining, /lb answers 503, forwarding goes on')
      this.set({ ...event, flowsLeft: null, approved: false })
    } else if (this.current.status !== event.status || this.current.notBefore !== event.notBefore) {
      this.set({ ...this.current, status: event.status, notBefore: event.notBefore })
    }
    const flows = await this.o.flows()
    const cur = this.current!
    if ((flows ?? null) !== cur.flowsLeft) this.set({ ...cur, flowsLeft: flows ?? null })
    if (cur.approved) return
    const reason = approvalReason({ event: cur, wallNow: this.o.clock.wallNow(), drainedForMs: this.o.clock.now() - this.drainedAt, flows })
    if (!reason) return
    await this.o.api.approve(cur.id)
    log.info({ eventId: cur.id, type: cur.type, reason, flowsLeft: flows ?? null }, reason === 'no-flows' ? 'no forwarded flow left; approved the scheduled event' : 'scheduled event starts soon; approved it')
    this.set({ ...this.current!, approved: true })
  }

  private set(drain: EventDrain | null): void {
    this.current = drain
    this.o.onChange(drain)
  }

  private async loop(): Promise<void> {
    if (this.stopped) return
    await this.poll()
    if (this.stopped) return
    const period = this.current && !this.current.approved ? PENDING_POLL_MS : IDLE_POLL_MS
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null
      void this.loop()
    }, period)
  }
}

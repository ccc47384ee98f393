/**
 * The pure part of the Scheduled Events drain: which event of an IMDS scheduled-events document
 * concerns this instance, and when to approve it. No I/O and no clock: the poller
 * (scheduled-events.ts) passes the time and the flow count in, so every decision is a table test.
 */

/** Event types that take the node away; `Freeze` (a pause of seconds) keeps it and is ignored. */
export const DRAINING_EVENT_TYPES: ReadonlySet<string> = new Set(['Terminate', 'Reboot', 'Redeploy', 'Preempt'])

/** Zero flows count only once the LB has had this long to see `/lb` answer 503 (two 5 s probe intervals). */
export const LB_NOTICE_MS = 10_000

/** Approve when the event's `NotBefore` is this close: Azure starts it then anyway. */
export const NOT_BEFORE_MARGIN_MS = 5_000

/** One event as IMDS lists it (api-version 2020-07-01); fields fwdd does not use are left out. */
export interface ScheduledEvent {
  EventId: string
  EventType: string
  ResourceType?: string
  Resources: string[]
  EventStatus: string
  /** RFC 1123 date (`Mon, 19 Sep 2016 18:29:47 GMT`); '' once the event has started. */
  NotBefore: string
}

/** The event this node drains for, as the state and the status carry it. */
export interface PendingEvent {
  id: string
  type: string
  /** ISO-8601, or null when IMDS gave none (a started event). */
  notBefore: string | null
  /** `Scheduled` (may be approved) or `Started` (already happening). */
  status: string
}

/**
 * Parses the document's `Events`; throws an Error naming the field on a malformed body, so the
 * poller reports it as a failed read (a warning) and never drains on garbage.
 */
export function parseScheduledEvents(body: unknown): ScheduledEvent[] {
  const events = (body as { Events?: unknown } | null)?.Events
  if (!Array.isArray(events)) throw new Error('scheduled events document: field "Events" is missing or not a list')
  return events.map((e: unknown, i) => {
    const r = (e ?? {}) as Record<string, unknown>
    const str = (k: string): string => {
      if (typeof r[k] === 'string') return r[k] as string
      throw new Error(`scheduled events document: Events[${i}].${k} is missing or not a string`)
    }
    const resources = r.Resources
    if (!Array.isArray(resources) || !resources.every((x) => typeof x === 'string')) throw new Error(`scheduled events document: Events[${i}].Resources is not a list of names`)
    return { EventId: str('EventId'), EventType: str('EventType'), Resources: resources as string[], EventStatus: str('EventStatus'), NotBefore: typeof r.NotBefore === 'string' ? r.NotBefore : '' }
  })
}

/**
 * The event that takes this instance away, or null. Among several, the one that starts first
 * (a started one before any scheduled one). Names are compared case-insensitively, as Azure does.
 */
export function eventForInstance(events: readonly ScheduledEvent[], instanceName: string): PendingEvent | null {
  const name = instanceName.toLowerCase()
  const mine = events.filter((e) => DRAINING_EVENT_TYPES.has(e.EventType) && e.Resources.some((r) => r.toLowerCase() === name))
  const at = (e: ScheduledEvent): number => (e.EventStatus === 'Started' ? -Infinity : (parseNotBefore(e.NotBefore) ?? Infinity))
  mine.sort((a, b) => at(a) - at(b))
  const e = mine[0]
  if (!e) return null
  const nb = parseNotBefore(e.NotBefore)
  return { id: e.EventId, type: e.EventType, notBefore: nb === null ? null : new Date(nb).toISOString(), status: e.EventStatus }
}

/** Milliseconds since the epoch of a `NotBefore`, or null when empty or unreadable. */
export function parseNotBefore(text: string): number | null {
  if (text.trim() === '') return null
  const t = Date.parse(text)
  return Number.isNaN(t) ? null : t
}

/** What the poller knows when it decides whether to approve. */
export interface ApprovalInput {
  event: PendingEvent
  /** Wall milliseconds now (NotBefore is wall time). */
  wallNow: number
  /** Monotonic milliseconds the drain for this event has lasted. */
  drainedForMs: number
  /** Forwarded flows now; undefined when conntrack could not be read. */
  flows: number | undefined
}

/**
 * Whether to approve now, and why: `no-flows` once the drain has lasted `LB_NOTICE_MS` and no
 * forwarded flow is left; `not-before-near` when NotBefore is `NOT_BEFORE_MARGIN_MS` away or past.
 * A started event needs no approval; unknown flows never count as zero.
 */
export function approvalReason(i: ApprovalInput): 'no-flows' | 'not-before-near' | null {
  if (i.event.status !== 'Scheduled') return null
  if (i.flows === 0 && i.drainedForMs >= LB_NOTICE_MS) return 'no-flows'
  if (i.event.notBefore !== null && Date.parse(i.event.notBefore) - i.wallNow <= NOT_BEFORE_MARGIN_MS) return 'not-before-near'
  return null
}

/**
 * The pure Scheduled Events decisions: which event concerns this instance, and when to approve.
 * No network.
 */
import t from 'tap'
import { approvalReason, eventForInstance, LB_NOTICE_MS, parseScheduledEvents, type ScheduledEvent } from '../../src/azure/scheduled-event-decision.js'

const NOW = Date.parse('2026-12-02T12:00:00Z')
const ev = (o: Partial<ScheduledEvent>): ScheduledEvent => ({ EventId: 'e1', EventType: 'Terminate', Resources: ['fwd_3'], EventStatus: 'Scheduled', NotBefore: new Date(NOW + 600_000).toUTCString(), ...o })

t.test('an event concerns this instance only when it names it and takes the node away', async (t) => {
  for (const type of ['Terminate', 'Reboot', 'Redeploy', 'Preempt']) t.equal(eventForInstance([ev({ EventType: type })], 'fwd_3')?.type, type, type)
  t.equal(eventForInstance([ev({ EventType: 'Freeze' })], 'fwd_3'), null, 'Freeze keeps the node')
  t.equal(eventForInstance([ev({ Resources: ['fwd_4'] })], 'fwd_3'), null, 'another instance')
  t.equal(eventForInstance([ev({ Resources: ['FWD_3'] })], 'fwd_3')?.id, 'e1', 'names compare case-insensitively')
  t.equal(eventForInstance([], 'fwd_3'), null)
})

t.test('the event that starts first wins; NotBefore becomes ISO', async (t) => {
  const late = ev({ EventId: 'late', NotBefore: new Date(NOW + 900_000).toUTCString() })
  const soon = ev({ EventId: 'soon', EventType: 'Reboot', NotBefore: new Date(NOW + 60_000).toUTCString() })
  t.same(eventForInstance([late, soon], 'fwd_3'), { id: 'soon', type: 'Reboot', notBefore: new Date(NOW + 60_000).toISOString(), status: 'Scheduled' })
  t.equal(eventForInstance([late, ev({ EventId: 'started', EventStatus: 'Started', NotBefore: '' })], 'fwd_3')?.id, 'started')
})

t.test('a malformed document is an error naming the field, never an event', async (t) => {
  t.throws(() => parseScheduledEvents({}), /"Events"/)
  t.throws(() => parseScheduledEvents({ Events: [{ EventId: 'x', EventType: 'Terminate', Resources: 'fwd_3', EventStatus: 'Scheduled' }] }), /Events\[0\]\.Resources/)
  t.throws(() => parseScheduledEvents({ Events: [{ EventType: 'Terminate', Resources: [], EventStatus: 'Scheduled' }] }), /Events\[0\]\.EventId/)
  t.same(parseScheduledEvents({ DocumentIncarnation: 2, Events: [] }), [])
})

t.test('approval: no flows after the LB had time to notice, or NotBefore near; never on unknown flows', async (t) => {
  const event = eventForInstance([ev({})], 'fwd_3')!
  const base = { event, wallNow: NOW, drainedForMs: LB_NOTICE_MS, flows: 0 as number | undefined }
  t.equal(approvalReason(base), 'no-flows')
  t.equal(approvalReason({ ...base, drainedForMs: LB_NOTICE_MS - 1 }), null, 'the LB may still send new flows')
  t.equal(approvalReason({ ...base, flows: 1 }), null, 'a flow is left')
  t.equal(approvalReason({ ...base, flows: undefined }), null, 'unreadable flows are not zero')
  t.equal(approvalReason({ ...base, flows: 3, wallNow: NOW + 596_000 }), 'not-before-near')
  t.equal(approvalReason({ ...base, flows: undefined, wallNow: NOW + 700_000 }), 'not-before-near', 'past NotBefore')
  t.equal(approvalReason({ ...base, event: { ...event, status: 'Started' } }), null, 'a started event needs no approval')
})

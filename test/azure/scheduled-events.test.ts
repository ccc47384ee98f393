/**
 * The Scheduled Events poller against the fake IMDS over real HTTP (loopback only), on a fake clock:
 * drain on an event for this instance, approve once no flow is left, nothing on IMDS down.
 */
import t from 'tap'
import { FakeImds } from '../fakes/azure/fake-imds.js'
import { INSTANCE, installLoopbackGuard } from '../fakes/azure/harness.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { httpScheduledEventsApi, IDLE_POLL_MS, PENDING_POLL_MS, ScheduledEventsWatcher, type EventDrain } from '../../src/azure/scheduled-events.js'
import { LB_NOTICE_MS } from '../../src/azure/scheduled-event-decision.js'

installLoopbackGuard()

async function setup(t: { teardown(fn: () => unknown): void }) {
  const imds = new FakeImds({ ...INSTANCE })
  await imds.listen()
  t.teardown(() => imds.close())
  const clock = new FakeClock()
  clock.stepWall(Date.now() - clock.wallNow())
  const changes: Array<EventDrain | null> = []
  const logs: string[] = []
  let flows: number | undefined = 2
  const watcher = new ScheduledEventsWatcher({
    api: httpScheduledEventsApi(imds.endpoint, 300),
    instanceName: async () => INSTANCE.name,
    flows: async () => flows,
    onChange: (d) => changes.push(d),
    clock,
    logger: { info: (_o, m) => logs.push(`info ${m}`), warn: (_o, m) => logs.push(`warn ${m}`) },
  })
  t.teardown(() => watcher.stop())
  return { imds, clock, changes, logs, watcher, setFlows: (n: number | undefined) => (flows = n) }
}

t.test('a Terminate for this instance drains at once and is approved once no flow is left', async (t) => {
  const { imds, clock, watcher, logs, setFlows } = await setup(t)
  await watcher.poll()
  t.equal(watcher.drain, null)
  imds.addScheduledEvent({ EventId: 'ev-1', EventType: 'Terminate', Resources: [INSTANCE.name] })
  await watcher.poll()
  t.match(watcher.drain, { id: 'ev-1', type: 'Terminate', flowsLeft: 2, approved: false })
  t.ok(logs.some((l) => /draining/.test(l)), 'the log says it drains')
  setFlows(0)
  await clock.advance(LB_NOTICE_MS - 1000)
  await watcher.poll()
  t.same(imds.approvals, [], 'not before the LB had time to notice the 503')
  await clock.advance(1000)
  await watcher.poll()
  t.same(imds.approvals, ['ev-1'], 'approved with StartRequests naming the EventId')
  t.match(watcher.drain, { approved: true, flowsLeft: 0 })
  await watcher.poll()
  t.same(imds.approvals, ['ev-1'], 'approved once')
  imds.scheduledEvents = []
  await watcher.poll()
  t.equal(watcher.drain, null, 'an event gone ends its drain')
})

t.test('another instance and a Freeze change nothing', async (t) => {
  const { imds, watcher, changes } = await setup(t)
  imds.addScheduledEvent({ EventId: 'other', EventType: 'Terminate', Resources: ['fwd_99'] })
  imds.addScheduledEvent({ EventId: 'freeze', EventType: 'Freeze', Resources: [INSTANCE.name] })
  await watcher.poll()
  t.equal(watcher.drain, null)
  t.same(changes, [])
})

t.test('IMDS down is a warning and keeps the state as it is', async (t) => {
  const { imds, watcher, logs } = await setup(t)
  imds.failNext(/scheduledevents/, { status: 500 })
  await watcher.poll()
  t.equal(watcher.drain, null, 'no drain')
  t.match(watcher.lastError, /HTTP 500/)
  t.ok(logs.some((l) => l.startsWith('warn')))
  imds.addScheduledEvent({ EventId: 'ev-2', EventType: 'Reboot', Resources: [INSTANCE.name] })
  await watcher.poll()
  imds.failNext(/scheduledevents/, 'timeout')
  await watcher.poll()
  t.match(watcher.drain, { id: 'ev-2' }, 'a pending drain stays while IMDS does not answer')
  t.equal(watcher.lastError?.includes('no answer within 300 ms'), true)
})

t.test('polls every second while an event is pending, every five otherwise', async (t) => {
  const { imds, clock, watcher } = await setup(t)
  watcher.start()
  await settle()
  const polls = () => imds.requests.filter((r) => r.path === '/metadata/scheduledevents').length
  await new Promise((r) => setTimeout(r, 50))
  t.equal(polls(), 1, 'polls at start')
  await clock.advance(IDLE_POLL_MS)
  await new Promise((r) => setTimeout(r, 50))
  t.equal(polls(), 2)
  imds.addScheduledEvent({ EventId: 'ev-3', EventType: 'Redeploy', Resources: [INSTANCE.name] })
  await clock.advance(IDLE_POLL_MS)
  await new Promise((r) => setTimeout(r, 50))
  t.equal(polls(), 3)
  await clock.advance(PENDING_POLL_MS)
  await new Promise((r) => setTimeout(r, 50))
  t.equal(polls(), 4, 'one second later while pending')
  t.equal(imds.requests.every((r) => r.metadataHeader === 'true' && r.query['api-version'] === '2020-07-01'), true)
})

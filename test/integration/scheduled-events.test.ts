/**
 * Azure Scheduled Events with the real daemon in namespaces against the fake IMDS: a Terminate for
 * this instance turns `/lb*` to 503 within two seconds while `/health` stays Healthy and a held
 * connection keeps flowing; the StartRequests approval arrives once the held connection closes; an
 * event for another instance and a Freeze change nothing; IMDS down changes nothing and is reported.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (test/helpers/netns.ts); the fake
 * IMDS is reached through the node namespace's own loopback (test/helpers/azure-daemon.ts).
 */
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { sleep, startServers, webConfig } from '../helpers/daemon.js'
import { startAzureDaemon, startNsAzureFakes, waitFor } from '../helpers/azure-daemon.js'
import { INSTANCE } from '../fakes/azure/harness.js'

const HEALTHY = '{"ApplicationHealthState":"Healthy"}'

async function probe(topo: Topology, p: string): Promise<{ status: number; body: string }> {
  const r = await topo.exec(topo.node.ns, 'curl', ['-sS', '-m', '2', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:8080${p}`], { reject: false })
  const cut = r.stdout.lastIndexOf('\n')
  return { status: Number(r.stdout.slice(cut + 1)) || 0, body: r.stdout.slice(0, cut).trim() }
}

t.test('scheduled events drain the node and are approved once the flows are gone', async (t) => {
  const topo = await createTopology({ servers: 1, prefix: 'sev' })
  t.teardown(() => topo.destroy())
  const fakes = await startNsAzureFakes(topo)
  t.teardown(() => fakes.close())
  await startServers(topo)
  const d = startAzureDaemon(topo, fakes, { yaml: `${webConfig(topo)}\nazure: { refreshSeconds: 60 }\n` })
  t.teardown(() => d.kill('SIGKILL'))
  // 40 s: on a loaded CI machine the daemon's first start alone has taken over 15 s.
  await waitFor('/lb 200', async () => (await probe(topo, '/lb')).status === 200, 40_000, d.log)
  const polls = (): number => fakes.imds.requests.filter((r) => r.path === '/metadata/scheduledevents').length

  t.test('an event for another instance and a Freeze change nothing', async (t) => {
    fakes.imds.addScheduledEvent({ EventId: 'other', EventType: 'Terminate', Resources: ['fwd_99'] })
    fakes.imds.addScheduledEvent({ EventId: 'freeze', EventType: 'Freeze', Resources: [INSTANCE.name] })
    const seen = polls()
    await waitFor('two polls', async () => polls() >= seen + 2, 15_000, d.log)
    t.equal((await probe(topo, '/lb')).status, 200)
    const s = await d.status()
    t.equal(s.node.draining, false)
    t.equal(s.node.scheduledEvent, null)
    t.same(fakes.imds.approvals, [])
    fakes.imds.scheduledEvents = []
  })

  t.test('IMDS down changes nothing and is reported', async (t) => {
    fakes.imds.failNext(/scheduledevents/, { status: 503, body: 'down' }, 3)
    const s = await waitFor('the error in the status', async () => {
      const st = await d.status()
      return st.node.scheduledEventsError ? st : undefined
    }, 15_000, d.log)
    t.match(s!.node.scheduledEventsError, /HTTP 503/)
    t.equal(s!.node.draining, false)
    t.equal((await probe(topo, '/lb')).status, 200, 'no drain')
    t.match(d.log(), /scheduled events unreadable/)
    await waitFor('the error clears', async () => (await d.status()).node.scheduledEventsError === null, 20_000, d.log)
  })

  t.test('a Terminate for this instance: 503 within 2 s, Healthy, the held flow goes on, approved once it closes', async (t) => {
    const held = topo.spawn(topo.client.ns, 'curl', ['-sSN', 'http://198.18.0.1:8000/slow'])
    let lines = 0
    held.stdout?.on('data', (b: Buffer) => { lines += b.toString().split('\n').filter(Boolean).length })
    void held.catch(() => {})
    await waitFor('the held flow', async () => lines >= 1, 5000)
    // The bound is measured from the first poll that can see the event (idle polls are 5 s apart).
    fakes.imds.addScheduledEvent({ EventId: 'term-1', EventType: 'Terminate', Resources: [INSTANCE.name] })
    const seen = polls()
    await waitFor('the next poll', async () => polls() > seen, 7000, d.log)
    const t0 = Date.now()
    await waitFor('/lb 503', async () => (await probe(topo, '/lb')).status === 503, 2000, d.log)
    t.ok(Date.now() - t0 <= 2000, 'within two seconds of the poll that saw the event')
    t.equal((await probe(topo, '/lb/web')).status, 503)
    t.equal((await probe(topo, '/health')).body, HEALTHY, '/health stays Healthy')
    const s = await d.status()
    t.match(s.node.scheduledEvent, { id: 'term-1', type: 'Terminate', approved: false })
    t.same(s.node.drainReasons, ['scheduled-event'])
    const before = lines
    await sleep(3000)
    t.ok(lines >= before + 2, 'the held connection keeps flowing')
    t.same(fakes.imds.approvals, [], 'not approved while a flow is left')
    t.match((await d.status()).node.scheduledEvent, { flowsLeft: 1 })
    const metrics = (await topo.exec(topo.node.ns, 'curl', ['-sS', '-m', '2', 'http://127.0.0.1:8080/metrics'])).stdout
    t.match(metrics, /fwdd_scheduled_event_pending\{type="Terminate",approved="false"\} 1/)
    t.match(metrics, /fwdd_drain_reason\{reason="scheduled-event"\} 1/)
    held.kill('SIGTERM')
    const closedAt = Date.now()
    await waitFor('the approval', async () => fakes.imds.approvals.length > 0, 20_000, d.log)
    t.same(fakes.imds.approvals, ['term-1'], 'StartRequests names the event')
    t.ok(Date.now() - closedAt < 15_000, 'approved soon after the flow closed')
    // The daemon logs the approval once IMDS has answered the POST, just after the fake recorded it.
    await waitFor('the approval in the log', async () => /approved the scheduled event/.test(d.log()), 5_000, d.log)
    t.match(d.log(), /approved the scheduled event/)
    t.equal((await probe(topo, '/lb')).status, 503, 'still drained after the approval')
  })
})

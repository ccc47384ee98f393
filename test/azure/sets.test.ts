/**
 * AzureSetsRefresher with the real SDK reader against the fake ARM: last good sets survive every
 * kind of failure, Retry-After is honoured, transient errors back off, 403 names the role.
 * Test address plan: loopback only (see test/fakes/azure/harness.ts).
 */
import t from 'tap'
import { startAzureFakes, rid, CLIENT_ID } from '../fakes/azure/harness.js'
import { ipGroupBody, privateLinkServiceBody } from '../fakes/azure/arm-bodies.js'
import { throttled, serverError, forbidden } from '../fakes/azure/fake-arm.js'
import { manualTimers } from '../fakes/azure/manual-timers.js'
import { AzureSetsRefresher, sameSet, type AzureSnapshot } from '../../src/azure/sets.js'
import { createAzureSetsReader } from '../../src/azure/reader.js'
import { parseRetryAfter } from '../../src/azure/read-error.js'

const fakes = await startAzureFakes()
t.teardown(() => fakes.close())

const ipGroupId = rid('Microsoft.Network/ipGroups', 'onprem')
const plsId = rid('Microsoft.Network/privateLinkServices', 'fwd-pls')
const subnet = rid('Microsoft.Network/virtualNetworks', 'vnet') + '/subnets/pls'
const reader = createAzureSetsReader(fakes.clients)

function setup(options: { refreshSeconds?: number; readTimeoutMs?: number; realTimers?: boolean } = {}) {
  fakes.arm.clearFaults()
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.0.10', '198.18.0.11']))
  fakes.arm.put(privateLinkServiceBody({ id: plsId, frontendIds: [], natIps: ['10.0.1.4', '10.0.1.5'], subnetId: subnet }))
  const timers = manualTimers()
  const changes: AzureSnapshot[] = []
  const refresher = new AzureSetsRefresher({
    ipGroups: [ipGroupId],
    privateLinkServices: [plsId],
    refreshSeconds: options.refreshSeconds ?? 60,
    reader,
    identityClientId: CLIENT_ID,
    random: () => 0.5,
    ...(options.readTimeoutMs ? { readTimeoutMs: options.readTimeoutMs } : {}),
    ...(options.realTimers ? {} : { timers }),
  })
  refresher.onChange((s) => changes.push(s))
  return { refresher, timers, changes }
}

t.test('first read fills the sets; an unchanged set (in any order) does not notify', async (t) => {
  const { refresher, changes } = setup()
  const snap = await refresher.refreshNow()
  t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.10', '198.18.0.11'])
  t.same(snap.privateLinkServices.get(plsId), ['10.0.1.4', '10.0.1.5'])
  t.equal(snap.errors.size, 0)
  t.equal(changes.length, 1)
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.0.11', '198.18.0.10/32']))
  await refresher.refreshNow()
  t.equal(changes.length, 1, 'no change, no notification')
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.0.11', '198.18.0.20']))
  await refresher.refreshNow()
  t.equal(changes.length, 2)
  t.same(changes[1]?.ipGroups.get(ipGroupId), ['198.18.0.11', '198.18.0.20'])
})

t.test('onProblemsChange runs when an error appears, changes or clears, not on every failing read', async (t) => {
  const { refresher, changes } = setup()
  const problems: AzureSnapshot[] = []
  refresher.onProblemsChange((s) => problems.push(s))
  await refresher.refreshNow()
  t.equal(problems.length, 0, 'a clean first read has no problems to report')
  fakes.arm.failNext(serverError(500), 2, /ipGroups/)
  await refresher.refreshNow()
  t.equal(problems.length, 1, 'the error appeared')
  t.match(problems[0]?.errors.get(ipGroupId)?.message, /HTTP 500/)
  await refresher.refreshNow()
  t.equal(problems.length, 1, 'the same error again: no notification')
  fakes.arm.failNext(forbidden('Microsoft.Network/ipGroups/read', ipGroupId), 1, /ipGroups/)
  await refresher.refreshNow()
  t.equal(problems.length, 2, 'the error changed')
  await refresher.refreshNow()
  t.equal(problems.length, 3, 'the error cleared')
  t.equal(problems[2]?.errors.size, 0)
  t.equal(changes.length, 1, 'the sets never changed: onChange ran only for the first read')
})

t.test('a seed from an earlier refresher is kept when the first read fails', async (t) => {
  fakes.arm.clearFaults()
  fakes.arm.failNext(serverError(503), 2)
  const refresher = new AzureSetsRefresher({
    ipGroups: [ipGroupId], privateLinkServices: [plsId], refreshSeconds: 60, reader, timers: manualTimers(), random: () => 0.5,
    seed: { ipGroups: new Map([[ipGroupId, ['198.18.0.99']]]), privateLinkServices: new Map() },
  })
  const snap = await refresher.refreshNow()
  t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.99'], 'the seeded set stays')
  t.notOk(snap.privateLinkServices.has(plsId), 'an unseeded resource stays unknown')
  t.equal(snap.errors.size, 2)
})

t.test('429 keeps the last good set and waits for Retry-After (seconds)', async (t) => {
  const { refresher, timers } = setup()
  await refresher.refreshNow()
  fakes.arm.failNext(throttled('7'), 1, /ipGroups/)
  const snap = await refresher.refreshNow()
  t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.10', '198.18.0.11'], 'last good kept')
  t.equal(snap.errors.get(ipGroupId)?.kind, 'throttled')
  t.match(snap.errors.get(ipGroupId)?.message, /429.*retrying after 7 s/)
  t.equal(refresher.nextReadAt(ipGroupId)! - timers.nowMs, 7000)
  const before = fakes.arm.requests.length
  await refresher.refreshNow()
  t.equal(fakes.arm.requests.filter((r) => /ipGroups/.test(r.path)).length, fakes.arm.requests.slice(0, before).filter((r) => /ipGroups/.test(r.path)).length, 'refreshNow does not read a throttled resource early')
  timers.nowMs += 7000
  const after = await refresher.refreshNow()
  t.equal(after.errors.size, 0, 'recovered after Retry-After')
})

t.test('429 with an HTTP-date Retry-After', async (t) => {
  const { refresher, timers } = setup()
  await refresher.refreshNow()
  fakes.arm.failNext(throttled(new Date(timers.nowMs + 30_000).toUTCString()), 1, /privateLinkServices/)
  const snap = await refresher.refreshNow()
  t.same(snap.privateLinkServices.get(plsId), ['10.0.1.4', '10.0.1.5'])
  t.equal(refresher.nextReadAt(plsId)! - timers.nowMs, 30_000)
  t.equal(parseRetryAfter('bogus', 0), undefined)
})

t.test('5xx backs off exponentially with jitter, capped at refreshSeconds', async (t) => {
  const { refresher, timers } = setup({ refreshSeconds: 5 })
  await refresher.refreshNow()
  const delays: number[] = []
  for (let i = 0; i < 5; i++) {
    fakes.arm.failNext(serverError(i % 2 ? 503 : 500), 1, /ipGroups/)
    const snap = await refresher.refreshNow()
    t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.10', '198.18.0.11'])
    t.equal(snap.errors.get(ipGroupId)?.kind, 'transient')
    delays.push(refresher.nextReadAt(ipGroupId)! - timers.nowMs)
  }
  // random() = 0.5 → factor 0.75 of 1 s, 2 s, 4 s, then the 5 s cap.
  t.same(delays, [750, 1500, 3000, 3750, 3750])
  await refresher.refreshNow()
  t.equal(refresher.snapshot().errors.size, 0, 'success clears the error')
  t.equal(refresher.nextReadAt(ipGroupId)! - timers.nowMs, 5000, 'and restores the regular interval')
})

t.test('403 names the missing permission, the role and the identity', async (t) => {
  const { refresher } = setup()
  await refresher.refreshNow()
  fakes.arm.failNext(forbidden('Microsoft.Network/ipGroups/read', ipGroupId), 1, /ipGroups/)
  fakes.arm.failNext(forbidden('Microsoft.Network/privateLinkServices/read', plsId), 1, /privateLinkServices/)
  const snap = await refresher.refreshNow()
  const ipErr = snap.errors.get(ipGroupId)
  t.equal(ipErr?.kind, 'forbidden')
  t.equal(ipErr?.code, 'AuthorizationFailed')
  t.match(ipErr?.message, `lacks Microsoft.Network/ipGroups/read`)
  t.match(ipErr?.message, `assign it the Reader role`)
  t.match(ipErr?.message, CLIENT_ID)
  t.match(snap.errors.get(plsId)?.message, 'Microsoft.Network/privateLinkServices/read')
  t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.10', '198.18.0.11'])
  t.same(snap.privateLinkServices.get(plsId), ['10.0.1.4', '10.0.1.5'])
})

t.test('401 is reported as a refused token', async (t) => {
  const { refresher } = setup()
  await refresher.refreshNow()
  fakes.arm.failNext({ status: 401, body: { error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' } } }, 1, /ipGroups/)
  const snap = await refresher.refreshNow()
  t.equal(snap.errors.get(ipGroupId)?.kind, 'unauthorized')
  t.match(snap.errors.get(ipGroupId)?.message, 'refused the token')
})

t.test('garbage and wrong-shape bodies keep the last good set', async (t) => {
  const { refresher } = setup()
  await refresher.refreshNow()
  fakes.arm.failNext('garbage', 1, /ipGroups/)
  let snap = await refresher.refreshNow()
  t.equal(snap.errors.get(ipGroupId)?.kind, 'invalid')
  t.match(snap.errors.get(ipGroupId)?.message, /keeping the last good set/)
  t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.10', '198.18.0.11'])
  fakes.arm.put(privateLinkServiceBody({ id: plsId, frontendIds: [], natIps: [], subnetId: subnet }))
  snap = await refresher.refreshNow()
  t.equal(snap.errors.get(plsId)?.kind, 'invalid')
  t.same(snap.privateLinkServices.get(plsId), ['10.0.1.4', '10.0.1.5'], 'an empty PLS never opens the sources')
})

t.test('connection resets and timeouts are transient and keep the last good set', async (t) => {
  const { refresher } = setup({ readTimeoutMs: 300, realTimers: true })
  await refresher.refreshNow()
  fakes.arm.failNext('reset', 1, /ipGroups/)
  fakes.arm.failNext('timeout', 1, /privateLinkServices/)
  const started = Date.now()
  const snap = await refresher.refreshNow()
  t.ok(Date.now() - started < 5000, 'a hanging ARM does not hang the refresher')
  t.equal(snap.errors.get(ipGroupId)?.kind, 'transient')
  t.equal(snap.errors.get(plsId)?.kind, 'transient')
  t.match(snap.errors.get(plsId)?.message, /no answer in time/)
  t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.10', '198.18.0.11'])
  t.same(snap.privateLinkServices.get(plsId), ['10.0.1.4', '10.0.1.5'])
})

t.test('a 404 names the config as the thing to fix', async (t) => {
  const { refresher } = setup()
  await refresher.refreshNow()
  fakes.arm.delete(ipGroupId)
  const snap = await refresher.refreshNow()
  t.equal(snap.errors.get(ipGroupId)?.kind, 'not-found')
  t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.10', '198.18.0.11'])
})

t.test('CIDR entries are reported as a warning, not an error', async (t) => {
  const { refresher } = setup()
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.0.10', '198.18.4.0/22']))
  const snap = await refresher.refreshNow()
  t.same(snap.ipGroups.get(ipGroupId), ['198.18.0.10'])
  t.match(snap.warnings.get(ipGroupId), '198.18.4.0/22')
  t.equal(snap.errors.size, 0)
})

t.test('start() reads at once and schedules the next read; stop() cancels', async (t) => {
  const { refresher, timers, changes } = setup({ refreshSeconds: 60 })
  refresher.start()
  while (changes.length === 0) await new Promise((r) => setTimeout(r, 5))
  await new Promise((r) => setTimeout(r, 20))
  const scheduled = [...timers.pending.values()].filter((p) => p.ms === 60_000)
  t.equal(scheduled.length, 1, 'one timer for the next refresh')
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.0.30']))
  timers.advance(60_000)
  while (changes.length === 1) await new Promise((r) => setTimeout(r, 5))
  t.same(changes[1]?.ipGroups.get(ipGroupId), ['198.18.0.30'])
  refresher.stop()
  t.equal([...timers.pending.values()].filter((p) => p.ms === 60_000).length, 0, 'stop clears the schedule')
})

t.test('sameSet', async (t) => {
  t.ok(sameSet(['a', 'b'], ['b', 'a', 'a']))
  t.notOk(sameSet(['a'], ['a', 'b']))
})

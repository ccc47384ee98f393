// ARM holding requests without an answer, then answering garbage, with the real daemon in
// namespaces: forwarding goes on with the last good sets and the status says why; once ARM
// answers again the errors clear and new sets apply. (429/500/403: azure-faults.test.ts.)
// Address plan: 198.18.0.0/15 inside namespaces this test creates (test/helpers/netns.ts); the fake
// IMDS and ARM are reached through the node namespace's own loopback (test/helpers/azure-daemon.ts).
import t from 'tap'
import { privateLinkServiceBody } from '../fakes/azure/arm-bodies.js'
import { goodDeployment } from '../fakes/azure/deployment.js'
import { waitFor } from '../helpers/azure-daemon.js'
import { FAULTS, expectFaultKeepsLastGood, startFaultScenario } from '../fakes/azure/fault-scenario.js'

t.test('ARM timeouts and garbage keep the last good sets and say why', async (t) => {
  const s = await startFaultScenario(t, 'azg')
  t.test('no answer (the read times out)', (t) => expectFaultKeepsLastGood(t, s, FAULTS.timeout))
  t.test('garbage', (t) => expectFaultKeepsLastGood(t, s, FAULTS.garbage))
  t.test('ARM recovers: the errors clear and new sets are used again', async (t) => {
    s.fakes.arm.clearFaults()
    s.fakes.arm.put(privateLinkServiceBody({ ...goodDeployment().pls, natIps: ['198.18.100.2'] }))
    await waitFor('the errors to clear', async () => (await s.d.status()).node.azure?.errors.length === 0, 15_000, s.d.log)
    await waitFor('the outsider allowed by the new NAT IPs', async () => (await s.outsider()) === 's0', 5_000, s.d.log)
    t.equal(await s.client(), '', 'the client is no longer a NAT IP')
  })
})

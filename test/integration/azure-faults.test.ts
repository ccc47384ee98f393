// ARM answering 429, 500 and 403 with the real daemon in namespaces: forwarding goes on with the
// last good IP Group and PLS sets, and status, the table and doctor --azure say why. (No answer and
// garbage: azure-faults-slow.test.ts.)
// Address plan: 198.18.0.0/15 inside namespaces this test creates (test/helpers/netns.ts); the fake
// IMDS and ARM are reached through the node namespace's own loopback (test/helpers/azure-daemon.ts).
import t from 'tap'
import { FAULTS, expectFaultKeepsLastGood, startFaultScenario } from '../fakes/azure/fault-scenario.js'

t.test('ARM 429, 500, 403 keep the last good sets and say why', async (t) => {
  const s = await startFaultScenario(t, 'azf')
  t.test('429', (t) => expectFaultKeepsLastGood(t, s, FAULTS.throttled))
  t.test('500', (t) => expectFaultKeepsLastGood(t, s, FAULTS.serverError))
  t.test('403, and doctor --azure names the missing permission', async (t) => {
    await expectFaultKeepsLastGood(t, s, FAULTS.forbidden)
    const doctor = await s.d.ctl(['doctor', '--azure', '--config', s.d.configPath])
    t.equal(doctor.exitCode, 1, 'doctor fails')
    t.match(doctor.stdout, /^FAIL {2}azure-scale-set: .*403 AuthorizationFailed.*lacks Microsoft\.Compute\/virtualMachineScaleSets\/read.*\(fix: assign the Reader role/m)
  })
})

// ARM failing in every way the refresher knows (429, 500, 403, no answer, garbage) with the real
// daemon in namespaces: forwarding goes on with the last good sets and status/doctor say why.
// Address plan: 198.18.0.0/15 inside namespaces this test creates (test/helpers/netns.ts); the fake
// IMDS and ARM are reached through the node namespace's own loopback (test/helpers/azure-daemon.ts).
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { startServers } from '../helpers/daemon.js'
import { startAzureDaemon, startNsAzureFakes, waitFor, whoAnswers } from '../helpers/azure-daemon.js'
import { rid } from '../fakes/azure/harness.js'
import { ipGroupBody, privateLinkServiceBody } from '../fakes/azure/arm-bodies.js'
import { forbidden, serverError, throttled, type ArmFault } from '../fakes/azure/fake-arm.js'
import { goodDeployment, plsId } from '../fakes/azure/deployment.js'
import type { Status } from '../../src/status.js'

const ipGroupId = rid('Microsoft.Network/ipGroups', 'onprem')

// System-assigned identity (no identityClientId): messages name it as such.
const config = `health: { port: 8080 }
azure: { refreshSeconds: 5 }
sources:
  - privateLinkService: ${plsId}
sync: { resyncSeconds: 2 }
listeners:
  - name: http
    port: 8000
    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }
    targets:
      - { ipGroup: ${ipGroupId}, port: 80 }
`

/** Each fault, and what both resources' errors must say while it lasts. */
const FAULTS: Array<{ name: string; fault: ArmFault; says: RegExp }> = [
  { name: '429 with Retry-After', fault: throttled('1'), says: /throttled by ARM \(429\), retrying after 1 s; keeping the last good set/ },
  { name: '500', fault: serverError(500), says: /HTTP 500.*retrying with backoff, keeping the last good set/ },
  { name: '403', fault: forbidden('Microsoft.Network/*/read', `/subscriptions/x`), says: /403 AuthorizationFailed: this scale set's system-assigned managed identity lacks Microsoft\.Network\/(ipGroups|privateLinkServices)\/read; assign it the Reader role/ },
  { name: 'no answer', fault: 'timeout', says: /no answer in time; retrying with backoff, keeping the last good set/ },
  { name: 'garbage', fault: 'garbage', says: /ARM answered 200 with a body that is not JSON.*keeping the last good set|body is not JSON/ },
]

t.test('ARM faults keep the last good sets and say why', async (t) => {
  const topo = await createTopology({ servers: 1, prefix: 'azf' })
  t.teardown(() => topo.destroy())
  const fakes = await startNsAzureFakes(topo)
  t.teardown(() => fakes.close())
  fakes.arm.put(privateLinkServiceBody({ ...goodDeployment().pls, natIps: ['198.18.0.2'] }))
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.1.2']))
  await startServers(topo)
  const d = startAzureDaemon(topo, fakes, { yaml: config })
  t.teardown(() => d.kill('SIGKILL'))
  const client = (): Promise<string> => whoAnswers(topo, topo.client.ns, 'http://198.18.0.1:8000/')
  const outsider = (): Promise<string> => whoAnswers(topo, topo.outsider.ns, 'http://198.18.100.1:8000/')
  await waitFor('s0 answering through the forwarder', async () => (await client()) === 's0', 15_000, d.log)

  for (const { name, fault, says } of FAULTS) {
    t.test(`ARM answers ${name}`, async (t) => {
      fakes.arm.clearFaults()
      fakes.arm.failNext(fault, 10_000)
      // Both resources failed with this fault (earlier faults' messages do not match `says`).
      const s = await waitFor<Status | undefined>(`both reads failing with ${name}`, async () => {
        const st = await d.status()
        const errors = st.node.azure?.errors ?? []
        return errors.length === 2 && errors.every((e) => says.test(e)) ? st : undefined
      }, 15_000, d.log)
      const errors = s!.node.azure!.errors
      t.ok(errors.some((e) => e.includes(`IP Group ${ipGroupId}`)), 'the IP Group read error names the IP Group')
      t.ok(errors.some((e) => e.includes(`Private Link Service ${plsId}`)), 'the PLS read error names the PLS')
      const target = s!.listeners[0]!.targets[0]!
      t.equal(target.address, '198.18.1.2', 'the last good target stays')
      t.equal(target.state, 'healthy')
      t.equal(await client(), 's0', 'the client is still forwarded to the last good target')
      t.equal(await outsider(), '', 'the outsider is still refused')
      const table = await d.ctl(['status'])
      t.equal(table.exitCode, 0, 'fwdctl status: every listener serving, in sync')
      t.match(table.stdout, /azure: reading Private Link Service/, 'the table shows why')
      if (fault !== 'timeout' && typeof fault === 'object' && fault.status === 403) {
        const doctor = await d.ctl(['doctor', '--azure', '--config', d.configPath])
        t.equal(doctor.exitCode, 1, 'doctor fails')
        t.match(doctor.stdout, /^FAIL {2}azure-scale-set: .*403 AuthorizationFailed.*lacks Microsoft\.Compute\/virtualMachineScaleSets\/read.*\(fix: assign the Reader role/m, 'doctor --azure says which permission is missing')
      }
    })
  }

  t.test('ARM recovers: the errors clear and new sets are used again', async (t) => {
    fakes.arm.clearFaults()
    fakes.arm.put(privateLinkServiceBody({ ...goodDeployment().pls, natIps: ['198.18.100.2'] }))
    await waitFor('the errors to clear', async () => (await d.status()).node.azure?.errors.length === 0, 15_000, d.log)
    await waitFor('the outsider allowed by the new NAT IPs', async () => (await outsider()) === 's0', 5_000, d.log)
    t.equal(await client(), '', 'the client is no longer a NAT IP')
  })
})

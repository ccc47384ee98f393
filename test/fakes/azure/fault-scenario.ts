/**
 * The ARM-fault scenario shared by test/integration/azure-faults*.test.ts (split in two files so
 * each stays well under a minute): a daemon in namespaces with an IP Group target and a Private
 * Link Service source, and the check that one ARM fault keeps the last good sets and is explained
 * by the status, the status table and (for a 403) `doctor --azure`.
 * Address plan: 198.18.0.0/15 inside namespaces the test creates (test/helpers/netns.ts); the fakes
 * are reached through the node namespace's own loopback (test/helpers/azure-daemon.ts).
 */
import type { Test } from 'tap'
import { createTopology, type Topology } from '../../helpers/netns.js'
import { startServers } from '../../helpers/daemon.js'
import { startAzureDaemon, startNsAzureFakes, waitFor, whoAnswers, type AzureDaemon, type NsAzureFakes } from '../../helpers/azure-daemon.js'
import { rid } from './harness.js'
import { ipGroupBody, privateLinkServiceBody } from './arm-bodies.js'
import { forbidden, serverError, throttled, type ArmFault } from './fake-arm.js'
import { goodDeployment, plsId } from './deployment.js'
import type { Status } from '../../../src/status.js'

export const ipGroupId = rid('Microsoft.Network/ipGroups', 'onprem')
export { plsId }

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

/** A fault and what both resources' errors must say while it lasts. */
export interface FaultCase {
  name: string
  fault: ArmFault
  says: RegExp
}

export const FAULTS = {
  throttled: { name: '429 with Retry-After', fault: throttled('1'), says: /throttled by ARM \(429\), retrying after 1 s; keeping the last good set/ },
  serverError: { name: '500', fault: serverError(500), says: /HTTP 500.*retrying with backoff, keeping the last good set/ },
  forbidden: { name: '403', fault: forbidden('Microsoft.Network/*/read', '/subscriptions/x'), says: /403 AuthorizationFailed: this scale set's system-assigned managed identity lacks Microsoft\.Network\/(ipGroups|privateLinkServices)\/read; assign it the Reader role/ },
  timeout: { name: 'no answer', fault: 'timeout', says: /no answer in time; retrying with backoff, keeping the last good set/ },
  garbage: { name: 'garbage', fault: 'garbage', says: /ARM answered 200 with a body that is not JSON.*keeping the last good set|body is not JSON/ },
} satisfies Record<string, FaultCase>

/** The running scenario. */
export interface FaultScenario {
  topo: Topology
  fakes: NsAzureFakes
  d: AzureDaemon
  /** Which server answered the client / the outsider ('' when refused). */
  client(): Promise<string>
  outsider(): Promise<string>
}

/** Builds the namespaces, the fakes (IP Group → s0, PLS NAT IP = the client) and the daemon; waits until it forwards. */
export async function startFaultScenario(t: Test, prefix: string): Promise<FaultScenario> {
  const topo = await createTopology({ servers: 1, prefix })
  t.teardown(() => topo.destroy())
  const fakes = await startNsAzureFakes(topo)
  t.teardown(() => fakes.close())
  fakes.arm.put(privateLinkServiceBody({ ...goodDeployment().pls, natIps: ['198.18.0.2'] }))
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.1.2']))
  await startServers(topo)
  const d = startAzureDaemon(topo, fakes, { yaml: config })
  t.teardown(() => d.kill('SIGKILL'))
  const s: FaultScenario = {
    topo, fakes, d,
    client: () => whoAnswers(topo, topo.client.ns, 'http://198.18.0.1:8000/'),
    outsider: () => whoAnswers(topo, topo.outsider.ns, 'http://198.18.100.1:8000/'),
  }
  await waitFor('s0 answering through the forwarder', async () => (await s.client()) === 's0', 15_000, d.log)
  return s
}

/** Makes every ARM request fail with `c.fault` and checks that forwarding goes on and everything says why. */
export async function expectFaultKeepsLastGood(t: Test, s: FaultScenario, c: FaultCase): Promise<void> {
  s.fakes.arm.clearFaults()
  s.fakes.arm.failNext(c.fault, 10_000)
  // Both resources failed with this fault (earlier faults' messages do not match `says`).
  const st = await waitFor<Status | undefined>(`both reads failing with ${c.name}`, async () => {
    const x = await s.d.status()
    const errors = x.node.azure?.errors ?? []
    return errors.length === 2 && errors.every((e) => c.says.test(e)) ? x : undefined
  }, 15_000, s.d.log)
  const errors = st!.node.azure!.errors
  t.ok(errors.some((e) => e.includes(`IP Group ${ipGroupId}`)), 'the IP Group read error names the IP Group')
  t.ok(errors.some((e) => e.includes(`Private Link Service ${plsId}`)), 'the PLS read error names the PLS')
  const target = st!.listeners[0]!.targets[0]!
  t.equal(target.address, '198.18.1.2', 'the last good target stays')
  t.match(target.lastError, c.says, "the target's lastError says why its set is stale")
  t.equal(await s.client(), 's0', 'the client is still forwarded to the last good target')
  t.equal(await s.outsider(), '', 'the outsider is still refused')
  const table = await s.d.ctl(['status'])
  t.equal(table.exitCode, 0, 'fwdctl status: every listener serving, in sync')
  t.match(table.stdout, /azure: reading Private Link Service/, 'the table shows why')
}

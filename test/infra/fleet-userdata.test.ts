// The fleet follows its template: the userData the compiled template gives the scale set is what a
// node running `fwdd --config-from imds` applies, and a redeploy's new userData reconfigures the
// running daemon without a restart. Walks the documented two-step addition of a listener: step one
// puts it in the nodes' config with no LB rule; the node serves it (`/lb/<name>` 200, forwarding)
// before step two gives the LB its rule and probe.
// Address plan: 198.18.0.0/15 inside namespaces this test creates (test/helpers/netns.ts); the
// template is compiled for targets there, so the daemon checks and forwards only to test hosts.
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { startServers } from '../helpers/daemon.js'
import { startAzureDaemon, startNsAzureFakes, waitFor, whoAnswers } from '../helpers/azure-daemon.js'
import { checkListenerAgreement } from '../../tools/infra-check/listener-agreement.js'
import { ofType, snapshotParams, type PredictedResource } from '../../tools/infra-check/snapshot.js'
import { examples, greenfieldWith } from '../helpers/infra.js'

t.setTimeout(600_000)

const web = "{ name: 'web', port: 8000, targets: [{ host: '198.18.1.2', port: 80 }], check: { intervalMs: 300, timeoutMs: 300 } }"
const api = "{ name: 'api', port: 8001, targets: [{ host: '198.18.2.2', port: 80 }], check: { intervalMs: 300, timeoutMs: 300 } }"
const deploy = (listeners: string, staged: string): PredictedResource[] => snapshotParams(examples, greenfieldWith({
  listeners: `[\n${listeners}\n]`,
  listenersNotOnLoadBalancer: staged,
  plsNatSubnetPrefix: "'198.18.0.0/24'",
  fwdd: '{ azureRefreshSeconds: 5, sync: { resyncSeconds: 2 } }',
  deployPrivateEndpoint: 'false',
}))
const userDataOf = (rs: PredictedResource[]): string => (ofType(rs, 'Microsoft.Compute/virtualMachineScaleSets')[0] as any).properties.virtualMachineProfile.userData
const lbPorts = (rs: PredictedResource[]): number[] => (ofType(rs, 'Microsoft.Network/loadBalancers')[0] as any).properties.loadBalancingRules.map((r: any) => r.properties.frontendPort)

const first = deploy(web, '[]')
const stepOne = deploy(`${web}\n${api}`, "['api']")
const stepTwo = deploy(`${web}\n${api}`, '[]')

t.test('the three deployments, as compiled', async (t) => {
  t.same(lbPorts(first), [8000])
  t.same(lbPorts(stepOne), [8000], 'step one: no LB rule for api yet')
  t.same(lbPorts(stepTwo), [8000, 8001], 'step two: the rule')
  t.same(checkListenerAgreement(stepOne, ['api']), [])
  t.same(checkListenerAgreement(stepTwo), [])
  t.not(userDataOf(stepOne), userDataOf(first), 'step one changes userData')
  t.equal(userDataOf(stepTwo), userDataOf(stepOne), 'step two does not: the nodes already run it')
})

t.test('a node follows the template\'s userData without a restart', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'ifl' })
  t.teardown(() => topo.destroy())
  const fakes = await startNsAzureFakes(topo)
  t.teardown(() => fakes.close())
  await startServers(topo)
  fakes.imds.userData = userDataOf(first)
  const d = startAzureDaemon(topo, fakes)
  t.teardown(() => d.kill('SIGKILL'))
  const get = (port: number): Promise<string> => whoAnswers(topo, topo.client.ns, `http://198.18.0.1:${port}/`)
  const lb = (name: string): Promise<string> => topo.exec(topo.client.ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '2', `http://198.18.0.1:8080/lb/${name}`], { reject: false }).then((r) => r.stdout)

  await waitFor('web → s0', async () => (await get(8000)) === 's0', 20_000, d.log)
  const before = await d.status()
  t.equal(before.node.configSource, 'imds:userData')
  t.equal(await lb('api'), '404', 'api unknown before step one')

  fakes.imds.userData = userDataOf(stepOne)
  await waitFor('api → s1 after step one', async () => (await get(8001)) === 's1', 15_000, d.log)
  await waitFor('/lb/api 200 after step one', async () => (await lb('api')) === '200', 10_000, d.log)
  t.equal(await get(8000), 's0', 'web goes on')
  const after = await d.status()
  t.same(after.listeners.map((l) => l.name), ['web', 'api'])
  t.equal(after.node.lastError, null)
  // One process throughout: the test started it once and nothing restarts it, so every change
  // above came from re-reading userData.
})

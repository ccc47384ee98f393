// Azure-sourced sets with the real daemon in namespaces: IP Group targets and Private Link Service
// sources follow the fake ARM, and `fwdctl doctor --azure` passes against a correct deployment.
// Address plan: 198.18.0.0/15 inside namespaces this test creates (test/helpers/netns.ts); the fake
// IMDS and ARM are reached through the node namespace's own loopback (test/helpers/azure-daemon.ts).
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { startServers } from '../helpers/daemon.js'
import { startAzureDaemon, startNsAzureFakes, waitFor, whoAnswers } from '../helpers/azure-daemon.js'
import { CLIENT_ID, rid } from '../fakes/azure/harness.js'
import { ipGroupBody, privateLinkServiceBody } from '../fakes/azure/arm-bodies.js'
import { applyDeployment, goodDeployment, plsId } from '../fakes/azure/deployment.js'

const ipGroupId = rid('Microsoft.Network/ipGroups', 'onprem')

// Listener names, ports and health port match the fake deployment (deployment.ts), so the doctor's
// LB probe and rule checks pass; `syslog` forwards nowhere useful but must exist for them.
const config = `health: { port: 8080 }
azure: { identityClientId: ${CLIENT_ID}, refreshSeconds: 5 }
sources:
  - privateLinkService: ${plsId}
sync: { resyncSeconds: 2 }
listeners:
  - name: http
    port: 8000
    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }
    targets:
      - { ipGroup: ${ipGroupId}, port: 80 }
  - name: syslog
    protocol: udp
    port: 514
    targets:
      - { host: 198.18.1.2, port: 514 }
`

t.test('IP Group targets and Private Link Service sources follow ARM', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'azs' })
  t.teardown(() => topo.destroy())
  const fakes = await startNsAzureFakes(topo)
  t.teardown(() => fakes.close())
  const deployment = goodDeployment()
  deployment.pls.natIps = ['198.18.0.2']
  applyDeployment(fakes.arm, deployment)
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.1.2']))
  await startServers(topo)
  const d = startAzureDaemon(topo, fakes, { yaml: config })
  t.teardown(() => d.kill('SIGKILL'))

  const client = (): Promise<string> => whoAnswers(topo, topo.client.ns, 'http://198.18.0.1:8000/')
  const outsider = (): Promise<string> => whoAnswers(topo, topo.outsider.ns, 'http://198.18.100.1:8000/')

  t.test('the first read: the IP Group is the target, only the PLS NAT IP is a source', async (t) => {
    t.equal(await waitFor('s0 answering through the forwarder', async () => (await client()) === 's0', 15_000, d.log), true)
    t.equal(await outsider(), '', 'the outsider is not among the NAT IPs: refused')
    const s = await d.status()
    t.same(s.node.azure, { errors: [], warnings: [] }, 'status: Azure reads fine')
    t.same(s.listeners[0]!.targets.map((x) => [x.host, x.address]), [[ipGroupId, '198.18.1.2']])
    const rules = await d.ctl(['rules'])
    t.match(rules.stdout, /-s 198\.18\.0\.2\/32/, 'the NAT IP is in the allow-list')
    t.notMatch(rules.stdout, /198\.18\.0\.0\/24/, 'and nothing wider')
  })

  t.test('the IP Group changes: new connections go to the new server within refreshSeconds', async (t) => {
    fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.2.2']))
    const changedAt = Date.now()
    // refreshSeconds (5) + the new target's rise (2 checks at 300 ms) + one sync.
    await waitFor('s1 answering', async () => (await client()) === 's1', 9_000, d.log)
    t.ok(Date.now() - changedAt < 9_000, `moved after ${Date.now() - changedAt} ms`)
    for (let i = 0; i < 5; i++) t.equal(await client(), 's1', 'every new connection goes to the new server')
    const s = await d.status()
    t.same(s.listeners[0]!.targets.map((x) => x.address), ['198.18.2.2'], 'the old address left the status')
  })

  t.test('the NAT IPs change: the allowed sources follow', async (t) => {
    fakes.arm.put(privateLinkServiceBody({ ...deployment.pls, natIps: ['198.18.100.2'] }))
    await waitFor('the outsider allowed', async () => (await outsider()) === 's1', 9_000, d.log)
    t.equal(await client(), '', 'the client is no longer a NAT IP: refused')
    fakes.arm.put(privateLinkServiceBody({ ...deployment.pls, natIps: ['198.18.0.2', '198.18.0.3'] }))
    await waitFor('the client allowed again', async () => (await client()) === 's1', 9_000, d.log)
    t.equal(await outsider(), '', 'the outsider refused again')
    t.match((await d.ctl(['rules'])).stdout, /-s 198\.18\.0\.3\/32/, 'every NAT IP is a source')
  })

  t.test('fwdctl doctor --azure passes against the fakes', async (t) => {
    const r = await d.ctl(['doctor', '--azure', '--config', d.configPath])
    const azureLines = r.stdout.split('\n').filter((l) => /^\w+ {2}azure-/.test(l))
    t.ok(azureLines.length >= 8, `the Azure checks ran:\n${r.stdout}\n${r.stderr}`)
    t.same(azureLines.filter((l) => !l.startsWith('PASS')), [], 'every Azure check passes')
    for (const check of ['azure-instance', 'azure-load-balancer', 'azure-backend-pool', 'azure-private-link-service']) {
      t.match(r.stdout, new RegExp(`^PASS {2}${check}:`, 'm'), check)
    }
    t.ok(fakes.imds.requests.some((q) => q.path === '/metadata/identity/oauth2/token' && q.query.client_id === CLIENT_ID), 'tokens for the configured identity came from the fake IMDS')
  })
})

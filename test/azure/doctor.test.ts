/**
 * `doctor --azure` against fake resources: the correct deployment passes every check, and each
 * misconfiguration fails exactly one verdict, which names it and says the fix. Real SDK clients,
 * real credential, fake ARM and IMDS. Test address plan: loopback only (test/fakes/azure/harness.ts).
 */
import t from 'tap'
import { startAzureFakes, CLIENT_ID } from '../fakes/azure/harness.js'
import { forbidden } from '../fakes/azure/fake-arm.js'
import { applyDeployment, goodDeployment, HEALTH_PORT, LISTENERS, lbId, plsId, type Deployment } from '../fakes/azure/deployment.js'
import { ImdsClient } from '../../src/azure/imds.js'
import { createAzureDoctorReader } from '../../src/azure/doctor-reader.js'
import { runAzureDoctor } from '../../src/azure/doctor.js'
import { formatVerdicts } from '../../src/cli/verdict.js'

const fakes = await startAzureFakes()
t.teardown(() => fakes.close())

const deps = {
  imds: new ImdsClient({ endpoint: fakes.imds.endpoint }),
  reader: createAzureDoctorReader(fakes.clients),
  identityClientId: CLIENT_ID,
}

async function doctor(mutate: (d: Deployment) => void = () => {}) {
  fakes.arm.clearFaults()
  const d = goodDeployment()
  mutate(d)
  applyDeployment(fakes.arm, d)
  const verdicts = await runAzureDoctor({ listeners: LISTENERS, healthPort: HEALTH_PORT, privateLinkServices: [plsId] }, deps)
  return { verdicts, failed: verdicts.filter((v) => !v.ok), warned: verdicts.filter((v) => v.level === 'warn'), text: formatVerdicts(verdicts) }
}

t.test('a correct deployment passes every check', async (t) => {
  const { verdicts, failed, warned, text } = await doctor()
  t.same(failed, [], text)
  t.same(warned, [], text)
  t.same(verdicts.map((v) => v.check), [
    'azure-instance', 'azure-load-balancer',
    'azure-probe/http', 'azure-probe/syslog', 'azure-rule/http', 'azure-rule/syslog',
    'azure-backend-pool', 'azure-private-link-service', 'azure-proxy-protocol/fwd-pls', 'azure-private-endpoint/pe-consumer',
  ])
})

const probe = (d: Deployment, name: string) => d.lb.probes.find((p) => p.name === name)!
const rule = (d: Deployment, name: string) => d.lb.rules.find((r) => r.name === name)!

const cases: Array<{ name: string; mutate: (d: Deployment) => void; check: string; detail: RegExp; fix: RegExp }> = [
  { name: 'probe on the wrong port', mutate: (d) => { probe(d, 'probe-http').port = 80 }, check: 'azure-probe/http', detail: /port is 80, not the health port 8080/, fix: /Http probe on port 8080 with path \/lb\/http/ },
  { name: 'probe with the wrong path', mutate: (d) => { probe(d, 'probe-http').requestPath = '/health' }, check: 'azure-probe/http', detail: /path is \/health, not \/lb\/http/, fix: /path \/lb\/http/ },
  { name: 'Tcp probe', mutate: (d) => { Object.assign(probe(d, 'probe-http'), { protocol: 'Tcp', requestPath: undefined }) }, check: 'azure-probe/http', detail: /protocol is Tcp, not Http/, fix: /Http probe/ },
  { name: 'missing rule', mutate: (d) => { d.lb.rules = d.lb.rules.filter((r) => r.name !== 'rule-http') }, check: 'azure-rule/http', detail: /no Tcp rule for port 8000/, fix: /frontend and backend port 8000/ },
  { name: 'rule with the wrong backend port', mutate: (d) => { rule(d, 'rule-http').backendPort = 8001 }, check: 'azure-rule/http', detail: /ports are 8000->8001/, fix: /frontend and backend port 8000/ },
  { name: 'floating IP on', mutate: (d) => { rule(d, 'rule-syslog').enableFloatingIP = true }, check: 'azure-rule/syslog', detail: /floating IP is on/, fix: /floating IP off/ },
  { name: "rule using another listener's probe", mutate: (d) => { rule(d, 'rule-http').probe = 'probe-syslog' }, check: 'azure-rule/http', detail: /probe is probe-syslog/, fix: /probe probe-http/ },
  { name: 'instance NIC not in the backend pool', mutate: (d) => { d.nicPools = [] }, check: 'azure-backend-pool', detail: /fwd_0's NIC is not in backend pool pool/, fix: /az vmss update-instances -g fwd-rg -n fwd --instance-ids 0/ },
  { name: 'PLS on another load balancer', mutate: (d) => { d.pls.frontendIds = [d.pls.frontendIds[0]!.replace('fwd-lb', 'other-lb')] }, check: 'azure-private-link-service', detail: /no Private Link Service uses a frontend of load balancer fwd-lb/, fix: /frontendIPConfigurations\/fe/ },
  { name: 'proxy protocol on', mutate: (d) => { d.pls.enableProxyProtocol = true }, check: 'azure-proxy-protocol/fwd-pls', detail: /PROXY header/, fix: /--enable-proxy-protocol false/ },
  { name: 'pending private endpoint connection', mutate: (d) => { d.pls.connections = [{ name: 'pe-consumer', status: 'Pending' }] }, check: 'azure-private-endpoint/pe-consumer', detail: /Pending/, fix: /private-endpoint-connection approve/ },
]

for (const c of cases) {
  t.test(`${c.name}: reported once, with the fix`, async (t) => {
    const { failed, text } = await doctor(c.mutate)
    t.equal(failed.length, 1, text)
    t.equal(failed[0]?.check, c.check)
    t.match(failed[0]?.detail, c.detail)
    t.match(failed[0]?.fix, c.fix)
  })
}

t.test('a 403 on the load balancer names the permission and stops the checks that need it', async (t) => {
  applyDeployment(fakes.arm, goodDeployment())
  fakes.arm.failNext(forbidden('Microsoft.Network/loadBalancers/read', lbId), 1, /loadBalancers/)
  const verdicts = await runAzureDoctor({ listeners: LISTENERS, healthPort: HEALTH_PORT }, deps)
  const failed = verdicts.filter((v) => !v.ok)
  t.equal(failed.length, 1, formatVerdicts(verdicts))
  t.equal(failed[0]?.check, 'azure-load-balancer')
  t.match(failed[0]?.detail, 'Microsoft.Network/loadBalancers/read')
  t.match(failed[0]?.fix, `Reader role on ${lbId}`)
  t.match(failed[0]?.fix, CLIENT_ID)
})

t.test('rejected and missing connections are warnings, not failures', async (t) => {
  let result = await doctor((d) => { d.pls.connections = [{ name: 'pe-old', status: 'Rejected' }] })
  t.equal(result.failed.length, 0)
  t.same(result.warned.map((v) => v.check), ['azure-private-endpoint/pe-old'])
  result = await doctor((d) => { d.pls.connections = [] })
  t.equal(result.failed.length, 0)
  t.same(result.warned.map((v) => v.check), ['azure-private-endpoints/fwd-pls'])
})

// What the templates deploy, from the compiler's own prediction (`bicep snapshot`): both example
// parameter files, the zone cases, the listener limit against the 64 KB userData and customData
// ceilings, the two-step listener change, and the agreement check failing on broken snapshots.
import t from 'tap'
import path from 'node:path'
import { checkListenerAgreement, fwddConfigOf } from '../../tools/infra-check/listener-agreement.js'
import { ofType, snapshotFile, snapshotParams, standInClientId, type PredictedResource } from '../../tools/infra-check/snapshot.js'
import { examples, fwddCheck, greenfieldWith } from '../helpers/infra.js'

t.setTimeout(900_000)

const vmssOf = (rs: PredictedResource[]): any => ofType(rs, 'Microsoft.Compute/virtualMachineScaleSets')[0]
const greenfield = snapshotFile(path.join(examples, 'greenfield.bicepparam'))

t.test('greenfield: the whole path, in agreement, and a config fwdd accepts', async (t) => {
  const types = new Set(greenfield.map((r) => r.type.toLowerCase()))
  for (const type of ['Microsoft.Network/virtualNetworks', 'Microsoft.Network/natGateways', 'Microsoft.Network/networkSecurityGroups',
    'Microsoft.Network/loadBalancers', 'Microsoft.Compute/virtualMachineScaleSets', 'Microsoft.Insights/autoscaleSettings',
    'Microsoft.Authorization/roleDefinitions', 'Microsoft.Authorization/roleAssignments', 'Microsoft.Network/privateLinkServices',
    'Microsoft.Network/privateEndpoints', 'Microsoft.Network/privateDnsZones/A', 'Microsoft.Network/privateDnsZones/virtualNetworkLinks',
    'Microsoft.Compute/virtualMachines']) t.ok(types.has(type.toLowerCase()), type)
  t.same(checkListenerAgreement(greenfield), [])
  const config = fwddConfigOf(greenfield)
  t.equal((config.azure as any).identityClientId, standInClientId, 'the identity\'s client ID is in the config')
  t.same(config.sources, ['10.50.1.0/26'])
  const check = fwddCheck(t.testdir(), config)
  t.equal(check.code, 0, `fwdd --check accepts it: ${check.output}`)
})

t.test('the scale set for issue 15 and 16: userData, lifecycle, health gates, autoscale', async (t) => {
  const vmss = vmssOf(greenfield)
  const p = vmss.properties
  t.match(p.upgradePolicy, { mode: 'Rolling', rollingUpgradePolicy: { maxBatchInstancePercent: 20, maxUnhealthyUpgradedInstancePercent: 0, maxSurge: true }, automaticOSUpgradePolicy: { enableAutomaticOSUpgrade: true } })
  t.match(p.virtualMachineProfile.scheduledEventsProfile, { terminateNotificationProfile: { enable: true, notBeforeTimeout: 'PT10M' } })
  const health = p.virtualMachineProfile.extensionProfile.extensions.find((e: any) => e.properties.type === 'ApplicationHealthLinux')
  t.match(health.properties, { typeHandlerVersion: '2.0', settings: { requestPath: '/health', port: 8080 } })
  t.equal(p.virtualMachineProfile.networkProfile.healthProbe, undefined, 'one health source: the extension')
  t.match(p.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[0].properties.networkSecurityGroup.id, /networkSecurityGroups\/fwd-forwarders-nsg$/)
  const customData = Buffer.from(p.virtualMachineProfile.osProfile.customData, 'base64').toString('utf8')
  t.notOk(customData.includes('{{FWDD_DEB_URL}}') || customData.includes('{{FWDD_CONFIG_B64}}'), 'the template fills its placeholders')
  const [autoscale] = ofType(greenfield, 'Microsoft.Insights/autoscaleSettings') as any[]
  const profile = autoscale.properties.profiles[0]
  t.equal(profile.capacity.minimum, '2')
  t.same(new Set(profile.rules.map((r: any) => r.metricTrigger.metricName)), new Set(['Percentage CPU', 'Network In Total']))
  t.equal(autoscale.properties.targetResourceUri, vmss.id)
})

t.test('existing hub: no network made, your subnets, consumer outputs, all fwdd keys, role where the IP Group lives', async (t) => {
  const rs = snapshotFile(path.join(examples, 'existing-hub.bicepparam'))
  t.same(checkListenerAgreement(rs), [])
  for (const type of ['Microsoft.Network/virtualNetworks', 'Microsoft.Network/natGateways', 'Microsoft.Network/privateEndpoints', 'Microsoft.Network/privateDnsZones']) {
    t.equal(ofType(rs, type).length, 0, `no ${type}`)
  }
  const vmss = vmssOf(rs)
  t.match(vmss.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[0].properties.ipConfigurations[0].properties.subnet.id, /virtualNetworks\/hub\/subnets\/forwarders$/)
  const [pls] = ofType(rs, 'Microsoft.Network/privateLinkServices') as any[]
  t.match(pls.properties.ipConfigurations[0].properties.subnet.id, /subnets\/pls-nat$/)
  t.same(pls.properties.visibility.subscriptions, ['11111111-1111-1111-1111-111111111111'])
  const config = fwddConfigOf(rs) as any
  t.match(config.listeners[1].targets[0], { ipGroup: /ipGroups\/dc-servers$/, port: 636 })
  t.match(config.listeners[0], { whenAllDown: 'reject', check: { intervalMs: 2000, fall: 3 }, targets: [{ weight: 2 }] })
  t.match(config, { sync: { resyncSeconds: 60 }, azure: { refreshSeconds: 30, identityClientId: standInClientId } })
  t.equal(fwddCheck(t.testdir(), config).code, 0, 'fwdd --check accepts it')
  const [role] = ofType(rs, 'Microsoft.Authorization/roleDefinitions') as any[]
  t.ok(role.properties.assignableScopes.some((s: string) => s.endsWith('/resourceGroups/hub-network')), 'assignable where the IP Group lives')
  t.equal(ofType(rs, 'Microsoft.Authorization/roleAssignments').length, 2, 'assigned here and in the hub group')
})

t.test('zones: none, one, three compile to a scale set valid for each', async (t) => {
  for (const [zones, balance] of [['[]', undefined], ["['2']", undefined], ["['1', '2', '3']", true]] as const) {
    const rs = snapshotParams(examples, greenfieldWith({ zones, deployPrivateEndpoint: 'false' }))
    const vmss = vmssOf(rs)
    const want = JSON.parse(zones.replace(/'/g, '"')) as string[]
    t.same(vmss.zones ?? [], want, `zones ${zones}`)
    t.equal(vmss.properties.zoneBalance ?? undefined, balance, `zoneBalance ${String(balance)} with zones ${zones}`)
    const [lb] = ofType(rs, 'Microsoft.Network/loadBalancers') as any[]
    t.same(lb.properties.frontendIPConfigurations[0].zones ?? [], want, 'the LB frontend follows')
  }
})

t.test('the listener limit: 300 listeners of two targets fit userData and customData; 301 are refused', async (t) => {
  const listeners = Array.from({ length: 300 }, (_, i) => `{ name: 'listener-${String(i).padStart(7, '0')}', protocol: 'tcp', port: ${10000 + i}, targets: [{ host: '198.18.${i % 250}.${100 + (i % 150)}', port: ${60000 + i} }, { host: '198.19.${i % 250}.${100 + (i % 150)}', port: ${60000 + i} }] }`)
  const rs = snapshotParams(examples, greenfieldWith({ listeners: `[\n${listeners.join('\n')}\n]`, deployPrivateEndpoint: 'false' }))
  t.same(checkListenerAgreement(rs), [], 'agreement, and no NSG priority shared')
  const profile = vmssOf(rs).properties.virtualMachineProfile
  t.ok(profile.userData.length <= 65536, `userData ${profile.userData.length} base64 chars <= 65536`)
  t.ok(Buffer.from(profile.osProfile.customData, 'base64').length <= 65535, `customData ${Buffer.from(profile.osProfile.customData, 'base64').length} bytes <= 65535`)
  t.throws(() => snapshotParams(examples, greenfieldWith({ listeners: `[\n${[...listeners, listeners[0]!.replace('listener-0000000', 'listener-x')].join('\n')}\n]` })), /listeners|length|301|300/i)
})

t.test('a listener change in two steps: in the config first, on the load balancer second', async (t) => {
  const rs = snapshotParams(examples, greenfieldWith({ listenersNotOnLoadBalancer: "['onprem-ssh']", deployPrivateEndpoint: 'false' }))
  const config = fwddConfigOf(rs)
  t.ok(config.listeners.some((l) => l.name === 'onprem-ssh'), 'the nodes get the listener')
  const [lb] = ofType(rs, 'Microsoft.Network/loadBalancers') as any[]
  t.notOk(lb.properties.loadBalancingRules.some((r: any) => r.properties.frontendPort === 2222), 'no LB rule yet')
  t.same(checkListenerAgreement(rs, ['onprem-ssh']), [], 'agrees as staged')
  t.match(checkListenerAgreement(rs).join('\n'), /onprem-ssh.*expected one probe/, 'not staged, the missing rule is a problem')
})

t.test('the agreement check fails on each kind of disagreement', async (t) => {
  const mutate = (f: (rs: any[]) => void): PredictedResource[] => {
    const copy = structuredClone(greenfield) as any[]
    f(copy)
    return copy
  }
  const lb = (rs: any[]): any => rs.find((r) => r.type === 'Microsoft.Network/loadBalancers')
  const nsg = (rs: any[]): any => rs.find((r) => r.type === 'Microsoft.Network/networkSecurityGroups')
  const cases: [string, (rs: any[]) => void, RegExp][] = [
    ['probe on /health', (rs) => { lb(rs).properties.probes[0].properties.requestPath = '/health' }, /expected one probe on \/lb\/onprem-http/],
    ['probe port', (rs) => { lb(rs).properties.probes[1].properties.port = 9999 }, /probe port 9999, health port is 8080/],
    ['rule backend port', (rs) => { lb(rs).properties.loadBalancingRules[0].properties.backendPort = 1 }, /rule backend port 1/],
    ['rule on the wrong probe', (rs) => { const r = lb(rs).properties.loadBalancingRules[1].properties; r.probe.id = r.probe.id.replace('probe-onprem-ssh', 'probe-onprem-http') }, /rule uses probe/],
    ['NSG source', (rs) => { nsg(rs).properties.securityRules.find((r: any) => r.name === 'allow-pls-to-onprem-http').properties.sourceAddressPrefix = '10.0.0.0/8' }, /must allow exactly/],
    ['NSG priority shared', (rs) => { const rules = nsg(rs).properties.securityRules; rules[3].properties.priority = rules[2].properties.priority }, /share priority/],
    ['userData listener missing', (rs) => {
      const p = rs.find((r) => r.type === 'Microsoft.Compute/virtualMachineScaleSets').properties.virtualMachineProfile
      const c = JSON.parse(Buffer.from(p.userData, 'base64').toString()); c.listeners.pop(); p.userData = Buffer.from(JSON.stringify(c)).toString('base64')
    }, /2 probe\(s\) for 1 listener/],
  ]
  for (const [name, f, expected] of cases) t.match(checkListenerAgreement(mutate(f)).join('\n'), expected, name)
})

// The templates in infra/, held against what the Bicep compiler itself uses: the tree-sitter
// grammar and Azure's published type data (../shared/bicep-types). Then what they deploy for
// the example parameters, evaluated: the required resources, the health extension, and one
// source of truth for listeners (with mutated copies that must fail, so the check can fail).
import t from 'tap'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseBicep, syntaxErrors, formatDiagnostic } from '../../src/infra-check/bicep-parser.js'
import { checkBicepFiles } from '../../src/infra-check/check-types.js'
import { evaluateDeployment, readParametersFile, resourcesOfType } from '../../src/infra-check/deployment.js'
import { checkListenerAgreement } from '../../src/infra-check/listener-agreement.js'
import { findBicepFiles, main } from '../../src/infra-check/main.js'
import { TypeIndex } from '../../src/infra-check/type-index.js'
import type { Value } from '../../src/infra-check/evaluate.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const infra = path.join(repo, 'infra')
const typesDir = path.resolve(repo, '../shared/bicep-types')
const mainFile = path.join(infra, 'main.bicep')
const exampleParams = readParametersFile(path.join(infra, 'main.parameters.example.json'))
const files = findBicepFiles(infra)

t.test('every .bicep file parses with the tree-sitter-bicep grammar', async (t) => {
  t.ok(files.length >= 7, `found ${files.length} files`)
  for (const f of files) {
    const errors = syntaxErrors(await parseBicep(readFileSync(f, 'utf8')), path.relative(repo, f))
    t.same(errors.map(formatDiagnostic), [], path.relative(repo, f))
  }
})

t.test('every resource, property and API version exists in Azure\'s type data', async (t) => {
  const diagnostics = await checkBicepFiles(files, TypeIndex.load(typesDir), { baseDir: repo })
  t.same(diagnostics.map(formatDiagnostic), [])
  const lines: string[] = []
  t.equal(await main(['--types', typesDir, infra], (l) => lines.push(l)), 0, 'the CLI agrees')
})

t.test('the deployment declares every resource the path needs', async (t) => {
  const d = await evaluateDeployment(mainFile, exampleParams)
  const types = new Set(d.resources.map((r) => r.type.toLowerCase()))
  for (const type of [
    'Microsoft.Network/virtualNetworks',
    'Microsoft.Network/networkSecurityGroups',
    'Microsoft.Network/natGateways',
    'Microsoft.Network/publicIPAddresses',
    'Microsoft.Network/loadBalancers',
    'Microsoft.Compute/virtualMachineScaleSets',
    'Microsoft.ManagedIdentity/userAssignedIdentities',
    'Microsoft.Authorization/roleDefinitions',
    'Microsoft.Authorization/roleAssignments',
    'Microsoft.Network/privateLinkServices',
    'Microsoft.Network/privateEndpoints',
    'Microsoft.Network/privateDnsZones',
    'Microsoft.Network/privateDnsZones/virtualNetworkLinks',
    'Microsoft.Network/privateDnsZones/A',
    'Microsoft.Network/virtualNetworks/virtualNetworkPeerings',
    'Microsoft.Compute/virtualMachines',
  ]) t.ok(types.has(type.toLowerCase()), type)

  const noSim = await evaluateDeployment(mainFile, { ...exampleParams, deployOnPremSimulation: false })
  t.equal(resourcesOfType(noSim, 'Microsoft.Compute/virtualMachines').length, 0, 'the on-premises stand-in is optional')
})

t.test('the scale set: Rich Health States on /health, repairs, rolling upgrades, userData', async (t) => {
  const d = await evaluateDeployment(mainFile, { ...exampleParams, healthPort: 9090 })
  const [vmss] = resourcesOfType(d, 'Microsoft.Compute/virtualMachineScaleSets').flatMap((r) => r.bodies) as any[]
  const extensions = vmss.properties.virtualMachineProfile.extensionProfile.extensions as any[]
  const health = extensions.filter((e) => e.properties.type === 'ApplicationHealthLinux')
  t.equal(health.length, 1)
  t.match(health[0].properties, {
    publisher: 'Microsoft.ManagedServices',
    typeHandlerVersion: '2.0',
    settings: { protocol: 'http', port: 9090, requestPath: '/health' },
  })
  t.equal(vmss.properties.virtualMachineProfile.networkProfile.healthProbe, undefined, 'one health source: the extension')
  t.match(vmss.properties.automaticRepairsPolicy, { enabled: true, gracePeriod: /^PT\d+M$/ })
  t.equal(vmss.properties.upgradePolicy.mode, 'Rolling')
  t.equal(vmss.identity.type, 'UserAssigned')
  t.ok(vmss.zones.length > 0, 'zonal')
})

t.test('the private link path: PLS on the LB, proxy protocol off, endpoint, DNS record', async (t) => {
  const d = await evaluateDeployment(mainFile, { ...exampleParams, plsNatIpCount: 3 })
  const [pls] = resourcesOfType(d, 'Microsoft.Network/privateLinkServices').flatMap((r) => r.bodies) as any[]
  t.equal(pls.properties.enableProxyProtocol, false)
  t.equal(pls.properties.ipConfigurations.length, 3, 'NAT IP count is a parameter')
  t.equal(resourcesOfType(d, 'Microsoft.Network/privateEndpoints').length, 1)
  const [record] = resourcesOfType(d, 'Microsoft.Network/privateDnsZones/A').flatMap((r) => r.bodies) as any[]
  t.equal(record.properties.aRecords.length, 1)
  const [probe] = resourcesOfType(d, 'Microsoft.Network/loadBalancers').flatMap((r) => r.bodies).map((lb: any) => lb.properties.probes[0])
  t.match(probe.properties.noHealthyBackendsBehavior, /^AllProbed(Up|Down)$/, 'a deliberate choice is written')
})

t.test('one source of truth: LB probes and rules and the fwdd config come from `listeners`', async (t) => {
  t.same(checkListenerAgreement(await evaluateDeployment(mainFile, exampleParams)), [], 'example parameters')

  const udp: Value = [
    { name: 'dns', protocol: 'udp', port: 53, targets: [{ host: '192.168.42.10', port: 53 }] },
    { name: 'web', protocol: 'tcp', port: 53, targets: [{ host: 'web.corp.example', port: 80 }] },
  ]
  t.same(checkListenerAgreement(await evaluateDeployment(mainFile, { ...exampleParams, listeners: udp, healthPort: 9000 })), [], 'udp and tcp on one port, another health port')

  const mutations: [string, string, string, RegExp][] = [
    ['modules/load-balancer.bicep', "requestPath: '/lb/${l.name}'", "requestPath: '/health'", /expected one probe on \/lb\/onprem-http/],
    ['modules/load-balancer.bicep', 'port: healthPort', 'port: 8080', /probe port 8080, health port is 9090/],
    ['modules/load-balancer.bicep', 'backendPort: l.port', 'backendPort: healthPort', /rule backend port 9090/],
    ['modules/load-balancer.bicep', "'Microsoft.Network/loadBalancers/probes', lbName, 'probe-${l.name}'", "'Microsoft.Network/loadBalancers/probes', lbName, 'probe-onprem-http'", /rule uses probe .*probe-onprem-http.*not the probe on \/lb\/onprem-ssh/],
    ['modules/forwarders.bicep', '  port: l.port\n', '  port: 8000\n', /fwdd config in userData .* differs/],
    ['modules/forwarders.bicep', 'sources: [plsNatSubnetPrefix]', "sources: ['10.50.0.0/24']", /differs/],
  ]
  for (const [file, from, to, expected] of mutations) {
    const dir = t.testdir()
    cpSync(infra, path.join(dir, 'infra'), { recursive: true })
    const target = path.join(dir, 'infra', file)
    const text = readFileSync(target, 'utf8')
    t.ok(text.includes(from), `mutation applies: ${from}`)
    writeFileSync(target, text.replace(from, to))
    const problems = checkListenerAgreement(await evaluateDeployment(path.join(dir, 'infra', 'main.bicep'), { ...exampleParams, healthPort: 9090 }))
    t.match(problems.join('\n'), expected, `${file}: ${from} -> ${to} is caught`)
  }
})

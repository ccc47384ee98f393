// The type checker, fed files with one known mistake of each kind: each must be reported with
// its line and column, and a correct file must pass. The type data is Azure's, from ../shared.
import t from 'tap'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkBicepFiles } from '../../src/infra-check/check-types.js'
import { formatDiagnostic } from '../../src/infra-check/bicep-parser.js'
import { TypeIndex } from '../../src/infra-check/type-index.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const types = TypeIndex.load(path.resolve(repo, '../shared/bicep-types'))

async function check(files: Record<string, string>): Promise<string[]> {
  const dir = t.testdir(files)
  const diagnostics = await checkBicepFiles([path.join(dir, 'main.bicep')], types, { baseDir: dir })
  return diagnostics.map(formatDiagnostic)
}

const good = `param location string = resourceGroup().location
param ports array = [80, 443]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet'
  location: location
  properties: {
    addressSpace: { addressPrefixes: ['10.0.0.0/16'] }
    subnets: [for (p, i) in ports: {
      name: 'sn-\${p}'
      properties: { addressPrefix: '10.0.\${i}.0/24', privateLinkServiceNetworkPolicies: 'Disabled' }
    }]
  }
  tags: { anything: 'goes' }
  resource extra 'subnets' = {
    name: 'extra'
    properties: { addressPrefix: '10.0.9.0/24' }
  }
}

resource existingNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' existing = {
  name: 'nsg'
}

resource peering 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2024-05-01' = if (length(ports) > 1) {
  parent: vnet
  name: 'p'
  properties: { allowForwardedTraffic: true, remoteVirtualNetwork: { id: vnet.id } }
}
`

t.test('a correct file passes', async (t) => {
  t.same(await check({ 'main.bicep': good }), [])
})

t.test('each kind of mistake is reported with line and column', async (t) => {
  const bad = `resource a 'Microsoft.Network/noSuchThings@2024-05-01' = {
  name: 'a'
}
resource b 'Microsoft.Network/virtualNetworks@2019-01-01' = {
  name: 'b'
}
resource c 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'c'
  properties: {
    adressSpace: {}
    subnets: [{
      name: 's'
      properties: { AddressPrefix: '10.0.0.0/24', provisioningState: 'Succeeded' }
    }]
  }
}
`
  const got = await check({ 'main.bicep': bad })
  t.same(got, [
    'main.bicep:1:12: resource "a": unknown resource type "Microsoft.Network/noSuchThings" (not in the type data)',
    'main.bicep:4:12: resource "b": unknown API version "2019-01-01" for "Microsoft.Network/virtualNetworks" (the type data has: 2024-05-01)',
    'main.bicep:10:5: properties.adressSpace: unknown property "adressSpace" on VirtualNetworkPropertiesFormat; did you mean "addressSpace"?',
    'main.bicep:13:21: properties.subnets[].properties.AddressPrefix: wrong casing, SubnetPropertiesFormat spells it "addressPrefix"',
    'main.bicep:13:51: properties.subnets[].properties.provisioningState: "provisioningState" is read-only on SubnetPropertiesFormat; Azure sets it, remove it',
  ])
})

t.test('syntax errors are reported by the grammar', async (t) => {
  const got = await check({ 'main.bicep': `resource a 'Microsoft.Network/virtualNetworks@2024-05-01' = {\n  name: 'a'\n  properties: {\n` })
  t.ok(got.length > 0, 'an unclosed object is an error')
  t.match(got[0], /^main\.bicep:\d+:\d+: syntax error/)
})

t.test('existing resources take only name/parent/scope; module params must be declared', async (t) => {
  const got = await check({
    'main.bicep': `resource v 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: 'v'
  properties: {}
}
module m 'mod.bicep' = {
  name: 'm'
  params: { lisenters: [] }
}
`,
    'mod.bicep': `param listeners array\nresource n 'Microsoft.Network/natGateways@2024-05-01' = {\n  name: 'n'\n  properties: { idleTimeOutInMinutes: 4 }\n}\n`,
  })
  t.same(got, [
    'main.bicep:3:3: resource "v": an existing resource takes only name, parent and scope, not "properties"',
    'main.bicep:7:13: module "m": "mod.bicep" declares no parameter "lisenters"; did you mean "listeners"?',
    'mod.bicep:4:17: properties.idleTimeOutInMinutes: wrong casing, NatGatewayPropertiesFormat spells it "idleTimeoutInMinutes"',
  ])
})

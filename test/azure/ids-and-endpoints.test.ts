/** Resource id parsing and endpoint configuration (pure; no network). */
import t from 'tap'
import { parseResourceId, parseTypedResourceId, sameResourceId, topLevelResourceId, ResourceIdError } from '../../src/azure/resource-id.js'
import { azureEndpointsFromEnv, AzureEndpointError, DEFAULT_ARM_ENDPOINT, DEFAULT_IMDS_ENDPOINT } from '../../src/azure/endpoints.js'
import { createManagedIdentityCredential, CredentialSetupError } from '../../src/azure/credential.js'

const pls = '/subscriptions/sub-1/resourceGroups/RG/providers/Microsoft.Network/privateLinkServices/pls'

t.test('parseResourceId', async (t) => {
  t.same(parseResourceId(`${pls}/`), {
    id: pls, subscriptionId: 'sub-1', resourceGroupName: 'RG', provider: 'Microsoft.Network', type: 'privateLinkServices', name: 'pls', children: [],
  })
  const vm = parseResourceId('/subscriptions/s/resourcegroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/fwd/virtualMachines/3')
  t.same(vm.children, [{ type: 'virtualMachines', name: '3' }])
  t.throws(() => parseResourceId('/subscriptions/s/providers/Microsoft.Network/ipGroups/x'), ResourceIdError)
  t.throws(() => parseResourceId('ipGroups/x'), /expected \/subscriptions/)
  t.throws(() => parseTypedResourceId(pls, 'Microsoft.Network/ipGroups'), /expected a Microsoft.Network\/ipGroups id/)
  t.equal(parseTypedResourceId(pls.toLowerCase(), 'Microsoft.Network/privateLinkServices').name, 'pls')
})

t.test('sameResourceId and topLevelResourceId', async (t) => {
  t.ok(sameResourceId(pls, pls.toUpperCase() + '/'))
  t.notOk(sameResourceId(pls, undefined))
  t.equal(topLevelResourceId(`${pls}/ipConfigurations/a`), pls)
  t.equal(topLevelResourceId(pls), undefined)
})

t.test('endpoints: defaults, overrides, refusals', async (t) => {
  t.same(azureEndpointsFromEnv({}), { arm: DEFAULT_ARM_ENDPOINT, imds: DEFAULT_IMDS_ENDPOINT, imdsOverridden: false })
  t.same(azureEndpointsFromEnv({ FWDD_ARM_ENDPOINT: 'https://127.0.0.1:8443/', FWDD_IMDS_ENDPOINT: 'http://127.0.0.1:8080' }),
    { arm: 'https://127.0.0.1:8443', imds: 'http://127.0.0.1:8080', imdsOverridden: true })
  t.throws(() => azureEndpointsFromEnv({ FWDD_ARM_ENDPOINT: 'http://127.0.0.1' }), AzureEndpointError)
  t.throws(() => azureEndpointsFromEnv({ FWDD_ARM_ENDPOINT: 'https://x/path' }), /the path is added by fwdd/)
  t.throws(() => azureEndpointsFromEnv({ FWDD_IMDS_ENDPOINT: 'https://127.0.0.1' }), /FWDD_IMDS_ENDPOINT.*scheme must be http/)
  t.throws(() => azureEndpointsFromEnv({ FWDD_IMDS_ENDPOINT: 'nonsense' }), /not a URL/)
})

t.test('credential refuses an IMDS override that another identity variable would defeat', async (t) => {
  const env: NodeJS.ProcessEnv = { IDENTITY_ENDPOINT: 'http://127.0.0.1:1/token' }
  t.throws(() => createManagedIdentityCredential({ imdsEndpoint: 'http://127.0.0.1:9', env }), CredentialSetupError)
  t.equal(env.AZURE_POD_IDENTITY_AUTHORITY_HOST, undefined, 'nothing was written')
  const clean: NodeJS.ProcessEnv = {}
  createManagedIdentityCredential({ imdsEndpoint: 'http://127.0.0.1:9', env: clean })
  t.equal(clean.AZURE_POD_IDENTITY_AUTHORITY_HOST, 'http://127.0.0.1:9')
})

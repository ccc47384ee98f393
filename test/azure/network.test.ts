/**
 * The real NetworkManagementClient and ManagedIdentityCredential against the fake ARM and IMDS.
 * Test address plan: loopback only (see test/fakes/azure/harness.ts).
 */
import t from 'tap'
import { startAzureFakes, rid, CLIENT_ID } from '../fakes/azure/harness.js'
import { ipGroupBody, privateLinkServiceBody } from '../fakes/azure/arm-bodies.js'
import { readIpGroupAddresses, readPrivateLinkServiceNatIps, AzureInvalidResponseError, singleIpv4 } from '../../src/azure/network.js'

const fakes = await startAzureFakes()
t.teardown(() => fakes.close())

const ipGroupId = rid('Microsoft.Network/ipGroups', 'onprem')
const plsId = rid('Microsoft.Network/privateLinkServices', 'fwd-pls')
const subnet = rid('Microsoft.Network/virtualNetworks', 'vnet') + '/subnets/pls'

t.test('credential and client go only to the fakes', async (t) => {
  t.match(process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST, /^http:\/\/127\.0\.0\.1:\d+$/)
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.0.10']))
  await readIpGroupAddresses(fakes.clients, ipGroupId)
  const tokenRequest = fakes.imds.requests.find((r) => r.path === '/metadata/identity/oauth2/token')
  t.ok(tokenRequest, 'token came from the fake IMDS')
  t.equal(tokenRequest?.metadataHeader, 'true', 'with the Metadata header')
  t.equal(tokenRequest?.query.client_id, CLIENT_ID, 'for the user-assigned identity')
  t.equal(tokenRequest?.query.resource, fakes.arm.endpoint, 'scoped to the ARM endpoint')
  const armRequest = fakes.arm.requests.at(-1)
  t.match(armRequest?.authorization, /^Bearer fake-token-\d+$/)
  t.ok(armRequest?.apiVersion)
})

t.test('IP Group: single addresses and /32 are targets, wider CIDRs are ignored and named', async (t) => {
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.0.12', '198.18.0.2/32', '198.18.1.0/24', '198.18.0.2', 'not-an-ip']))
  const result = await readIpGroupAddresses(fakes.clients, ipGroupId)
  t.same(result, { addresses: ['198.18.0.2', '198.18.0.12'], ignored: ['198.18.1.0/24', 'not-an-ip'] })
})

t.test('IP Group without ipAddresses is an invalid response', async (t) => {
  const body = ipGroupBody(ipGroupId, [])
  delete (body.properties as Record<string, unknown>).ipAddresses
  fakes.arm.put(body)
  await t.rejects(readIpGroupAddresses(fakes.clients, ipGroupId), AzureInvalidResponseError)
})

t.test('Private Link Service NAT IPs', async (t) => {
  fakes.arm.put(privateLinkServiceBody({ id: plsId, frontendIds: [], natIps: ['10.0.1.5', '10.0.1.4'], subnetId: subnet }))
  t.same(await readPrivateLinkServiceNatIps(fakes.clients, plsId), ['10.0.1.4', '10.0.1.5'])
  fakes.arm.put(privateLinkServiceBody({ id: plsId, frontendIds: [], natIps: [], subnetId: subnet }))
  await t.rejects(readPrivateLinkServiceNatIps(fakes.clients, plsId), AzureInvalidResponseError, 'no NAT IPs never means "anyone"')
})

t.test('resource ids of the wrong type are refused before any request', async (t) => {
  const before = fakes.arm.requests.length
  await t.rejects(readIpGroupAddresses(fakes.clients, plsId), /expected a Microsoft.Network\/ipGroups id/)
  t.equal(fakes.arm.requests.length, before)
})

t.test('singleIpv4', async (t) => {
  t.equal(singleIpv4('198.18.0.1'), '198.18.0.1')
  t.equal(singleIpv4(' 198.18.0.1/32 '), '198.18.0.1')
  t.equal(singleIpv4('198.18.0.0/31'), undefined)
  t.equal(singleIpv4('256.1.1.1'), undefined)
  t.equal(singleIpv4('fd00::1'), undefined)
})

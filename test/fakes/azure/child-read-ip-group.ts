/**
 * Run as a child process, as the daemon would be: builds the credential and network clients from
 * FWDD_ARM_ENDPOINT / FWDD_IMDS_ENDPOINT alone (no TLS options), so the fake ARM's certificate is
 * trusted only if NODE_EXTRA_CA_CERTS was set when this process started. Prints one JSON line.
 */
import { installLoopbackGuard } from './harness.js'
import { azureEndpointsFromEnv } from '../../../src/azure/endpoints.js'
import { createManagedIdentityCredential } from '../../../src/azure/credential.js'
import { createNetworkClients, readIpGroupAddresses } from '../../../src/azure/network.js'

installLoopbackGuard()
const endpoints = azureEndpointsFromEnv()
const credential = createManagedIdentityCredential({ imdsEndpoint: endpoints.imds, maxRetries: 0 })
const clients = createNetworkClients({ credential, armEndpoint: endpoints.arm })
try {
  const result = await readIpGroupAddresses(clients, process.argv[2] ?? '')
  process.stdout.write(JSON.stringify({ ok: true, result }) + '\n')
} catch (error) {
  const e = error as { message?: string; code?: string }
  process.stdout.write(JSON.stringify({ ok: false, message: e.message, code: e.code }) + '\n')
}

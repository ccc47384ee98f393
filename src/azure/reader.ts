/**
 * The real `AzureSetsReader`: the refresher's two reads done through `NetworkManagementClient`.
 * Kept apart from `sets.ts` so the refresher never imports the SDK and its tests need no ARM.
 */
import { readIpGroupAddresses, readPrivateLinkServiceNatIps, type NetworkClients } from './network.js'
import type { AzureSetsReader } from './sets.js'

/** Wraps the network reads; every call is one ARM GET (plus a token request when the cached token expired). */
export function createAzureSetsReader(clients: NetworkClients): AzureSetsReader {
  return {
    readIpGroup: (resourceId, signal) => readIpGroupAddresses(clients, resourceId, signal),
    readPrivateLinkService: (resourceId, signal) => readPrivateLinkServiceNatIps(clients, resourceId, signal),
  }
}

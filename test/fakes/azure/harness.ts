/**
 * Test setup for the Azure modules: a loopback-only network guard, the fake IMDS and fake ARM,
 * and the real credential and clients pointed at them.
 *
 * Test address plan: these tests use only 127.0.0.1 (no namespaces needed); the guard below makes
 * any connection to another address (169.254.169.254, management.azure.com, ...) throw.
 */
import net from 'node:net'
import { FakeImds, type FakeInstance } from './fake-imds.js'
import { FakeArm } from './fake-arm.js'
import { makeTestTls, type TestTls } from './tls.js'
import { createManagedIdentityCredential } from '../../../src/azure/credential.js'
import { createNetworkClients, type NetworkClients } from '../../../src/azure/network.js'
import { azureEndpointsFromEnv } from '../../../src/azure/endpoints.js'

/** The fake subscription, resource group and user-assigned identity every Azure test uses. */
export const SUB = '00000000-1111-2222-3333-444444444444'
export const RG = 'fwd-rg'
export const CLIENT_ID = '11111111-2222-3333-4444-555555555555'
/** A resource id in the fake subscription. */
export const rid = (type: string, name: string, rg = RG) => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/${type}/${name}`

/** This instance: `fwd_0`, instance 0 of the uniform scale set `fwd`. */
export const INSTANCE: FakeInstance = {
  subscriptionId: SUB,
  resourceGroupName: RG,
  vmScaleSetName: 'fwd',
  name: 'fwd_0',
  resourceId: `${rid('Microsoft.Compute/virtualMachineScaleSets', 'fwd')}/virtualMachines/0`,
  location: 'westeurope',
  vmId: '0f0f0f0f-0000-0000-0000-000000000000',
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '::ffff:127.0.0.1'])
let guardInstalled = false

/**
 * Makes every TCP connection to a non-loopback host throw in this process, so a mistake can never
 * reach 169.254.169.254 or an Azure host. Idempotent.
 */
export function installLoopbackGuard(): void {
  if (guardInstalled) return
  guardInstalled = true
  const original = net.Socket.prototype.connect
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const first = args[0]
    const options = (Array.isArray(first) ? first[0] : first) as unknown
    let host: string | undefined
    if (typeof options === 'object' && options !== null) {
      const o = options as { host?: string; path?: string }
      if (o.path === undefined) host = o.host ?? 'localhost'
    } else if (typeof options === 'number' || (typeof options === 'string' && /^\d+$/.test(options))) {
      host = typeof args[1] === 'string' ? args[1] : 'localhost'
    }
    if (host !== undefined && !LOOPBACK.has(host)) {
      throw new Error(`test network guard: refusing to connect to ${host} (only loopback is allowed)`)
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args)
  } as typeof net.Socket.prototype.connect
}

/** Both fakes and the real clients pointed at them; `close` stops the fakes and removes the TLS files. */
export interface AzureFakes {
  tls: TestTls
  imds: FakeImds
  arm: FakeArm
  clients: NetworkClients
  close(): Promise<void>
}

/**
 * Starts both fakes, points FWDD_IMDS_ENDPOINT / FWDD_ARM_ENDPOINT at them, and builds the real
 * `ManagedIdentityCredential` (user-assigned `CLIENT_ID`, no retries) and network clients. The
 * env is set before the credential exists, as the daemon does at startup.
 */
export async function startAzureFakes(): Promise<AzureFakes> {
  installLoopbackGuard()
  const tls = makeTestTls()
  const imds = new FakeImds({ ...INSTANCE })
  await imds.listen()
  const arm = new FakeArm(tls, (token) => imds.issuedTokens.has(token))
  await arm.listen()
  process.env.FWDD_IMDS_ENDPOINT = imds.endpoint
  process.env.FWDD_ARM_ENDPOINT = arm.endpoint
  const endpoints = azureEndpointsFromEnv()
  const credential = createManagedIdentityCredential({ clientId: CLIENT_ID, imdsEndpoint: endpoints.imds, maxRetries: 0 })
  const clients = createNetworkClients({ credential, armEndpoint: endpoints.arm, tls: { ca: tls.caPem } })
  return {
    tls, imds, arm, clients,
    async close() {
      await arm.close()
      await imds.close()
      tls.cleanup()
    },
  }
}

/**
 * The ARM reads behind `fwdctl doctor --azure`, behind a narrow interface so the checks can be
 * tested with any reader. The real reader uses `NetworkManagementClient` for Microsoft.Network and
 * the same client's authenticated pipeline for the two Microsoft.Compute GETs it needs (the scale
 * set model and, for flexible orchestration, the VM): @azure/arm-compute is not a dependency.
 */
import { createPipelineRequest, RestError } from '@azure/core-rest-pipeline'
import type { LoadBalancer, NetworkInterface, PrivateLinkService } from '@azure/arm-network'
import type { ImdsInstance } from './imds.js'
import type { NetworkClients } from './network.js'
import { AzureInvalidResponseError } from './network.js'
import { parseResourceId } from './resource-id.js'

/** Microsoft.Compute API version for the two raw GETs. */
export const COMPUTE_API_VERSION = '2024-07-01'

/** What the doctor reads. Each method throws the SDK's `RestError` (or `AzureInvalidResponseError`) on failure. */
export interface AzureDoctorReader {
  /** Backend pool ids that the scale set model's NIC IP configurations join. */
  getScaleSetBackendPoolIds(scaleSetId: string): Promise<string[]>
  /** The NICs of this instance (uniform: the scale set VM's NICs; flexible: the VM's NICs). */
  getInstanceNetworkInterfaces(instance: ImdsInstance): Promise<NetworkInterface[]>
  getLoadBalancer(loadBalancerId: string): Promise<LoadBalancer>
  /** Every Private Link Service in a subscription (the PLS must be in its LB's subscription). */
  listPrivateLinkServices(subscriptionId: string): Promise<PrivateLinkService[]>
}

/** The real reader. */
export function createAzureDoctorReader(clients: NetworkClients): AzureDoctorReader {
  const getJson = async (resourceId: string): Promise<Record<string, unknown>> => {
    const id = parseResourceId(resourceId)
    const client = clients.forSubscription(id.subscriptionId)
    const request = createPipelineRequest({
      url: `${clients.armEndpoint}${id.id}?api-version=${COMPUTE_API_VERSION}`,
      method: 'GET',
      timeout: 30_000,
    })
    const response = await client.sendRequest(request)
    const text = response.bodyAsText ?? ''
    if (response.status < 200 || response.status >= 300) {
      let code: string | undefined
      let message = `HTTP ${response.status}`
      try {
        const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error
        code = error?.code
        if (error?.message) message = error.message
      } catch {
        // not JSON: keep the status line
      }
      throw new RestError(message, { statusCode: response.status, ...(code ? { code } : {}), request, response })
    }
    try {
      const body: unknown = JSON.parse(text)
      if (typeof body === 'object' && body !== null) return body as Record<string, unknown>
    } catch {
      // fall through
    }
    throw new AzureInvalidResponseError(`${id.type} ${id.name}: body is not a JSON object`)
  }

  return {
    async getScaleSetBackendPoolIds(scaleSetId) {
      const body = await getJson(scaleSetId)
      const configs = dig(body, ['properties', 'virtualMachineProfile', 'networkProfile', 'networkInterfaceConfigurations'])
      if (!Array.isArray(configs)) {
        throw new AzureInvalidResponseError('scale set model has no networkProfile.networkInterfaceConfigurations')
      }
      const ids = new Set<string>()
      for (const nic of configs) {
        const ipConfigs = dig(nic, ['properties', 'ipConfigurations'])
        for (const ipConfig of Array.isArray(ipConfigs) ? ipConfigs : []) {
          const pools = dig(ipConfig, ['properties', 'loadBalancerBackendAddressPools'])
          for (const pool of Array.isArray(pools) ? pools : []) {
            const id = dig(pool, ['id'])
            if (typeof id === 'string') ids.add(id)
          }
        }
      }
      return [...ids]
    },

    async getInstanceNetworkInterfaces(instance) {
      const vm = parseResourceId(instance.resourceId)
      const client = clients.forSubscription(vm.subscriptionId)
      const uniform = vm.type.toLowerCase() === 'virtualmachinescalesets' && vm.children[0]?.type.toLowerCase() === 'virtualmachines'
      if (uniform) {
        const nics: NetworkInterface[] = []
        for await (const nic of client.networkInterfaces.listVirtualMachineScaleSetVMNetworkInterfaces(vm.resourceGroupName, vm.name, vm.children[0]!.name)) {
          nics.push(nic)
        }
        return nics
      }
      const body = await getJson(instance.resourceId)
      const refs = dig(body, ['properties', 'networkProfile', 'networkInterfaces'])
      const nics: NetworkInterface[] = []
      for (const ref of Array.isArray(refs) ? refs : []) {
        const id = dig(ref, ['id'])
        if (typeof id !== 'string') continue
        const nicId = parseResourceId(id)
        nics.push(await clients.forSubscription(nicId.subscriptionId).networkInterfaces.get(nicId.resourceGroupName, nicId.name))
      }
      return nics
    },

    async getLoadBalancer(loadBalancerId) {
      const id = parseResourceId(loadBalancerId)
      return clients.forSubscription(id.subscriptionId).loadBalancers.get(id.resourceGroupName, id.name)
    },

    async listPrivateLinkServices(subscriptionId) {
      const services: PrivateLinkService[] = []
      for await (const service of clients.forSubscription(subscriptionId).privateLinkServices.listBySubscription()) {
        services.push(service)
      }
      return services
    },
  }
}

function dig(value: unknown, path: string[]): unknown {
  let current = value
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined
    current = (current as Record<string, unknown>)[key]
  }
  return current
}

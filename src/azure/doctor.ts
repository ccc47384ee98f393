/**
 * `fwdctl doctor --azure`: reads this instance's scale set, the load balancer in front of it and
 * the Private Link Service on that LB, and returns one verdict per check (see doctor-checks.ts).
 * A read that fails becomes a failing verdict that says why (403 names the missing permission)
 * and the checks that needed it are left out, so the output never guesses.
 */
import type { Verdict } from '../cli/verdict.js'
import type { ImdsInstance, ImdsReader } from './imds.js'
import type { AzureDoctorReader } from './doctor-reader.js'
import { classifyReadError } from './read-error.js'
import { describeIdentity } from './credential.js'
import { parseResourceId, sameResourceId, topLevelResourceId } from './resource-id.js'
import {
  checkBackendPool, checkConnections, checkPrivateLinkService, checkProbe, checkProxyProtocol, checkRule,
  servicesOnLoadBalancer, type DoctorListener,
} from './doctor-checks.js'

export type { DoctorListener } from './doctor-checks.js'

/** What the doctor checks the Azure resources against (from the validated config). */
export interface AzureDoctorInput {
  listeners: readonly DoctorListener[]
  healthPort: number
  /** `privateLinkService` sources from the config; each must sit on this instance's LB. */
  privateLinkServices?: readonly string[]
}

/** Where the doctor reads from; tests pass the fakes-backed real clients. */
export interface AzureDoctorDeps {
  imds: Pick<ImdsReader, 'getInstance'>
  reader: AzureDoctorReader
  /** For messages about missing roles; omit for a system-assigned identity. */
  identityClientId?: string
  now?: () => number
}

/** Runs every check; never throws (a failure is a verdict). Verdicts come in a fixed order. */
export async function runAzureDoctor(input: AzureDoctorInput, deps: AzureDoctorDeps): Promise<Verdict[]> {
  const verdicts: Verdict[] = []
  const now = deps.now ?? Date.now
  const readFailure = (check: string, kind: string, resourceId: string, action: string, error: unknown): Verdict => {
    const classified = classifyReadError(error, { kind, resourceId, action, ...(deps.identityClientId ? { identityClientId: deps.identityClientId } : {}) }, now(), { consequence: false })
    const fix = classified.kind === 'forbidden'
      ? `assign the Reader role on ${resourceId} to ${describeIdentity(deps.identityClientId)} (or the custom role "fwdd Azure reader" that infra/ creates, with only fwdd's reads; roleAssignmentResourceGroupIds assigns it there)`
      : classified.kind === 'throttled' || classified.kind === 'transient'
        ? 'run the doctor again; if it persists, check that ARM is reachable from the node'
        : 'check the resource in the portal'
    return { check, ok: false, level: 'fail', detail: classified.message, fix }
  }

  let instance: ImdsInstance
  try {
    instance = await deps.imds.getInstance()
  } catch (error) {
    verdicts.push({ check: 'azure-instance', ok: false, level: 'fail', detail: error instanceof Error ? error.message : String(error), fix: 'run on an Azure scale set instance, or set FWDD_IMDS_ENDPOINT' })
    return verdicts
  }
  if (!instance.vmScaleSetName) {
    verdicts.push({ check: 'azure-instance', ok: false, level: 'fail', detail: `instance ${instance.name} is not part of a scale set`, fix: 'run fwdd on the forwarder scale set' })
    return verdicts
  }
  const scaleSetId = `/subscriptions/${instance.subscriptionId}/resourceGroups/${instance.resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/${instance.vmScaleSetName}`
  verdicts.push({ check: 'azure-instance', ok: true, level: 'ok', detail: `instance ${instance.name} of scale set ${instance.vmScaleSetName} in ${instance.resourceGroupName}` })

  let poolIds: string[]
  try {
    poolIds = await deps.reader.getScaleSetBackendPoolIds(scaleSetId)
  } catch (error) {
    verdicts.push(readFailure('azure-scale-set', 'scale set', scaleSetId, 'Microsoft.Compute/virtualMachineScaleSets/read', error))
    return verdicts
  }
  const lbIds = unique(poolIds.filter((id) => /\/providers\/Microsoft\.Network\/loadBalancers\//i.test(id)).map((id) => topLevelResourceId(id)!))
  if (lbIds.length === 0) {
    verdicts.push({ check: 'azure-load-balancer', ok: false, level: 'fail', detail: `scale set ${instance.vmScaleSetName} joins no load balancer backend pool`, fix: "add the load balancer's backend pool to the scale set's NIC IP configuration" })
    return verdicts
  }
  const lbId = lbIds[0]!
  let lb
  try {
    lb = await deps.reader.getLoadBalancer(lbId)
  } catch (error) {
    verdicts.push(readFailure('azure-load-balancer', 'load balancer', lbId, 'Microsoft.Network/loadBalancers/read', error))
    return verdicts
  }
  verdicts.push({
    check: 'azure-load-balancer', ok: true, level: lbIds.length > 1 ? 'warn' : 'ok',
    detail: `load balancer ${lb.name}${lbIds.length > 1 ? ` (the scale set also joins ${lbIds.slice(1).map((id) => id.split('/').pop()).join(', ')}; only ${lb.name} was checked)` : ''}`,
    ...(lbIds.length > 1 ? { fix: 'keep the forwarder scale set behind one load balancer' } : {}),
  })

  for (const listener of input.listeners) verdicts.push(checkProbe(listener, lb, input.healthPort))
  for (const listener of input.listeners) verdicts.push(checkRule(listener, lb))

  try {
    const nics = await deps.reader.getInstanceNetworkInterfaces(instance)
    const vm = parseResourceId(instance.resourceId)
    const instanceId = vm.children[0]?.type.toLowerCase() === 'virtualmachines' ? vm.children[0].name : undefined
    const lbPools = poolIds.filter((id) => sameResourceId(topLevelResourceId(id), lbId))
    verdicts.push(checkBackendPool(instance.name, nics, lbPools, {
      resourceGroupName: instance.resourceGroupName, name: instance.vmScaleSetName, ...(instanceId !== undefined ? { instanceId } : {}),
    }))
  } catch (error) {
    verdicts.push(readFailure('azure-backend-pool', 'network interfaces of', instance.resourceId, 'Microsoft.Network/networkInterfaces/read', error))
  }

  const lbSubscription = parseResourceId(lbId).subscriptionId
  let services
  try {
    services = await deps.reader.listPrivateLinkServices(lbSubscription)
  } catch (error) {
    verdicts.push(readFailure('azure-private-link-service', 'Private Link Services in subscription', `/subscriptions/${lbSubscription}`, 'Microsoft.Network/privateLinkServices/read', error))
    return verdicts
  }
  const onLb = servicesOnLoadBalancer(lb, services)
  verdicts.push(checkPrivateLinkService(lb, onLb, input.privateLinkServices ?? []))
  for (const service of onLb) verdicts.push(checkProxyProtocol(service))
  for (const service of onLb) verdicts.push(...checkConnections(service))
  return verdicts
}

function unique(ids: string[]): string[] {
  const out: string[] = []
  for (const id of ids) if (!out.some((o) => sameResourceId(o, id))) out.push(id)
  return out
}

/**
 * The pure checks of `fwdctl doctor --azure`: given what ARM returned, one verdict per thing that
 * can be wrong, each failing one with its fix. Written so that one misconfiguration fails exactly
 * one verdict (e.g. a missing probe does not also fail the rule that would use it).
 */
import type { LoadBalancer, LoadBalancingRule, NetworkInterface, PrivateLinkService, Probe } from '@azure/arm-network'
import type { Verdict } from '../cli/verdict.js'
import { sameResourceId, topLevelResourceId } from './resource-id.js'

/** A listener as the doctor needs it (from the validated config). */
export interface DoctorListener {
  name: string
  protocol: 'tcp' | 'udp'
  port: number
}

const pass = (check: string, detail: string): Verdict => ({ check, ok: true, level: 'ok', detail })
const warn = (check: string, detail: string, fix: string): Verdict => ({ check, ok: true, level: 'warn', detail, fix })
const fail = (check: string, detail: string, fix: string): Verdict => ({ check, ok: false, level: 'fail', detail, fix })

const ruleProtocol = (listener: DoctorListener) => (listener.protocol === 'udp' ? 'Udp' : 'Tcp')

/** The rule that serves a listener: same protocol (or All) and the listener's port at either end. */
export function findListenerRule(listener: DoctorListener, lb: LoadBalancer): LoadBalancingRule | undefined {
  const rules = (lb.loadBalancingRules ?? []).filter((r) => r.protocol === ruleProtocol(listener) || r.protocol === 'All')
  return rules.find((r) => r.frontendPort === listener.port) ?? rules.find((r) => r.backendPort === listener.port)
}

/** The probe meant for a listener: the one with path `/lb/<name>`, else the one its rule uses. */
export function findListenerProbe(listener: DoctorListener, lb: LoadBalancer): { probe?: Probe; byPath: boolean } {
  const path = `/lb/${listener.name}`
  const byPath = (lb.probes ?? []).find((p) => p.requestPath === path)
  if (byPath) return { probe: byPath, byPath: true }
  const rule = findListenerRule(listener, lb)
  const viaRule = rule?.probe?.id ? (lb.probes ?? []).find((p) => sameResourceId(p.id, rule.probe?.id)) : undefined
  return viaRule ? { probe: viaRule, byPath: false } : { byPath: false }
}

/** Probe check: Http(s), on the health port, path `/lb/<name>`. */
export function checkProbe(listener: DoctorListener, lb: LoadBalancer, healthPort: number): Verdict {
  const check = `azure-probe/${listener.name}`
  const path = `/lb/${listener.name}`
  const want = `an Http probe on port ${healthPort} with path ${path}`
  const { probe } = findListenerProbe(listener, lb)
  if (!probe) return fail(check, `load balancer ${lb.name} has no probe with path ${path}`, `add ${want} and use it in the rule for port ${listener.port}`)
  const problems: string[] = []
  if (probe.protocol !== 'Http' && probe.protocol !== 'Https') problems.push(`protocol is ${probe.protocol}, not Http`)
  if (probe.port !== healthPort) problems.push(`port is ${probe.port}, not the health port ${healthPort}`)
  if (probe.requestPath !== path) problems.push(`path is ${probe.requestPath ?? '(none)'}, not ${path}`)
  if (problems.length > 0) return fail(check, `probe ${probe.name}: ${problems.join('; ')}`, `make probe ${probe.name} ${want}`)
  return pass(check, `probe ${probe.name}: ${probe.protocol} ${probe.port} ${path}`)
}

/** Rule check: ports, protocol, floating IP off, and its probe is the listener's probe. */
export function checkRule(listener: DoctorListener, lb: LoadBalancer): Verdict {
  const check = `azure-rule/${listener.name}`
  const rule = findListenerRule(listener, lb)
  const proto = ruleProtocol(listener)
  if (!rule) {
    return fail(check, `load balancer ${lb.name} has no ${proto} rule for port ${listener.port}`, `add a ${proto} load-balancing rule with frontend and backend port ${listener.port} and probe /lb/${listener.name}`)
  }
  const problems: string[] = []
  const fixes: string[] = []
  if (rule.protocol !== proto) {
    problems.push(`protocol is ${rule.protocol}`)
    fixes.push(`protocol ${proto}`)
  }
  if (rule.frontendPort !== listener.port || rule.backendPort !== listener.port) {
    problems.push(`ports are ${rule.frontendPort}->${rule.backendPort}`)
    fixes.push(`frontend and backend port ${listener.port}`)
  }
  if (rule.enableFloatingIP) {
    problems.push('floating IP is on (the node would see the frontend address, not its own)')
    fixes.push('floating IP off')
  }
  const { probe, byPath } = findListenerProbe(listener, lb)
  if (byPath && probe && !sameResourceId(rule.probe?.id, probe.id)) {
    problems.push(`probe is ${rule.probe?.id ? rule.probe.id.split('/').pop() : '(none)'}`)
    fixes.push(`probe ${probe.name}`)
  }
  if (problems.length > 0) return fail(check, `rule ${rule.name}: ${problems.join('; ')}`, `set rule ${rule.name} to ${fixes.join(', ')}`)
  return pass(check, `rule ${rule.name}: ${proto} ${listener.port}->${listener.port}, floating IP off${probe ? `, probe ${probe.name}` : ''}`)
}

/** This instance's NICs join one of the scale set's backend pools on this LB. */
export function checkBackendPool(instanceName: string, nics: NetworkInterface[], poolIds: string[], scaleSet: { resourceGroupName: string; name: string; instanceId?: string }): Verdict {
  const check = 'azure-backend-pool'
  const joined = nics.flatMap((n) => (n.ipConfigurations ?? []).flatMap((c) => (c.loadBalancerBackendAddressPools ?? []).map((p) => p.id)))
  const hit = poolIds.find((pool) => joined.some((id) => sameResourceId(id, pool)))
  const poolNames = poolIds.map((id) => id.split('/').pop()).join(', ')
  if (hit) return pass(check, `instance ${instanceName} is in backend pool ${hit.split('/').pop()}`)
  const update = scaleSet.instanceId !== undefined
    ? `az vmss update-instances -g ${scaleSet.resourceGroupName} -n ${scaleSet.name} --instance-ids ${scaleSet.instanceId}`
    : `add the NIC of ${instanceName} to the pool`
  return fail(check, `instance ${instanceName}'s NIC is not in backend pool ${poolNames} (it runs an older scale set model)`, update)
}

/** The Private Link Services whose frontend is on this LB. */
export function servicesOnLoadBalancer(lb: LoadBalancer, services: PrivateLinkService[]): PrivateLinkService[] {
  return services.filter((s) => (s.loadBalancerFrontendIpConfigurations ?? []).some((f) => f.id !== undefined && sameResourceId(topLevelResourceId(f.id), lb.id)))
}

/** At least one PLS uses a frontend of this LB; every PLS named in the config is one of them. */
export function checkPrivateLinkService(lb: LoadBalancer, onLb: PrivateLinkService[], configured: readonly string[]): Verdict {
  const check = 'azure-private-link-service'
  const frontend = lb.frontendIPConfigurations?.[0]?.id ?? `${lb.id}/frontendIPConfigurations/<name>`
  const elsewhere = configured.filter((id) => !onLb.some((s) => sameResourceId(s.id, id)))
  if (onLb.length === 0) {
    return fail(check, `no Private Link Service uses a frontend of load balancer ${lb.name}`, `point the Private Link Service's loadBalancerFrontendIpConfigurations at ${frontend}`)
  }
  if (elsewhere.length > 0) {
    return fail(check, `${elsewhere.map((id) => id.split('/').pop()).join(', ')} (a configured source) does not use a frontend of load balancer ${lb.name}`, `point it at ${frontend} or fix the privateLinkService source in the config`)
  }
  return pass(check, `${onLb.map((s) => s.name).join(', ')} on load balancer ${lb.name}`)
}

/** Proxy protocol must be off: fwdd's DNAT would pass the PROXY header to servers that do not expect it. */
export function checkProxyProtocol(service: PrivateLinkService): Verdict {
  const check = `azure-proxy-protocol/${service.name}`
  if (service.enableProxyProtocol) {
    return fail(check, `Private Link Service ${service.name} has proxy protocol on; fwdd's DNAT would pass the PROXY header to servers that do not expect it`, `az network private-link-service update --ids ${service.id} --enable-proxy-protocol false`)
  }
  return pass(check, `Private Link Service ${service.name}: proxy protocol off`)
}

/** One verdict per private endpoint connection; Pending ones fail (their traffic is not admitted yet). */
export function checkConnections(service: PrivateLinkService): Verdict[] {
  const connections = service.privateEndpointConnections ?? []
  if (connections.length === 0) {
    return [warn(`azure-private-endpoints/${service.name}`, `Private Link Service ${service.name} has no private endpoint connections yet`, 'create a private endpoint to it from the consumer network')]
  }
  return connections.map((c) => {
    const check = `azure-private-endpoint/${c.name}`
    const status = c.privateLinkServiceConnectionState?.status ?? 'unknown'
    const endpoint = c.privateEndpoint?.id?.split('/').pop() ?? c.name
    if (status === 'Approved') return pass(check, `${endpoint} on ${service.name}: Approved`)
    if (status === 'Pending') {
      return fail(check, `${endpoint} on ${service.name}: Pending, no traffic flows until it is approved`, `az network private-endpoint-connection approve --id ${c.id}`)
    }
    return warn(check, `${endpoint} on ${service.name}: ${status}`, status === 'Rejected' ? 'approve it if the consumer should connect' : 'the consumer must recreate its private endpoint')
  })
}

/**
 * What the compiler cannot know: that one `listeners` parameter really drives everything. From a
 * snapshot, the fwdd config the nodes run (userData) is decoded, and the load balancer must have
 * exactly one HTTP probe per listener on `/lb/<name>` at the config's health port and one rule per
 * listener on its port and protocol using that probe; the NSG must let the config's first source
 * (the PLS NAT subnet) in to each listener port and deny the rest of the VNet; and customData
 * must not carry a second copy of the config (it is cloud-init only; the nodes read userData).
 */
import type { Json } from './arm-expression.js'
import { ofType, type PredictedResource } from './snapshot.js'

interface ConfigListener { name: string; protocol?: string; port: number }
/** The fwdd config as decoded from userData. */
export interface FwddConfig { health: { port: number }; sources: Json[]; listeners: ConfigListener[]; [k: string]: Json | unknown }

function at(v: unknown, ...keys: (string | number)[]): any {
  let cur: any = v
  for (const k of keys) cur = cur === null || cur === undefined ? undefined : cur[k]
  return cur
}

/** The scale set's userData, decoded and parsed; throws when there is not exactly one scale set. */
export function fwddConfigOf(resources: PredictedResource[]): FwddConfig {
  const sets = ofType(resources, 'Microsoft.Compute/virtualMachineScaleSets')
  if (sets.length !== 1) throw new Error(`expected one scale set, found ${sets.length}`)
  const userData = at(sets[0], 'properties', 'virtualMachineProfile', 'userData')
  if (typeof userData !== 'string') throw new Error('the scale set has no userData')
  if (userData.startsWith('[')) throw new Error(`the scale set's userData cannot be computed before deployment: ${userData.slice(0, 200)}`)
  return JSON.parse(Buffer.from(userData, 'base64').toString('utf8')) as FwddConfig
}

/**
 * Every disagreement found, as a sentence; an empty array means the deployment agrees. `staged`
 * names listeners deliberately in the config only (main.bicep's `listenersNotOnLoadBalancer`):
 * they must have no LB rule, probe or NSG rule.
 */
export function checkListenerAgreement(resources: PredictedResource[], staged: string[] = []): string[] {
  const problems: string[] = []
  let config: FwddConfig
  try {
    config = fwddConfigOf(resources)
  } catch (e) {
    return [(e as Error).message]
  }
  const healthPort = config.health.port
  const listeners = config.listeners.filter((l) => !staged.includes(l.name))
  const lbs = ofType(resources, 'Microsoft.Network/loadBalancers')
  if (lbs.length !== 1) return [...problems, `expected one load balancer, found ${lbs.length}`]
  const probes: any[] = at(lbs[0], 'properties', 'probes') ?? []
  const rules: any[] = at(lbs[0], 'properties', 'loadBalancingRules') ?? []
  if (probes.length !== listeners.length) problems.push(`load balancer: ${probes.length} probe(s) for ${listeners.length} listener(s)`)
  if (rules.length !== listeners.length) problems.push(`load balancer: ${rules.length} rule(s) for ${listeners.length} listener(s)`)

  const nsgs = ofType(resources, 'Microsoft.Network/networkSecurityGroups')
  if (nsgs.length !== 1) problems.push(`expected one NSG, found ${nsgs.length}`)
  const nsgRules: any[] = at(nsgs[0], 'properties', 'securityRules') ?? []
  const natPrefix = config.sources[0]
  const priorities = new Map<string, string>()
  for (const r of nsgRules) {
    const key = `${at(r, 'properties', 'direction')}/${at(r, 'properties', 'priority')}`
    const other = priorities.get(key)
    if (other !== undefined) problems.push(`NSG rules "${other}" and "${r.name}" share priority ${key}`)
    priorities.set(key, r.name)
  }

  for (const l of listeners) {
    const protocol = (l.protocol ?? 'tcp') === 'udp' ? 'Udp' : 'Tcp'
    const path = `/lb/${l.name}`
    const mine = probes.filter((p) => at(p, 'properties', 'requestPath') === path)
    if (mine.length !== 1) {
      problems.push(`listener "${l.name}": expected one probe on ${path}, found ${mine.length}`)
      continue
    }
    const probe = mine[0]
    if (at(probe, 'properties', 'port') !== healthPort) problems.push(`listener "${l.name}": probe port ${at(probe, 'properties', 'port')}, health port is ${healthPort}`)
    if (at(probe, 'properties', 'protocol') !== 'Http') problems.push(`listener "${l.name}": probe protocol ${at(probe, 'properties', 'protocol')}, expected Http`)
    const rule = rules.filter((r) => at(r, 'properties', 'frontendPort') === l.port && at(r, 'properties', 'protocol') === protocol)
    if (rule.length !== 1) {
      problems.push(`listener "${l.name}": expected one ${protocol} rule on frontend port ${l.port}, found ${rule.length}`)
    } else {
      const props = at(rule[0], 'properties')
      if (props.backendPort !== l.port) problems.push(`listener "${l.name}": rule backend port ${props.backendPort}, listener port is ${l.port}`)
      if (props.enableFloatingIP !== false) problems.push(`listener "${l.name}": floating IP must be off`)
      const probeId = at(props, 'probe', 'id')
      if (typeof probeId !== 'string' || !probeId.endsWith(`/probes/${probe.name}`)) problems.push(`listener "${l.name}": rule uses probe ${probeId}, not the probe on ${path} (${probe.name})`)
    }
    const forPort = nsgRules.filter((r) => at(r, 'properties', 'destinationPortRange') === String(l.port) && at(r, 'properties', 'protocol') === protocol)
    const allow = forPort.filter((r) => at(r, 'properties', 'access') === 'Allow')
    const deny = forPort.filter((r) => at(r, 'properties', 'access') === 'Deny')
    if (allow.length !== 1 || at(allow[0], 'properties', 'sourceAddressPrefix') !== natPrefix) problems.push(`listener "${l.name}": the NSG must allow exactly the first fwdd source ${JSON.stringify(natPrefix)} to ${protocol} ${l.port}`)
    if (deny.length !== 1 || at(deny[0], 'properties', 'sourceAddressPrefix') !== 'VirtualNetwork' || !(at(deny[0], 'properties', 'priority') > at(allow[0], 'properties', 'priority'))) problems.push(`listener "${l.name}": the NSG must deny the VirtualNetwork to ${protocol} ${l.port} after the allow rule`)
  }

  for (const name of staged) {
    if (!config.listeners.some((l) => l.name === name)) problems.push(`staged listener "${name}" is not in the fwdd config`)
    if (probes.some((p) => at(p, 'properties', 'requestPath') === `/lb/${name}`)) problems.push(`staged listener "${name}" still has a probe`)
    if (nsgRules.some((r) => String(r.name).endsWith(`-${name}`))) problems.push(`staged listener "${name}" still has NSG rules`)
  }

  const sets = ofType(resources, 'Microsoft.Compute/virtualMachineScaleSets')
  const ext: any[] = at(sets[0], 'properties', 'virtualMachineProfile', 'extensionProfile', 'extensions') ?? []
  const health = ext.find((e) => at(e, 'properties', 'type') === 'ApplicationHealthLinux')
  if (at(health, 'properties', 'settings', 'port') !== healthPort) problems.push(`the health extension reads port ${at(health, 'properties', 'settings', 'port')}, health port is ${healthPort}`)
  const customData = at(sets[0], 'properties', 'virtualMachineProfile', 'osProfile', 'customData')
  if (typeof customData === 'string' && Buffer.from(customData, 'base64').toString('utf8').includes(JSON.stringify(config.listeners))) {
    problems.push('customData carries the listeners too: the config belongs in userData only')
  }
  return problems
}

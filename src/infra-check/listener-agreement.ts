/**
 * The one-source-of-truth check: for a deployment evaluated from the `listeners` parameter,
 * the load balancer must have exactly one HTTP probe per listener on `/lb/<name>` at the health
 * port, exactly one rule per listener on its port and protocol using that probe, and the fwdd
 * config the forwarders receive (userData, and customData when cloud-init's template is present)
 * must list exactly those listeners, that health port, and the PLS NAT subnet as the source.
 */
import { isObject, Unresolved, type Value } from './evaluate.js'
import { resourcesOfType, type Deployment } from './deployment.js'

interface ListenerParam { name: string; protocol: string; port: number; targets: Value }

/** Reads a nested property path, or `undefined` if any step is missing. */
function at(v: Value | undefined, ...keys: (string | number)[]): Value | undefined {
  let cur = v
  for (const k of keys) {
    if (typeof k === 'number') cur = Array.isArray(cur) ? cur[k] : undefined
    else cur = isObject(cur) ? cur[k] : undefined
  }
  return cur
}

function show(v: Value | undefined): string {
  return v instanceof Unresolved ? `<unresolved ${v.text}>` : JSON.stringify(v)
}

function decodeBase64(v: Value | undefined): string | undefined {
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined
}

/** Every disagreement found, as a sentence; an empty array means the deployment agrees. */
export function checkListenerAgreement(d: Deployment): string[] {
  const problems: string[] = []
  const listenersValue = d.main.param('listeners')
  const healthPort = d.main.param('healthPort')
  if (!Array.isArray(listenersValue) || typeof healthPort !== 'number') {
    return [`parameters: listeners must be an array and healthPort a number, got ${show(listenersValue)} and ${show(healthPort)}`]
  }
  const listeners = listenersValue as unknown as ListenerParam[]

  const lbs = resourcesOfType(d, 'Microsoft.Network/loadBalancers').flatMap((r) => r.bodies)
  if (lbs.length !== 1) problems.push(`expected one load balancer, found ${lbs.length}`)
  const probes = (at(lbs[0], 'properties', 'probes') ?? []) as Value[]
  const rules = (at(lbs[0], 'properties', 'loadBalancingRules') ?? []) as Value[]
  if (!Array.isArray(probes) || probes.length !== listeners.length) problems.push(`load balancer: ${show(probes.length)} probe(s) for ${listeners.length} listener(s)`)
  if (!Array.isArray(rules) || rules.length !== listeners.length) problems.push(`load balancer: ${show(rules.length)} rule(s) for ${listeners.length} listener(s)`)

  for (const l of listeners) {
    const path = `/lb/${l.name}`
    const mine = probes.filter((p) => at(p, 'properties', 'requestPath') === path)
    if (mine.length !== 1) {
      problems.push(`listener "${l.name}": expected one probe on ${path}, found ${mine.length}`)
      continue
    }
    const probe = mine[0]
    if (at(probe, 'properties', 'port') !== healthPort) problems.push(`listener "${l.name}": probe port ${show(at(probe, 'properties', 'port'))}, health port is ${healthPort}`)
    if (at(probe, 'properties', 'protocol') !== 'Http') problems.push(`listener "${l.name}": probe protocol ${show(at(probe, 'properties', 'protocol'))}, expected "Http"`)
    const protocol = l.protocol === 'udp' ? 'Udp' : 'Tcp'
    const rule = rules.filter((r) => at(r, 'properties', 'frontendPort') === l.port && at(r, 'properties', 'protocol') === protocol)
    if (rule.length !== 1) {
      problems.push(`listener "${l.name}": expected one ${protocol} rule on frontend port ${l.port}, found ${rule.length}`)
      continue
    }
    const props = at(rule[0], 'properties')
    if (at(props, 'backendPort') !== l.port) problems.push(`listener "${l.name}": rule backend port ${show(at(props, 'backendPort'))}, listener port is ${l.port}`)
    if (at(props, 'enableFloatingIP') !== false) problems.push(`listener "${l.name}": floating IP must be off`)
    const probeId = at(props, 'probe', 'id')
    const probeName = at(probe, 'name')
    if (typeof probeId !== 'string' || typeof probeName !== 'string' || !probeId.endsWith(`/${probeName}`)) {
      problems.push(`listener "${l.name}": rule uses probe ${show(probeId)}, not the probe on ${path} (${show(at(probe, 'name'))})`)
    }
  }

  problems.push(...checkFwddConfig(d, listeners, healthPort))
  return problems
}

function checkFwddConfig(d: Deployment, listeners: ListenerParam[], healthPort: number): string[] {
  const problems: string[] = []
  const natPrefixes = resourcesOfType(d, 'Microsoft.Network/virtualNetworks')
    .flatMap((r) => r.bodies)
    .flatMap((vnet) => ((at(vnet, 'properties', 'subnets') ?? []) as Value[]))
    .filter((s) => at(s, 'properties', 'privateLinkServiceNetworkPolicies') === 'Disabled')
    .map((s) => at(s, 'properties', 'addressPrefix'))
  if (natPrefixes.length !== 1) problems.push(`expected one subnet with privateLinkServiceNetworkPolicies Disabled, found ${natPrefixes.length}`)
  const expected = {
    health: { port: healthPort },
    sources: natPrefixes.slice(0, 1),
    listeners: listeners.map((l) => ({ name: l.name, protocol: l.protocol, port: l.port, targets: l.targets })),
  }
  const scaleSets = resourcesOfType(d, 'Microsoft.Compute/virtualMachineScaleSets').flatMap((r) => r.bodies)
  if (scaleSets.length !== 1) return [...problems, `expected one scale set, found ${scaleSets.length}`]
  const profile = at(scaleSets[0], 'properties', 'virtualMachineProfile')
  const userData = decodeBase64(at(profile, 'userData'))
  if (userData === undefined) return [...problems, `scale set userData is not computable: ${show(at(profile, 'userData'))}`]
  let config: unknown
  try {
    config = JSON.parse(userData)
  } catch {
    return [...problems, `scale set userData is not the fwdd config as JSON: ${userData.slice(0, 80)}`]
  }
  if (JSON.stringify(config) !== JSON.stringify(expected)) {
    problems.push(`fwdd config in userData ${JSON.stringify(config)} differs from the one the listeners parameter gives ${JSON.stringify(expected)}`)
  }
  // customData is only computable when cloud-init's template is present; then it must carry the
  // same config, with every placeholder filled in.
  const customData = decodeBase64(at(profile, 'osProfile', 'customData'))
  if (customData !== undefined) {
    if (customData.includes('{{FWDD_')) problems.push('customData still has a {{FWDD_...}} placeholder')
    if (!customData.includes(Buffer.from(userData).toString('base64'))) problems.push('customData does not carry the same fwdd config as userData')
  }
  return problems
}

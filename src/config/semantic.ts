/**
 * Rules a JSON Schema cannot say well: uniqueness, address ranges, one-of keys, cross-field limits.
 * Runs on the raw (schema-valid) object so that problems point at the key the user wrote.
 */
import { forbiddenTargetReason, isDnsName, isIpv4, parseCidr } from './addresses.js'

export interface RawProblem {
  path: Array<string | number>
  message: string
  /** Point at the key rather than its value (for unknown or duplicated keys). */
  atKey?: boolean
}

type Raw = Record<string, unknown>

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Returns every semantic problem of a config that already passed the schema. */
export function semanticProblems(raw: Raw): RawProblem[] {
  const problems: RawProblem[] = []
  const health = isObject(raw.health) ? raw.health : {}
  const healthPort = typeof health.port === 'number' ? health.port : 8080
  if (Array.isArray(health.probeSources)) {
    health.probeSources.forEach((a: unknown, i: number) => {
      if (typeof a === 'string' && !isIpv4(a)) problems.push({ path: ['health', 'probeSources', i], message: `"${a}" is not an IPv4 address; write the address the probes come from, e.g. 10.0.0.4` })
    })
  }
  const metrics = isObject(raw.metrics) ? raw.metrics : undefined
  if (metrics && typeof metrics.address === 'string' && !isIpv4(metrics.address)) {
    problems.push({ path: ['metrics', 'address'], message: `"${metrics.address}" is not an IPv4 address; write 127.0.0.1 (this node only) or a management subnet address of this node` })
  }
  if (metrics && (metrics.port ?? 9180) === healthPort) {
    problems.push({ path: ['metrics', 'port'], message: `metrics.port ${healthPort} is the health port; pick another port (default 9180), or remove the metrics block to serve /metrics on the health port` })
  }
  if (typeof health.address === 'string' && !isIpv4(health.address)) {
    problems.push({ path: ['health', 'address'], message: `"${health.address}" is not an IPv4 address; write e.g. 0.0.0.0 (all interfaces) or this node's address` })
  }

  const sources = Array.isArray(raw.sources) ? raw.sources : []
  sources.forEach((s, i) => {
    if (typeof s !== 'string') return
    const parsed = parseCidr(s)
    if ('error' in parsed) problems.push({ path: ['sources', i], message: `"${s}" is not a valid IPv4 CIDR: ${parsed.error}; write e.g. 10.0.1.0/26` })
  })

  if (isObject(raw.passive)) problems.push(...ejectionBoundProblem(raw.passive, ['passive']))

  const listeners = Array.isArray(raw.listeners) ? raw.listeners.filter(isObject) : []
  const names = new Map<string, number>()
  const ports = new Map<string, number>()
  listeners.forEach((l, i) => {
    const name = String(l.name)
    const earlier = names.get(name)
    if (earlier !== undefined) problems.push({ path: ['listeners', i, 'name'], message: `"${name}" is already the name of listeners.${earlier}; listener names must be unique` })
    else names.set(name, i)
    const protocol = typeof l.protocol === 'string' ? l.protocol : 'tcp'
    const key = `${protocol}/${String(l.port)}`
    const earlierPort = ports.get(key)
    if (earlierPort !== undefined) problems.push({ path: ['listeners', i, 'port'], message: `${key} is already used by listeners.${earlierPort}; each port may have one listener per protocol` })
    else ports.set(key, i)
    if (protocol === 'tcp' && metrics && l.port === (metrics.port ?? 9180)) problems.push({ path: ['listeners', i, 'port'], message: `port ${l.port} is the metrics port; pick another port for the listener or change metrics.port` })
    if (protocol === 'tcp' && l.port === healthPort) problems.push({ path: ['listeners', i, 'port'], message: `port ${healthPort} is the health port; pick another port for the listener or change health.port` })

    const check = isObject(l.check) ? l.check : {}
    if (typeof check.timeoutMs === 'number' && typeof check.intervalMs === 'number' && check.timeoutMs > check.intervalMs * 5) {
      problems.push({ path: ['listeners', i, 'check', 'timeoutMs'], message: `${check.timeoutMs} is more than 5 times intervalMs (${check.intervalMs}); a check that outlives several intervals hides failures, lower it` })
    }

    const passive = isObject(l.passive) ? l.passive : {}
    if (protocol === 'udp' && passive.enabled === true) {
      problems.push({ path: ['listeners', i, 'passive', 'enabled'], message: 'passive health judges tcp handshakes and a udp flow has none; remove it (udp listeners rely on check.port)' })
    }
    if (passive.baseEjectionMs !== undefined || passive.maxEjectionMs !== undefined) problems.push(...ejectionBoundProblem({ ...(isObject(raw.passive) ? raw.passive : {}), ...passive }, ['listeners', i, 'passive']))

    const targets = Array.isArray(l.targets) ? l.targets.filter(isObject) : []
    const targetNames = new Map<string, number>()
    targets.forEach((t, j) => {
      const at = ['listeners', i, 'targets', j]
      if (typeof t.name === 'string') {
        const first = targetNames.get(t.name)
        if (first !== undefined) problems.push({ path: [...at, 'name'], message: `"${t.name}" is already the name of targets.${first}; target names must be unique within a listener` })
        else targetNames.set(t.name, j)
      }
      const hasHost = typeof t.host === 'string'
      const hasGroup = typeof t.ipGroup === 'string'
      if (hasHost === hasGroup) {
        problems.push({ path: at, message: hasHost ? 'has both "host" and "ipGroup"; keep one of them' : 'needs "host" (an IPv4 address or DNS name) or "ipGroup" (an Azure IP Group resource id)' })
        return
      }
      if (hasHost) {
        const host = String(t.host)
        if (isIpv4(host)) {
          const why = forbiddenTargetReason(host)
          if (why) problems.push({ path: [...at, 'host'], message: `${why}; use the on-premises server's address` })
        } else if (!isDnsName(host)) {
          problems.push({ path: [...at, 'host'], message: `"${host}" is neither an IPv4 address nor a DNS name; write e.g. 192.168.42.65 or app.corp.example` })
        }
      } else if (!/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Network\/ipGroups\/[^/]+$/i.test(String(t.ipGroup))) {
        problems.push({ path: [...at, 'ipGroup'], message: 'is not an IP Group resource id; write /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/ipGroups/<name>' })
      }
    })
  })
  return problems
}

/** maxEjectionMs caps the growing ejection time, so it may not be below baseEjectionMs (defaults 5000 and 60000). */
function ejectionBoundProblem(p: Raw, at: Array<string | number>): RawProblem[] {
  const base = typeof p.baseEjectionMs === 'number' ? p.baseEjectionMs : 5000
  const max = typeof p.maxEjectionMs === 'number' ? p.maxEjectionMs : 60000
  if (max >= base) return []
  const key = p.maxEjectionMs !== undefined ? 'maxEjectionMs' : 'baseEjectionMs'
  return [{ path: [...at, key], message: `maxEjectionMs (${max}) is below baseEjectionMs (${base}); the cap must be at least the base ejection time, raise maxEjectionMs or lower baseEjectionMs` }]
}

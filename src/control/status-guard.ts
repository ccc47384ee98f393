/**
 * Checks that a value from the control socket is a `Status` (src/status.ts) before fwdctl uses it.
 * Returns null when it is, or the first wrong field's path and what was expected, so the error
 * says where (`listeners.0.targets.1.state: expected unknown|healthy|unhealthy`). Optional fields
 * are checked when present; unknown fields are allowed (a newer daemon may add some).
 */

type Check = (v: unknown, at: string) => string | null

const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const want = (at: string, what: string): string => `${at}: expected ${what}`

const str: Check = (v, at) => (typeof v === 'string' ? null : want(at, 'a string'))
const num: Check = (v, at) => (typeof v === 'number' && Number.isFinite(v) ? null : want(at, 'a number'))
const bool: Check = (v, at) => (typeof v === 'boolean' ? null : want(at, 'true or false'))
const strOrNull: Check = (v, at) => (v === null || typeof v === 'string' ? null : want(at, 'a string or null'))
const oneOf = (...values: string[]): Check => (v, at) => (typeof v === 'string' && values.includes(v) ? null : want(at, values.join('|')))
const strings: Check = (v, at) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? null : want(at, 'a list of strings'))

function fields(v: unknown, at: string, required: Record<string, Check>, optional: Record<string, Check> = {}): string | null {
  if (!obj(v)) return want(at || 'status', 'an object')
  for (const [k, c] of Object.entries(required)) {
    const p = c(v[k], at ? `${at}.${k}` : k)
    if (p) return p
  }
  for (const [k, c] of Object.entries(optional)) {
    if (v[k] === undefined) continue
    const p = c(v[k], at ? `${at}.${k}` : k)
    if (p) return p
  }
  return null
}

const list = (item: Check): Check => (v, at) => {
  if (!Array.isArray(v)) return want(at, 'a list')
  for (let i = 0; i < v.length; i++) {
    const p = item(v[i], `${at}.${i}`)
    if (p) return p
  }
  return null
}

const target: Check = (v, at) => fields(v, at,
  { host: str, address: str, port: num, state: oneOf('unknown', 'healthy', 'unhealthy'), since: str, lastError: strOrNull },
  { label: str, inRotation: bool, weight: num, connections: num, bytes: num, packets: num })

const listener: Check = (v, at) => fields(v, at,
  { name: str, protocol: oneOf('tcp', 'udp'), port: num, serving: bool, targets: list(target) },
  { whenAllDown: oneOf('reject', 'all') })

const azure: Check = (v, at) => fields(v, at, { errors: strings, warnings: strings })

const node: Check = (v, at) => fields(v, at,
  { ready: bool, draining: bool, inSync: bool, lastSyncAt: strOrNull, lastError: strOrNull, version: str },
  { ipForwarding: bool, driftRepairs: num, backend: str, configSource: str, azure })

/** Null when `v` is a Status; otherwise the first problem, as `path: expected ...`. */
export function statusProblem(v: unknown): string | null {
  return fields(v, '', { node, listeners: list(listener) })
}

/**
 * Azure resource ids, parsed once so every module agrees on what an id names. ARM treats ids
 * case-insensitively, so comparisons go through `sameResourceId`, never `===`.
 */
import type { ErrorCode } from '../errors.js'

/** The parts of `/subscriptions/<sub>/resourceGroups/<rg>/providers/<ns>/<type>/<name>[/<child>/<name>...]`. */
export interface ResourceId {
  /** The id as written, without a trailing slash. */
  id: string
  subscriptionId: string
  resourceGroupName: string
  /** Provider namespace, e.g. `Microsoft.Network`. */
  provider: string
  /** Top-level type and name, e.g. `ipGroups` / `onprem`. */
  type: string
  name: string
  /** Child type/name pairs after the top-level resource, e.g. `[{ type: 'virtualMachines', name: '0' }]`. */
  children: Array<{ type: string; name: string }>
}

/** Thrown for a string that is not a resource id, or not of the expected type. */
export class ResourceIdError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_RESOURCE_ID'
  constructor(readonly value: string, reason: string) {
    super(`resource id ${JSON.stringify(value)}: ${reason}`)
    this.name = 'ResourceIdError'
  }
}

/**
 * Parses a resource id. Segment keywords (`subscriptions`, `resourceGroups`, `providers`) match
 * case-insensitively as ARM does; names keep their case. Throws `ResourceIdError` naming what is
 * missing, so config errors say how to fix the id.
 */
export function parseResourceId(value: string): ResourceId {
  const trimmed = value.trim().replace(/\/+$/, '')
  const parts = trimmed.split('/')
  if (parts[0] !== '' || parts.length < 9) {
    throw new ResourceIdError(value, 'expected /subscriptions/<sub>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>')
  }
  const [, subKw, subscriptionId, rgKw, resourceGroupName, provKw, provider, type, name, ...rest] = parts
  if (subKw?.toLowerCase() !== 'subscriptions' || !subscriptionId) {
    throw new ResourceIdError(value, 'must start with /subscriptions/<subscription id>')
  }
  if (rgKw?.toLowerCase() !== 'resourcegroups' || !resourceGroupName) {
    throw new ResourceIdError(value, 'missing /resourceGroups/<name> after the subscription')
  }
  if (provKw?.toLowerCase() !== 'providers' || !provider || !type || !name) {
    throw new ResourceIdError(value, 'missing /providers/<namespace>/<type>/<name>')
  }
  if (rest.length % 2 !== 0 || rest.some((s) => s === '')) {
    throw new ResourceIdError(value, 'child resources must come as <type>/<name> pairs')
  }
  const children: Array<{ type: string; name: string }> = []
  for (let i = 0; i < rest.length; i += 2) children.push({ type: rest[i]!, name: rest[i + 1]! })
  return { id: trimmed, subscriptionId, resourceGroupName, provider, type, name, children }
}

/**
 * Parses an id and checks it names a top-level resource of `provider/type` (e.g.
 * `Microsoft.Network/ipGroups`), case-insensitively.
 */
export function parseTypedResourceId(value: string, providerAndType: string): ResourceId {
  const parsed = parseResourceId(value)
  const actual = `${parsed.provider}/${parsed.type}`
  if (actual.toLowerCase() !== providerAndType.toLowerCase() || parsed.children.length > 0) {
    throw new ResourceIdError(value, `expected a ${providerAndType} id, got ${actual}${parsed.children.length ? ' child resource' : ''}`)
  }
  return parsed
}

/** ARM ids compare case-insensitively and ignore a trailing slash. */
export function sameResourceId(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false
  return a.replace(/\/+$/, '').toLowerCase() === b.replace(/\/+$/, '').toLowerCase()
}

/**
 * The top-level resource that contains a child id, e.g. the load balancer of a backend pool id
 * (`.../loadBalancers/lb/backendAddressPools/pool` → `.../loadBalancers/lb`). Undefined for a
 * top-level id. Throws `ResourceIdError` for a malformed id.
 */
export function topLevelResourceId(value: string): string | undefined {
  const parsed = parseResourceId(value)
  if (parsed.children.length === 0) return undefined
  const dropped = parsed.children.length * 2
  return parsed.id.split('/').slice(0, -dropped).join('/')
}

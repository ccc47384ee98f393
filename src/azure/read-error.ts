/**
 * Turns whatever an Azure read threw into one `AzureReadError`: what kind of failure it was, what
 * to tell the operator, and when to try again. The refresher, status and `doctor --azure` all
 * print these messages, so each says what was being read and what to do.
 */
import { AzureInvalidResponseError } from './network.js'
import { describeIdentity } from './credential.js'

/**
 * - `throttled`: 429; retry after Retry-After.
 * - `transient`: 5xx, timeout, connection failure, token service unavailable; retry with backoff.
 * - `forbidden`: 403; the identity lacks a role. Retried at the normal interval (a role assignment fixes it).
 * - `unauthorized`: 401; the token was refused.
 * - `not-found`: 404; the resource id in the config names nothing.
 * - `invalid`: a body that is not the documented shape (or unusable, like a PLS without NAT IPs).
 */
export type AzureReadErrorKind = 'throttled' | 'transient' | 'forbidden' | 'unauthorized' | 'not-found' | 'invalid'

/** One failed read. Plain data (no class), so it can go into the status object as JSON. */
export interface AzureReadError {
  kind: AzureReadErrorKind
  /** Lowercase, one line: what was read, what went wrong, what to do. */
  message: string
  /** HTTP status when there was a response. */
  status?: number
  /** ARM error code, e.g. `AuthorizationFailed`. */
  code?: string
  /** For `throttled`: the wait the server asked for, in milliseconds. */
  retryAfterMs?: number
  /** ISO-8601 time of the failure. */
  at: string
}

/** What is being read, so messages can name the permission that is missing. */
export interface ReadSubject {
  /** `IP Group` or `Private Link Service`. */
  kind: string
  resourceId: string
  /** The ARM action the read needs, e.g. `Microsoft.Network/ipGroups/read`. */
  action: string
  /** Client id of the user-assigned identity, if any (for the role-assignment hint). */
  identityClientId?: string
}

interface RestErrorLike {
  name: string
  message: string
  statusCode?: number
  code?: string
  response?: { headers?: { get(name: string): string | undefined }; bodyAsText?: string | null }
}

function isRestErrorLike(value: unknown): value is RestErrorLike {
  return value instanceof Error && value.name === 'RestError'
}

/**
 * Parses a Retry-After header: delta-seconds or an HTTP date, relative to `nowMs`. Undefined for a
 * missing or unparseable value; never negative.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}

/**
 * Classifies an error thrown while reading `subject`. Never throws. With `consequence: false` the
 * message leaves out what the refresher does about it (for `doctor --azure`).
 */
export function classifyReadError(error: unknown, subject: ReadSubject, nowMs: number, options: { consequence?: boolean } = {}): AzureReadError {
  const at = new Date(nowMs).toISOString()
  const withConsequence = options.consequence ?? true
  const KEEP = withConsequence ? '; keeping the last good set' : ''
  const RETRY = withConsequence ? '; retrying with backoff, keeping the last good set' : ''
  const what = `reading ${subject.kind} ${subject.resourceId}`
  if (error instanceof AzureInvalidResponseError) {
    return { kind: 'invalid', message: `${what}: ${lower(error.message)}${KEEP}`, at }
  }
  if (isRestErrorLike(error)) {
    const status = error.statusCode
    const code = error.code
    const base = { at, ...(status !== undefined ? { status } : {}), ...(code ? { code } : {}) }
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(error.response?.headers?.get('retry-after'), nowMs)
      return {
        kind: 'throttled',
        message: `${what}: throttled by ARM (429)${retryAfterMs !== undefined ? `, retrying after ${Math.ceil(retryAfterMs / 1000)} s` : ''}${KEEP}`,
        ...base,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      }
    }
    if (status === 403) {
      return {
        kind: 'forbidden',
        message: `${what}: 403 ${code ?? 'Forbidden'}: ${describeIdentity(subject.identityClientId)} lacks ${subject.action}; assign it the Reader role (or a role with ${subject.action}, such as the "fwdd Azure reader" custom role infra/ creates) on ${subject.resourceId}${KEEP}`,
        ...base,
      }
    }
    if (status === 401) {
      return {
        kind: 'unauthorized',
        message: `${what}: 401 ${code ?? 'Unauthorized'}: ARM refused the token of ${describeIdentity(subject.identityClientId)}; check that the identity is assigned to the scale set and belongs to the subscription's tenant${KEEP}`,
        ...base,
      }
    }
    if (status === 404) {
      return { kind: 'not-found', message: `${what}: 404 ${code ?? 'NotFound'}: no such resource; fix the resource id in the config${KEEP}`, ...base }
    }
    if (status !== undefined && status >= 200 && status < 300) {
      return { kind: 'invalid', message: `${what}: ARM answered ${status} with a body that is not JSON of the documented shape (${lower(error.message)})${KEEP}`, ...base }
    }
    if (status !== undefined && status >= 400 && status < 500 && status !== 408) {
      return { kind: 'invalid', message: `${what}: HTTP ${status} ${code ?? ''}: ${lower(error.message)}${KEEP}`.replace('  ', ' '), ...base }
    }
    return { kind: 'transient', message: `${what}: ${status !== undefined ? `HTTP ${status}` : 'request failed'}: ${lower(error.message)}${RETRY}`, ...base }
  }
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
    return { kind: 'transient', message: `${what}: no answer in time${RETRY}`, at }
  }
  if (error instanceof Error && (error.name === 'CredentialUnavailableError' || error.name === 'AuthenticationError' || error.name === 'AuthenticationRequiredError')) {
    return {
      kind: 'transient',
      message: `${what}: getting a token for ${describeIdentity(subject.identityClientId)} from IMDS failed: ${lower(error.message)}${RETRY}`,
      at,
    }
  }
  if (error instanceof SyntaxError) {
    return { kind: 'invalid', message: `${what}: body is not JSON (${lower(error.message)})${KEEP}`, at }
  }
  const message = error instanceof Error ? error.message : String(error)
  return { kind: 'transient', message: `${what}: ${lower(message)}${RETRY}`, at }
}

function lower(message: string): string {
  const firstLine = message.split('\n')[0] ?? ''
  return firstLine.length > 0 ? firstLine[0]!.toLowerCase() + firstLine.slice(1) : firstLine
}

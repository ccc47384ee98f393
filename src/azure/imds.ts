/**
 * A small client for the Azure Instance Metadata Service: who this instance is (subscription,
 * resource group, scale set) and its userData. fwdd asks IMDS instead of the config so the config
 * names only resources (issue "Azure integration", item 1).
 *
 * Uses Node's `fetch` with a short timeout; nothing is sent until a method is called.
 */
import { DEFAULT_IMDS_ENDPOINT } from './endpoints.js'
import type { ErrorCode } from '../errors.js'

/** API version with `userData` in the compute document (added in 2021-01-01). */
export const IMDS_API_VERSION = '2021-02-01'

/** This instance as IMDS describes it. Every field is a string; `vmScaleSetName` is '' outside a scale set. */
export interface ImdsInstance {
  subscriptionId: string
  resourceGroupName: string
  vmScaleSetName: string
  /** The instance name, e.g. `fwd_3` (uniform) or `fwd_ab12cd34` (flexible). */
  name: string
  /** The VM's ARM id; for a uniform scale set `.../virtualMachineScaleSets/<vmss>/virtualMachines/<instanceId>`. */
  resourceId: string
  location: string
  vmId: string
}

/** What `ImdsClient` callers rely on; the fakes and the config source use this, not the class. */
export interface ImdsReader {
  getInstance(): Promise<ImdsInstance>
  getUserData(): Promise<string>
}

/** An IMDS request that failed: no answer in time, a non-2xx status, or a body that is not the documented shape. */
export class ImdsError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_IMDS'
  constructor(message: string, readonly status?: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ImdsError'
  }
}

/** Where IMDS is and how long to wait for it. */
export interface ImdsClientOptions {
  /** Origin of IMDS; default `http://169.254.169.254` (use `azureEndpointsFromEnv().imds`). */
  endpoint?: string
  /** Per-request timeout; default 3000 ms. IMDS answers in milliseconds when it is there at all. */
  timeoutMs?: number
}

/** Reads instance metadata and userData from IMDS. Stateless: every call is one HTTP request. */
export class ImdsClient implements ImdsReader {
  readonly endpoint: string
  readonly timeoutMs: number

  constructor(options: ImdsClientOptions = {}) {
    this.endpoint = options.endpoint ?? DEFAULT_IMDS_ENDPOINT
    this.timeoutMs = options.timeoutMs ?? 3000
  }

  /**
   * `GET /metadata/instance/compute`. Throws `ImdsError` when a field fwdd relies on is missing,
   * so a caller never works with a half-known identity.
   */
  async getInstance(): Promise<ImdsInstance> {
    const text = await this.get('/metadata/instance/compute', {})
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (cause) {
      throw new ImdsError('reading instance metadata from IMDS: body is not JSON', undefined, { cause })
    }
    if (typeof body !== 'object' || body === null) {
      throw new ImdsError('reading instance metadata from IMDS: body is not an object')
    }
    const record = body as Record<string, unknown>
    const field = (name: string, required: boolean): string => {
      const value = record[name]
      if (typeof value === 'string' && (value !== '' || !required)) return value
      if (value === undefined && !required) return ''
      throw new ImdsError(`reading instance metadata from IMDS: field "${name}" is missing or not a string`)
    }
    return {
      subscriptionId: field('subscriptionId', true),
      resourceGroupName: field('resourceGroupName', true),
      vmScaleSetName: field('vmScaleSetName', false),
      name: field('name', true),
      resourceId: field('resourceId', true),
      location: field('location', false),
      vmId: field('vmId', false),
    }
  }

  /**
   * `GET /metadata/instance/compute/userData` (base64) decoded as UTF-8. An instance without
   * userData yields ''. Throws `ImdsError` when the body is not valid base64.
   */
  async getUserData(): Promise<string> {
    const text = (await this.get('/metadata/instance/compute/userData', { format: 'text' })).trim()
    if (text === '') return ''
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new ImdsError('reading userData from IMDS: body is not base64')
    }
    return Buffer.from(text, 'base64').toString('utf8')
  }

  private async get(path: string, query: Record<string, string>): Promise<string> {
    const url = new URL(path, this.endpoint)
    url.searchParams.set('api-version', IMDS_API_VERSION)
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value)
    let response: Response
    try {
      response = await fetch(url, {
        headers: { Metadata: 'true' },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      })
    } catch (cause) {
      const reason = cause instanceof Error && cause.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : describe(cause)
      throw new ImdsError(`requesting ${url.pathname} from IMDS at ${this.endpoint}: ${reason}`, undefined, { cause })
    }
    const body = await response.text()
    if (!response.ok) {
      throw new ImdsError(`requesting ${url.pathname} from IMDS: HTTP ${response.status}: ${body.slice(0, 200)}`, response.status)
    }
    return body
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause
    return inner instanceof Error ? `${cause.message}: ${inner.message}` : cause.message
  }
  return String(cause)
}

/**
 * Where fwdd talks to Azure: the Resource Manager (ARM) endpoint and the Instance Metadata Service
 * (IMDS). Both can be moved with environment variables so tests point the real SDK clients at
 * loopback fakes and sovereign clouds point them at their own ARM host (CONTRACT.md, "Azure").
 *
 * Nothing here opens a connection: reading the endpoints is pure, so importing the Azure modules
 * never contacts 169.254.169.254.
 */
import type { ErrorCode } from '../errors.js'

/** ARM endpoint of the public cloud, used when `FWDD_ARM_ENDPOINT` is unset or empty. */
export const DEFAULT_ARM_ENDPOINT = 'https://management.azure.com'

/** The link-local IMDS address, used when `FWDD_IMDS_ENDPOINT` is unset or empty. */
export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254'

/** The two endpoints, each an origin (`scheme://host[:port]`) without a trailing slash or path. */
export interface AzureEndpoints {
  arm: string
  imds: string
  /** True when `imds` came from `FWDD_IMDS_ENDPOINT` rather than the default. */
  imdsOverridden: boolean
}

/** Thrown for an endpoint variable that is not a usable URL; the message names the variable. */
export class AzureEndpointError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_AZURE_ENDPOINT'
  constructor(readonly variable: string, readonly value: string, reason: string) {
    super(`${variable}=${JSON.stringify(value)}: ${reason}`)
    this.name = 'AzureEndpointError'
  }
}

/**
 * Normalises one endpoint value to its origin. ARM must be https (tokens travel in the
 * Authorization header); IMDS must be plain http, as the real one is and as `@azure/identity`
 * requires for its managed identity requests. A path, query, fragment or credentials in the URL
 * are refused rather than silently dropped: the SDKs append their own paths to the origin.
 */
export function parseEndpoint(variable: string, value: string, scheme: 'https:' | 'http:'): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new AzureEndpointError(variable, value, `not a URL; write e.g. ${scheme}//host:port`)
  }
  if (url.protocol !== scheme) {
    throw new AzureEndpointError(variable, value, `scheme must be ${scheme.slice(0, -1)}, not ${url.protocol.slice(0, -1)}`)
  }
  if (url.username || url.password) {
    throw new AzureEndpointError(variable, value, 'credentials in the URL are not allowed')
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new AzureEndpointError(variable, value, `give only ${scheme}//host[:port]; the path is added by fwdd`)
  }
  return url.origin
}

/**
 * Reads `FWDD_ARM_ENDPOINT` and `FWDD_IMDS_ENDPOINT` from `env` (default `process.env`), filling in
 * the defaults. Throws `AzureEndpointError` for a malformed value; callers should report it as a
 * startup error, never fall back to the real Azure hosts.
 */
export function azureEndpointsFromEnv(env: NodeJS.ProcessEnv = process.env): AzureEndpoints {
  const armValue = env.FWDD_ARM_ENDPOINT
  const imdsValue = env.FWDD_IMDS_ENDPOINT
  return {
    arm: armValue ? parseEndpoint('FWDD_ARM_ENDPOINT', armValue, 'https:') : DEFAULT_ARM_ENDPOINT,
    imds: imdsValue ? parseEndpoint('FWDD_IMDS_ENDPOINT', imdsValue, 'http:') : DEFAULT_IMDS_ENDPOINT,
    imdsOverridden: Boolean(imdsValue),
  }
}

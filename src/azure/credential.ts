/**
 * The managed identity credential fwdd uses for ARM, built so that its token requests go to the
 * same IMDS as everything else (`FWDD_IMDS_ENDPOINT`).
 *
 * How the override works (read from @azure/identity 4.13 / @azure/msal-node 5.6 source): the
 * credential hands token requests to msal-node's `Imds` source, which uses
 * `$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token` when that variable is set and
 * `http://169.254.169.254/...` otherwise. There is no constructor option for it. So when IMDS is
 * overridden this module sets that variable in `process.env` before building the credential.
 *
 * Two process-wide facts callers must know:
 * - msal-node caches the chosen managed identity source in a static field at the first token
 *   request, so the IMDS endpoint is fixed for the life of the process from then on.
 * - Other managed identity variables (`IDENTITY_ENDPOINT`, `MSI_ENDPOINT`, ...) make msal-node pick
 *   App Service, Arc or Cloud Shell instead of IMDS; `createManagedIdentityCredential` refuses to
 *   build a credential when one of them is set together with an IMDS override.
 */
import { ManagedIdentityCredential } from '@azure/identity'
import type { TokenCredential } from '@azure/identity'
import { DEFAULT_IMDS_ENDPOINT } from './endpoints.js'
import type { ErrorCode } from '../errors.js'

/** Environment variables that move msal-node away from IMDS (checked before building). */
export const CONFLICTING_IDENTITY_VARIABLES = [
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'IDENTITY_SERVER_THUMBPRINT',
  'IMDS_ENDPOINT',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'AZURE_FEDERATED_TOKEN_FILE',
] as const

/** Which identity, and which IMDS to get its tokens from. */
export interface ManagedIdentityOptions {
  /** Client id of a user-assigned identity (`azure.identityClientId`); omit for system-assigned. */
  clientId?: string
  /** IMDS origin (`azureEndpointsFromEnv().imds`); default the real IMDS. */
  imdsEndpoint?: string
  /**
   * Retries inside the credential for one token request (404/410 while an identity is being
   * assigned, 5xx, 429). Default 2. Callers with their own backoff (the sets refresher) and tests
   * pass 0 so a failing IMDS surfaces at once instead of after the SDK's ~25 s of retries.
   */
  maxRetries?: number
  /** Environment to read and, when overriding IMDS, to write; default `process.env`. */
  env?: NodeJS.ProcessEnv
}

/** Thrown when the credential could not be pointed at the requested IMDS. */
export class CredentialSetupError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_AZURE_CREDENTIAL'
  constructor(message: string) {
    super(message)
    this.name = 'CredentialSetupError'
  }
}

/**
 * Builds the `ManagedIdentityCredential`: user-assigned when `clientId` is given, else
 * system-assigned. Never contacts IMDS itself (no probe request is sent; the first token request
 * happens when a client first needs a token). Throws `CredentialSetupError` when another managed
 * identity variable would send token requests somewhere other than `imdsEndpoint`.
 */
export function createManagedIdentityCredential(options: ManagedIdentityOptions = {}): TokenCredential {
  const env = options.env ?? process.env
  const endpoint = options.imdsEndpoint ?? DEFAULT_IMDS_ENDPOINT
  const overridden = endpoint !== DEFAULT_IMDS_ENDPOINT
  if (overridden) {
    const conflicts = CONFLICTING_IDENTITY_VARIABLES.filter((name) => env[name])
    if (conflicts.length > 0) {
      throw new CredentialSetupError(
        `managed identity tokens must come from ${endpoint}, but ${conflicts.join(', ')} ${conflicts.length > 1 ? 'are' : 'is'} set and would select another identity source; unset ${conflicts.length > 1 ? 'them' : 'it'}`,
      )
    }
    env.AZURE_POD_IDENTITY_AUTHORITY_HOST = endpoint
  }
  const retryOptions = { maxRetries: options.maxRetries ?? 2, retryDelayInMs: 500, maxRetryDelayInMs: 5000 }
  return options.clientId
    ? new ManagedIdentityCredential({ clientId: options.clientId, retryOptions })
    : new ManagedIdentityCredential({ retryOptions })
}

/** How a credential is described in messages: `managed identity <clientId>` or `the system-assigned managed identity`. */
export function describeIdentity(clientId: string | undefined): string {
  return clientId ? `the managed identity ${clientId}` : "this scale set's system-assigned managed identity"
}

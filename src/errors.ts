/**
 * Every error code fwdd raises, with what it means (as fastify's `FST_ERR_*`). Messages are
 * lowercase, say what was being done and with what, and keep `cause` (and a command's stderr in the
 * message). Code that must tell errors apart uses the `is*` guards below, never the message text.
 */
export const ERROR_CODES = {
  FWD_ERR_IPTABLES_SAVE: 'reading the kernel rule set failed',
  FWD_ERR_IPTABLES_RESTORE: 'writing the rule set failed; the previous rules stay in place',
  FWD_ERR_NFT_READ: 'reading the nftables table failed',
  FWD_ERR_NFT_APPLY: 'writing the nftables table failed; the previous rules stay in place',
  FWD_ERR_CONNTRACK: 'listing or deleting conntrack entries failed',
  FWD_ERR_SYSCTL: 'reading or setting a kernel setting failed',
  FWD_ERR_SPAWN: 'a program could not be started (missing, not executable, or out of file descriptors)',
  FWD_ERR_DAEMON_UNREACHABLE: 'the control socket did not answer',
  FWD_ERR_STATE_DIR: 'the state directory could not be written',
  FWD_ERR_USAGE: 'a wrong command line (fwdd or fwdctl exit 64)',
  FWD_ERR_CONTROL_REPLY: 'the daemon answered on the control socket, but not what was asked for',
  FWD_ERR_USER_DATA: 'a cloud-init template or package URL cannot make valid user-data',
  FWD_ERR_AZURE_ENDPOINT: 'FWDD_ARM_ENDPOINT or FWDD_IMDS_ENDPOINT is not a usable URL',
  FWD_ERR_AZURE_CREDENTIAL: 'the managed identity credential could not be pointed at the IMDS asked for',
  FWD_ERR_RESOURCE_ID: 'a string is not an Azure resource id, or not of the expected type',
  FWD_ERR_IMDS: 'an Instance Metadata Service request failed (no answer, a non-2xx status, or a body of the wrong shape)',
  FWD_ERR_AZURE_INVALID_RESPONSE: 'ARM answered with a body that is not what it documents; the set it would give is not used',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** An error with a code from ERROR_CODES. */
export class FwdError extends Error {
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FwdError'
  }
}

/** Whether a caught value is a FwdError (of `code`, when given). */
export function isFwdError(err: unknown, code?: ErrorCode): err is FwdError {
  return err instanceof FwdError && (code === undefined || err.code === code)
}

/**
 * The catalogue code of a caught value: FwdError's, or that of the other error classes (SpawnError,
 * UsageError, the Azure and control-socket errors), which keep their own names and messages and
 * carry a `code` from ERROR_CODES. Undefined for anything else (an errno code is not ours).
 */
export function errorCodeOf(err: unknown): ErrorCode | undefined {
  if (!(err instanceof Error) || !('code' in err) || typeof err.code !== 'string') return undefined
  return Object.hasOwn(ERROR_CODES, err.code) ? (err.code as ErrorCode) : undefined
}

/** Whether a caught value says a process could not start (the runner's SpawnError, or EMFILE/ENOENT from spawn). */
export function isSpawnError(err: unknown): boolean {
  if (isFwdError(err, 'FWD_ERR_SPAWN')) return true
  return err instanceof Error && (err.name === 'SpawnError' || /^spawn /.test(err.message))
}

/** Which step of a sync failed, for the sync health's error kinds: reading the kernel or writing it. */
export function syncErrorKind(err: unknown): 'read' | 'apply' {
  if (isFwdError(err, 'FWD_ERR_IPTABLES_SAVE') || isFwdError(err, 'FWD_ERR_NFT_READ') || isSpawnError(err)) return 'read'
  return 'apply'
}

/** Narrows an unknown caught value to its message. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

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

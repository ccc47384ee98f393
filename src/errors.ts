/**
 * Every error code fwdd raises, with what it means. Messages are lowercase, say what was being done
 * and with what, and keep `cause` (and a command's stderr in the message).
 */
export const ERROR_CODES = {
  FWD_ERR_CONFIG_INVALID: 'the config has problems; nothing was changed',
  FWD_ERR_IPTABLES_SAVE: 'reading the kernel rule set failed',
  FWD_ERR_IPTABLES_RESTORE: 'writing the rule set failed; the previous rules stay in place',
  FWD_ERR_CONNTRACK: 'deleting conntrack entries failed',
  FWD_ERR_SYSCTL: 'reading or setting a kernel setting failed',
  FWD_ERR_CONTROL: 'the control socket could not be served or reached',
  FWD_ERR_DNS: 'resolving a target name failed; the last good addresses are kept',
  FWD_ERR_AZURE: 'reading an Azure resource failed; the last good set is kept',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** An error with a code from ERROR_CODES. */
export class FwdError extends Error {
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FwdError'
  }
}

/** Narrows an unknown caught value to its message. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export function isFwdError(err: unknown, code?: ErrorCode): err is FwdError {
  return err instanceof FwdError && (code === undefined || err.code === code)
}

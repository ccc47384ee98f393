/**
 * Every error code fwdd raises, with what it means. Messages are lowercase, say what was being done
 * and with what, and keep `cause` (and a command's stderr in the message).
 */
export const ERROR_CODES = {
  FWD_ERR_IPTABLES_SAVE: 'reading the kernel rule set failed',
  FWD_ERR_IPTABLES_RESTORE: 'writing the rule set failed; the previous rules stay in place',
  FWD_ERR_CONNTRACK: 'listing or deleting conntrack entries failed',
  FWD_ERR_SYSCTL: 'reading or setting a kernel setting failed',
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

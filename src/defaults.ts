/**
 * Default paths and the exit codes shared by `fwdd` and `fwdctl`. A leaf module (it imports
 * nothing), so the CLI gets its defaults without loading the daemon. The exit codes are a surface
 * (CONTRACT.md, docs/exit-codes.md): values may be added, never changed.
 */

export const DEFAULT_CONFIG = '/etc/fwdd/config.yaml'
export const DEFAULT_SOCKET = '/run/fwdd/fwdd.sock'
export const DEFAULT_STATE_DIR = '/var/lib/fwdd'

/** Every exit code either program returns, with what it means; docs/exit-codes.md is this table. */
export const EXIT = {
  /** Done; for `fwdctl status`: every listener serves and the rules are in sync. */
  ok: 0,
  /** `fwdctl status`: degraded. `fwdd --check`: invalid config. Other commands: the action failed. */
  failed: 1,
  /** fwdctl could not reach the daemon on the control socket. */
  unreachable: 2,
  /** `fwdctl reload`: the new config is in force, but some of it waits for a restart of fwdd. */
  restartNeeded: 3,
  /** Usage error: an unknown command or flag, a missing or stray argument (BSD sysexits EX_USAGE). */
  usage: 64,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

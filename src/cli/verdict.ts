/**
 * One line of `fwdctl doctor` (local and `--azure` checks share it): what was checked, whether it
 * passed, what was seen, and the fix when it did not pass.
 */
export interface Verdict {
  /** Short name of the check, e.g. `ip-forwarding`. */
  check: string
  ok: boolean
  /** `warn` passes (exit code stays 0) but is called out. */
  level?: 'ok' | 'warn' | 'fail'
  /** What was seen, one line. */
  detail: string
  /** What to do about it; required when `ok` is false. */
  fix?: string
}

/** Formats verdicts one per line (`PASS|WARN|FAIL  check: detail (fix: ...)`). */
export function formatVerdicts(verdicts: readonly Verdict[]): string {
  return verdicts
    .map((v) => {
      const word = !v.ok ? 'FAIL' : v.level === 'warn' ? 'WARN' : 'PASS'
      const fix = v.fix && (!v.ok || v.level === 'warn') ? ` (fix: ${v.fix})` : ''
      return `${word}  ${v.check}: ${v.detail}${fix}`
    })
    .join('\n')
}

/** Exit code for a doctor run: 0 when every check passed, 1 otherwise. */
export function verdictsExitCode(verdicts: readonly Verdict[]): number {
  return verdicts.every((v) => v.ok) ? 0 : 1
}

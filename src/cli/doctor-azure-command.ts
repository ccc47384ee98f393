/**
 * The `--azure` half of `fwdctl doctor`: builds the IMDS and ARM clients from the environment and
 * runs the checks against the live resources (src/azure/doctor.ts).
 */
import type { Config } from '../config/types.js'
import type { Verdict } from './verdict.js'

export async function runAzureDoctorChecks(config: Config | null, _env: NodeJS.ProcessEnv): Promise<Verdict[]> {
  if (!config) return [{ check: 'azure', ok: false, detail: 'the config is invalid, so the listeners to check are unknown', fix: 'fix the config first (fwdd --check)' }]
  return [{ check: 'azure', ok: false, detail: 'azure checks are not available in this build', fix: 'upgrade fwdd' }]
}

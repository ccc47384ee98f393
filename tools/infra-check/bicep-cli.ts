/**
 * The one place infra-check runs a program: the pinned Bicep CLI (tools/setup-bicep.sh installs
 * it at tools/bin/bicep; FWDD_BICEP overrides the path). Every call returns the CLI's exit code
 * and output; nothing is retried. Diagnostics are parsed from its `file(line,col) : Level CODE:`
 * lines, so callers can require zero errors and zero warnings.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root: the nearest directory above this file with bicepconfig.json (source or tools/dist). */
export const repoRoot = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'bicepconfig.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return dir
})()

/** A compiler or linter diagnostic. */
export interface BicepDiagnostic { file: string; line: number; column: number; level: string; code: string; message: string }

/** What one CLI call printed. */
export interface BicepRun { code: number; stdout: string; stderr: string; diagnostics: BicepDiagnostic[] }

/** Path of the CLI; throws with the fix when it is not installed. */
export function bicepPath(): string {
  const p = process.env.FWDD_BICEP ?? path.join(repoRoot, 'tools', 'bin', 'bicep')
  if (!existsSync(p)) throw new Error(`the Bicep CLI is not at ${p}: run tools/setup-bicep.sh (or set FWDD_BICEP)`)
  return p
}

const diagnosticLine = /^(.*)\((\d+),(\d+)\) : (Error|Warning|Info) ([^:]+): (.*)$/

/** Runs `bicep ARGS...` in `cwd`. */
export function runBicep(args: string[], cwd: string = repoRoot): BicepRun {
  const r = spawnSync(bicepPath(), args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', BICEP_TRACING_ENABLED: 'false' },
    maxBuffer: 256 * 1024 * 1024,
  })
  if (r.error) throw new Error(`running the Bicep CLI: ${r.error.message}`, { cause: r.error })
  const diagnostics: BicepDiagnostic[] = []
  for (const line of `${r.stdout}\n${r.stderr}`.split('\n')) {
    const m = diagnosticLine.exec(line.trim())
    if (m) diagnostics.push({ file: m[1] as string, line: Number(m[2]), column: Number(m[3]), level: m[4] as string, code: m[5] as string, message: m[6] as string })
  }
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, diagnostics }
}

/** `file(line,col) : Level CODE: message`, as the CLI prints it. */
export function formatDiagnostic(d: BicepDiagnostic): string {
  return `${d.file}(${d.line},${d.column}) : ${d.level} ${d.code}: ${d.message}`
}

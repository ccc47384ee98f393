/**
 * `npm run infra-check`: everything test/infra holds the templates to, for a developer at a
 * prompt. Builds and lints infra/main.bicep (and so every module), builds and lints every .bicepparam file (bicepconfig.json makes
 * every linter rule an error), builds every parameters file, and checks each example's snapshot
 * for listener agreement. Prints one line per problem; exit 0 clean, 1 problems, 2 no CLI.
 */
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { bicepPath, formatDiagnostic, repoRoot, runBicep } from './bicep-cli.js'
import { checkListenerAgreement } from './listener-agreement.js'
import { snapshotFile } from './snapshot.js'

/** Every file under `dir` whose name ends with `ext`, sorted. */
export function findFiles(dir: string, ext: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory() && !e.name.startsWith('.')) out.push(...findFiles(p, ext))
    else if (e.name.endsWith(ext)) out.push(p)
  }
  return out.sort()
}

/** Runs every check on `infraDir`; returns the problems (compiler lines and sentences). */
export function checkInfra(infraDir: string): string[] {
  const problems: string[] = []
  const cli = (args: string[]): void => {
    const r = runBicep(args)
    problems.push(...r.diagnostics.map(formatDiagnostic))
    if (r.code !== 0 && r.diagnostics.length === 0) problems.push(`bicep ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`)
  }
  // Linting main.bicep lints every module it uses (their diagnostics carry their own paths).
  cli(['build', path.join(infraDir, 'main.bicep'), '--stdout'])
  cli(['lint', path.join(infraDir, 'main.bicep')])
  for (const f of findFiles(infraDir, '.bicepparam')) {
    cli(['build-params', f, '--stdout'])
    cli(['lint', f])
  }
  for (const f of findFiles(path.join(infraDir, 'examples'), '.bicepparam')) {
    try {
      problems.push(...checkListenerAgreement(snapshotFile(f)).map((p) => `${path.relative(repoRoot, f)}: ${p}`))
    } catch (e) {
      problems.push(`${path.relative(repoRoot, f)}: ${(e as Error).message}`)
    }
  }
  return problems
}

/** The CLI; returns the exit code. */
export function main(argv: string[], out: (line: string) => void = console.log): number {
  const infraDir = path.resolve(argv[0] ?? path.join(repoRoot, 'infra'))
  try {
    bicepPath()
  } catch (e) {
    out(`infra-check: ${(e as Error).message}`)
    return 2
  }
  const problems = checkInfra(infraDir)
  for (const p of problems) out(p)
  out(`infra-check: ${problems.length} problem(s) in ${infraDir}`)
  return problems.length === 0 ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2))
}

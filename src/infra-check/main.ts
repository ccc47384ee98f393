/**
 * `node dist/infra-check/main.js [--types DIR] [FILE|DIR...]`: checks Bicep files against
 * Azure's type data and prints one `file:line:col: message` per problem.
 *
 * Defaults: every `.bicep` file under `infra/`, and the type data in `../shared/bicep-types`
 * (both relative to the working directory, which is the repository root in CI).
 * `main` returns the exit code (0 clean, 1 problems, 2 usage or I/O error); only the last line
 * of this file sets it, so tests can call `main` directly.
 */
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { formatDiagnostic } from './bicep-parser.js'
import { checkBicepFiles } from './check-types.js'
import { TypeIndex } from './type-index.js'

/** Every `.bicep` file under `dir`, sorted, so output order is stable. */
export function findBicepFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...findBicepFiles(p))
    else if (entry.name.endsWith('.bicep')) out.push(p)
  }
  return out.sort()
}

/** Runs the check; writes problems to `out` and returns the exit code. */
export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  let typesDir = path.resolve('..', 'shared', 'bicep-types')
  const targets: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--types') typesDir = path.resolve(argv[++i] ?? '')
    else targets.push(a)
  }
  try {
    const types = TypeIndex.load(typesDir)
    const files = (targets.length > 0 ? targets : ['infra']).flatMap((t) => (statSync(t).isDirectory() ? findBicepFiles(t) : [t]))
    const diagnostics = await checkBicepFiles(files, types)
    for (const d of diagnostics) out(formatDiagnostic(d))
    out(`${files.length} file(s) checked against ${typesDir}: ${diagnostics.length} problem(s)`)
    return diagnostics.length === 0 ? 0 : 1
  } catch (err: unknown) {
    out(`infra-check: ${err instanceof Error ? err.message : String(err)}`)
    return 2
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2))
}

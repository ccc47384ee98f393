/**
 * What a deployment of `infra/main.bicep` would create for given parameters: every deployed
 * resource of the main file and of its local modules, with bodies evaluated (see evaluate.ts).
 * Tests read this instead of the template text, so they judge the result, not the spelling.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { declarationParts, literalString } from './bicep-syntax.js'
import { Evaluator, loadProgram, type EvaluatedResource, type Value } from './evaluate.js'

/** A deployed resource and the file (main or module) that declares it. */
export interface DeployedResource extends EvaluatedResource {
  file: string
}

/** The evaluated deployment: main's parameter values and every deployed resource. */
export interface Deployment {
  main: Evaluator
  resources: DeployedResource[]
}

/** Reads an ARM deployment parameters file (`{"parameters": {"x": {"value": ...}}}`). */
export function readParametersFile(file: string): Record<string, Value> {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { parameters?: Record<string, { value?: Value }> }
  const out: Record<string, Value> = {}
  for (const [k, v] of Object.entries(doc.parameters ?? {})) if (v.value !== undefined) out[k] = v.value
  return out
}

/** Evaluates `mainFile` and its deployed local modules (one level, as `infra/` is laid out). */
export async function evaluateDeployment(mainFile: string, parameters: Record<string, Value>): Promise<Deployment> {
  const main = new Evaluator(await loadProgram(mainFile), parameters)
  const resources: DeployedResource[] = main.resources().map((r) => ({ ...r, file: mainFile }))
  for (const [name, decl] of main.program.modules) {
    const rel = literalString(declarationParts(decl)?.target ?? decl)
    if (rel === undefined || !main.isDeployed(decl)) continue
    const file = path.resolve(path.dirname(mainFile), rel)
    const module = new Evaluator(await loadProgram(file), main.moduleParams(name))
    resources.push(...module.resources().map((r) => ({ ...r, file })))
  }
  return { main, resources }
}

/** The deployed resources of a type (compared case-insensitively, as ARM does). */
export function resourcesOfType(d: Deployment, type: string): DeployedResource[] {
  return d.resources.filter((r) => r.type.toLowerCase() === type.toLowerCase())
}

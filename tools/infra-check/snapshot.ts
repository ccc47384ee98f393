/**
 * What a deployment would create, from the Bicep compiler itself: `bicep snapshot` of a
 * `.bicepparam` file gives every predicted resource, modules expanded and loops unrolled, with
 * values known before deployment filled in. What only the deployment knows (the identity's client
 * ID, say) stays an ARM expression; `evaluateDeep` fills it from stand-ins, so the checks can
 * read the fwdd config in userData as a node would get it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { evaluateDeep, type Json, type References } from './arm-expression.js'
import { formatDiagnostic, runBicep } from './bicep-cli.js'

/** A predicted resource, expressions evaluated. */
export interface PredictedResource { type: string; name: string; id: string; [k: string]: Json }

/** Subscription, group and location the snapshot pretends to deploy to. */
export const snapshotTarget = {
  subscriptionId: '00000000-0000-0000-0000-0000000000aa',
  resourceGroup: 'fwdd-check',
  location: 'westeurope',
}

/** The stand-in client ID of the forwarders' identity. */
export const standInClientId = '11111111-2222-4333-8444-555555555555'

function standIns(resources: Json[]): References {
  const refs: References = {}
  for (const r of resources as Record<string, Json>[]) {
    if (String(r.type).toLowerCase() === 'microsoft.managedidentity/userassignedidentities') {
      refs[String(r.id)] = { clientId: standInClientId, principalId: '66666666-7777-4888-8999-000000000000' }
    }
  }
  return refs
}

/**
 * Snapshots `paramsText` (a .bicepparam body whose `using` names a file relative to `dir`),
 * writing it into `dir` for the call and removing it afterwards. Throws with the compiler's
 * diagnostics when it fails.
 */
export function snapshotParams(dir: string, paramsText: string): PredictedResource[] {
  const work = mkdtempSync(path.join(dir, '.snapshot-'))
  try {
    const file = path.join(work, 'check.bicepparam')
    writeFileSync(file, paramsText.replace(/^using '(.*)'$/m, (_m, p: string) => `using '${path.relative(work, path.resolve(dir, p))}'`))
    const t = snapshotTarget
    const run = runBicep(['snapshot', file, '--mode', 'overwrite', '--subscription-id', t.subscriptionId, '--resource-group', t.resourceGroup, '--location', t.location])
    if (run.code !== 0) throw new Error(`bicep snapshot failed:\n${run.diagnostics.map(formatDiagnostic).join('\n') || run.stderr}`)
    const snap = JSON.parse(readFileSync(path.join(work, 'check.snapshot.json'), 'utf8')) as { predictedResources: Json[] }
    const refs = standIns(snap.predictedResources)
    return snap.predictedResources.map((r) => evaluateDeep(r, refs) as PredictedResource)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Snapshot of an existing .bicepparam file (its `using` is resolved relative to it). */
export function snapshotFile(file: string): PredictedResource[] {
  return snapshotParams(path.dirname(file), readFileSync(file, 'utf8'))
}

/** The predicted resources of a type (compared case-insensitively, as ARM does). */
export function ofType(resources: PredictedResource[], type: string): PredictedResource[] {
  return resources.filter((r) => r.type.toLowerCase() === type.toLowerCase())
}

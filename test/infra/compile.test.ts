// The real Bicep compiler (tools/setup-bicep.sh installs the pinned CLI; a missing CLI fails
// here): infra/main.bicep builds and lints with every module, every parameters file builds and
// lints, with bicepconfig.json making linter findings errors. Zero errors and zero warnings.
import t from 'tap'
import path from 'node:path'
import { formatDiagnostic, runBicep } from '../../tools/infra-check/bicep-cli.js'
import { findFiles } from '../../tools/infra-check/main.js'
import { infra } from '../helpers/infra.js'

t.setTimeout(600_000)

t.test('main.bicep builds and lints clean, modules included', async (t) => {
  const main = path.join(infra, 'main.bicep')
  for (const args of [['build', main, '--stdout'], ['lint', main]]) {
    const r = runBicep(args)
    t.same(r.diagnostics.map(formatDiagnostic), [], `bicep ${args[0]}: no diagnostics`)
    t.equal(r.code, 0, `bicep ${args[0]} exits 0`)
  }
  const arm = JSON.parse(runBicep(['build', main, '--stdout']).stdout) as { resources: Record<string, unknown> }
  t.ok(Object.keys(arm.resources).length >= 7, 'the ARM template has the modules')
})

t.test('every parameters file builds and lints clean', async (t) => {
  const files = findFiles(infra, '.bicepparam')
  t.ok(files.length >= 2, `found ${files.length} parameters files`)
  for (const f of files) {
    for (const args of [['build-params', f, '--stdout'], ['lint', f]]) {
      const r = runBicep(args)
      t.same(r.diagnostics.map(formatDiagnostic), [], `${args[0]} ${path.basename(f)}: no diagnostics`)
      t.equal(r.code, 0, `${args[0]} ${path.basename(f)} exits 0`)
    }
  }
})

t.test('the compiler and the linter do fail: a mistake of each kind is reported', async (t) => {
  const dir = t.testdir({
    'bicepconfig.json': JSON.stringify({ analyzers: { core: { rules: { 'no-unused-params': { level: 'error' } } } } }),
    'bad.bicep': "param unused string\nresource v 'Microsoft.Network/virtualNetworks@2025-05-01' = {\n  name: 'v'\n  location: resourceGroup().location\n  properties: { adressSpace: {} }\n}\n",
  })
  const r = runBicep(['lint', path.join(dir, 'bad.bicep')])
  const codes = r.diagnostics.map((d) => d.code)
  t.ok(codes.includes('no-unused-params'), 'a linter finding')
  // A misspelt property is only a compiler warning (the CLI still exits 0): the tests above
  // fail on any diagnostic, whatever its level, which is what "0 warnings" rests on.
  t.ok(codes.includes('BCP089'), 'a misspelt property, from Azure\'s type data')
})

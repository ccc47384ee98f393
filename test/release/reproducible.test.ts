/**
 * The .deb is reproducible from the lock file: two clean builds of one commit, in different
 * directories, with different umasks, time zones and locales, give the same bytes. When they do
 * not, the failure names the ar member and, inside it, every tar entry whose metadata or content
 * differs (path, mode, owner, size, mtime, sha256), so the cause is found without rerunning.
 * Every npm package bundled into /usr/lib/fwdd/bin (as the package's copyright lists them) is at
 * the version package-lock.json pins. No network traffic.
 */
import t from 'tap'
import { execa } from 'execa'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/daemon.js'

t.setTimeout(900_000) // two package builds on a shared two-core machine

const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

/** One build in its own clean directory, with `umask`, TZ and LANG varied. */
async function build(out: string, umask: string, tz: string, lang: string): Promise<string> {
  const r = await execa('sh', ['-c', `umask ${umask} && exec node tools/release/build.mjs`], {
    cwd: ROOT, env: { FWDD_RELEASE_DIR: out, TZ: tz, LANG: lang, LC_ALL: lang }, reject: false,
  })
  if (r.exitCode !== 0) throw new Error(`build failed: ${r.stderr}`)
  return r.stdout.trim()
}

/** The ar members of a .deb: name -> bytes. */
async function arMembers(deb: string, dir: string): Promise<Map<string, Buffer>> {
  const names = (await execa('ar', ['t', deb])).stdout.split('\n').filter(Boolean)
  await execa('ar', ['x', `--output=${dir}`, deb])
  const m = new Map<string, Buffer>()
  for (const n of names) m.set(n, await readFile(join(dir, n)))
  return m
}

/** Each entry of a tar member: path -> "mode owner size mtime sha256" (tar's verbose line + content hash). */
async function tarEntries(member: string): Promise<Map<string, string>> {
  const listing = (await execa('tar', ['--numeric-owner', '--full-time', '-tvf', member], { env: { TZ: 'UTC' } })).stdout.split('\n').filter(Boolean)
  const entries = new Map<string, string>()
  for (const line of listing) {
    const path = line.split(/\s+/).slice(5).join(' ')
    const content = path.endsWith('/') ? '' : (await execa('tar', ['-xOf', member, path], { encoding: 'buffer' })).stdout
    entries.set(path, `${line.split(/\s+/).slice(0, 5).join(' ')} sha256:${createHash('sha256').update(content).digest('hex').slice(0, 16)}`)
  }
  return entries
}

const a = await mkdtemp(join(tmpdir(), 'fwdd-repro-a-'))
const b = await mkdtemp(join(tmpdir(), 'fwdd-repro-b-'))
t.teardown(() => Promise.all([rm(a, { recursive: true, force: true }), rm(b, { recursive: true, force: true })]))
const [debA, debB] = await Promise.all([build(a, '022', 'UTC', 'C.UTF-8'), build(b, '002', 'Pacific/Auckland', 'C')])

/** What differs between two .debs: each differing ar member and, inside a tar member, each entry. */
async function describeDifference(debA: string, debB: string, work: string): Promise<string[]> {
  await mkdir(join(work, 'a'), { recursive: true })
  await mkdir(join(work, 'b'), { recursive: true })
  const ma = await arMembers(debA, join(work, 'a'))
  const mb = await arMembers(debB, join(work, 'b'))
  const differences: string[] = []
  if ([...ma.keys()].join() !== [...mb.keys()].join()) differences.push(`ar members: ${[...ma.keys()].join(',')} vs ${[...mb.keys()].join(',')}`)
  for (const [name, content] of ma) {
    const other = mb.get(name)
    if (!other || content.equals(other)) continue
    if (!name.includes('.tar')) { differences.push(`${name} differs`); continue }
    const ea = await tarEntries(join(work, 'a', name))
    const eb = await tarEntries(join(work, 'b', name))
    const paths = new Set([...ea.keys(), ...eb.keys()])
    const inside = [...paths].filter((p) => ea.get(p) !== eb.get(p)).map((p) => `  ${p}: ${ea.get(p) ?? '(absent)'} vs ${eb.get(p) ?? '(absent)'}`)
    if ([...ea.keys()].join() !== [...eb.keys()].join() && inside.length === 0) inside.push('  the same entries in a different order')
    differences.push(`${name} differs${inside.length ? `:\n${inside.join('\n')}` : ' (same entries: the compressor\'s output differs)'}`)
  }
  return differences
}

t.test('two clean builds give identical bytes', async (t) => {
  t.equal(debA, join(a, `fwdd_${version}_amd64.deb`))
  const bytesA = await readFile(debA)
  const bytesB = await readFile(debB)
  if (bytesA.equals(bytesB)) {
    t.pass(`identical: ${bytesA.length} bytes, sha256 ${createHash('sha256').update(bytesA).digest('hex')}`)
    return
  }
  t.fail(`the two builds differ:\n${(await describeDifference(debA, debB, join(a, 'diff'))).join('\n')}`)
})

t.test('a difference is reported by member and entry', async (t) => {
  // A copy of build A whose control member has one script changed by a byte and one mtime moved:
  // the report must name both entries of control.tar.gz and nothing else.
  const work = join(b, 'doctored')
  await mkdir(join(work, 'ctl'), { recursive: true })
  await execa('ar', ['x', `--output=${work}`, debA, 'control.tar.gz'])
  await execa('tar', ['-xzf', join(work, 'control.tar.gz'), '-C', join(work, 'ctl')])
  await writeFile(join(work, 'ctl/postinst'), (await readFile(join(work, 'ctl/postinst'), 'utf8')).replace('exit 0\n', 'exit  0\n'))
  await execa('touch', ['-d', '@0', join(work, 'ctl/md5sums')])
  await execa('sh', ['-c', `tar --owner=0 --group=0 --numeric-owner --no-recursion -C ctl -cf - ${['.', './control', './md5sums', './postinst', './postrm', './prerm'].join(' ')} | gzip -n > control.tar.gz`], { cwd: work })
  const doctored = join(work, 'doctored.deb')
  await writeFile(doctored, await readFile(debA))
  await execa('ar', ['r', doctored, join(work, 'control.tar.gz')])
  const report = await describeDifference(debA, doctored, join(work, 'diff'))
  t.equal(report.length, 1, `one member differs: ${report.join(' / ')}`)
  t.match(report[0], /^control\.tar\.gz differs:\n/)
  t.match(report[0], /\.\/postinst: .* vs .*sha256/, 'names the changed script')
  t.match(report[0], /\.\/md5sums: .*1970-01-01/, 'names the moved mtime')
  t.notMatch(report[0], /\.\/control:/, 'and not the unchanged entries')
})

t.test('the bundled packages are the versions package-lock.json pins', async (t) => {
  // build.mjs writes the copyright from esbuild's own list of the bundle's inputs.
  const copyright = (await execa('sh', ['-c', `dpkg-deb --fsys-tarfile '${debA}' | tar -xO ./usr/share/doc/fwdd/copyright`])).stdout
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean }> }
  const bundled = [...copyright.matchAll(/^ ((?:@[\w.-]+\/)?[\w.-]+) (\d[^\s]*) \(/gm)].map((m) => [m[1]!, m[2]!] as const)
  t.ok(bundled.length > 20, `the copyright lists the bundled packages (${bundled.length})`)
  for (const [name, v] of bundled) {
    const locked = lock.packages[`node_modules/${name}`]
    t.equal(v, locked?.version, `${name} is bundled at the locked version`)
    t.notOk(locked?.dev, `${name} is a production dependency, not a dev one`)
  }
})

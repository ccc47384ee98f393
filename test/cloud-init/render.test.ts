/**
 * The cloud-init user-data: `renderUserData`, `fwdctl cloud-init`, and the template itself. The
 * rendered output is checked by cloud-init's own `cloud-init schema --config-file` (installed by
 * .ci/run; a missing cloud-init fails the test), and its embedded files are compared byte for byte
 * with the package's systemd/ files, so the template cannot drift from them.
 *
 * Test address plan: addresses in configs are from 198.18.0.0/15; nothing is sent anywhere.
 */
import t from 'tap'
import { execa } from 'execa'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { CONFIG_B64_PLACEHOLDER, TARBALL_URL_PLACEHOLDER, UserDataError, defaultTemplatePath, renderUserData } from '../../src/cloud-init/render.js'
import { cloudInitCommand, type CloudInitIo } from '../../src/cli/cloud-init-command.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const templatePath = join(root, 'cloud-init/user-data.yaml')

const CONFIG = `health:
  port: 8080
sources: [198.18.0.0/24]
listeners:
  - name: web
    port: 8000
    targets:
      - host: 198.18.1.2
        port: 80
`
/** A SAS-style URL: query, ampersands, percent-escapes and a `$&` that String.replace would expand. */
const URL_SAS = 'https://fwddrelease.blob.core.windows.net/rel/fwdd-0.1.0.tgz?sv=2022-11-02&sr=b&sig=ab%2Bc%3D&x=$&y=$1'

/** Which repo file is embedded at which node path. */
const EMBEDDED: Array<[nodePath: string, repoFile: string]> = [
  ['/etc/systemd/system/fwdd.service', 'systemd/fwdd.service'],
  ['/etc/sysctl.d/60-fwdd.conf', 'systemd/fwdd-sysctl.conf'],
  ['/etc/modules-load.d/fwdd.conf', 'systemd/fwdd-modules.conf'],
  ['/etc/sysusers.d/fwdd.conf', 'systemd/fwdd-sysusers.conf'],
]

interface WriteFile { path: string; content: string; encoding?: string; permissions?: string; owner?: string }
interface CloudConfig {
  packages: string[]
  package_update: boolean
  apt: { preserve_sources_list: boolean; sources: Record<string, { source: string; key: string }> }
  write_files: WriteFile[]
  runcmd: Array<string | string[]>
}

async function schemaCheck(text: string): Promise<{ exitCode: number; out: string }> {
  const which = await execa('sh', ['-c', 'command -v cloud-init'], { reject: false })
  if (which.exitCode !== 0) throw new Error('cloud-init is missing: apt-get install -y cloud-init (see .ci/run)')
  const dir = await mkdtemp(join(tmpdir(), 'fwdd-ud-'))
  try {
    const file = join(dir, 'user-data.yaml')
    await writeFile(file, text)
    const r = await execa('cloud-init', ['schema', '--config-file', file], { reject: false })
    return { exitCode: r.exitCode ?? -1, out: `${r.stdout}\n${r.stderr}` }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const runcmdText = (c: CloudConfig): string[] => c.runcmd.map((x) => (Array.isArray(x) ? x.join(' ') : x))

t.test('the shipped template is where renderUserData looks, and valid cloud-config as it stands', async (t) => {
  t.equal(defaultTemplatePath, templatePath)
  const template = await readFile(templatePath, 'utf8')
  t.ok(template.startsWith('#cloud-config\n'))
  t.equal(template.split(TARBALL_URL_PLACEHOLDER).length - 1, 1, 'one tarball URL placeholder')
  t.equal(template.split(CONFIG_B64_PLACEHOLDER).length - 1, 1, 'one config placeholder')
  t.same(template.match(/\{\{[A-Z0-9_]+\}\}/g)?.sort(), [CONFIG_B64_PLACEHOLDER, TARBALL_URL_PLACEHOLDER].sort(), 'no other placeholders')
  // Bicep fills the placeholders with replace(); the template must parse before that, too.
  const r = await schemaCheck(template)
  t.equal(r.exitCode, 0, r.out)
})

t.test('rendered user-data passes cloud-init schema and holds config, unit, sysctl and the enable step', async (t) => {
  const text = renderUserData({ configText: CONFIG, tarballUrl: URL_SAS })
  const r = await schemaCheck(text)
  t.equal(r.exitCode, 0, r.out)
  t.match(r.out, /Valid cloud-config/)

  const c = parse(text) as CloudConfig
  const file = (p: string): WriteFile | undefined => c.write_files.find((f) => f.path === p)

  const cfg = file('/etc/fwdd/config.yaml')
  t.equal(cfg?.encoding, 'b64')
  t.equal(Buffer.from(cfg?.content ?? '', 'base64').toString('utf8'), CONFIG, 'the config, byte for byte')

  for (const [nodePath, repoFile] of EMBEDDED) {
    const want = await readFile(join(root, repoFile), 'utf8')
    t.equal(file(nodePath)?.content, want, `${nodePath} is ${repoFile} byte for byte (copy it into cloud-init/user-data.yaml when it changes)`)
  }

  t.same([...c.packages].sort(), ['conntrack', 'iptables', 'nodejs'])
  t.equal(c.package_update, true)
  t.equal(c.apt.preserve_sources_list, true, 'the image\'s Ubuntu sources and mirror stay as they are')
  const ns = c.apt.sources['nodesource.list']
  t.match(ns?.source, /^deb \[signed-by=\$KEY_FILE\] https:\/\/deb\.nodesource\.com\/node_22\.x nodistro main$/)

  const cmds = runcmdText(c)
  const at = (re: RegExp): number => cmds.findIndex((s) => re.test(s))
  const sysusers = at(/^systemd-sysusers \/etc\/sysusers\.d\/fwdd\.conf$/)
  const sysctl = at(/^systemctl restart systemd-modules-load\.service systemd-sysctl\.service$/)
  const install = at(/npm install --global --prefix \/usr /)
  const enable = at(/^systemctl enable --now fwdd\.service$/)
  t.ok(sysusers >= 0 && sysctl >= 0 && install >= 0 && enable >= 0, `all steps present: ${JSON.stringify(cmds)}`)
  t.ok(sysusers < enable && sysctl < enable && install < enable, 'user, kernel settings and package come before the service starts')
  const installCmd = c.runcmd[install]
  t.ok(Array.isArray(installCmd) && installCmd.at(-1) === URL_SAS, 'the URL is passed as an argument, verbatim, never spliced into shell code')
})

t.test('the NodeSource key is the one with NodeSource\'s published fingerprint', async (t) => {
  const c = parse(renderUserData({ configText: CONFIG, tarballUrl: URL_SAS })) as CloudConfig
  const key = c.apt.sources['nodesource.list']?.key ?? ''
  const home = await mkdtemp(join(tmpdir(), 'fwdd-gpg-'))
  t.teardown(() => rm(home, { recursive: true, force: true }))
  const r = await execa('gpg', ['--homedir', home, '--show-keys', '--with-colons'], { input: key, reject: false })
  if (r.exitCode === undefined) throw new Error('gpg is missing: apt-get install -y gnupg (see .ci/run)')
  t.equal(r.exitCode, 0, r.stderr)
  const fpr = r.stdout.split('\n').find((l) => l.startsWith('fpr:'))?.split(':')[9]
  t.equal(fpr, '6F71F525282841EEDAF851B42F59B5F99B1BE0B4')
})

t.test('customData stays far under Azure\'s 64 KiB limit with a large config', async (t) => {
  const listeners = Array.from({ length: 40 }, (_, i) => `  - name: l${i}\n    port: ${8000 + i}\n    targets:\n      - host: 198.18.1.2\n        port: ${9000 + i}\n      - host: 198.18.2.2\n        port: ${9000 + i}\n`).join('')
  const text = renderUserData({ configText: `listeners:\n${listeners}`, tarballUrl: URL_SAS })
  t.ok(Buffer.from(text).toString('base64').length < 48 * 1024, `base64 size ${Buffer.from(text).toString('base64').length}`)
})

t.test('renderUserData refuses what cannot make valid user-data', async (t) => {
  const template = await readFile(templatePath, 'utf8')
  for (const url of ['not a url', 'ftp://host/fwdd.tgz', 'file:///tmp/fwdd.tgz', 'https://host/a"b.tgz', 'https://host/a\\b.tgz', 'https://host/a\nb']) {
    t.throws(() => renderUserData({ configText: CONFIG, tarballUrl: url, template }), UserDataError, `refuses ${JSON.stringify(url)}`)
  }
  t.throws(() => renderUserData({ configText: CONFIG, tarballUrl: URL_SAS, template: template.replace(CONFIG_B64_PLACEHOLDER, 'x') }), UserDataError, 'missing placeholder')
  t.throws(() => renderUserData({ configText: CONFIG, tarballUrl: URL_SAS, template: `${template}# {{FWDD_OTHER}}\n` }), UserDataError, 'unknown placeholder')
  t.equal(renderUserData({ configText: CONFIG, tarballUrl: URL_SAS, template }), renderUserData({ configText: CONFIG, tarballUrl: URL_SAS }), 'default template is the shipped one')
})

function fakeIo(files: Record<string, string>): CloudInitIo & { out: string[]; err: string[]; written: Map<string, string> } {
  const out: string[] = []
  const err: string[] = []
  const written = new Map<string, string>()
  return {
    out,
    err,
    written,
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    readFile: async (p) => {
      const f = files[p]
      if (f === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' })
      return f
    },
    writeFile: async (p, d) => void written.set(p, d),
  }
}

t.test('fwdctl cloud-init prints or writes the user-data for a valid config', async (t) => {
  const io = fakeIo({ '/cfg.yaml': CONFIG })
  t.equal(await cloudInitCommand(['--config', '/cfg.yaml', '--tarball-url', URL_SAS], io), 0, io.err.join(''))
  t.equal(io.out.join(''), renderUserData({ configText: CONFIG, tarballUrl: URL_SAS }))
  t.same(io.err, [])

  const io2 = fakeIo({ '/cfg.yaml': CONFIG })
  t.equal(await cloudInitCommand(['--config', '/cfg.yaml', '--tarball-url', URL_SAS, '--output', '/out.yaml'], io2), 0)
  t.equal(io2.written.get('/out.yaml'), renderUserData({ configText: CONFIG, tarballUrl: URL_SAS }))
  t.same(io2.out, [], 'nothing on stdout when writing a file')
})

t.test('fwdctl cloud-init refuses a bad config, bad usage and a bad URL, writing nothing', async (t) => {
  const bad = 'listeners:\n  - name: Web!\n    port: 8000\n    targetz: []\n'
  const io = fakeIo({ '/bad.yaml': bad })
  t.equal(await cloudInitCommand(['--config', '/bad.yaml', '--tarball-url', URL_SAS, '--output', '/out.yaml'], io), 1)
  t.match(io.err.join(''), /^\/bad\.yaml:\d+:\d+: /m, 'problems as PATH:LINE:COL, like fwdd --check')
  t.equal(io.written.size, 0)
  t.same(io.out, [])

  const missing = fakeIo({})
  t.equal(await cloudInitCommand(['--config', '/nope.yaml', '--tarball-url', URL_SAS], missing), 1)
  t.match(missing.err.join(''), /\/nope\.yaml:1:1: .*ENOENT/)

  for (const args of [[], ['--config', '/cfg.yaml'], ['--tarball-url', URL_SAS], ['--config', '/cfg.yaml', '--tarball-url', URL_SAS, '--bogus'], ['stray']]) {
    const u = fakeIo({ '/cfg.yaml': CONFIG })
    t.equal(await cloudInitCommand(args, u), 2, `usage error for ${JSON.stringify(args)}`)
    t.match(u.err.join(''), /usage: fwdctl cloud-init/)
  }

  const badUrl = fakeIo({ '/cfg.yaml': CONFIG })
  t.equal(await cloudInitCommand(['--config', '/cfg.yaml', '--tarball-url', 'ftp://x/y.tgz'], badUrl), 2)
  t.match(badUrl.err.join(''), /http\(s\)/)

  const help = fakeIo({})
  t.equal(await cloudInitCommand(['--help'], help), 0)
  t.match(help.out.join(''), /usage: fwdctl cloud-init/)
})

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
import { CONFIG_B64_PLACEHOLDER, DEB_URL_PLACEHOLDER, UserDataError, defaultTemplatePath, renderUserData } from '../../src/cloud-init/render.js'
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
const URL_SAS = 'https://fwddrelease.blob.core.windows.net/rel/fwdd_0.1.0_amd64.deb?sv=2022-11-02&sr=b&sig=ab%2Bc%3D&x=$&y=$1'

/** Which repo file is embedded at which node path. */
const EMBEDDED: Array<[nodePath: string, repoFile: string]> = [
  ['/etc/systemd/system/fwdd.service.d/imds.conf', 'systemd/fwdd-imds.conf'],
]

interface WriteFile { path: string; content: string; encoding?: string; permissions?: string; owner?: string }
interface CloudConfig {
  packages?: string[]
  apt?: unknown
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
  t.equal(template.split(DEB_URL_PLACEHOLDER).length - 1, 1, 'one package URL placeholder')
  t.equal(template.split(CONFIG_B64_PLACEHOLDER).length - 1, 1, 'one config placeholder')
  t.same(template.match(/\{\{[A-Z0-9_]+\}\}/g)?.sort(), [CONFIG_B64_PLACEHOLDER, DEB_URL_PLACEHOLDER].sort(), 'no other placeholders')
  // Bicep fills the placeholders with replace(); the template must parse before that, too.
  const r = await schemaCheck(template)
  t.equal(r.exitCode, 0, r.out)
})

t.test('rendered user-data passes cloud-init schema and holds config, unit, sysctl and the enable step', async (t) => {
  const text = renderUserData({ configText: CONFIG, debUrl: URL_SAS })
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

  t.equal(c.packages, undefined, 'no packages from anywhere but the one .deb (its Depends come from the image\'s sources)')
  t.equal(c.apt, undefined, 'no extra apt sources or keys (NodeSource is gone)')
  t.notMatch(text, /deb\.nodesource|npm install|registry\.npmjs/i, 'nothing fetched from NodeSource or npm')

  t.equal(c.runcmd.length, 1, 'one step: download and install the package (its postinst enables and starts fwdd)')
  const installCmd = c.runcmd[0]
  t.ok(Array.isArray(installCmd) && installCmd.at(-1) === URL_SAS, 'the URL is passed as an argument, verbatim, never spliced into shell code')
  t.match(String(Array.isArray(installCmd) ? installCmd[2] : ''), /curl -fsSL --proto =https[^\n]*"\$url"[\s\S]*apt-get install -y "\$deb"/)
})

t.test('customData stays far under Azure\'s 64 KiB limit with a large config', async (t) => {
  const listeners = Array.from({ length: 40 }, (_, i) => `  - name: l${i}\n    port: ${8000 + i}\n    targets:\n      - host: 198.18.1.2\n        port: ${9000 + i}\n      - host: 198.18.2.2\n        port: ${9000 + i}\n`).join('')
  const text = renderUserData({ configText: `listeners:\n${listeners}`, debUrl: URL_SAS })
  t.ok(Buffer.from(text).toString('base64').length < 48 * 1024, `base64 size ${Buffer.from(text).toString('base64').length}`)
})

t.test('renderUserData refuses what cannot make valid user-data', async (t) => {
  const template = await readFile(templatePath, 'utf8')
  for (const url of ['http://x/fwdd.deb', 'not a url', 'ftp://host/fwdd.tgz', 'file:///tmp/fwdd.tgz', 'https://host/a"b.tgz', 'https://host/a\\b.tgz', 'https://host/a\nb']) {
    t.throws(() => renderUserData({ configText: CONFIG, debUrl: url, template }), UserDataError, `refuses ${JSON.stringify(url)}`)
  }
  t.throws(() => renderUserData({ configText: CONFIG, debUrl: URL_SAS, template: template.replace(CONFIG_B64_PLACEHOLDER, 'x') }), UserDataError, 'missing placeholder')
  t.throws(() => renderUserData({ configText: CONFIG, debUrl: URL_SAS, template: `${template}# {{FWDD_OTHER}}\n` }), UserDataError, 'unknown placeholder')
  t.equal(renderUserData({ configText: CONFIG, debUrl: URL_SAS, template }), renderUserData({ configText: CONFIG, debUrl: URL_SAS }), 'default template is the shipped one')
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
  t.equal(await cloudInitCommand(['--config', '/cfg.yaml', '--deb-url', URL_SAS], io), 0, io.err.join(''))
  t.equal(io.out.join(''), renderUserData({ configText: CONFIG, debUrl: URL_SAS }))
  t.same(io.err, [])

  const io2 = fakeIo({ '/cfg.yaml': CONFIG })
  t.equal(await cloudInitCommand(['--config', '/cfg.yaml', '--deb-url', URL_SAS, '--output', '/out.yaml'], io2), 0)
  t.equal(io2.written.get('/out.yaml'), renderUserData({ configText: CONFIG, debUrl: URL_SAS }))
  t.same(io2.out, [], 'nothing on stdout when writing a file')
})

t.test('fwdctl cloud-init refuses a bad config, bad usage and a bad URL, writing nothing', async (t) => {
  const bad = 'listeners:\n  - name: Web!\n    port: 8000\n    targetz: []\n'
  const io = fakeIo({ '/bad.yaml': bad })
  t.equal(await cloudInitCommand(['--config', '/bad.yaml', '--deb-url', URL_SAS, '--output', '/out.yaml'], io), 1)
  t.match(io.err.join(''), /^\/bad\.yaml:\d+:\d+: /m, 'problems as PATH:LINE:COL, like fwdd --check')
  t.equal(io.written.size, 0)
  t.same(io.out, [])

  const missing = fakeIo({})
  t.equal(await cloudInitCommand(['--config', '/nope.yaml', '--deb-url', URL_SAS], missing), 1)
  t.match(missing.err.join(''), /\/nope\.yaml:1:1: .*ENOENT/)

  for (const args of [[], ['--config', '/cfg.yaml'], ['--deb-url', URL_SAS], ['--config', '/cfg.yaml', '--deb-url', URL_SAS, '--bogus'], ['stray']]) {
    const u = fakeIo({ '/cfg.yaml': CONFIG })
    t.equal(await cloudInitCommand(args, u), 64, `usage error for ${JSON.stringify(args)} exits 64 (EXIT.usage)`)
    t.same(u.out, [], 'nothing on stdout')
    t.match(u.err.join(''), /usage: fwdctl cloud-init/)
  }

  const badUrl = fakeIo({ '/cfg.yaml': CONFIG })
  t.equal(await cloudInitCommand(['--config', '/cfg.yaml', '--deb-url', 'ftp://x/y.tgz'], badUrl), 64, 'a --deb-url that cannot go into user-data is a bad value: 64')
  t.match(badUrl.err.join(''), /must be https/)

  const help = fakeIo({})
  t.equal(await cloudInitCommand(['--help'], help), 0)
  t.match(help.out.join(''), /usage: fwdctl cloud-init/)
})

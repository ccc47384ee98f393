/**
 * Upgrading the package on a node with live traffic breaks no established connection, and the
 * maintainer scripts do what operators expect at install, upgrade, remove and purge.
 *
 * What it does: builds v1 (package.json's version) and v2 (`<version>+upgrade1`) of the .deb,
 * installs v1 with `dpkg --root` into a temp root, and runs THAT root's daemon in the node
 * namespace with the command the installed unit's ExecStartPre/ExecStart give, resolved through
 * the installed /usr/bin/fwdd wrapper (its /usr/lib/fwdd and /etc/fwdd paths mapped into the
 * root; FWDD_SOCKET and FWDD_STATE_DIR stand in for the unit's RuntimeDirectory and
 * StateDirectory). A client holds one TCP connection through the forwarder to an echo server and
 * sends a numbered line every 100 ms. Then `dpkg --root -i v2` replaces the files under the running
 * daemon; the installed v2 postinst runs its upgrade path ("configure <v1>", without DPKG_ROOT) in
 * a private mount namespace where /run/systemd/system exists and systemctl, deb-systemd-invoke,
 * deb-systemd-helper, systemd-sysusers, systemd-modules-load and systemd-sysctl are stubs that
 * record their arguments; it must ask for exactly `try-restart fwdd.service`. The test then does
 * what systemd's try-restart does with this unit: SIGTERM, wait for the exit, ExecStartPre
 * (`fwdd --check`) and ExecStart from the new files. The held connection must lose no echo and
 * never reconnect, the new daemon must report v2, log that it adopted the rules it found
 * (fail-static adoption) and leave the rule set as it was, and /etc/fwdd/config.yaml must be
 * byte for byte the operator's.
 * The other scripts run the same way: install (enable, start only with a config), remove (stop;
 * the rules stay and forwarding goes on), purge (the real `fwdctl cleanup` from the copy prerm
 * kept removes every fwdd chain in the node namespace; config and state deleted).
 *
 * What it cannot show: systemd itself. No systemd runs as PID 1 here, so the test performs the
 * restart the unit describes rather than systemd performing it (KillMode, TimeoutStopSec, the
 * sandbox and User=fwdd are not exercised; test/systemd and test/integration/privileges.test.ts
 * cover the unit file and its privileges), and the deb-systemd-* helpers are stubs: the test
 * proves the scripts call them with the right verbs, not what those helpers then do.
 *
 * Test address plan: hosts only in namespaces this test creates, 198.18.0.0/15 (test/helpers/netns.ts).
 * Kernel state outside the node namespace is untouched: the maintainer scripts see /etc, /var/lib
 * and /usr/lib through overlays whose writes land in a temp dir, and /run is a private tmpfs.
 */
import t from 'tap'
import { execa } from 'execa'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ResultPromise } from 'execa'
import { createTopology, type Topology } from '../helpers/netns.js'
import { ROOT, sleep, waitTcp } from '../helpers/daemon.js'

t.setTimeout(900_000) // two package builds on a shared two-core machine

const pkgVersion = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const V1 = pkgVersion
const V2 = `${pkgVersion}+upgrade1`
const TCP_ECHO = join(ROOT, 'test/fixtures/tcp-echo.mjs')
const ECHO_CLIENT = join(ROOT, 'test/fixtures/echo-client.mjs')

/** Builds the .deb with `version` into `out`; returns its path. */
async function buildDeb(out: string, version: string): Promise<string> {
  const r = await execa('node', ['tools/release/build.mjs'], { cwd: ROOT, env: { FWDD_RELEASE_DIR: out, FWDD_RELEASE_VERSION: version }, reject: false })
  if (r.exitCode !== 0) throw new Error(`building ${version}: ${r.stderr}`)
  return r.stdout.trim()
}

/** `dpkg --root` with a private database; the maintainer scripts see DPKG_ROOT. */
function dpkg(root: string, args: string[]) {
  return execa('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-depends', '--log=/dev/null', ...args], { reject: false })
}

/**
 * The unit's `key=` command line (ExecStart, ExecStartPre) as it runs from the files in `root`:
 * /usr/bin/fwdd is replaced by the wrapper's own exec line, and package paths are mapped into root.
 */
async function unitCommand(root: string, key: string): Promise<string[]> {
  const unit = await readFile(join(root, 'lib/systemd/system/fwdd.service'), 'utf8')
  const line = unit.split('\n').find((l) => l.startsWith(`${key}=`))
  if (!line) throw new Error(`the unit has no ${key}=`)
  const words = line.slice(key.length + 1).trim().split(/\s+/)
  if (words[0] !== '/usr/bin/fwdd') throw new Error(`${key} runs ${words[0]}, not /usr/bin/fwdd`)
  const wrapper = await readFile(join(root, 'usr/bin/fwdd'), 'utf8')
  const exec = /^exec (.+) "\$@"$/m.exec(wrapper)
  if (!exec) throw new Error(`/usr/bin/fwdd has no exec line: ${wrapper}`)
  const mapped = (w: string) => w.replace(/^\/(usr\/lib\/fwdd|etc\/fwdd)\//, `${root}/$1/`)
  return [...exec[1]!.split(' '), ...words.slice(1)].map(mapped)
}

/** The fwdctl of `root` (through its wrapper's exec line), as the unit's machine would run it. */
async function fwdctlCommand(root: string): Promise<string[]> {
  const wrapper = await readFile(join(root, 'usr/bin/fwdctl'), 'utf8')
  const exec = /^exec (.+) "\$@"$/m.exec(wrapper)
  if (!exec) throw new Error(`/usr/bin/fwdctl has no exec line: ${wrapper}`)
  return exec[1]!.split(' ').map((w) => w.replace(/^\/usr\/lib\/fwdd\//, `${root}/usr/lib/fwdd/`))
}

const STUBS = ['systemctl', 'deb-systemd-invoke', 'deb-systemd-helper', 'systemd-sysusers', 'systemd-modules-load', 'systemd-sysctl']

/**
 * Runs one maintainer script of `root` the way dpkg runs it on a live node (no DPKG_ROOT), inside
 * the node namespace and a private mount namespace: /run/systemd/system exists (systemd "is
 * running"), the systemd helpers are recording stubs, /usr/lib shows the package's files over the
 * host's, and writes to /etc and /var/lib land in `work`'s overlay upper dirs. Returns the calls.
 */
async function runScript(topo: Topology, work: string, root: string, script: string, args: string[]): Promise<{ exitCode: number; output: string; calls: string[] }> {
  const calls = join(work, 'calls.log')
  await writeFile(calls, '')
  const r = await topo.exec(topo.node.ns, 'unshare', ['-m', 'sh', join(work, 'harness.sh'), work, root, join(root, `var/lib/dpkg/info/fwdd.${script}`), ...args], { reject: false, timeoutMs: 120_000 })
  const text = await readFile(calls, 'utf8')
  return { exitCode: r.exitCode, output: r.stdout + r.stderr, calls: text.split('\n').filter(Boolean) }
}

async function makeHarness(work: string): Promise<void> {
  await mkdir(join(work, 'stubs'), { recursive: true })
  for (const d of ['etc-up', 'etc-wk', 'var-up', 'var-wk']) await mkdir(join(work, d), { recursive: true })
  for (const s of STUBS) {
    await writeFile(join(work, 'stubs', s), `#!/bin/sh\necho "${s} $*" >> ${join(work, 'calls.log')}\n`)
    await chmod(join(work, 'stubs', s), 0o755)
  }
  await writeFile(join(work, 'harness.sh'), [
    'set -e',
    'W=$1; R=$2; shift 2',
    'mount -t tmpfs tmpfs /run',
    'mkdir -p /run/systemd/system',
    'mount -t overlay overlay -o lowerdir=/etc,upperdir=$W/etc-up,workdir=$W/etc-wk /etc',
    'mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$W/var-up,workdir=$W/var-wk /var/lib',
    'mount -t overlay overlay -o lowerdir=$R/usr/lib:/usr/lib /usr/lib',
    'for f in systemd-modules-load systemd-sysctl; do mount --bind $W/stubs/$f /usr/lib/systemd/$f; done',
    'export PATH=$W/stubs:$PATH',
    'unset DPKG_ROOT',
    'exec "$@"',
    '',
  ].join('\n'))
}

/** FWD- lines of the node namespace's nat table, without counters: the rule set fwdd owns. */
async function fwdRules(topo: Topology): Promise<string> {
  const r = await topo.exec(topo.node.ns, 'iptables-save', ['-t', 'nat'])
  return r.stdout.split('\n').filter((l) => l.includes('FWD-')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n')
}

/** Every table of the node namespace (iptables and nft) mentions no fwdd chain. */
async function anyFwdChains(topo: Topology): Promise<boolean> {
  const ipt = await topo.exec(topo.node.ns, 'iptables-save', [], { reject: false })
  const nft = await topo.exec(topo.node.ns, 'nft', ['list', 'ruleset'], { reject: false })
  return /FWD-|fwdd/.test(ipt.stdout) || /FWD-|fwdd/.test(nft.stdout)
}

interface Daemon { child: ResultPromise; log(): string }

t.test('upgrading the package under a held connection loses no echo; the scripts behave', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fwdd-upg-'))
  const topo = await createTopology({ servers: 1, prefix: 'ug' })
  t.teardown(async () => {
    await topo.destroy()
    await rm(work, { recursive: true, force: true })
  })
  const [deb1, deb2] = await Promise.all([buildDeb(join(work, 'v1'), V1), buildDeb(join(work, 'v2'), V2)])
  const root = join(work, 'root')
  await mkdir(join(root, 'var/lib/dpkg/updates'), { recursive: true })
  await mkdir(join(root, 'var/lib/dpkg/info'), { recursive: true })
  await writeFile(join(root, 'var/lib/dpkg/status'), '')
  await makeHarness(work)

  const inst1 = await dpkg(root, ['-i', deb1])
  t.equal(inst1.exitCode, 0, `dpkg -i v1: ${inst1.stderr}`)
  const server = topo.servers[0]!
  const config = [
    '# the operator\'s file: no install or upgrade may rewrite it',
    'health: { port: 8080 }',
    'sources: [198.18.0.0/24]',
    'listeners:',
    '  - name: echo',
    '    port: 7000',
    '    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }',
    '    targets:',
    `      - { host: ${server.address}, port: 7 }`,
    '',
  ].join('\n')
  await mkdir(join(root, 'etc/fwdd'), { recursive: true })
  await writeFile(join(root, 'etc/fwdd/config.yaml'), config)
  await mkdir(join(root, 'var/lib/fwdd'), { recursive: true })
  const socket = join(work, 'fwdd.sock')
  const env = { FWDD_SOCKET: socket, FWDD_STATE_DIR: join(root, 'var/lib/fwdd') }

  topo.spawn(server.ns, process.execPath, [TCP_ECHO, '7'])
  await waitTcp(topo, server.ns, server.address, 7)

  const ctl = async (args: string[]) => {
    const [file, ...pre] = await fwdctlCommand(root)
    return topo.exec(topo.node.ns, 'env', [`FWDD_SOCKET=${socket}`, file!, ...pre, ...args], { reject: false })
  }
  const waitReady = async (d: Daemon): Promise<void> => {
    const until = Date.now() + 30_000
    for (;;) {
      if ((await ctl(['status'])).exitCode === 0) return
      if (Date.now() > until) throw new Error(`the daemon did not become ready:\n${d.log()}`)
      await sleep(200)
    }
  }
  /** ExecStartPre, then ExecStart, from the files now in root: what systemd does at each start. */
  const startLikeTheUnit = async (): Promise<Daemon> => {
    const [preFile, ...preArgs] = await unitCommand(root, 'ExecStartPre')
    const pre = await topo.exec(topo.node.ns, 'env', [`FWDD_SOCKET=${socket}`, `FWDD_STATE_DIR=${env.FWDD_STATE_DIR}`, preFile!, ...preArgs], { reject: false })
    t.equal(pre.exitCode, 0, `ExecStartPre (fwdd --check) passes: ${pre.stdout}${pre.stderr}`)
    const [file, ...args] = await unitCommand(root, 'ExecStart')
    t.equal(file, join(root, 'usr/lib/fwdd/node'), 'ExecStart runs the packaged runtime')
    let output = ''
    const child = topo.spawn(topo.node.ns, file!, args, env)
    child.stdout?.on('data', (b: Buffer) => { output += b.toString() })
    child.stderr?.on('data', (b: Buffer) => { output += b.toString() })
    const d = { child, log: () => output }
    await waitReady(d)
    return d
  }
  const version = async (): Promise<string> => (JSON.parse((await ctl(['status', '--json'])).stdout) as { node: { version: string } }).node.version

  const d1 = await startLikeTheUnit()
  t.equal(await version(), V1, 'v1 runs')
  const rulesBefore = await fwdRules(topo)
  t.match(rulesBefore, /FWD-/, 'v1 programmed its rules')

  // The held connection.
  const client = topo.spawn(topo.client.ns, process.execPath, [ECHO_CLIENT, topo.node.address, '7000'])
  let out = ''
  client.stdout?.on('data', (b: Buffer) => { out += b.toString() })
  const waitOut = async (re: RegExp, what: string, ms = 10_000) => {
    const until = Date.now() + ms
    while (!re.test(out)) {
      if (Date.now() > until) throw new Error(`${what}: client said ${JSON.stringify(out)}`)
      await sleep(50)
    }
  }
  await waitOut(/^open \d+$/m, 'the client connected')
  const openPort = /^open (\d+)$/m.exec(out)![1]
  await sleep(1500) // echoes flow before the upgrade

  // The upgrade, with the v1 daemon running from the files dpkg replaces.
  const inst2 = await dpkg(root, ['-i', deb2])
  t.equal(inst2.exitCode, 0, `dpkg -i v2 over v1: ${inst2.stderr}`)
  t.equal((JSON.parse(await readFile(join(root, 'usr/lib/fwdd/package.json'), 'utf8')) as { version: string }).version, V2, 'v2\'s files are in place')
  t.equal(await readFile(join(root, 'etc/fwdd/config.yaml'), 'utf8'), config, 'the upgrade left /etc/fwdd/config.yaml as the operator wrote it')
  t.equal(await version(), V1, 'the running v1 daemon still answers with its files replaced')

  const up = await runScript(topo, work, root, 'postinst', ['configure', V1])
  t.equal(up.exitCode, 0, `postinst configure ${V1}: ${up.output}`)
  t.ok(up.calls.includes('deb-systemd-invoke try-restart fwdd.service'), `the upgrade restarts the running unit (calls: ${up.calls.join('; ')})`)
  t.notOk(up.calls.some((c) => /^deb-systemd-invoke (start|stop|restart) |^deb-systemd-helper enable /.test(c)), 'and neither re-enables nor stops it for good')

  // The held connection would outlive a rule flush on its conntrack entry alone, so the rules
  // themselves are sampled all through the restart: a daemon that rebuilt them (delete, then
  // add) instead of adopting them shows up as a sample without them.
  const samples: string[] = []
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      samples.push(await fwdRules(topo))
      await sleep(50)
    }
  })()

  // systemd's try-restart of this unit: SIGTERM (KillSignal's default), wait, ExecStartPre, ExecStart.
  d1.child.kill('SIGTERM')
  const stopped = await Promise.race([d1.child.then(() => true, () => true), sleep(10_000).then(() => false)])
  t.ok(stopped, 'v1 exits on SIGTERM within TimeoutStopSec (10 s)')
  t.equal(await fwdRules(topo), rulesBefore, 'the stopped daemon left its rules in the kernel')
  const gap = await topo.exec(topo.client.ns, 'bash', ['-c', `exec 3<>/dev/tcp/${topo.node.address}/7000; echo gap >&3; read -t 3 line <&3; echo "$line"`], { reject: false })
  t.equal(gap.stdout.trim(), 'gap', 'with no daemon running, a new connection is still forwarded')
  const d2 = await startLikeTheUnit()
  t.equal(await version(), V2, 'the restarted daemon is v2, from the new files')
  t.match(d2.log(), /adopting/, 'v2 adopted the rules it found (fail-static adoption)')
  await sleep(1500)
  sampling = false
  await sampler
  t.equal(await fwdRules(topo), rulesBefore, 'and left the rule set as v1 had it')
  t.ok(samples.length > 10, `the rules were sampled through the restart (${samples.length} samples)`)
  t.same(samples.filter((x) => x !== rulesBefore).slice(0, 1), [], 'every sample shows the same rule set: it never went away or changed')

  // A new connection after the upgrade works too.
  const fresh = await topo.exec(topo.client.ns, 'bash', ['-c', `exec 3<>/dev/tcp/${topo.node.address}/7000; echo hi >&3; read -t 3 line <&3; echo "$line"`], { reject: false })
  t.equal(fresh.stdout.trim(), 'hi', 'a new connection is forwarded by v2')

  client.kill('SIGTERM')
  await waitOut(/^done /m, 'the client reported its totals')
  const done = /^done sent=(\d+) echoed=(\d+) maxGapMs=(\d+) port=(\d+)$/m.exec(out)
  t.ok(done, `client totals: ${out.split('\n').slice(-3).join(' | ')}`)
  const [, sent, echoed, maxGap, port] = done!.map(Number)
  t.ok(sent! > 30, `the client sent through the whole upgrade (${sent} lines)`)
  t.equal(echoed, sent, 'every line sent came back: no echo lost')
  t.equal(String(port), openPort, 'on the one connection opened before the upgrade')
  t.notMatch(out.slice(0, out.indexOf('done ')), /^closed|^bad/m, 'which never closed and never reordered')
  t.ok(maxGap! < 2000, `the longest pause between echoes was ${maxGap} ms (< 2 s)`)

  // Remove: stop the daemon; its rules stay and forwarding goes on.
  const prerm = await runScript(topo, work, root, 'prerm', ['remove'])
  t.equal(prerm.exitCode, 0, prerm.output)
  t.ok(prerm.calls.includes('deb-systemd-invoke stop fwdd.service'), `remove stops the unit (${prerm.calls.join('; ')})`)
  t.ok(existsSync(join(work, 'var-up/fwdd-purge/bin/fwdctl.mjs')) && existsSync(join(work, 'var-up/fwdd-purge/node')), 'prerm kept a copy of the program for purge')
  d2.child.kill('SIGTERM') // what the stop does
  await d2.child.catch(() => {})
  const postrmRemove = await runScript(topo, work, root, 'postrm', ['remove'])
  t.equal(postrmRemove.exitCode, 0, postrmRemove.output)
  t.same(postrmRemove.calls, ['systemctl --system daemon-reload'], 'postrm remove only reloads systemd')
  t.equal(await fwdRules(topo), rulesBefore, 'after remove the rules are still in the kernel')
  const after = await topo.exec(topo.client.ns, 'bash', ['-c', `exec 3<>/dev/tcp/${topo.node.address}/7000; echo still >&3; read -t 3 line <&3; echo "$line"`], { reject: false })
  t.equal(after.stdout.trim(), 'still', 'and forwarding goes on with the package removed')

  // Purge: the real `fwdctl cleanup` from prerm's copy, in the node namespace; config and state go.
  await mkdir(join(work, 'etc-up/fwdd'), { recursive: true })
  await writeFile(join(work, 'etc-up/fwdd/config.yaml'), config)
  await mkdir(join(work, 'var-up/fwdd'), { recursive: true })
  await writeFile(join(work, 'var-up/fwdd/drain.json'), '{}')
  const purge = await runScript(topo, work, root, 'postrm', ['purge'])
  t.equal(purge.exitCode, 0, purge.output)
  t.notOk(await anyFwdChains(topo), `purge ran fwdctl cleanup: no fwdd chain is left (${purge.output})`)
  for (const p of ['etc-up/fwdd/config.yaml', 'var-up/fwdd/drain.json', 'var-up/fwdd-purge/node']) t.notOk(existsSync(join(work, p)), `purge deleted /${p.replace(/^(etc|var)-up/, (m) => (m === 'etc-up' ? 'etc' : 'var/lib'))}`)
  t.ok(purge.calls.includes('deb-systemd-helper purge fwdd.service'), `purge forgets the unit's enablement (${purge.calls.join('; ')})`)

  // Install on a fresh node: enable always; start only when there is a config to run.
  await rm(join(work, 'etc-up/fwdd'), { recursive: true, force: true })
  const bare = await runScript(topo, work, root, 'postinst', ['configure'])
  t.equal(bare.exitCode, 0, bare.output)
  t.ok(bare.calls.includes('deb-systemd-helper enable fwdd.service'), `install enables the unit (${bare.calls.join('; ')})`)
  t.notOk(bare.calls.some((c) => c.startsWith('deb-systemd-invoke start')), 'but does not start it without a config')
  t.match(bare.output, /write \/etc\/fwdd\/config\.yaml/, 'and says what to do')
  t.ok(bare.calls.includes('systemd-sysusers fwdd.conf') && bare.calls.includes('systemd-sysctl 60-fwdd.conf') && bare.calls.includes('systemd-modules-load fwdd.conf'), 'it creates the user and applies the kernel drop-ins')
  await mkdir(join(work, 'etc-up/fwdd'), { recursive: true })
  await writeFile(join(work, 'etc-up/fwdd/config.yaml'), config)
  const withConfig = await runScript(topo, work, root, 'postinst', ['configure'])
  t.equal(withConfig.exitCode, 0, withConfig.output)
  t.ok(withConfig.calls.includes('deb-systemd-helper enable fwdd.service') && withConfig.calls.includes('deb-systemd-invoke start fwdd.service'), `with a config, install enables and starts (${withConfig.calls.join('; ')})`)

  // And dpkg's own purge of the temp root removes the root's config and state.
  const p = await dpkg(root, ['-P', 'fwdd'])
  t.equal(p.exitCode, 0, p.stderr)
  t.notOk(existsSync(join(root, 'etc/fwdd')), 'dpkg --purge removed <root>/etc/fwdd')
  t.notOk(existsSync(join(root, 'var/lib/fwdd')), 'and <root>/var/lib/fwdd')
  t.notOk(existsSync(join(root, 'usr/lib/fwdd/node')), 'and the program')
})

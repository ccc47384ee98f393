/**
 * The systemd unit and the kernel drop-ins, checked with the real tools: `systemd-analyze verify`
 * and `security --offline=yes` on the unit, `systemd-sysusers --root` on the user, `sysctl -p` in
 * a throwaway network namespace on the sysctl file. The tools must be installed: a missing one
 * fails the test (see .ci/run), it never skips.
 *
 * Test address plan: no addresses are used; the only namespace is one this test creates and
 * deletes, so the host's kernel settings are never touched.
 */
import t from 'tap'
import { execa } from 'execa'
import { chmod, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const unitPath = join(root, 'systemd/fwdd.service')
const sysctlPath = join(root, 'systemd/fwdd-sysctl.conf')
const sysusersPath = join(root, 'systemd/fwdd-sysusers.conf')
const modulesPath = join(root, 'systemd/fwdd-modules.conf')

/**
 * The exposure `systemd-analyze security --offline=yes` gives the unit today (systemd 252). The
 * issue's ceiling is 2.5; this records where we are so that any loosening fails here and has to
 * be argued for, by changing this number in the same commit.
 */
const RECORDED_EXPOSURE = 1.6
const EXPOSURE_CEILING = 2.5

/** The binary the unit runs; the only thing the verify step may replace. */
const FWDD_BIN = '/usr/bin/fwdd'

async function tool(name: string): Promise<void> {
  const r = await execa('sh', ['-c', `command -v ${name}`], { reject: false })
  if (r.exitCode !== 0) throw new Error(`${name} is missing: install it (see .ci/run)`)
}

/** Unit settings as key -> values (a key may repeat), ignoring comments and section headers. */
function settings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue
    const eq = line.indexOf('=')
    const key = line.slice(0, eq)
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)])
  }
  return out
}

/** The unit with its binary pointed at a stand-in that exists here, nothing else changed. */
async function unitWithStandIn(dir: string): Promise<string> {
  const standIn = join(dir, 'fwdd-stand-in')
  await writeFile(standIn, '#!/bin/sh\nexit 0\n')
  await chmod(standIn, 0o755)
  const original = await readFile(unitPath, 'utf8')
  const copy = original.replaceAll(FWDD_BIN, standIn)
  // Only the binary path may differ: same lines, and each changed line differs only by that path.
  const a = original.split('\n')
  const b = copy.split('\n')
  if (a.length !== b.length || a.some((l, i) => l !== b[i] && l.replaceAll(FWDD_BIN, standIn) !== b[i])) {
    throw new Error('stand-in copy differs from the unit in more than the binary path')
  }
  const path = join(dir, 'fwdd.service')
  await writeFile(path, copy)
  return path
}

t.test('systemd-analyze verify passes with only ExecStart pointed at a stand-in', async (t) => {
  await tool('systemd-analyze')
  const dir = await mkdtemp(join(tmpdir(), 'fwdd-unit-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const unit = await unitWithStandIn(dir)
  const r = await execa('systemd-analyze', ['verify', unit], { reject: false, cwd: dir })
  t.equal(r.exitCode, 0, `verify exit code (stderr: ${r.stderr})`)
  t.equal(r.stderr.trim(), '', 'verify prints no warnings')
})

t.test('systemd-analyze security scores the unit at or under the recorded exposure', async (t) => {
  await tool('systemd-analyze')
  const dir = await mkdtemp(join(tmpdir(), 'fwdd-unit-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const unit = await unitWithStandIn(dir)
  const r = await execa('systemd-analyze', ['security', '--offline=yes', '--no-pager', unit], { reject: false, cwd: dir })
  const m = /Overall exposure level for fwdd\.service:\s*([0-9.]+)/.exec(r.stdout)
  if (!m?.[1]) throw new Error(`no exposure in systemd-analyze output (exit ${r.exitCode}): ${r.stdout}\n${r.stderr}`)
  const exposure = Number(m[1])
  t.ok(exposure <= EXPOSURE_CEILING, `exposure ${exposure} is within the issue's ceiling ${EXPOSURE_CEILING}`)
  t.ok(exposure <= RECORDED_EXPOSURE, `exposure ${exposure} did not rise above the recorded ${RECORDED_EXPOSURE}; if a setting had to loosen, raise RECORDED_EXPOSURE and say why`)
})

t.test('the unit keeps the node alive and its rules in place', async (t) => {
  const s = settings(await readFile(unitPath, 'utf8'))
  const one = (k: string): string | undefined => s.get(k)?.at(-1)
  t.same(s.get('ExecStartPre'), [`${FWDD_BIN} --check --config /etc/fwdd/config.yaml`], 'config checked before start')
  t.same(s.get('ExecStart'), [`${FWDD_BIN} --config /etc/fwdd/config.yaml`])
  t.equal(one('Restart'), 'always')
  t.equal(one('RestartSec'), '1s', 'restarts quickly')
  t.equal(one('StartLimitIntervalSec'), '0', 'no start rate limit that would leave the node dead')
  t.notOk(s.has('ExecStop') || s.has('ExecStopPost'), 'nothing cleans up on stop: a restart must not cut traffic')
  t.match(one('After') ?? '', /\bnetwork-online\.target\b/)
  t.match(one('Wants') ?? '', /\bnetwork-online\.target\b/)
  t.equal(one('User'), 'fwdd', 'runs as the dedicated user')
  t.not(one('User'), 'root')
  t.equal(one('CapabilityBoundingSet'), one('AmbientCapabilities'), 'ambient set equals the bounding set')
  t.equal(one('NoNewPrivileges'), 'yes')
  t.equal(one('StateDirectory'), 'fwdd', '/var/lib/fwdd, the default --state-dir, owned by fwdd')
  t.equal(one('RuntimeDirectory'), 'fwdd', '/run/fwdd, where the default control socket lives')
  t.equal(one('WantedBy'), 'multi-user.target')
})

t.test('the sysusers file creates the fwdd system user and group', async (t) => {
  await tool('systemd-sysusers')
  const dir = await mkdtemp(join(tmpdir(), 'fwdd-sysusers-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'etc'))
  const r = await execa('systemd-sysusers', [`--root=${dir}`, sysusersPath], { reject: false })
  t.equal(r.exitCode, 0, `systemd-sysusers exit code (stderr: ${r.stderr})`)
  const passwd = await readFile(join(dir, 'etc/passwd'), 'utf8')
  const group = await readFile(join(dir, 'etc/group'), 'utf8')
  const user = passwd.split('\n').find((l) => l.startsWith('fwdd:'))?.split(':')
  t.ok(user, 'fwdd is in passwd')
  t.ok(Number(user?.[2]) > 0 && Number(user?.[2]) < 1000, 'a system uid, not root')
  t.equal(user?.[6], '/usr/sbin/nologin', 'no login shell')
  t.match(group, /^fwdd:x:\d+:/m, 'fwdd group')
})

t.test('the sysctl file applies: forwarding on, conntrack timeout above every idle timeout', async (t) => {
  await tool('ip')
  await tool('sysctl')
  const text = await readFile(sysctlPath, 'utf8')
  const entries = new Map(
    text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
      const [k = '', v = ''] = l.split('=').map((x) => x.trim())
      return [k, v] as const
    }),
  )
  t.equal(entries.get('net.ipv4.ip_forward'), '1')
  const established = Number(entries.get('net.netfilter.nf_conntrack_tcp_timeout_established'))
  t.ok(established > 100 * 60, 'outlives the load balancer\'s longest idle timeout (100 min)')
  t.ok(established > 7200, 'outlives the default TCP keepalive interval (2 h)')
  t.ok(established < 432000, 'shorter than the kernel default of 5 days, so dropped flows go away')
  t.ok(Number(entries.get('net.netfilter.nf_conntrack_max')) >= 262144)

  // Apply it where it cannot hurt: a network namespace made for this test. Every net.* key is
  // per namespace, except nf_conntrack_max, which only the initial namespace may set: for that
  // one, the key must exist (no typo).
  const ns = `fwsys${randomBytes(3).toString('hex')}`
  const r0 = await execa('ip', ['netns', 'add', ns], { reject: false })
  if (r0.exitCode !== 0) throw new Error(`ip netns add: ${r0.stderr} (the test needs root)`)
  t.teardown(() => execa('ip', ['netns', 'del', ns], { reject: false }))
  const modules = (await readFile(modulesPath, 'utf8')).split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))
  t.same(modules, ['nf_conntrack'], 'conntrack is loaded at boot, before systemd-sysctl applies net.netfilter.*')
  await execa('modprobe', ['nf_conntrack'], { reject: false }) // already loaded on CI hosts; harmless
  for (const [key, value] of entries) {
    const path = `/proc/sys/${key.replaceAll('.', '/')}`
    const exists = await execa('ip', ['netns', 'exec', ns, 'test', '-e', path], { reject: false })
    t.equal(exists.exitCode, 0, `${key} exists`)
    if (key === 'net.netfilter.nf_conntrack_max') continue
    const set = await execa('ip', ['netns', 'exec', ns, 'sysctl', '-w', `${key}=${value}`], { reject: false })
    t.equal(set.exitCode, 0, `${key} can be set (${set.stderr})`)
    const got = await execa('ip', ['netns', 'exec', ns, 'cat', path])
    t.equal(got.stdout.trim(), value, `${key} reads back as ${value}`)
  }
})

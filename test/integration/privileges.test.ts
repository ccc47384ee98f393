/**
 * The unit's privileges are enough: the real daemon, started the way systemd/fwdd.service starts
 * it (a non-root uid and gid, no supplementary groups, no new privileges, and exactly the unit's
 * capability set as bounding, inheritable and ambient set, applied with setpriv), turns on IP
 * forwarding, programs its rules and forwards a client's connection to a server. The capability
 * set is read from the unit file, so the two cannot drift apart.
 *
 * Test address plan: hosts exist only in network namespaces this test creates (test/helpers/netns.ts),
 * addressed from 198.18.0.0/15; they and everything in them are removed on every path.
 */
import t from 'tap'
import { execa } from 'execa'
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTopology } from '../helpers/netns.js'
import { FWDCTL, FWDD, NODE_RUNTIME } from '../helpers/daemon.js'

t.setTimeout(120_000)

const root = fileURLToPath(new URL('../../', import.meta.url))
// The bundles the .deb ships, on the runtime it ships (test/helpers/daemon.ts).
const fwddBin = FWDD
const fwdctlBin = FWDCTL
const echoServer = join(root, 'test/fixtures/echo-server.mjs')

/** The unit's last value for `key` (the one systemd uses), or throws. */
function unitSetting(unit: string, key: string): string {
  const values = unit.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1))
  const last = values.at(-1)
  if (last === undefined) throw new Error(`systemd/fwdd.service has no ${key}=`)
  return last
}

/** `CAP_NET_ADMIN CAP_NET_RAW` -> `['net_admin', 'net_raw']`, as setpriv spells them. */
function setprivCaps(list: string): string[] {
  return list.split(/\s+/).filter(Boolean).map((c) => c.toLowerCase().replace(/^cap_/, ''))
}

/** Capability numbers, for reading /proc/PID/status masks (linux/capability.h). */
const CAP_NUMBERS: Record<string, number> = { net_bind_service: 10, net_broadcast: 11, net_admin: 12, net_raw: 13 }

/** A uid/gid for the daemon: the real `fwdd` user when this machine has one, else an unused id. */
async function daemonIds(): Promise<{ uid: number; gid: number; label: string }> {
  const r = await execa('id', ['-u', 'fwdd'], { reject: false })
  if (r.exitCode === 0) {
    const g = await execa('id', ['-g', 'fwdd'])
    return { uid: Number(r.stdout), gid: Number(g.stdout), label: 'fwdd' }
  }
  for (let id = 61234; id < 61334; id++) {
    const used = await execa('getent', ['passwd', String(id)], { reject: false })
    const usedG = await execa('getent', ['group', String(id)], { reject: false })
    if (used.exitCode !== 0 && usedG.exitCode !== 0) return { uid: id, gid: id, label: `uid ${id} (no fwdd user on this machine)` }
  }
  throw new Error('no free uid in 61234..61333 for the daemon')
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number, log: () => string): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; daemon log:\n${log()}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

t.test('the daemon with only the unit\'s user and capabilities programs rules and forwards', async (t) => {
  for (const bin of ['setpriv', 'curl']) {
    const r = await execa('sh', ['-c', `command -v ${bin}`], { reject: false })
    if (r.exitCode !== 0) throw new Error(`${bin} is missing: install it (see .ci/run)`)
  }
  if (!existsSync(fwddBin)) throw new Error(`${fwddBin} is missing: run node tools/release/build.mjs --bundle-only first`)

  const unit = await readFile(join(root, 'systemd/fwdd.service'), 'utf8')
  const bounding = setprivCaps(unitSetting(unit, 'CapabilityBoundingSet'))
  const ambient = setprivCaps(unitSetting(unit, 'AmbientCapabilities'))
  t.equal(unitSetting(unit, 'NoNewPrivileges'), 'yes')
  t.not(unitSetting(unit, 'User'), 'root')
  const { uid, gid, label } = await daemonIds()

  // What StateDirectory=, RuntimeDirectory= and ConfigurationDirectory= give the daemon.
  const base = await mkdtemp(join(tmpdir(), 'fwdd-priv-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  await chmod(base, 0o755)
  const stateDir = join(base, 'state')
  const runDir = join(base, 'run')
  await mkdir(stateDir, { mode: 0o700 })
  await mkdir(runDir, { mode: 0o755 })
  await chown(stateDir, uid, gid)
  await chown(runDir, uid, gid)
  const socket = join(runDir, 'fwdd.sock')
  const configPath = join(base, 'config.yaml')

  const topo = await createTopology({ servers: 1, prefix: 'fwpv' })
  t.teardown(() => topo.destroy())
  const server = topo.servers[0]
  if (!server) throw new Error('topology has no server')

  await writeFile(configPath, [
    'health:',
    `  address: ${topo.node.address}`,
    '  port: 8080',
    'listeners:',
    '  - name: web',
    '    port: 8000',
    '    targets:',
    `      - host: ${server.address}`,
    '        port: 8081',
    '    check: { intervalMs: 200, timeoutMs: 500, fall: 2, rise: 1 }',
    '',
  ].join('\n'), { mode: 0o644 })

  topo.spawn(server.ns, process.execPath, [echoServer, 's0', '8081'])
  // Forwarding off, so the daemon itself has to turn it on through /proc/sys.
  await topo.exec(topo.node.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0'])

  const setpriv = [
    `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs',
    `--bounding-set=-all,${bounding.map((c) => `+${c}`).join(',')}`,
    `--inh-caps=-all,${ambient.map((c) => `+${c}`).join(',')}`,
    `--ambient-caps=${ambient.map((c) => `+${c}`).join(',')}`,
  ]
  const daemon = topo.spawn(topo.node.ns, 'setpriv', [...setpriv, NODE_RUNTIME, '--max-semi-space-size=1', fwddBin, '--config', configPath, '--socket', socket, '--state-dir', stateDir])
  let log = ''
  daemon.stdout?.on('data', (b: Buffer) => { log += b.toString() })
  daemon.stderr?.on('data', (b: Buffer) => { log += b.toString() })
  const daemonLog = (): string => log

  const body = await waitFor('a forwarded connection to reach the server', async () => {
    const r = await topo.exec(topo.client.ns, 'curl', ['-s', '--max-time', '2', `http://${topo.node.address}:8000/`], { reject: false })
    return r.exitCode === 0 ? r.stdout : undefined
  }, 30_000, daemonLog)
  t.equal(body.trim(), 's0', `client -> ${topo.node.address}:8000 reaches the server, daemon as ${label}`)

  // It really ran as that user with only those capabilities.
  const pid = daemon.pid
  if (pid === undefined) throw new Error('daemon has no pid')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? ''
  t.equal(field('Uid').split(/\s+/)[0], String(uid), 'real uid')
  t.equal(field('Uid').split(/\s+/)[1], String(uid), 'effective uid')
  const mask = (caps: string[]): bigint => caps.reduce((m, c) => {
    const n = CAP_NUMBERS[c]
    if (n === undefined) throw new Error(`capability ${c} from the unit is not in this test's table`)
    return m | (1n << BigInt(n))
  }, 0n)
  t.equal(BigInt(`0x${field('CapEff')}`), mask(ambient), 'effective capabilities are the unit\'s ambient set')
  t.equal(BigInt(`0x${field('CapBnd')}`), mask(bounding), 'bounding set is the unit\'s')
  t.equal(field('NoNewPrivs'), '1')

  const fwd = await topo.exec(topo.node.ns, 'cat', ['/proc/sys/net/ipv4/ip_forward'])
  t.equal(fwd.stdout.trim(), '1', 'the daemon turned IP forwarding on')
  const rules = await topo.exec(topo.node.ns, 'iptables-save', [])
  t.match(rules.stdout, /^:FWD-/m, 'fwdd chains are in the kernel')

  const sock = await stat(socket)
  t.equal(sock.uid, uid, 'control socket owned by the daemon user')
  t.equal(sock.mode & 0o777, 0o600, 'control socket mode 0600')

  const lb = await topo.exec(topo.client.ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://${topo.node.address}:8080/lb/web`], { reject: false })
  t.equal(lb.stdout, '200', 'health port answers')

  // conntrack deletion, as the daemon does on failover, with the same user and capabilities.
  const ct = await topo.exec(topo.node.ns, 'setpriv', [...setpriv, 'conntrack', '-D', '-p', 'tcp', '--orig-dst', topo.node.address, '--orig-port-dst', '8000'], { reject: false })
  t.match(ct.stderr, /flow entries have been deleted/, `conntrack -D works unprivileged (exit ${ct.exitCode}: ${ct.stderr})`)

  const st = await topo.exec(topo.node.ns, NODE_RUNTIME, [fwdctlBin, 'status', '--json', '--socket', socket], { reject: false })
  t.equal(st.exitCode, 0, `fwdctl status through the daemon's socket (${st.stderr})`)
  t.notMatch(log, /"level":(50|60)/, 'no error or fatal log lines')
})

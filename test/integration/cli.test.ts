/**
 * The operator's CLI against the real daemon: `fwdctl status` exits 0 (serving), 1 (degraded: every
 * target down) and 2 (daemon unreachable, saying plainly that fwdd is not running); the control
 * socket is mode 0600 and owned by the daemon's user, and refuses another user; `fwdctl doctor`
 * fails and names IP forwarding when it is off, both with the daemon running and with it stopped.
 *
 * Doctor and the daemon's repair: the daemon turns forwarding back on at every resync, so this test
 * sets `resyncSeconds: 3600` (no resync while it runs) and checks after doctor that forwarding was
 * still off. With the daemon running every other check passes, so the failure is forwarding's
 * alone. It then stops the daemon and checks again: doctor must work on a node whose daemon is
 * down (that is when an operator reaches for it), and still name forwarding.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { FWDCTL, FWDD, NODE_RUNTIME, sleep, startDaemon, startServers, webConfig, type RunningDaemon } from '../helpers/daemon.js'

/** An hour: the daemon must not repair forwarding while the test looks at it. */
const RESYNC_SECONDS = 3600

/** Runs fwdctl in the node namespace with an explicit socket (no daemon needed). */
function ctlAt(topo: Topology, socket: string, args: string[]): ReturnType<Topology['exec']> {
  return topo.exec(topo.node.ns, NODE_RUNTIME, [FWDCTL, '--socket', socket, ...args], { reject: false })
}

async function waitExit(d: RunningDaemon, code: number, timeoutMs = 10000): Promise<{ exitCode: number; stdout: string }> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const r = await d.ctl(['status'])
    if (r.exitCode === code || Date.now() > until) return r
    await sleep(100)
  }
}

function doctorLines(stdout: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of stdout.split('\n')) {
    const m = /^(PASS|WARN|FAIL) {2}([^:]+): /.exec(line)
    if (m) out.set(m[2]!, line)
  }
  return out
}

t.test('fwdctl status exit codes, the control socket, and doctor with IP forwarding off', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'cl' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-test-'))
  // Searchable by everyone, so that another user is stopped by the socket's own mode, not the directory's.
  chmodSync(dir, 0o755)

  // 2: nothing listens on the socket yet.
  const socket = path.join(dir, 'fwdd.sock')
  for (const args of [['status'], ['status', '--json'], ['drain'], ['rules']]) {
    const r = await ctlAt(topo, socket, args)
    t.equal(r.exitCode, 2, `fwdctl ${args.join(' ')} with no daemon exits 2`)
    t.match(r.stderr, /fwdd is not running/, `fwdctl ${args.join(' ')} says fwdd is not running`)
    t.match(r.stderr, socket, 'and names the socket it tried')
    t.equal(r.stdout, '', 'and prints nothing on stdout')
  }

  const yaml = webConfig(topo, { resyncSeconds: RESYNC_SECONDS })
  const d = await startDaemon(topo, yaml, { dir })
  t.equal(d.socket, socket, 'the daemon uses the socket the CLI tried')

  // 0: serving.
  const ok = await d.ctl(['status'])
  t.equal(ok.exitCode, 0, 'fwdctl status exits 0 when every listener serves')
  t.match(ok.stdout, /web\s+tcp\/8000\s+serving/, 'the table shows the listener serving')
  const json = await d.ctl(['status', '--json'])
  t.equal(json.exitCode, 0, 'fwdctl status --json exits 0 too')
  t.equal((JSON.parse(json.stdout) as { node: { ready: boolean } }).node.ready, true, '--json prints the status object')

  // The socket: 0600, owned by the daemon's user, refused to another user.
  const st = statSync(socket)
  t.ok(st.isSocket(), 'the control socket is a unix socket')
  t.equal((st.mode & 0o777).toString(8), '600', 'mode 0600')
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${d.child.pid}/status`, 'utf8'))?.[1])
  t.equal(st.uid, uid, `owned by the daemon's user (uid ${uid})`)
  // NODE_OPTIONS dropped: tap's process tracking would try to write its files as that user.
  const other = await topo.exec(topo.node.ns, 'env', ['-u', 'NODE_OPTIONS', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', NODE_RUNTIME, FWDCTL, '--socket', socket, 'status'], { reject: false })
  t.equal(other.exitCode, 2, 'another user cannot talk to the daemon (fwdctl status exits 2)')
  t.match(other.stderr, /permission denied on the control socket/, `and is told it lacks permission: ${other.stderr.trim()}`)
  t.notMatch(other.stderr, /not running/, 'not that the (running) daemon is not running')
  const otherDoctor = await topo.exec(topo.node.ns, 'env', ['-u', 'NODE_OPTIONS', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', NODE_RUNTIME, FWDCTL, '--socket', socket, 'doctor', '--config', d.configPath], { reject: false })
  t.match(doctorLines(otherDoctor.stdout).get('control-socket') ?? '', /^FAIL {2}control-socket: connecting to .*: permission denied/, 'doctor as another user: the socket refuses it, not "no daemon"')

  // 1: every target down (the check moves to a port nothing listens on), applied by `fwdctl reload`.
  d.writeConfig(webConfig(topo, { resyncSeconds: RESYNC_SECONDS, check: '{ intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2, port: 81 }' }))
  t.equal((await d.ctl(['reload'])).exitCode, 0, 'fwdctl reload exits 0')
  const degraded = await waitExit(d, 1)
  t.equal(degraded.exitCode, 1, 'fwdctl status exits 1 when the listener has no healthy target')
  t.match(degraded.stdout, /NOT SERVING/, 'the table shows the listener not serving')
  d.writeConfig(yaml)
  t.equal((await d.ctl(['reload'])).exitCode, 0, 'reload back')
  t.equal((await waitExit(d, 0)).exitCode, 0, 'fwdctl status exits 0 again once the targets are back')

  // doctor, daemon running: a healthy node passes every check.
  const config = ['--config', d.configPath]
  const good = await d.ctl(['doctor', ...config])
  t.equal(good.exitCode, 0, `doctor passes on a healthy node:\n${good.stdout}`)
  t.match(doctorLines(good.stdout).get('ip-forwarding') ?? '', /^PASS/, 'ip-forwarding passes')

  // doctor, daemon running, forwarding off (no resync turns it back on during the test).
  await topo.exec(topo.node.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0'])
  const off = await d.ctl(['doctor', ...config])
  const offForwarding = (await topo.exec(topo.node.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim()
  t.equal(offForwarding, '0', 'forwarding was still off when doctor finished (no resync in between)')
  t.not(off.exitCode, 0, 'doctor exits non-zero with IP forwarding off')
  const lines = doctorLines(off.stdout)
  t.match(lines.get('ip-forwarding') ?? '', /^FAIL {2}ip-forwarding: net\.ipv4\.ip_forward = 0/, 'doctor names IP forwarding as the failure')
  t.match(lines.get('ip-forwarding') ?? '', /fix: .*sysctl -w net\.ipv4\.ip_forward=1/, 'and says how to fix it')
  const otherFails = [...lines.values()].filter((l) => l.startsWith('FAIL') && !l.includes('ip-forwarding'))
  t.same(otherFails, [], 'every other check passed: the failure is forwarding alone')

  // doctor, daemon stopped, forwarding off: it must still run, and still name forwarding.
  await d.kill('SIGTERM')
  await topo.exec(topo.node.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0'])
  const stopped = await d.ctl(['doctor', ...config])
  t.not(stopped.exitCode, 0, 'doctor exits non-zero with the daemon stopped and forwarding off')
  const stoppedLines = doctorLines(stopped.stdout)
  t.match(stoppedLines.get('ip-forwarding') ?? '', /^FAIL {2}ip-forwarding: net\.ipv4\.ip_forward = 0/, 'doctor names IP forwarding with the daemon stopped')
  t.match(stoppedLines.get('control-socket') ?? '', /^FAIL {2}control-socket: no daemon answering/, 'and says the daemon does not answer')
  t.match(stoppedLines.get('health-port') ?? '', /^FAIL {2}health-port: nothing answers/, 'and that nothing answers on the health port')
  t.match(stoppedLines.get('config') ?? '', /^PASS/, 'the config check still runs')

  // 2 again: the daemon was running and is gone.
  const gone = await d.ctl(['status'])
  t.equal(gone.exitCode, 2, 'fwdctl status exits 2 once the daemon stopped')
  t.match(gone.stderr, /fwdd is not running/, 'saying fwdd is not running')

  // Defect 1: `cleanup --dry-run` ran the cleanup for real. The stopped daemon left its rules in
  // the kernel (as it must); the dry run lists them and the kernel is byte-for-byte unchanged.
  const kernel = async (): Promise<string> => {
    const out: string[] = []
    for (const table of ['nat', 'filter']) out.push((await topo.exec(topo.node.ns, 'iptables-save', ['-t', table])).stdout.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, ''))
    return out.join('\n')
  }
  const before = await kernel()
  t.match(before, /^:FWD-/m, 'the stopped daemon left its chains in place')
  const dry = await ctlAt(topo, socket, ['cleanup', '--dry-run'])
  t.equal(dry.exitCode, 0, 'cleanup --dry-run exits 0')
  t.match(dry.stdout, /^dry run: would remove \(nothing changed\):\n/, 'says it is a dry run')
  t.match(dry.stdout, /-t nat -X FWD-/, 'and lists the chains that would go')
  t.match(dry.stdout, /-t nat -D PREROUTING .*-j FWD-/, 'and the jumps')
  t.equal(await kernel(), before, 'defect 1: cleanup --dry-run changed nothing in the kernel')
  for (const args of [['cleanup', '--dry-run', '--force'], ['cleanup', 'now'], ['cleanup', '--dryrun']]) {
    const r = await ctlAt(topo, socket, args)
    t.equal(r.exitCode, 64, `fwdctl ${args.join(' ')} is a usage error`)
  }
  t.equal(await kernel(), before, 'a mistyped cleanup changed nothing either')
  const real = await ctlAt(topo, socket, ['cleanup'])
  t.equal(real.exitCode, 0, 'cleanup exits 0')
  t.notMatch(await kernel(), /FWD-/, 'the real cleanup removed every FWD- chain and jump')
  const empty = await ctlAt(topo, socket, ['cleanup', '--dry-run'])
  t.match(empty.stdout, /nothing to remove/, 'a dry run on a clean kernel says so')

  // fwdd: strict too, and --version.
  const version = await topo.exec(topo.node.ns, NODE_RUNTIME, [FWDD, '--version'], { reject: false })
  t.equal(version.exitCode, 0)
  t.match(version.stdout, /^fwdd \d+\.\d+\.\d+$/, 'fwdd --version')
  for (const args of [['--bogus'], ['stray'], ['--log-level', 'loud'], ['--config-from', 'imds', '--config', '/x']]) {
    const r = await topo.exec(topo.node.ns, NODE_RUNTIME, [FWDD, ...args], { reject: false })
    t.equal(r.exitCode, 64, `fwdd ${args.join(' ')} exits 64`)
    t.match(r.stderr, /^fwdd: .+\nusage: fwdd /, 'with the problem and the usage')
  }
})

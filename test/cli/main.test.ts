/**
 * Defect 1, fwdctl ignored flags it did not know: every command refuses unknown flags and stray
 * words with its usage and exit 64, before it talks to the daemon (a fake daemon on a real unix
 * socket counts the requests it gets, so "refused" also means "did nothing"). Also -h per command,
 * --version, and the reload summary's exit codes. No network: a unix socket in a temp directory.
 */
import http from 'node:http'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runCli } from '../../src/cli/main.js'
import { COMMANDS } from '../../src/cli/commands.js'
import type { ConfigChanges } from '../../src/control/reload-reply.js'
import type { Status } from '../../src/status.js'

interface Run { code: number; stdout: string; stderr: string }

async function cli(argv: string[], socket: string): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(argv, { stdout: (s) => { stdout += s }, stderr: (s) => { stderr += s }, isTty: false, env: { FWDD_SOCKET: socket } })
  return { code, stdout, stderr }
}

const STATUS: Status = {
  node: { ready: true, draining: false, inSync: true, lastSyncAt: new Date().toISOString(), lastError: null, version: '0.1.0' },
  listeners: [{ name: 'web', protocol: 'tcp', port: 8000, serving: true, targets: [
    { host: '198.18.1.2', label: 'web/0', address: '198.18.1.2', port: 80, state: 'healthy', since: new Date().toISOString(), lastError: null, inRotation: true, weight: 1 },
  ] }],
}

/** A fake daemon: answers like the control socket and records each request. */
async function fakeDaemon(t: { teardown(fn: () => unknown): void }, answers: Record<string, [number, unknown]>): Promise<{ socket: string; requests: string[] }> {
  const socket = path.join(mkdtempSync(path.join(tmpdir(), 'fwdctl-')), 'fwdd.sock')
  const requests: string[] = []
  const server = http.createServer((req, res) => {
    const key = `${req.method} ${req.url}`
    requests.push(key)
    const [code, body] = answers[key] ?? [404, { error: 'not found' }]
    res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { socket, requests }
}

t.test('defect 1: unknown flags and stray words are usage errors (64) that do nothing', async (t) => {
  const d = await fakeDaemon(t, { 'GET /status': [200, STATUS], 'POST /drain': [200, { ok: true }], 'POST /reload': [200, { ok: true }], 'GET /rules': [200, '*nat\nCOMMIT\n'] })
  const cases = [
    ['cleanup', '--dry-run', '--bogus'], ['drain', '--dry-run'], ['reload', '--config', 'other.yaml'], ['rules', '--bogus'],
    ['status', 'extra'], ['status', '--jsno'], ['undrain', 'now'], ['doctor', '--bogus'], ['doctor', '--config'],
    ['help', 'status', 'more'], ['help', 'nope'], ['frobnicate'], ['--bogus', 'status'], ['--socket'],
  ]
  for (const argv of cases) {
    const r = await cli(argv, d.socket)
    t.equal(r.code, 64, `fwdctl ${argv.join(' ')} exits 64`)
    t.match(r.stderr, /^fwdctl: .+\nusage: fwdctl /, `fwdctl ${argv.join(' ')} names the problem and prints the usage`)
    t.equal(r.stdout, '', `fwdctl ${argv.join(' ')} prints nothing on stdout`)
  }
  t.same(d.requests, [], 'the daemon was never asked anything')
  const none = await cli([], d.socket)
  t.equal(none.code, 64, 'no command: 64')
})

t.test('defect 1: -h/--help per command, help COMMAND, --version', async (t) => {
  const d = await fakeDaemon(t, {})
  for (const name of Object.keys(COMMANDS).filter((c) => c !== 'cloud-init')) {
    for (const argv of [[name, '-h'], [name, '--help'], ['--help', name], ['help', name]]) {
      const r = await cli(argv, d.socket)
      t.equal(r.code, 0, `fwdctl ${argv.join(' ')} exits 0`)
      t.match(r.stdout, new RegExp(`^usage: fwdctl \\[--socket PATH\\] ${name}`), `fwdctl ${argv.join(' ')} prints that command's usage`)
    }
  }
  const all = await cli(['-h'], d.socket)
  t.equal(all.code, 0)
  t.match(all.stdout, /cleanup \[--dry-run\]/)
  const v = await cli(['--version'], d.socket)
  t.equal(v.code, 0)
  t.match(v.stdout, /^fwdctl \d+\.\d+\.\d+\n$/)
  t.same(d.requests, [])
})

t.test('--socket before or after the command', async (t) => {
  const d = await fakeDaemon(t, { 'GET /status': [200, STATUS] })
  for (const argv of [['--socket', d.socket, 'status'], ['status', '--socket', d.socket], [`--socket=${d.socket}`, 'status', '--json']]) {
    const r = await cli(argv, '/nonexistent.sock')
    t.equal(r.code, 0, argv.join(' '))
  }
})

t.test('defect 2: labels in status --json, the table and after rules', async (t) => {
  const d = await fakeDaemon(t, { 'GET /status': [200, STATUS], 'GET /rules': [200, '*nat\n:FWD-DNAT - [0:0]\nCOMMIT\n'] })
  const json = await cli(['status', '--json'], d.socket)
  t.equal((JSON.parse(json.stdout) as Status).listeners[0]!.targets[0]!.label, 'web/0')
  const table = await cli(['status'], d.socket)
  t.match(table.stdout, /^ {2}web\/0 +198\.18\.1\.2:80 +healthy/m)
  const rules = await cli(['rules'], d.socket)
  t.equal(rules.code, 0)
  t.match(rules.stdout, /^\*nat\n:FWD-DNAT - \[0:0\]\nCOMMIT\n# target labels[^\n]*\n# web\/0 +tcp\/8000 -> 198\.18\.1\.2:80\n$/)
})

t.test('a status of the wrong shape is a clear error (exit 1), not a crash', async (t) => {
  const bad = { ...STATUS, listeners: [{ ...STATUS.listeners[0], targets: [{ ...STATUS.listeners[0]!.targets[0], state: 'up' }] }] }
  const d = await fakeDaemon(t, { 'GET /status': [200, bad] })
  const r = await cli(['status'], d.socket)
  t.equal(r.code, 1)
  t.match(r.stderr, /status: the daemon's status has the wrong shape \(listeners\.0\.targets\.0\.state: expected unknown\|healthy\|unhealthy\)/)
})

const changes = (over: Partial<ConfigChanges>): ConfigChanges => ({ listeners: { added: [], removed: [], changed: [] }, targets: { added: [], removed: [] }, settings: [], restartNeeded: [], ...over })

t.test('defect 3: reload prints what changed, and exits 3 when some of it waits for a restart', async (t) => {
  const cases: Array<[string, [number, unknown], number, RegExp, RegExp]> = [
    ['nothing changed', [200, { ok: true, changes: changes({}) }], 0, /^reloaded: nothing changed\n$/, /^$/],
    ['a listener added', [200, { ok: true, changes: changes({ listeners: { added: ['api (tcp/9000)'], removed: [], changed: [] } }) }], 0, /^reloaded:\n {2}listener added: api \(tcp\/9000\)\n$/, /^$/],
    ['health.port moved', [200, { ok: true, changes: changes({ restartNeeded: ['the health server listens on 0.0.0.0:8080; the config\'s 0.0.0.0:8081 applies at the next restart'] }) }], 3, /waits for a restart: the health server listens on 0\.0\.0\.0:8080/, /not everything is in force/],
    ['rejected', [422, { ok: false, error: 'c.yaml:3:5: listeners.0.port: write a number' }], 1, /^$/, /reload rejected; the last good config and rules stay in force:\nc\.yaml:3:5/],
    ['an older daemon', [200, { ok: true }], 0, /^reloaded \(this fwdd does not report what changed/, /^$/],
  ]
  for (const [name, answer, code, out, err] of cases) {
    const d = await fakeDaemon(t, { 'POST /reload': answer })
    const r = await cli(['reload'], d.socket)
    t.equal(r.code, code, `${name}: exit ${code}`)
    t.match(r.stdout, out, `${name}: stdout`)
    t.match(r.stderr, err, `${name}: stderr`)
  }
})

t.test('no daemon: 2 for the commands that need it', async (t) => {
  const socket = path.join(mkdtempSync(path.join(tmpdir(), 'fwdctl-')), 'none.sock')
  for (const argv of [['status'], ['rules'], ['reload'], ['drain'], ['undrain']]) {
    const r = await cli(argv, socket)
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.stderr, /fwdd is not running/)
  }
})

/**
 * What fwdctl says when it cannot reach the daemon: "not running" only when nothing listens, a
 * permission hint when the 0600 socket belongs to another user, "not answering" otherwise.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { controlRequest, DaemonUnreachableError } from '../../src/control/control-client.js'

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code} x`), { code })

t.test('messages by cause', async (t) => {
  for (const code of ['ENOENT', 'ECONNREFUSED']) {
    const e = new DaemonUnreachableError('/run/fwdd/fwdd.sock', errno(code))
    t.match(e.message, /^fwdd is not running \(no answer on \/run\/fwdd\/fwdd\.sock: /, `${code}: not running`)
    t.equal(e.reason, code)
  }
  for (const code of ['EACCES', 'EPERM']) {
    const e = new DaemonUnreachableError('/run/fwdd/fwdd.sock', errno(code))
    t.match(e.message, /^permission denied on the control socket \/run\/fwdd\/fwdd\.sock/, `${code}: permission`)
    t.notMatch(e.message, /not running/, `${code}: does not claim the daemon is down`)
  }
  const timeout = new DaemonUnreachableError('/s', new Error('timed out'))
  t.match(timeout.message, /^fwdd is not answering on \/s \(timed out\)/, 'a timeout: not answering')
})

t.test('a missing socket rejects with DaemonUnreachableError saying not running', async (t) => {
  const socket = path.join(mkdtempSync(path.join(tmpdir(), 'fwdd-cc-')), 'none.sock')
  const err = await controlRequest(socket, 'GET', '/status', 1000).catch((e: unknown) => e)
  t.ok(err instanceof DaemonUnreachableError, 'DaemonUnreachableError')
  t.match((err as Error).message, /fwdd is not running/)
})

t.test('the status guard accepts a status and names the first wrong field', async (t) => {
  const { statusProblem } = await import('../../src/control/status-guard.js')
  const good = {
    node: { ready: true, draining: false, inSync: true, lastSyncAt: null, lastError: null, version: '1', azure: { errors: [], warnings: [] } },
    listeners: [{ name: 'web', protocol: 'tcp', port: 1, serving: true, targets: [{ host: 'h', label: 'web/0', address: '198.18.1.2', port: 80, state: 'healthy', since: 'x', lastError: null, weight: 1 }] }],
    extra: 'a newer daemon may add fields',
  }
  t.equal(statusProblem(good), null)
  const cases: Array<[string, (s: any) => void, string]> = [
    ['not an object', () => {}, 'status: expected an object'],
    ['node.ready', (s) => { s.node.ready = 'yes' }, 'node.ready: expected true or false'],
    ['node.lastError', (s) => { s.node.lastError = 3 }, 'node.lastError: expected a string or null'],
    ['azure.errors', (s) => { s.node.azure.errors = [1] }, 'node.azure.errors: expected a list of strings'],
    ['listeners', (s) => { s.listeners = {} }, 'listeners: expected a list'],
    ['protocol', (s) => { s.listeners[0].protocol = 'sctp' }, 'listeners.0.protocol: expected tcp|udp'],
    ['target port', (s) => { s.listeners[0].targets[0].port = '80' }, 'listeners.0.targets.0.port: expected a number'],
    ['target label', (s) => { s.listeners[0].targets[0].label = 0 }, 'listeners.0.targets.0.label: expected a string'],
  ]
  for (const [name, mutate, want] of cases) {
    const s = name === 'not an object' ? 'text' : structuredClone(good)
    mutate(s)
    t.equal(statusProblem(s), want, name)
  }
})

t.test('the reload reply guard', async (t) => {
  const { isReloadReply } = await import('../../src/control/reload-reply.js')
  const changes = { listeners: { added: [], removed: [], changed: [] }, targets: { added: [], removed: [] }, settings: [], restartNeeded: ['x'] }
  t.ok(isReloadReply({ ok: true, changes }))
  t.ok(isReloadReply({ ok: true }), 'an older daemon')
  t.ok(isReloadReply({ ok: false, error: 'bad' }))
  t.notOk(isReloadReply({ ok: false }))
  t.notOk(isReloadReply({ ok: true, changes: { ...changes, restartNeeded: 'x' } }))
  t.notOk(isReloadReply('ok'))
})

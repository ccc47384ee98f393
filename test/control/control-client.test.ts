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

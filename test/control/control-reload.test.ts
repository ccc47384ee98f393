/**
 * The control socket's reload answer (src/control/reload-reply.ts): what changed on success, 422
 * with the problems when rejected, and `{ ok: true }` alone from a handler that does not say.
 * Tested with inject(), no socket.
 */
import t from 'tap'
import { buildControlServer } from '../../src/control/control-server.js'
import { isReloadReply, type ConfigChanges } from '../../src/control/reload-reply.js'

const changes: ConfigChanges = { listeners: { added: ['api (tcp/9000)'], removed: [], changed: [] }, targets: { added: [], removed: [] }, settings: [], restartNeeded: ['the health server listens on 0.0.0.0:8080; ...'] }

t.test('POST /reload answers in the reply shape fwdctl reads', async (t) => {
  const cases: Array<[string, string | ConfigChanges | null, number, unknown]> = [
    ['changes', changes, 200, { ok: true, changes }],
    ['rejected', 'c.yaml:1:1: listeners: required', 422, { ok: false, error: 'c.yaml:1:1: listeners: required' }],
    ['silent handler', null, 200, { ok: true }],
  ]
  for (const [name, answer, code, body] of cases) {
    const app = buildControlServer({ status: async () => { throw new Error('unused') }, rules: async () => '', reload: async () => answer, setDraining: async () => {} })
    const res = await app.inject({ method: 'POST', url: '/reload' })
    t.equal(res.statusCode, code, name)
    t.same(res.json(), body, name)
    t.ok(isReloadReply(res.json()), `${name}: passes the client's guard`)
    await app.close()
  }
})

// The control socket's own guards: a mistyped --socket never deletes a regular file, and the
// server caps its connections. Real unix sockets in a temporary directory.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { buildControlServer, CONTROL_MAX_CONNECTIONS, listenControl } from '../../src/control/control-server.js'

const handlers = { status: async () => { throw new Error('unused') }, rules: async () => '', reload: async () => null, setDraining: async () => {} }

t.test('--socket PATH pointing at a regular file: refused, the file is kept', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-ctl-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'config.yaml')
  writeFileSync(file, 'listeners: []\n')
  const app = buildControlServer(handlers)
  t.teardown(() => app.close())
  await t.rejects(listenControl(app, file), /exists and is not a socket; fwdd will not delete it/)
  t.equal(readFileSync(file, 'utf8'), 'listeners: []\n', 'the file is untouched')
})

t.test('a stale socket file is replaced, and connections are capped', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-ctl-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const sock = path.join(dir, 'fwdd.sock')
  const first = buildControlServer(handlers)
  await listenControl(first, sock)
  first.server.close() // leaves the socket file behind, as a crash would
  const app = buildControlServer(handlers)
  t.teardown(() => app.close())
  await listenControl(app, sock)
  t.equal(app.server.maxConnections, CONTROL_MAX_CONNECTIONS)
})

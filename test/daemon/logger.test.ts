/**
 * Defect 6, logs: levels are words, the pretty form is one readable line, and the health server
 * (a real fastify listening on loopback) neither repeats its component nor prints "Server listening".
 */
import { PassThrough } from 'node:stream'
import t from 'tap'
import { createLogger, prettyLine } from '../../src/daemon/logger.js'
import { buildServer } from '../../src/server/build-server.js'

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (c: Buffer) => { text += c.toString() })
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') }
}

t.test('defect 6: JSON lines carry the level as a word', async (t) => {
  const c = capture()
  const log = createLogger({ level: 'info', format: 'json', destination: c.stream })
  log.child({ component: 'reconciler' }).warn({ listener: 'web', target: 'web/0' }, 'target left rotation')
  log.debug('not shown at info')
  await new Promise((r) => setImmediate(r))
  const [line, ...more] = c.lines()
  t.same(more, [])
  const o = JSON.parse(line!) as Record<string, unknown>
  t.match(o, { level: 'warn', component: 'reconciler', listener: 'web', target: 'web/0', msg: 'target left rotation' })
  t.match(String(o.time), /^\d{4}-\d\d-\d\dT/)
})

t.test('defect 6: the pretty form is one readable line per entry', async (t) => {
  const c = capture()
  const log = createLogger({ level: 'info', format: 'pretty', destination: c.stream })
  log.child({ component: 'reconciler' }).warn({ listener: 'web', reason: 'connect ECONNREFUSED' }, 'target left rotation')
  await new Promise((r) => setImmediate(r))
  t.match(c.lines(), [/^\d{4}-\d\d-\d\dT\S+ WARN  reconciler: target left rotation listener=web reason="connect ECONNREFUSED"$/])
  t.equal(prettyLine('not json'), 'not json\n', 'a line that is not JSON passes through')
})

t.test('defect 6: no "Server listening" line and no duplicate component key', async (t) => {
  const c = capture()
  const log = createLogger({ level: 'info', format: 'json', destination: c.stream })
  const app = buildServer({
    status: () => ({ node: { ready: true, draining: false, inSync: true, lastSyncAt: null, lastError: null, version: '0' }, listeners: [] }),
    nodeHealth: () => ({ healthy: false, reasons: ['not-in-sync'] }),
    metricsText: async () => '',
    logger: log.child({ component: 'health-server' }),
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.text())
  await app.close()
  await new Promise((r) => setImmediate(r))
  const lines = c.lines()
  t.notMatch(lines.join('\n'), /Server listening/)
  t.ok(lines.length > 0, 'the health change was logged')
  for (const l of lines) t.equal(l.match(/"component":/g)?.length ?? 0, 1, `one component key: ${l}`)
})

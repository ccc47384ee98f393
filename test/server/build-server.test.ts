// Route tests for the health port. Addresses here are from the test plan (198.18.0.0/15) and never
// leave the process: the point is to prove they never reach a response body.
import t, { type Test } from 'tap'
import net from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { buildServer, HEALTH_SERVER_TIMEOUTS, type HealthServerDeps, type NodeHealth } from '../../src/server/build-server.js'
import type { Status, ListenerStatus } from '../../src/status.js'

const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}\b/

function listener(name: string, serving: boolean, states: Array<'healthy' | 'unhealthy' | 'unknown'>): ListenerStatus {
  return {
    name,
    protocol: 'tcp',
    port: 8000,
    serving,
    targets: states.map((state, i) => ({
      host: `198.18.0.${10 + i}`,
      address: `198.18.0.${10 + i}`,
      port: 8000,
      state,
      since: '2024-01-01T00:00:00.000Z',
      lastError: state === 'unhealthy' ? 'connect ECONNREFUSED 198.18.0.10:8000' : null,
      inRotation: state === 'healthy',
    })),
  }
}

function status(over: { draining?: boolean; inSync?: boolean; listeners?: ListenerStatus[] } = {}): Status {
  const draining = over.draining ?? false
  const inSync = over.inSync ?? true
  const listeners = over.listeners ?? [listener('web', !draining && inSync, ['healthy', 'unhealthy']), listener('dns', !draining && inSync, ['healthy'])]
  return {
    node: {
      ready: !draining && inSync && listeners.every((l) => l.serving),
      draining,
      inSync,
      lastSyncAt: '2024-01-01T00:00:00.000Z',
      lastError: inSync ? null : 'iptables-restore exited 4 for 198.18.0.10',
      version: '0.1.0',
    },
    listeners,
  }
}

const HEALTHY: NodeHealth = { healthy: true, reasons: [] }

function deps(s: Status, health: NodeHealth = HEALTHY, metrics = '# HELP fwdd_up x\nfwdd_up 1\n'): HealthServerDeps {
  return { status: () => s, nodeHealth: () => health, metricsText: async () => metrics, logger: false }
}

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS'

/** Injects one request into a fresh server and checks that nothing address-like leaves it. */
async function get(t: Test, d: HealthServerDeps, url: string, method: Method = 'GET') {
  const app = buildServer(d)
  t.teardown(() => app.close())
  const res = await app.inject({ method, url })
  const headers = Object.entries(res.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\n')
  t.notMatch(`${headers}\n\n${res.body}`, IPV4, `${method} ${url}: no address in the response`)
  return res
}

t.test('ready node: every /lb route answers 200 ok', async (t) => {
  const d = deps(status())
  for (const url of ['/lb/web', '/lb/dns', '/lb']) {
    const res = await get(t, d, url)
    t.equal(res.statusCode, 200, url)
    t.equal(res.body, 'ok\n', url)
    t.equal(res.headers['content-type'], 'text/plain; charset=utf-8')
    t.equal(res.headers['cache-control'], 'no-store')
  }
  const head = await get(t, d, '/lb/web', 'HEAD')
  t.equal(head.statusCode, 200)
  t.equal(head.body, '')
})

t.test('settleMs: a 200 waits and reads the status again, so a drift seen meanwhile answers 503; a 503 goes at once', async (t) => {
  let current = status()
  let reads = 0
  const d: HealthServerDeps = { ...deps(current), status: () => (reads++, current), settleMs: 40 }
  for (const url of ['/lb/web', '/lb']) {
    current = status()
    // The watch reports another tool's flush 10 ms after the probe came: within the settle.
    setTimeout(() => { current = status({ inSync: false }) }, 10)
    const at = performance.now()
    const res = await get(t, d, url)
    t.equal(res.statusCode, 503, `${url}: the drift is in the answer`)
    t.match(res.body, /not-in-sync/)
    t.ok(performance.now() - at >= 35, `${url}: answered after the settle`)
  }
  current = status()
  reads = 0
  t.equal((await get(t, d, '/lb/web')).statusCode, 200, 'nothing changed: 200')
  t.equal(reads, 2, 'read before and after the settle')
  current = status({ inSync: false })
  reads = 0
  const at = performance.now()
  t.equal((await get(t, d, '/lb')).statusCode, 503)
  t.ok(performance.now() - at < 30 && reads === 1, 'a 503 is answered at once, on one read')
})

t.test('draining: every /lb answer is 503 while /health stays Healthy', async (t) => {
  // Even if a listener still claimed to serve, draining wins.
  const d = deps(status({ draining: true, listeners: [listener('web', true, ['healthy'])] }))
  let res = await get(t, d, '/lb/web')
  t.equal(res.statusCode, 503)
  t.equal(res.body, 'unavailable: draining\n')
  res = await get(t, d, '/lb')
  t.equal(res.statusCode, 503)
  t.equal(res.body, 'unavailable: draining (1 of 1 listeners)\n')
  res = await get(t, d, '/lb/web', 'HEAD')
  t.equal(res.statusCode, 503)
  res = await get(t, d, '/health')
  t.equal(res.statusCode, 200)
  t.equal(res.body, '{"ApplicationHealthState":"Healthy"}')
})

t.test('all targets of one listener down: that listener and /lb are 503, the other 200', async (t) => {
  const d = deps(status({ listeners: [listener('web', false, ['unhealthy', 'unhealthy']), listener('dns', true, ['healthy'])] }))
  let res = await get(t, d, '/lb/web')
  t.equal(res.statusCode, 503)
  t.equal(res.body, 'unavailable: no-target-in-rotation\n')
  res = await get(t, d, '/lb/dns')
  t.equal(res.statusCode, 200)
  t.equal(res.body, 'ok\n')
  res = await get(t, d, '/lb')
  t.equal(res.statusCode, 503)
  t.equal(res.body, 'unavailable: no-target-in-rotation (1 of 2 listeners)\n')
  res = await get(t, d, '/health')
  t.equal(res.body, '{"ApplicationHealthState":"Healthy"}', 'target outage does not make the node unhealthy')
})

t.test('rules not in sync: /lb routes are 503, /health reports the node Unhealthy', async (t) => {
  const d = deps(status({ inSync: false }), { healthy: false, reasons: ['not-in-sync'] })
  let res = await get(t, d, '/lb/web')
  t.equal(res.statusCode, 503)
  t.equal(res.body, 'unavailable: not-in-sync\n')
  res = await get(t, d, '/lb')
  t.equal(res.statusCode, 503)
  t.equal(res.body, 'unavailable: not-in-sync (2 of 2 listeners)\n')
  res = await get(t, d, '/health')
  t.equal(res.statusCode, 200)
  t.equal(res.body, '{"ApplicationHealthState":"Unhealthy"}')
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.same(JSON.parse(res.body), { ApplicationHealthState: 'Unhealthy' })
})

t.test('unknown listener is 404 and the name is not echoed', async (t) => {
  const d = deps(status())
  for (const url of ['/lb/nope', '/lb/198.18.0.10', '/lb/', '/lb/198.18.0.10' + 'x'.repeat(64)]) {
    const res = await get(t, d, url)
    t.equal(res.statusCode, 404, url)
    t.ok(res.body === 'unknown listener\n' || res.body === 'not found\n', `${url}: ${JSON.stringify(res.body)}`)
  }
  t.equal((await get(t, d, '/lb/nope')).body, 'unknown listener\n')
  const bad = await get(t, d, '/lb/198.18.0.10%zz')
  t.equal(bad.statusCode, 400)
  t.equal(bad.body, 'bad request\n')
})

t.test('no listeners: /lb is 503 no-listeners', async (t) => {
  const res = await get(t, deps(status({ listeners: [] })), '/lb')
  t.equal(res.statusCode, 503)
  t.equal(res.body, 'unavailable: no-listeners\n')
})

t.test('status() throwing makes /lb routes 503, not 500', async (t) => {
  const d: HealthServerDeps = { ...deps(status()), status: () => { throw new Error('boom 198.18.0.10') } }
  for (const url of ['/lb', '/lb/web']) {
    const res = await get(t, d, url)
    t.equal(res.statusCode, 503)
    t.equal(res.body, 'unavailable: status-error\n')
  }
})

t.test('/health: Healthy, and nodeHealth() throwing counts as Unhealthy', async (t) => {
  let res = await get(t, deps(status()), '/health')
  t.equal(res.statusCode, 200)
  t.equal(res.body, '{"ApplicationHealthState":"Healthy"}')
  res = await get(t, deps(status()), '/health', 'HEAD')
  t.equal(res.statusCode, 200)
  const d: HealthServerDeps = { ...deps(status()), nodeHealth: () => { throw new Error('x') } }
  res = await get(t, d, '/health')
  t.equal(res.statusCode, 200)
  t.equal(res.body, '{"ApplicationHealthState":"Unhealthy"}')
})

t.test('/metrics serves the exposition text with the Prometheus content type', async (t) => {
  let res = await get(t, deps(status()), '/metrics')
  t.equal(res.statusCode, 200)
  t.equal(res.body, '# HELP fwdd_up x\nfwdd_up 1\n')
  t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  const d: HealthServerDeps = { ...deps(status()), metricsText: async () => { throw new Error('collect 198.18.0.10') } }
  res = await get(t, d, '/metrics')
  t.equal(res.statusCode, 500)
  t.equal(res.body, 'metrics unavailable\n')
})

t.test('other methods are 405 with Allow, unknown paths 404', async (t) => {
  const d = deps(status())
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS'] as const) {
    for (const url of ['/lb', '/lb/web', '/health', '/metrics', '/other']) {
      const res = await get(t, d, url, method)
      t.equal(res.statusCode, 405, `${method} ${url}`)
      t.equal(res.body, 'method not allowed\n')
      t.equal(res.headers.allow, 'GET, HEAD')
    }
  }
  const res = await get(t, d, '/admin')
  t.equal(res.statusCode, 404)
  t.equal(res.body, 'not found\n')
})

t.test('a request body over the limit is refused without echoing it', async (t) => {
  const app = buildServer(deps(status()))
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/lb', payload: '198.18.0.10 '.repeat(200), headers: { 'content-type': 'text/plain' } })
  t.ok(res.statusCode === 405 || res.statusCode === 413, String(res.statusCode))
  t.notMatch(res.body, IPV4)
})

t.test('timeouts are applied to the real http server', async (t) => {
  const app = buildServer(deps(status()))
  t.teardown(() => app.close())
  await app.ready()
  t.equal(app.server.timeout, HEALTH_SERVER_TIMEOUTS.connectionTimeout)
  t.equal(app.server.requestTimeout, HEALTH_SERVER_TIMEOUTS.requestTimeout)
  t.equal(app.server.keepAliveTimeout, HEALTH_SERVER_TIMEOUTS.keepAliveTimeout)
  t.equal(app.initialConfig.bodyLimit, HEALTH_SERVER_TIMEOUTS.bodyLimit)
  t.ok(HEALTH_SERVER_TIMEOUTS.requestTimeout <= 10_000 && HEALTH_SERVER_TIMEOUTS.connectionTimeout <= 10_000)
})

t.test('a client that connects and stays silent is disconnected', async (t) => {
  const app = buildServer({ ...deps(status()), timeouts: { connectionTimeout: 200 } })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as net.AddressInfo
  const started = Date.now()
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.write('GET /lb HTTP/1.1\r\nHost: x\r\n') // headers never finish
    socket.on('close', () => resolve())
    socket.on('error', () => undefined)
    setTimeout(() => { socket.destroy(); reject(new Error('socket still open after 3s')) }, 3000).unref()
  })
  t.ok(Date.now() - started < 3000, 'closed by the server')
})

t.test('a change of node health is logged once, with its reason codes', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb() } })
  let health: NodeHealth = { healthy: false, reasons: ['ip-forwarding-off'] }
  const app = buildServer({ ...deps(status()), nodeHealth: () => health, logger: pino(stream) })
  t.teardown(() => app.close())
  await app.inject('/health')
  await app.inject('/health')
  health = HEALTHY
  await app.inject('/health')
  const changes = lines.filter((l) => l.msg === 'node health changed')
  t.same(changes.map((l) => [l.level, l.healthy, l.reasons, l.component]), [
    [40, false, ['ip-forwarding-off'], 'health-server'],
    [30, true, [], 'health-server'],
  ])
  t.equal(lines.filter((l) => l.msg === 'incoming request').length, 0, 'no per-request logging')
})

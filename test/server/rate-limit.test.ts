// The token bucket behind the per-source request limit (pure), and its effect on a real server.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { limitRequests, take } from '../../src/server/rate-limit.js'
import { FakeClock } from '../helpers/fake-clock.js'

t.test('burst, then the sustained rate', async (t) => {
  const limit = { perSecond: 10, burst: 3 }
  let b
  const out: boolean[] = []
  for (let i = 0; i < 5; i++) {
    const r = take(b, limit, 0)
    b = r.bucket
    out.push(r.ok)
  }
  t.same(out, [true, true, true, false, false], 'three at once, then refused')
  t.equal(take(b, limit, 100).ok, true, 'one token back after 1/rate seconds')
  t.equal(take(take(b, limit, 100).bucket, limit, 100).ok, false)
  t.equal(take(b, limit, 60_000).bucket.tokens, 2, 'never more than the burst (3, minus the one taken)')
})

/** One GET over a fresh connection from `from`: the status code, or 'closed'. */
function get(port: number, from: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/x', localAddress: from, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(String(res.statusCode)))
    })
    req.on('error', () => resolve('closed'))
  })
}

t.test('requests past the limit lose their connection; reserved sources never do', async (t) => {
  const clock = new FakeClock()
  const app = Fastify({ logger: false })
  const l = limitRequests(app, { perSecond: 1, burst: 2, reserved: ['127.0.0.9'] }, clock)
  app.get('/x', async () => 'ok')
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const port = (app.server.address() as AddressInfo).port
  const codes: string[] = []
  for (let i = 0; i < 3; i++) codes.push(await get(port, '127.0.0.1'))
  t.same(codes, ['200', '200', 'closed'], 'two (the burst), then the connection is closed')
  t.equal(l.refused(), 1)
  await clock.advance(1000)
  t.equal(await get(port, '127.0.0.1'), '200', 'a token back after a second')
  for (let i = 0; i < 5; i++) t.equal(await get(port, '127.0.0.9'), '200', 'reserved: never limited')
})

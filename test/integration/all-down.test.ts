/**
 * All targets down: `whenAllDown: reject` refuses new connections at once; `all` spreads them over
 * every target. The targets are made "down" by checking a port nothing listens on (check.port 81)
 * while they keep serving on 80, so what the test sees is the rules' doing, not the servers'.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { httpGet, sleep, startDaemon, startServers, webConfig, type RunningDaemon } from '../helpers/daemon.js'

const URL = 'http://198.18.0.1:8000/'
const DOWN_CHECK = '{ intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2, port: 81 }'

async function waitAllUnhealthy(d: RunningDaemon): Promise<void> {
  const until = Date.now() + 10000
  let last = ''
  for (;;) {
    // The daemon may not be listening on its socket yet: keep asking until the deadline.
    const s = await d.status().catch((err: unknown) => { last = String(err); return null })
    if (s?.node.inSync && s.listeners[0]!.targets.every((x) => x.state === 'unhealthy')) return
    if (s) last = JSON.stringify(s)
    if (Date.now() > until) throw new Error(`targets not all unhealthy: ${last}\n${d.log()}`)
    await sleep(100)
  }
}

t.test('whenAllDown: reject (the default) refuses new connections at once', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'ad' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, webConfig(topo, { check: DOWN_CHECK }), { waitReady: false })
  await waitAllUnhealthy(d)
  const s = await d.status()
  t.equal(s.listeners[0]!.serving, false, 'the listener is not serving')
  t.ok(s.listeners[0]!.targets.every((x) => x.inRotation === false), 'no target in rotation')
  for (let i = 0; i < 5; i++) {
    const started = Date.now()
    const r = await httpGet(topo, URL, { timeoutS: 2 })
    const ms = Date.now() - started
    t.equal(r.code, 7, `connection refused (curl exit 7), not a timeout: ${r.body}`)
    t.ok(ms < 500, `failed fast: ${ms} ms`)
  }
  const ctl = await d.ctl(['status'])
  t.equal(ctl.exitCode, 1, 'fwdctl status: degraded')
})

t.test('whenAllDown: all spreads new connections over every target', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'ad' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, webConfig(topo, { check: DOWN_CHECK, whenAllDown: 'all' }), { waitReady: false })
  await waitAllUnhealthy(d)
  const s = await d.status()
  t.ok(s.listeners[0]!.targets.every((x) => x.inRotation === true), 'every target in rotation (fail open)')
  const counts = new Map<string, number>()
  for (let i = 0; i < 30; i++) {
    const r = await httpGet(topo, URL)
    t.ok(r.ok, `connection ${i} succeeds`)
    counts.set(r.body, (counts.get(r.body) ?? 0) + 1)
  }
  t.same([...counts.keys()].sort(), ['s0', 's1'], `spread: ${JSON.stringify(Object.fromEntries(counts))}`)
})

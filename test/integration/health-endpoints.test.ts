/**
 * The health port with the real daemon: every target down makes `/lb/<name>` (and `/lb`) answer 503
 * within one check round while `/health` stays Healthy (an on-premises outage must not get the node
 * repaired); IP forwarding switched off behind the daemon's back is repaired within one resync
 * period. The endpoints are asked from inside the node namespace (127.0.0.1:8080, as the health
 * extension does) and from the client namespace (198.18.0.1:8080, as the LB probe does).
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import type { ResultPromise } from 'execa'
import { createTopology, type Topology } from '../helpers/netns.js'
import { ECHO_SERVER, httpGet, sleep, startDaemon, waitTcp, webConfig } from '../helpers/daemon.js'

const HEALTHY = '{"ApplicationHealthState":"Healthy"}'
const UNHEALTHY = '{"ApplicationHealthState":"Unhealthy"}'
const CHECK = { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }
const CHECK_YAML = `{ intervalMs: ${CHECK.intervalMs}, timeoutMs: ${CHECK.timeoutMs}, fall: ${CHECK.fall}, rise: ${CHECK.rise} }`
/**
 * One check round for a target going down: `fall` failed checks, `interval` apart, the last one
 * taking up to `timeout`, then one sync. Slack for a loaded 2-core CI machine running tap in parallel.
 */
const ONE_ROUND_MS = CHECK.fall * CHECK.intervalMs + CHECK.timeoutMs
const SLACK_MS = 1500

interface Answer {
  status: number
  body: string
}

/** GET with curl inside `ns`; `status` 0 when curl could not get an answer at all. */
async function get(topo: Topology, ns: string, url: string): Promise<Answer> {
  const r = await topo.exec(ns, 'curl', ['-sS', '-m', '2', '-o', '-', '-w', '\n%{http_code}', url], { reject: false })
  const out = r.stdout
  const cut = out.lastIndexOf('\n')
  return { status: Number(out.slice(cut + 1)) || 0, body: out.slice(0, cut).trim() }
}

const node = (topo: Topology, p: string): Promise<Answer> => get(topo, topo.node.ns, `http://127.0.0.1:8080${p}`)

/**
 * Starts one echo server in server namespace `i`; `stop()` takes it down. (Not the child itself:
 * an async function returning a child process would wait for it to exit, as it is a thenable.)
 */
async function startServer(topo: Topology, i: number): Promise<{ stop(): Promise<void> }> {
  const child: ResultPromise = topo.spawn(topo.servers[i]!.ns, process.execPath, [ECHO_SERVER, `s${i}`, '80'])
  await waitTcp(topo, topo.servers[i]!.ns, topo.servers[i]!.address, 80)
  return {
    async stop() {
      child.kill('SIGKILL')
      await child.catch(() => {})
    },
  }
}

t.test('all targets down: /lb/<name> 503 within one check round, /health stays Healthy', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'he' })
  t.teardown(() => topo.destroy())
  const servers = [await startServer(topo, 0), await startServer(topo, 1)]
  const d = await startDaemon(topo, webConfig(topo, { check: CHECK_YAML }))

  // Serving: every endpoint from the node, and the LB's view from the client namespace.
  t.same(await node(topo, '/lb/web'), { status: 200, body: 'ok' }, '/lb/web 200 while serving')
  t.same(await node(topo, '/lb'), { status: 200, body: 'ok' }, '/lb 200 while serving')
  t.same(await node(topo, '/health'), { status: 200, body: HEALTHY }, '/health Healthy')
  t.same(await get(topo, topo.client.ns, 'http://198.18.0.1:8080/lb/web'), { status: 200, body: 'ok' }, '/lb/web from the client namespace')
  t.same(await get(topo, topo.client.ns, 'http://198.18.0.1:8080/health'), { status: 200, body: HEALTHY }, '/health from the client namespace')
  t.equal((await node(topo, '/lb/nosuch')).status, 404, 'unknown listener: 404')
  t.ok((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, 'traffic flows through the listener')

  // Every target down.
  const downAt = Date.now()
  await Promise.all(servers.map((s) => s.stop()))
  let lb: Answer = { status: 0, body: '' }
  const healthSeen = new Set<string>()
  const until = downAt + ONE_ROUND_MS + SLACK_MS + 3000
  for (;;) {
    const [a, h] = await Promise.all([node(topo, '/lb/web'), node(topo, '/health')])
    lb = a
    healthSeen.add(`${h.status} ${h.body}`)
    if (lb.status === 503 || Date.now() > until) break
    await sleep(50)
  }
  const took = Date.now() - downAt
  t.equal(lb.status, 503, `/lb/web 503 once every target is down: ${JSON.stringify(lb)}`)
  t.equal(lb.body, 'unavailable: no-target-in-rotation', '503 says why, without addresses')
  t.ok(took <= ONE_ROUND_MS + SLACK_MS, `503 within one check round (${took} ms; round ${ONE_ROUND_MS} ms + ${SLACK_MS} ms slack)`)
  t.same([...healthSeen], [`200 ${HEALTHY}`], '/health stayed Healthy while the targets went down')

  // Stays so: several more probes over a few check intervals.
  for (let i = 0; i < 5; i++) {
    t.same(await node(topo, '/health'), { status: 200, body: HEALTHY }, `/health still Healthy with every target down (${i})`)
    await sleep(CHECK.intervalMs)
  }
  t.equal((await node(topo, '/lb')).status, 503, '/lb 503 with its only listener down')
  t.same(await get(topo, topo.client.ns, 'http://198.18.0.1:8080/lb/web'), lb, 'the LB sees the same 503 from the client namespace')
  t.same(await get(topo, topo.client.ns, 'http://198.18.0.1:8080/health'), { status: 200, body: HEALTHY }, '/health Healthy from the client namespace')
  const status = await d.status()
  t.ok(status.listeners[0]!.targets.every((x) => x.state === 'unhealthy'), 'status agrees: every target unhealthy')
  t.equal((await d.ctl(['status'])).exitCode, 1, 'fwdctl status: degraded')

  // One target back: /lb/web 200 again after `rise` checks.
  servers[0] = await startServer(topo, 0)
  const back = Date.now() + CHECK.rise * CHECK.intervalMs + CHECK.timeoutMs + SLACK_MS + 3000
  while ((await node(topo, '/lb/web')).status !== 200 && Date.now() < back) await sleep(50)
  t.same(await node(topo, '/lb/web'), { status: 200, body: 'ok' }, '/lb/web 200 again once a target is back')
  t.same(await node(topo, '/health'), { status: 200, body: HEALTHY }, '/health Healthy after the target came back')
})

t.test('IP forwarding switched off is repaired within one resync period', async (t) => {
  const topo = await createTopology({ servers: 1, prefix: 'he' })
  t.teardown(() => topo.destroy())
  await startServer(topo, 0)
  const resyncSeconds = 2
  const d = await startDaemon(topo, webConfig(topo, { check: CHECK_YAML, resyncSeconds }))
  t.same(await node(topo, '/health'), { status: 200, body: HEALTHY }, '/health Healthy before')

  const sysctl = async (): Promise<string> => (await topo.exec(topo.node.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim()
  await topo.exec(topo.node.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0'])
  const offAt = Date.now()
  // The daemon may repair it between the write and this read (a resync is due every second here
  // or two); its log line then proves it saw it off.
  const first = await sysctl()
  t.ok(first === '0' || /ip_forward was 0/.test(d.log()), `forwarding is off (or already repaired): ${first}`)

  // The daemon re-checks at every resync: it either turns forwarding back on or reports Unhealthy.
  // Until it has looked, /health may say either; record what it said.
  const seen = new Set<string>()
  let value = '0'
  const until = offAt + resyncSeconds * 1000 + SLACK_MS + 2000
  while (Date.now() < until) {
    seen.add((await node(topo, '/health')).body)
    value = await sysctl()
    if (value === '1') break
    await sleep(50)
  }
  const took = Date.now() - offAt
  t.equal(value, '1', 'the daemon turned net.ipv4.ip_forward back on')
  t.ok(took <= resyncSeconds * 1000 + SLACK_MS, `within one resync period (${took} ms; period ${resyncSeconds} s)`)
  t.ok([...seen].every((b) => b === HEALTHY || b === UNHEALTHY), `/health only ever answered one of the two bodies: ${[...seen].join(', ')}`)
  t.comment(`/health while forwarding was off: ${[...seen].join(', ')}`)
  t.match(d.log(), /ip_forward was 0; turned it on/, 'the daemon logged the repair')

  // Once repaired, /health is Healthy (it may lag the sysctl by the time the daemon takes to re-read it).
  const healthyBy = Date.now() + 3000
  let h = await node(topo, '/health')
  while (h.body !== HEALTHY && Date.now() < healthyBy) {
    await sleep(50)
    h = await node(topo, '/health')
  }
  t.same(h, { status: 200, body: HEALTHY }, '/health Healthy after the repair')
  t.ok((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, 'traffic flows again')
  const s = await d.status()
  t.equal(s.node.ipForwarding, true, 'status reports forwarding on')
})

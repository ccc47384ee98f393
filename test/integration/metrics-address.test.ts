/**
 * `metrics:` keeps /metrics off the network-facing health port: with `metrics: { address: 127.0.0.1 }`
 * the health port answers 404 on /metrics (probes still work) and the metrics come from loopback:9180.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates, and the node namespace's loopback.
 */
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { startDaemon, startServers, webConfig } from '../helpers/daemon.js'

t.test('metrics on their own loopback address', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'ma' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, `metrics: { address: 127.0.0.1 }\n${webConfig(topo)}`)
  const code = async (ns: string, url: string) => (await topo.exec(ns, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-m', '2', url], { reject: false })).stdout
  t.equal(await code(topo.client.ns, 'http://198.18.0.1:8080/metrics'), '404', 'not on the health port')
  t.equal(await code(topo.client.ns, 'http://198.18.0.1:8080/lb/web'), '200', 'probes still there')
  t.equal(await code(topo.client.ns, 'http://198.18.0.1:9180/metrics'), '000', 'not reachable from the network')
  const body = await topo.exec(topo.node.ns, 'curl', ['-sS', '-m', '2', 'http://127.0.0.1:9180/metrics'])
  t.match(body.stdout, /fwdd_/, 'served on loopback:9180')
  t.equal(await code(topo.node.ns, 'http://127.0.0.1:9180/lb/web'), '404', 'the metrics address has only /metrics')
  await d.kill()
})

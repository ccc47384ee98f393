// Every forwarding behaviour on the iptables backend (the suite: forwarding-suite.ts), and the
// iptables-legacy variant. Address plan: 198.18.0.0/15 inside namespaces this test creates.
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { FWDCTL, NODE_RUNTIME, httpGet, startDaemon, startServers } from '../helpers/daemon.js'
import { iptablesText } from '../helpers/backends.js'
import { config, forwardingSuite } from './forwarding-suite.js'

const URL = 'http://198.18.0.1:8000/'

forwardingSuite('iptables')

t.test('forwarding with iptables-legacy', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'fwl' })
  t.teardown(() => topo.destroy())
  await startServers(topo, { udpPort: 5353 })
  const d = await startDaemon(topo, config(topo, 'iptables'), { env: { FWDD_IPTABLES: 'legacy' } })
  t.teardown(() => d.kill('SIGKILL'))
  t.ok((await httpGet(topo, URL)).ok, 'forwarded with legacy rules')
  t.equal((await d.status()).node.backend, 'iptables-legacy')
  const legacy = async (): Promise<string> => (await topo.exec(topo.node.ns, 'iptables-legacy-save', [])).stdout
  t.match(await legacy(), /-A FWD-SERVICES .*--dport 8000 .* -j DNAT/)
  t.notMatch(await iptablesText(topo), /FWD-/, 'nothing written to iptables-nft')
  await d.kill('SIGTERM')
  const r = await topo.exec(topo.node.ns, 'env', ['FWDD_IPTABLES=legacy', NODE_RUNTIME, FWDCTL, '--socket', d.socket, 'cleanup'])
  t.match(r.stdout, /removed \d+ chains/)
  t.notMatch(await legacy(), /FWD-/)
})

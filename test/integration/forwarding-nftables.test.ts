// Forwarding on the nftables backend (`dataplane: { backend: nftables }`) on the real kernel with
// the real daemon: spread over both targets, allow-list refusal, fwdctl rules showing the nft
// table, per-target bytes from conntrack accounting, nothing written to iptables.
// Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { sleep, startDaemon, startServers } from '../helpers/daemon.js'

const config = (topo: Topology): string => `health: { port: 8080 }
sources: [198.18.0.0/24]
sync: { resyncSeconds: 2 }
listeners:
  - name: web
    port: 8000
    check: { intervalMs: 300, timeoutMs: 300 }
    targets:
${topo.servers.map((s) => `      - { host: ${s.address}, port: 80 }`).join('\n')}
`

async function save(topo: Topology): Promise<string> {
  return (await topo.exec(topo.node.ns, 'iptables-nft-save', [])).stdout
}

t.test('forwarding with the nftables backend', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'fwn' })
  t.teardown(() => topo.destroy())
  await startServers(topo, { udpPort: 5353 })
  const d = await startDaemon(topo, `${config(topo)}dataplane: { backend: nftables }\n`)
  t.teardown(() => d.kill('SIGKILL'))
  const urls = Array.from({ length: 150 }, () => 'http://198.18.0.1:8000/')
  const r = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '5', ...urls])
  const counts = { s0: 0, s1: 0 }
  for (const line of r.stdout.split('\n')) if (line === 's0' || line === 's1') counts[line]++
  t.equal(counts.s0 + counts.s1, 150, 'every connection was answered')
  t.ok(counts.s0 > 30 && counts.s1 > 30, `shared by both targets (${counts.s0}/${counts.s1})`)
  t.equal((await d.status()).node.backend, 'nftables')
  const rules = (await d.ctl(['rules'])).stdout
  t.match(rules, /table ip fwdd/, 'fwdctl rules shows the nft table')
  t.match(rules, /masquerade random,fully-random/)
  t.notMatch(await save(topo), /FWD-/, 'nothing written to iptables')
  const refused = await topo.exec(topo.outsider.ns, 'curl', ['-sS', '-m', '2', `http://${topo.node.clientSide}:8000/`], { reject: false })
  t.not(refused.exitCode, 0, 'a source outside sources is refused')
  await sleep(1200)
  const status = await d.status()
  const web = status.listeners.find((l) => l.name === 'web')!
  const bytes = web.targets.reduce((a, x) => a + (x.bytes ?? 0), 0)
  t.ok(bytes > 0, `per-target bytes counted from conntrack accounting (${bytes})`)
})

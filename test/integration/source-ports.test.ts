/**
 * Source-port capacity on the real kernel with the real daemon: one node address can hold at most
 * 64,512 concurrent masqueraded flows to one target address:port (1024-65535; the node's
 * ip_local_port_range does not narrow it, see src/dataplane/source-ports.ts). 52,000 ESTABLISHED
 * flows to s0 carrying fwdd's mark are loaded into the node's conntrack table (`conntrack -R`, as
 * real flows would look there; holding that many real sockets would take minutes), plus one real
 * forwarded flow: status, /metrics and doctor must show s0 past 80 % and s1 not.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { sleep, startDaemon, startServers, webConfig, writeTemp } from '../helpers/daemon.js'

const LOADED = 52_000
const CEILING = 64_512
/** The loaded flows' client: an address no namespace holds (no packet is sent to it), so a real flow's tuple cannot meet one. */
const PEER = '198.18.0.3'

t.test('a target past 80 % of its source ports shows in status, /metrics and doctor', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'sp' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  // The node's own sockets (fwdd's health checks) take ports 60000-60999, so the loaded reply
  // tuples (ports 1024-53023) cannot collide with a check's conntrack entry.
  await topo.exec(topo.node.ns, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=60000 60999'])
  const d = await startDaemon(topo, webConfig(topo))
  const s0 = topo.servers[0]!
  const s1 = topo.servers[1]!

  const lines: string[] = []
  for (let i = 0; i < LOADED; i++) {
    lines.push(`-I -p tcp -s ${PEER} -d 198.18.0.1 --sport ${10000 + i} --dport 8000 -r ${s0.address} -q 198.18.1.1 --reply-port-src 80 --reply-port-dst ${1024 + i} --state ESTABLISHED -t 600 --mark 0x40000`)
  }
  await topo.exec(topo.node.ns, 'conntrack', ['-R', writeTemp('flows.txt', `${lines.join('\n')}\n`)], { timeoutMs: 60000 })
  // One real forwarded flow, held open.
  topo.spawn(topo.client.ns, 'curl', ['-sSN', 'http://198.18.0.1:8000/slow'])

  let web = (await d.status()).listeners[0]!
  const until = Date.now() + 10000
  while (Date.now() < until) {
    web = (await d.status()).listeners[0]!
    if (web.targets.reduce((a, x) => a + (x.connections ?? 0), 0) > LOADED) break
    await sleep(300)
  }
  const t0 = web.targets.find((x) => x.address === s0.address)!
  const t1 = web.targets.find((x) => x.address === s1.address)!
  t.ok((t0.connections ?? 0) >= LOADED, `status: s0 holds the loaded flows (${t0.connections})`)
  t.equal(t0.sourcePortCeiling, CEILING, 'status: the ceiling per target address:port')
  t.ok((t1.connections ?? 0) <= 1, `status: s1 holds at most the one real flow (${t1.connections})`)
  t.equal((t0.connections ?? 0) + (t1.connections ?? 0), LOADED + 1, 'the loaded flows and the real one, each counted once')
  t.equal(t1.sourcePortCeiling, CEILING)

  const metrics = (await topo.exec(topo.node.ns, 'curl', ['-sS', '-m', '3', 'http://127.0.0.1:8080/metrics'])).stdout
  const ratio = (label: string): number => Number(new RegExp(`^fwdd_target_source_ports_used_ratio\\{listener="web",target="${label}"\\} (\\S+)$`, 'm').exec(metrics)?.[1])
  t.ok(ratio(t0.label!) > 0.8, `/metrics: s0 past 0.8 (${ratio(t0.label!)})`)
  t.ok(ratio(t1.label!) < 0.01, `/metrics: s1 near 0 (${ratio(t1.label!)})`)
  t.match(metrics, /^fwdd_source_port_ceiling 64512$/m, '/metrics: the ceiling')

  const doctor = await d.ctl(['doctor', '--config', d.configPath])
  const line = doctor.stdout.split('\n').find((l) => l.includes('source-ports:')) ?? ''
  t.match(line, new RegExp(`^WARN {2}source-ports: busiest target ${s0.address.replace(/\./g, '\\.')}:80/tcp: 5\\d{4} of 64512 source ports \\(8\\d%\\)`), `doctor names s0: ${line}`)
  t.match(line, /fix: .*add instances/, 'and says what to do')
  t.equal(doctor.exitCode, 0, `a warning alone keeps doctor's exit 0:\n${doctor.stdout}`)
})

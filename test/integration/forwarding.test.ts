// Forwarding engine on the real kernel with the real daemon. Address plan: 198.18.0.0/15 inside
// namespaces this test creates (see test/helpers/netns.ts); nothing else is contacted.
import t, { type Test } from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { FWDCTL, NODE_RUNTIME, httpGet, sleep, startDaemon, startServers } from '../helpers/daemon.js'

const config = (topo: Topology): string => `health: { port: 8080 }
sources: [198.18.0.0/24]
sync: { resyncSeconds: 2 }
listeners:
  - name: web
    port: 8000
    check: { intervalMs: 300, timeoutMs: 300 }
    targets:
${topo.servers.map((s) => `      - { host: ${s.address}, port: 80 }`).join('\n')}
  - name: dns
    protocol: udp
    port: 5300
    targets:
${topo.servers.map((s) => `      - { host: ${s.address}, port: 5353 }`).join('\n')}
`

async function save(topo: Topology, backend = 'nft'): Promise<string> {
  const r = await topo.exec(topo.node.ns, `iptables-${backend}-save`, [])
  return r.stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n')
}

async function addForeignRules(topo: Topology, backend = 'nft'): Promise<void> {
  const ipt = (args: string[]) => topo.exec(topo.node.ns, `iptables-${backend}`, ['-w', ...args])
  await ipt(['-t', 'nat', '-N', 'OTHER-NAT'])
  await ipt(['-t', 'nat', '-A', 'OTHER-NAT', '-d', '198.18.77.1/32', '-j', 'RETURN'])
  await ipt(['-t', 'nat', '-A', 'PREROUTING', '-j', 'OTHER-NAT'])
  await ipt(['-t', 'filter', '-N', 'OTHER-FILTER'])
  await ipt(['-t', 'filter', '-A', 'OTHER-FILTER', '-s', '198.18.77.1/32', '-j', 'DROP'])
  await ipt(['-t', 'filter', '-A', 'FORWARD', '-j', 'OTHER-FILTER'])
  await ipt(['-t', 'filter', '-P', 'FORWARD', 'DROP'])
}

function assertForeign(t: Test, text: string, where: string): void {
  t.match(text, /:OTHER-NAT - /, `${where}: other tool's nat chain`)
  t.match(text, /-A OTHER-NAT -d 198\.18\.77\.1\/32 -j RETURN/, `${where}: its rule`)
  t.match(text, /-A PREROUTING -j OTHER-NAT/, `${where}: its jump`)
  t.match(text, /-A OTHER-FILTER -s 198\.18\.77\.1\/32 -j DROP/, `${where}: its filter rule`)
  t.match(text, /:FORWARD DROP/, `${where}: FORWARD policy DROP kept`)
}

t.test('forwarding with the system backend', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'fwd' })
  t.teardown(() => topo.destroy())
  await startServers(topo, { udpPort: 5353 })
  await addForeignRules(topo)
  const d = await startDaemon(topo, config(topo))
  t.teardown(() => d.kill('SIGKILL'))

  t.test('150 connections are shared fairly by both targets (through FORWARD policy DROP)', async (t) => {
    const urls = Array.from({ length: 150 }, () => 'http://198.18.0.1:8000/')
    const r = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '5', ...urls])
    const counts = { s0: 0, s1: 0 }
    for (const line of r.stdout.split('\n')) if (line === 's0' || line === 's1') counts[line]++
    t.equal(counts.s0 + counts.s1, 150, 'every connection was answered')
    // Binomial(150, 0.5) has a standard deviation of ~6.1: 45..105 is about 5 sigma.
    t.ok(counts.s0 >= 45 && counts.s1 >= 45, `fair share: ${JSON.stringify(counts)}`)
  })

  t.test('a udp listener forwards datagrams both ways', async (t) => {
    const seen = new Set<string>()
    for (let i = 0; i < 12; i++) {
      const r = await topo.exec(topo.client.ns, process.execPath, ['-e', `
        const s = require('node:dgram').createSocket('udp4');
        const timer = setTimeout(() => { console.log('timeout'); process.exit(1) }, 2000);
        s.on('message', (m) => { console.log(String(m)); clearTimeout(timer); s.close() });
        s.send('ping${i}', 5300, '198.18.0.1');`], { reject: false })
      t.match(r.stdout.trim(), new RegExp(`^s[01]:ping${i}$`), 'reply came back through the node')
      seen.add(r.stdout.trim().split(':')[0]!)
    }
    t.same([...seen].sort(), ['s0', 's1'], 'both udp targets got datagrams')
  })

  t.test('a source outside `sources` is not forwarded', async (t) => {
    const r = await httpGet(topo, 'http://198.18.100.1:8000/', { ns: topo.outsider.ns })
    t.notOk(r.ok, 'outsider gets no answer from the servers')
    t.equal(r.code, 7, 'refused at once (curl exit 7), not left hanging')
    const inside = await httpGet(topo, 'http://198.18.0.1:8000/')
    t.ok(inside.ok)
  })

  t.test("other tools' rules survive start and re-apply; applying twice changes nothing", async (t) => {
    const before = await save(topo)
    assertForeign(t, before, 'after start')
    t.equal((await d.ctl(['reload'])).exitCode, 0)
    await sleep(2600) // one resync period: a verify pass that must find nothing to change
    const after = await save(topo)
    assertForeign(t, after, 'after re-apply')
    t.equal(after.replace(/\[\d+:\d+\]/g, ''), before.replace(/\[\d+:\d+\]/g, ''), 'iptables-save unchanged')
    const rules = await d.ctl(['rules'])
    t.match(rules.stdout, /-A FWD-SERVICES .*--dport 8000 .*"web -> 198\.18\.1\.2:80" .*-j DNAT --to-destination 198\.18\.1\.2:80/)
    t.notMatch(rules.stdout, /OTHER-/, 'fwdctl rules shows only fwdd\'s part')
  })

  t.test('stopping the daemon leaves the rules; cleanup removes every FWD- trace and nothing else', async (t) => {
    await d.kill('SIGTERM')
    t.ok((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, 'forwarding goes on with the daemon stopped')
    t.match(await save(topo), /FWD-/)
    const r = await topo.exec(topo.node.ns, NODE_RUNTIME, [FWDCTL, '--socket', d.socket, 'cleanup'])
    t.match(r.stdout, /removed 5 chains and 4 jump rules/)
    const after = await save(topo)
    t.notMatch(after, /FWD-/)
    t.notMatch(after, /comment fwdd/)
    assertForeign(t, after, 'after cleanup')
    t.notOk((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, 'no forwarding after cleanup')
  })
})

t.test('forwarding with iptables-legacy', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'fwl' })
  t.teardown(() => topo.destroy())
  await startServers(topo, { udpPort: 5353 })
  await addForeignRules(topo, 'legacy')
  const d = await startDaemon(topo, config(topo), { env: { FWDD_IPTABLES: 'legacy' } })
  t.teardown(() => d.kill('SIGKILL'))
  t.ok((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, 'forwarded with legacy rules')
  const status = await d.status()
  t.equal(status.node.backend, 'iptables-legacy')
  t.match(await save(topo, 'legacy'), /-A FWD-SERVICES .*--dport 8000 .* -j DNAT/)
  t.notMatch(await save(topo, 'nft'), /FWD-/, 'nothing written to the other backend')
  await d.kill('SIGTERM')
  const r = await topo.exec(topo.node.ns, 'env', ['FWDD_IPTABLES=legacy', NODE_RUNTIME, FWDCTL, '--socket', d.socket, 'cleanup'])
  t.match(r.stdout, /removed 5 chains/)
  const after = await save(topo, 'legacy')
  t.notMatch(after, /FWD-/)
  assertForeign(t, after, 'legacy after cleanup')
})

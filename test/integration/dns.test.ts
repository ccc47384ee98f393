/**
 * A DNS-name target follows its record: a real dnsmasq in its own namespace (198.18.200.2, wired
 * to the node as 198.18.200.1) answers `svc.test` from a hosts file with a 1 s TTL; the node's
 * namespace resolves through it via /etc/netns/<node ns>/resolv.conf, written before the daemon
 * starts and removed on teardown. When the resolver dies, the last good address stays and status
 * says so.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { createTopology } from '../helpers/netns.js'
import { httpGet, sleep, startDaemon, startServers, waitTcp, type RunningDaemon } from '../helpers/daemon.js'
import type { TargetStatus } from '../../src/status.js'

async function sh(file: string, args: string[]): Promise<void> {
  const r = await execa(file, args, { reject: false })
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr}`)
}

async function waitTarget(d: RunningDaemon, ok: (targets: TargetStatus[]) => boolean, what: string, timeoutMs: number): Promise<TargetStatus[]> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const targets = (await d.status()).listeners[0]!.targets
    if (ok(targets)) return targets
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms: ${JSON.stringify(targets)}\n${d.log()}`)
    await sleep(100)
  }
}

t.test('a DNS-name target follows its record; on resolver failure the last good address stays', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'dn' })
  const dnsNs = topo.node.ns.replace(/-n$/, '-d')
  const etcDir = path.join('/etc/netns', topo.node.ns)
  // Registered before anything is created, so every path removes what exists.
  t.teardown(async () => {
    await topo.destroy()
    await execa('ip', ['netns', 'del', dnsNs], { reject: false })
    rmSync(etcDir, { recursive: true, force: true })
  })
  await sh('ip', ['netns', 'add', dnsNs])
  await sh('ip', ['-n', dnsNs, 'link', 'set', 'lo', 'up'])
  await sh('ip', ['link', 'add', 'to-dns', 'netns', topo.node.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', dnsNs])
  await sh('ip', ['-n', topo.node.ns, 'addr', 'add', '198.18.200.1/24', 'dev', 'to-dns'])
  await sh('ip', ['-n', dnsNs, 'addr', 'add', '198.18.200.2/24', 'dev', 'eth0'])
  await sh('ip', ['-n', topo.node.ns, 'link', 'set', 'to-dns', 'up'])
  await sh('ip', ['-n', dnsNs, 'link', 'set', 'eth0', 'up'])

  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-dns-'))
  const hosts = path.join(dir, 'hosts')
  writeFileSync(hosts, `${topo.servers[0]!.address} svc.test\n`, { mode: 0o644 })
  const dnsmasq = topo.spawn(dnsNs, 'dnsmasq', [
    '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`,
    '--local-ttl=1', '--listen-address=198.18.200.2', '--bind-interfaces', '--port=53', '--user=root',
    `--pid-file=${path.join(dir, 'dnsmasq.pid')}`,
  ])
  await waitTcp(topo, dnsNs, '198.18.200.2', 53)
  mkdirSync(etcDir, { recursive: true })
  writeFileSync(path.join(etcDir, 'resolv.conf'), 'nameserver 198.18.200.2\noptions timeout:1 attempts:1\n')
  const dig = await topo.exec(topo.node.ns, process.execPath, ['-e', "require('node:dns').promises.resolve4('svc.test', { ttl: true }).then((r) => console.log(JSON.stringify(r)))"])
  t.match(dig.stdout, /"address":"198\.18\.1\.2","ttl":1/, `the node namespace resolves through dnsmasq: ${dig.stdout.trim()}`)

  await startServers(topo)
  const d = await startDaemon(topo, [
    'health: { port: 8080 }',
    'sources: [198.18.0.0/24]',
    'listeners:',
    '  - name: web',
    '    port: 8000',
    '    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }',
    '    targets:',
    '      - { host: svc.test, port: 80 }',
    '',
  ].join('\n'))
  t.match((await d.status()).listeners[0]!.targets, [{ host: 'svc.test', address: topo.servers[0]!.address, state: 'healthy' }], 'resolved at start')
  t.equal((await httpGet(topo, 'http://198.18.0.1:8000/')).body, 's0')

  // The record changes: fwdd follows within the clamped TTL (5 s) and a check round.
  writeFileSync(hosts, `${topo.servers[1]!.address} svc.test\n`)
  dnsmasq.kill('SIGHUP')
  const changed = Date.now()
  // Meanwhile new connections keep working: the old address serves until the new one is checked.
  let probing = true
  const failures: string[] = []
  const probe = (async () => {
    while (probing) {
      const r = await httpGet(topo, 'http://198.18.0.1:8000/', { timeoutS: 1 })
      if (!r.ok) failures.push(`${Date.now() - changed} ms: curl exit ${r.code}`)
      else if (r.body === 's1') return
    }
  })()
  await waitTarget(d, (ts) => ts.length === 1 && ts[0]!.address === topo.servers[1]!.address && ts[0]!.state === 'healthy', 'follows the new record', 8000)
  t.comment(`followed the record change in ${Date.now() - changed} ms`)
  await Promise.race([probe, sleep(2000)])
  probing = false
  await probe
  t.same(failures, [], 'no new connection failed while the target moved')
  const bodies = new Set<string>()
  for (let i = 0; i < 5; i++) bodies.add((await httpGet(topo, 'http://198.18.0.1:8000/')).body)
  t.same([...bodies], ['s1'], 'new connections go to the new address')

  // The resolver dies: the last good address stays, status says so, forwarding goes on.
  dnsmasq.kill('SIGKILL')
  const [target] = await waitTarget(d, (ts) => /keeping the last good/.test(ts[0]?.lastError ?? ''), 'status shows the resolver error', 10000)
  t.match(target, { host: 'svc.test', address: topo.servers[1]!.address, state: 'healthy', lastError: /resolving svc\.test failed .*keeping the last good addresses/ })
  t.equal((await httpGet(topo, 'http://198.18.0.1:8000/')).body, 's1', 'forwarding goes on to the last good address')
})

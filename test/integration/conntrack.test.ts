/**
 * Cutting dead flows: once a target is marked unhealthy, the node's conntrack table holds no
 * forwarded flow to it, for tcp and for udp (a udp listener checked by tcp on `check.port`). The
 * target is made unhealthy by dropping new TCP handshakes in its namespace, so its live flows would
 * otherwise go on: their disappearance is fwdd's doing.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { sleep, startDaemon, startServers, until } from '../helpers/daemon.js'

const UDP_PORT = 5300

/** Sends a datagram every 200 ms from each of 8 sockets to the forwarder; prints `i reply`. */
const UDP_CLIENT = `
const dgram = require('node:dgram')
for (let i = 0; i < 8; i++) {
  const s = dgram.createSocket('udp4')
  s.on('message', (m) => process.stdout.write(i + ' ' + m + '\\n'))
  setInterval(() => s.send('ping', ${UDP_PORT}, '198.18.0.1'), 200)
}
`

function config(topo: Topology): string {
  const check = '{ intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }'
  return [
    'health: { port: 8080 }',
    'sources: [198.18.0.0/24]',
    'listeners:',
    '  - name: web',
    '    port: 8000',
    `    check: ${check}`,
    '    targets:',
    ...topo.servers.map((s) => `      - { host: ${s.address}, port: 80 }`),
    '  - name: dns',
    '    protocol: udp',
    `    port: ${UDP_PORT}`,
    `    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2, port: 80 }`,
    '    targets:',
    ...topo.servers.map((s) => `      - { host: ${s.address}, port: ${UDP_PORT} }`),
    '',
  ].join('\n')
}

/** Forwarded flows from the client whose reply comes from `address` (the target). */
async function flowsTo(topo: Topology, proto: 'tcp' | 'udp', address: string): Promise<string[]> {
  const r = await topo.exec(topo.node.ns, 'conntrack', ['-L', '-p', proto, '--orig-src', topo.client.address, '--reply-src', address])
  return r.stdout.split('\n').filter((l) => l.startsWith(proto))
}

t.test('flows to a target marked unhealthy are cut, tcp and udp', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'ct' })
  t.teardown(() => topo.destroy())
  await startServers(topo, { udpPort: UDP_PORT })
  const d = await startDaemon(topo, config(topo))
  const s0 = topo.servers[0]!

  // Live flows to s0: long-lived tcp connections (until one lands on s0) and udp streams.
  for (let i = 0; i < 12 && (await flowsTo(topo, 'tcp', s0.address)).length === 0; i++) {
    topo.spawn(topo.client.ns, 'curl', ['-sSN', 'http://198.18.0.1:8000/slow'])
    await sleep(150)
  }
  const udp = topo.spawn(topo.client.ns, process.execPath, ['-e', UDP_CLIENT])
  let replies: string[] = []
  udp.stdout?.on('data', (b: Buffer) => { replies.push(...b.toString().split('\n').filter(Boolean)) })
  await until('udp replies from s0', async () => replies.some((r) => / s0:ping$/.test(r)), 5000)
  const tcpBefore = await flowsTo(topo, 'tcp', s0.address)
  const udpBefore = await flowsTo(topo, 'udp', s0.address)
  t.ok(tcpBefore.length > 0, `tcp flows to s0 before: ${tcpBefore.length}`)
  t.ok(udpBefore.length > 0, `udp flows to s0 before: ${udpBefore.length}`)

  // s0 stops accepting new TCP handshakes (its health check), its live flows would go on.
  await topo.exec(s0.ns, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '80', '--syn', '-j', 'DROP'])
  await until('s0 unhealthy and out of rotation in both listeners', async () => {
    const s = await d.status()
    return s.listeners.every((l) => l.targets.some((x) => x.address === s0.address && x.state === 'unhealthy' && x.inRotation === false))
  }, 5000)
  const status = await d.status()
  for (const l of status.listeners) t.match(l.targets.find((x) => x.address === s0.address), { state: 'unhealthy', lastError: /no answer to connect/ }, `${l.name}: s0 unhealthy with a reason`)

  const tcpMs = await until('no tcp flow to s0', async () => (await flowsTo(topo, 'tcp', s0.address)).length === 0, 1000)
  const udpMs = await until('no udp flow to s0', async () => (await flowsTo(topo, 'udp', s0.address)).length === 0, 1000)
  t.comment(`after status showed s0 unhealthy: tcp flows gone within ${tcpMs} ms, udp within ${udpMs} ms`)
  t.same(await flowsTo(topo, 'tcp', s0.address), [], 'conntrack holds no tcp flow to s0')
  t.same(await flowsTo(topo, 'udp', s0.address), [], 'conntrack holds no udp flow to s0')

  // The udp streams (same source ports) moved to s1.
  replies = []
  await sleep(1000)
  const last = new Map(replies.map((r) => [r.split(' ')[0], r.split(' ')[1]]))
  t.equal(last.size, 8, 'every udp socket still gets replies')
  t.same([...new Set(last.values())], ['s1:ping'], 'and they come from s1 now')
  t.same(await flowsTo(topo, 'udp', s0.address), [], 'still no udp flow to s0')
})

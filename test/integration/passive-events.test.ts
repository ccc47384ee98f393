/**
 * The conntrack events of fwdd's flows, counted with the real daemon and kernel on both dataplane
 * backends: a flow of a listener with passive health yields at most NEW, its reply UPDATE and
 * DESTROY (the event mask fwdd sets), while a flow of a listener with passive health off, through
 * the same node to the same target, still yields one UPDATE per TCP state change. The second count
 * is what shows the first is the mask's doing and not a quiet test. A listener that samples 2 new
 * flows a second (`passive.maxFlowsPerSecond`) shows the sample and nothing of the flows beyond it,
 * all of them forwarded.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { httpGet, sleep, startDaemon, startServers, until } from '../helpers/daemon.js'

const CONNECTIONS = 10
/** passive.maxFlowsPerSecond of the listener `sampled` (port 8003). */
const SAMPLE = 2

function config(servers: Array<{ address: string }>, backend: string): string {
  const check = '{ intervalMs: 1000, timeoutMs: 500, fall: 2, rise: 1 }'
  const target = `      - { host: ${servers[0]!.address}, port: 80 }`
  return [
    'health: { port: 8080 }',
    'sources: [198.18.0.0/24]',
    `dataplane: { backend: ${backend} }`,
    'listeners:',
    '  - name: watched',
    '    port: 8000',
    `    check: ${check}`,
    '    targets:',
    target,
    '  - name: plain',
    '    port: 8001',
    `    check: ${check}`,
    '    passive: { enabled: false }',
    '    targets:',
    target,
    '  - name: sampled',
    '    port: 8003',
    `    check: ${check}`,
    `    passive: { maxFlowsPerSecond: ${SAMPLE} }`,
    '    targets:',
    target,
    '',
  ].join('\n')
}

/** Events per flow id, keyed by the listener port the flow came in on. */
function eventsPerFlow(lines: string[]): Map<number, Map<string, string[]>> {
  const out = new Map<number, Map<string, string[]>>()
  for (const l of lines) {
    const id = / id=(\d+)/.exec(l)?.[1]
    const port = / dport=(\d+) /.exec(l)?.[1]
    const kind = /\[(NEW|UPDATE|DESTROY)\]/.exec(l)?.[1]
    if (!id || !port || !kind) continue
    const byPort = out.get(Number(port)) ?? new Map<string, string[]>()
    out.set(Number(port), byPort)
    byPort.set(id, [...(byPort.get(id) ?? []), `${kind}${/\[UNREPLIED\]/.test(l) ? ' unreplied' : ''}`])
  }
  return out
}

for (const backend of ['iptables', 'nftables']) {
  t.test(`${backend}: a flow of a listener with passive health yields at most 3 conntrack events, one without it more`, async (t) => {
    const topo = await createTopology({ servers: 1, prefix: 'pe' })
    t.teardown(() => topo.destroy())
    await startServers(topo)
    const d = await startDaemon(topo, config(topo.servers, backend), { waitReady: false })
    await d.waitReady(30000)
    // The daemon's own watch is running; on iptables its first line makes the daemon write FWD-RAW
    // anew (xt_CT takes the mask only while a listener exists). Give that sync time to land.
    await until('passive watch running', async () => (await d.status()).node.passive?.mode === 'watching', 10000)
    await sleep(1000)

    // A second listener, started only now, so it cannot be what made the mask take.
    const counter = topo.spawn(topo.node.ns, 'conntrack', ['-E', '-e', 'NEW,UPDATE,DESTROY', '-p', 'tcp', '-m', '0x40000/0x40000', '-o', 'id', '-b', '4194304'])
    const lines: string[] = []
    let buf = ''
    let subscribed = false
    counter.stdout?.on('data', (c: Buffer) => {
      buf += c.toString()
      const parts = buf.split('\n')
      buf = parts.pop() ?? ''
      lines.push(...parts)
    })
    counter.stderr?.on('data', () => { subscribed = true })
    await until('conntrack -E subscribed', async () => subscribed, 5000)

    for (const port of [8000, 8001, 8003]) {
      for (let i = 0; i < CONNECTIONS; i++) {
        const r = await httpGet(topo, `http://${topo.node.address}:${port}/`)
        t.equal(r.body, 's0', `connection ${i} through ${port} answered`)
      }
    }
    await sleep(500)
    // Closed flows sit in TIME_WAIT for 120 s: delete them, so each shows its DESTROY event.
    await topo.exec(topo.node.ns, 'conntrack', ['-D', '-p', 'tcp', '-m', '0x40000/0x40000'], { reject: false })
    await sleep(500)
    counter.kill('SIGTERM')

    const flows = eventsPerFlow(lines)
    const watched = [...(flows.get(8000) ?? new Map<string, string[]>()).values()]
    const plain = [...(flows.get(8001) ?? new Map<string, string[]>()).values()]
    const counts = (fs: string[][]): string => fs.map((f) => f.length).join(',')
    t.comment(`${backend}: events per flow with passive health: ${counts(watched)}; without: ${counts(plain)}`)
    t.comment(`${backend}: one watched flow: ${watched[0]?.join(' | ')}; one plain flow: ${plain[0]?.join(' | ')}`)
    t.equal(watched.length, CONNECTIONS, 'every watched flow was seen')
    t.equal(plain.length, CONNECTIONS, 'every plain flow was seen')
    for (const f of watched) {
      t.ok(f.length <= 3, `at most 3 events: ${f.join(' | ')}`)
      t.same(f, ['NEW unreplied', 'UPDATE', 'DESTROY'], 'NEW, the reply UPDATE, DESTROY')
    }
    for (const f of plain) t.ok(f.length > 3, `without the mask, more than 3 events: ${f.join(' | ')}`)
    // 10 connections in well under a second through a listener that samples 2 new flows a second
    // (burst 1): the sample shows with the same 3 events, the flows beyond it show nothing at all.
    const sampled = [...(flows.get(8003) ?? new Map<string, string[]>()).values()]
    t.comment(`${backend}: flows seen of ${CONNECTIONS} through the listener sampling ${SAMPLE} a second: ${sampled.length}`)
    t.ok(sampled.length >= 1 && sampled.length <= 2 * SAMPLE, `the sample and no more: ${sampled.length} of ${CONNECTIONS} flows seen`)
    for (const f of sampled) t.same(f, ['NEW unreplied', 'UPDATE', 'DESTROY'], 'a sampled flow: NEW, the reply UPDATE, DESTROY')
  })
}

/**
 * 5000 listeners on each backend: a routed flow that is not fwdd's, and a flow through the last
 * listener, are not slowed (iperf3 throughput ratios in one run, with a generous bound so a shared
 * machine cannot make it flake; the old linear layout measured 0.08 and 0.02 here).
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { sleep, waitTcp } from '../helpers/daemon.js'
import { nsRunner } from '../helpers/ns-runner.js'
import { IptablesDataplane } from '../../src/dataplane/iptables-dataplane.js'
import { NftDataplane } from '../../src/dataplane/nft-dataplane.js'
import type { Dataplane } from '../../src/dataplane/dataplane.js'
import type { RenderInput } from '../../src/dataplane/render.js'

const N = 5000
const BASE = 20000
/** Generous: the rule walk this guards against cost 10-50x, not 2x. */
const MIN_RATIO = 0.5

async function gbits(topo: Topology, address: string, port: number): Promise<number> {
  const r = await topo.exec(topo.client.ns, 'iperf3', ['-c', address, '-p', String(port), '-t', '2', '-J'], { timeoutMs: 20000 })
  return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9
}

function input(topo: Topology): RenderInput {
  const target = { address: topo.servers[0]!.address, port: 5201, weight: 1 }
  return { sources: [], listeners: Array.from({ length: N }, (_, i) => ({ name: `l${i}`, protocol: 'tcp' as const, port: BASE + i, rotation: [target], known: [target] })) }
}

for (const backend of ['iptables', 'nftables'] as const) {
  t.test(`${backend}: ${N} listeners slow neither a routed flow nor the last listener`, { timeout: 240000 }, async (t) => {
    const topo = await createTopology({ servers: 2, prefix: 'sc' })
    t.teardown(() => topo.destroy())
    for (const s of topo.servers) topo.spawn(s.ns, 'iperf3', ['-s', '-p', '5201'])
    for (const s of topo.servers) await waitTcp(topo, s.ns, s.address, 5201)
    await sleep(200)
    const routedBare = await gbits(topo, topo.servers[1]!.address, 5201)
    const runner = nsRunner(topo.node.ns)
    const dp: Dataplane = backend === 'nftables' ? new NftDataplane(runner) : await IptablesDataplane.create(runner, 'nft')
    await dp.apply(input(topo), { verify: true })
    const first = await gbits(topo, '198.18.0.1', BASE)
    const last = await gbits(topo, '198.18.0.1', BASE + N - 1)
    const routed = await gbits(topo, topo.servers[1]!.address, 5201)
    t.comment(`${backend}: first ${first.toFixed(2)} Gbit/s, last ${last.toFixed(2)}, routed ${routed.toFixed(2)} vs ${routedBare.toFixed(2)} without rules`)
    t.ok(last / first >= MIN_RATIO, `last/first listener ${(last / first).toFixed(2)} >= ${MIN_RATIO}`)
    t.ok(routed / routedBare >= MIN_RATIO, `routed flow with ${N} listeners / without rules ${(routed / routedBare).toFixed(2)} >= ${MIN_RATIO}`)
  })
}

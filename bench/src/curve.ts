/**
 * The data-plane scale curve (issue: same packet cost at 10,000 listeners as at one), on both
 * backends: iperf3 throughput through the first and the last listener, a routed flow that is not
 * fwdd's against the same node without rules, and the time of a full apply and of a single flip.
 * Ratios within one run. Usage: node dist-bench/bench/src/curve.js [--sizes 1,100,1000] [--out FILE]
 */
import { writeFileSync } from 'node:fs'
import { IptablesDataplane } from '../../src/dataplane/iptables-dataplane.js'
import { NftDataplane } from '../../src/dataplane/nft-dataplane.js'
import type { Dataplane } from '../../src/dataplane/dataplane.js'
import type { RenderInput } from '../../src/dataplane/render.js'
import { spawnChild, killAll } from './processes.js'
import { createTopology, inNs, nsRunner, type Topology } from './topology.js'

const BASE = 20000

async function gbits(topo: Topology, address: string, port: number): Promise<number> {
  // An iperf3 server refuses a client while it still winds down the previous test: retry once.
  let r = await inNs(topo.client.ns, 'iperf3', ['-c', address, '-p', String(port), '-t', '2', '-J'], { timeoutMs: 30000, reject: false })
  if (r.exitCode !== 0) {
    await new Promise((res) => setTimeout(res, 1000))
    r = await inNs(topo.client.ns, 'iperf3', ['-c', address, '-p', String(port), '-t', '2', '-J'], { timeoutMs: 30000 })
  }
  return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9
}

function input(topo: Topology, n: number, flip = false): RenderInput {
  const a = { address: topo.servers[0]!.address, port: 5201, weight: 1 }
  const b = { address: topo.servers[0]!.address, port: 5202, weight: 1 }
  return { sources: [], listeners: Array.from({ length: n }, (_, i) => ({ name: `l${i}`, protocol: 'tcp' as const, port: BASE + i, rotation: flip && i === 0 ? [a] : [a, b], known: [a, b] })) }
}

async function point(backend: 'iptables' | 'nftables', n: number): Promise<string> {
  const topo = await createTopology(2)
  try {
    for (const s of topo.servers) for (const p of ['5201', '5202']) spawnChild(s.ns, 'iperf3', ['-s', '-p', p])
    await new Promise((r) => setTimeout(r, 500))
    const bare = await gbits(topo, topo.servers[1]!.address, 5201)
    const runner = nsRunner(topo.node.ns)
    const dp: Dataplane = backend === 'nftables' ? new NftDataplane(runner) : await IptablesDataplane.create(runner, 'nft')
    let at = performance.now()
    await dp.apply(input(topo, n), { verify: true })
    const full = performance.now() - at
    at = performance.now()
    const fl = await dp.apply(input(topo, n, true), { verify: false })
    const flip = performance.now() - at
    const first = await gbits(topo, topo.node.address, BASE)
    const last = await gbits(topo, topo.node.address, BASE + n - 1)
    const routed = await gbits(topo, topo.servers[1]!.address, 5201)
    return `| ${backend} | ${n} | ${(last / first).toFixed(2)} | ${(routed / bare).toFixed(2)} | ${(full / 1000).toFixed(2)} s | ${flip.toFixed(0)} ms (${fl.chainsWritten} chain) | ${first.toFixed(1)} / ${last.toFixed(1)} / ${routed.toFixed(1)} / ${bare.toFixed(1)} |`
  } finally {
    await killAll()
    await topo.destroy()
  }
}

const args = process.argv.slice(2)
const sizes = (args[args.indexOf('--sizes') + 1] && args.includes('--sizes') ? args[args.indexOf('--sizes') + 1]! : '1,100,1000,5000,10000').split(',').map(Number)
const out = args.includes('--out') ? args[args.indexOf('--out') + 1]! : null
const rows = ['| backend | listeners | last/first throughput | routed non-fwdd / no rules | full apply | single flip | Gbit/s first / last / routed / routed bare |', '|---|---|---|---|---|---|---|']
for (const n of sizes) for (const b of ['iptables', 'nftables'] as const) {
  const row = await point(b, n)
  process.stderr.write(`${row}\n`)
  rows.push(row)
}
const text = `${rows.join('\n')}\n`
if (out) writeFileSync(out, text)
process.stdout.write(text)

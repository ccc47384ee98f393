/**
 * Throughput at one listener count, in interleaved rounds: each round writes the rules (the
 * curve's layout, apply-worker.ts), measures iperf3 of a routed flow that is not fwdd's and through
 * the first and the last listener, removes the rules, and measures that routed flow on the node
 * without them (before the rules in every other round). Each ratio is of medians over the rounds. Why: the curve measures the node
 * without rules before and after the rule runs, minutes apart, and on this shared 2-core VM one
 * figure moves by 10-30 % over minutes (its 10,000-listener nftables row read 0.92 and 0.90 in a
 * run where nothing on a packet's path had changed). Here bare and routed alternate seconds apart.
 * Usage: node dist-bench/bench/src/throughput-rounds.js [--backend iptables|nftables] [--listeners N]
 * [--rounds R] [--out FILE] (FILE.json). Namespaces and children are removed on every exit path.
 */
import { writeFileSync } from 'node:fs'
import { cleanupRules, shippedNode } from './daemon.js'
import { killAll, spawnChild } from './processes.js'
import { benchScript, sleep } from './servers.js'
import { gbits } from './iperf.js'
import { median } from './stats.js'
import { createTopology, destroyAllNamespaces, inNs, type Topology } from './topology.js'

const BASE = 20000

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const arg = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
  const backend = arg('--backend', 'iptables')
  const n = Number(arg('--listeners', '10000'))
  const rounds = Number(arg('--rounds', '5'))
  const out = args.includes('--out') ? arg('--out', '') : null
  if (!['iptables', 'nftables'].includes(backend) || !Number.isInteger(n) || n < 1 || n > 10000 || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error('usage: throughput-rounds.js [--backend iptables|nftables] [--listeners 1..10000] [--rounds R] [--out FILE]')
  }
  const topo = await createTopology(2)
  try {
    for (const s of topo.servers) for (const p of ['5201', '5202']) spawnChild(s.ns, 'iperf3', ['-s', '-p', p])
    await sleep(500)
    const runs: Record<'first' | 'last' | 'routed' | 'bare', number[]> = { first: [], last: [], routed: [], bare: [] }
    const bare = async (): Promise<void> => void runs.bare.push(await gbits(topo, topo.servers[1]!.address, 5201, 2))
    for (let i = 0; i < rounds; i++) {
      // Every other round measures the bare node first, so neither side always runs last.
      if (i % 2 === 1) await bare()
      await inNs(topo.node.ns, shippedNode(), [benchScript('apply-worker'), backend, String(n), topo.servers[0]!.address, '1', String(BASE)], { timeoutMs: 120000 + n * 30 })
      runs.routed.push(await gbits(topo, topo.servers[1]!.address, 5201, 2))
      runs.first.push(await gbits(topo, topo.node.address, BASE, 2))
      runs.last.push(await gbits(topo, topo.node.address, BASE + n - 1, 2))
      await cleanupRules(topo.node.ns)
      if (i % 2 === 0) await bare()
    }
    const m = { first: median(runs.first), last: median(runs.last), routed: median(runs.routed), bare: median(runs.bare) }
    const result = { backend, listeners: n, rounds, lastOverFirst: m.last / m.first, routedOverBare: m.routed / m.bare, medians: m, runs }
    process.stdout.write(`${backend} ${n} listeners, ${rounds} rounds: last/first ${result.lastOverFirst.toFixed(2)}, routed/bare ${result.routedOverBare.toFixed(2)}; Gbit/s ${(['first', 'last', 'routed', 'bare'] as const).map((k) => `${k} ${runs[k].map((x) => x.toFixed(1)).join(' ')}`).join('; ')}\n`)
    if (out) writeFileSync(`${out}.json`, `${JSON.stringify(result, null, 2)}\n`)
  } finally {
    await killAll()
    await topo.destroy()
  }
}

process.once('SIGINT', () => {
  void killAll().then(destroyAllNamespaces).then(() => process.exit(130))
})
main().then(() => process.exit(0), async (err: unknown) => {
  process.stderr.write(`throughput-rounds: ${err instanceof Error ? err.message : String(err)}\n`)
  await killAll()
  await destroyAllNamespaces()
  process.exit(1)
})

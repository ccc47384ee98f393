/**
 * Throughput at one listener count, in interleaved rounds: each round writes the rules (the
 * curve's layout, apply-worker.ts), measures iperf3 of a routed flow that is not fwdd's and through
 * the first and the last listener, removes the rules, and measures that routed flow on the node
 * without any (`bare`) and on the node with conntrack on but no rule (`floor`), in an order that
 * alternates between rounds. Ratios are medians of the per-round ratios (each pair seconds apart)
 * and, as before, ratios of medians. Why rounds: on this shared 2-core VM one iperf3 figure moves
 * by 10-30 % over minutes (the curve's 10,000-listener nftables row read 0.92 and 0.90 in a run
 * where nothing on a packet's path had changed).
 *
 * Why `floor`: a node that NATs has conntrack on, and conntrack then tracks every flow the node
 * routes, fwdd's or not; `floor` is that cost alone (an nftables table with empty nat hook chains,
 * and conntrack accounting on as fwdd turns it on), which is also what `fwdctl cleanup` leaves on
 * the iptables backend (iptables-nft's nat table stays, empty). `bare` has no table at all (`nft
 * flush ruleset` in the bench's node namespace). routed/floor is what fwdd's rules cost a routed
 * flow; floor/bare what NAT on the node costs it.
 *
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
/** Conntrack on, no rule: two empty nat hook chains (what an empty iptables-nft nat table is too). */
const FLOOR_TABLE = 'table ip bench_floor {\n  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n  }\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n  }\n}\n'

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
    const runs: Record<'first' | 'last' | 'routed' | 'bare' | 'floor', number[]> = { first: [], last: [], routed: [], bare: [], floor: [] }
    const routed = (): Promise<number> => gbits(topo, topo.servers[1]!.address, 5201, 2)
    const bare = async (): Promise<void> => {
      await inNs(topo.node.ns, 'nft', ['flush', 'ruleset'])
      runs.bare.push(await routed())
    }
    const floor = async (): Promise<void> => {
      await inNs(topo.node.ns, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_acct=1'])
      await inNs(topo.node.ns, 'nft', ['-f', '-'], { input: FLOOR_TABLE })
      runs.floor.push(await routed())
      await inNs(topo.node.ns, 'nft', ['delete', 'table', 'ip', 'bench_floor'])
    }
    for (let i = 0; i < rounds; i++) {
      // The order turns every round, so that none of the three always runs first or last.
      const before = [[bare, floor], [floor], [], [bare]][i % 4]!
      const after = [[], [bare], [bare, floor], [floor]][i % 4]!
      for (const f of before) await f()
      await inNs(topo.node.ns, shippedNode(), [benchScript('apply-worker'), backend, String(n), topo.servers[0]!.address, '1', String(BASE)], { timeoutMs: 120000 + n * 30 })
      runs.routed.push(await routed())
      runs.first.push(await gbits(topo, topo.node.address, BASE, 2))
      runs.last.push(await gbits(topo, topo.node.address, BASE + n - 1, 2))
      await cleanupRules(topo.node.ns)
      for (const f of after) await f()
    }
    const m = { first: median(runs.first), last: median(runs.last), routed: median(runs.routed), bare: median(runs.bare), floor: median(runs.floor) }
    const paired = (a: number[], b: number[]): number => median(a.map((x, i) => x / b[i]!))
    const result = {
      backend, listeners: n, rounds,
      lastOverFirst: m.last / m.first, routedOverBare: m.routed / m.bare, routedOverFloor: m.routed / m.floor, floorOverBare: m.floor / m.bare,
      paired: { lastOverFirst: paired(runs.last, runs.first), routedOverBare: paired(runs.routed, runs.bare), routedOverFloor: paired(runs.routed, runs.floor), floorOverBare: paired(runs.floor, runs.bare) },
      medians: m, runs,
    }
    const f2 = (x: number): string => x.toFixed(2)
    process.stdout.write(`${backend} ${n} listeners, ${rounds} rounds (ratio of medians / median of paired ratios): last/first ${f2(result.lastOverFirst)} / ${f2(result.paired.lastOverFirst)}, routed/bare ${f2(result.routedOverBare)} / ${f2(result.paired.routedOverBare)}, routed/floor ${f2(result.routedOverFloor)} / ${f2(result.paired.routedOverFloor)}, floor/bare ${f2(result.floorOverBare)} / ${f2(result.paired.floorOverBare)}; Gbit/s ${(['first', 'last', 'routed', 'floor', 'bare'] as const).map((k) => `${k} ${runs[k].map((x) => x.toFixed(1)).join(' ')}`).join('; ')}\n`)
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

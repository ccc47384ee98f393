/**
 * Child script of the scale curve, run inside the node namespace:
 *   node apply-worker.js BACKEND LISTENERS SERVER FLIPS BASE
 * Drives the real dataplane (iptables or nftables) as the daemon does, with the tools run directly
 * in the namespace: through the harness's `ip netns exec` each tool run cost ~7 ms more, which a
 * flip of 20-50 ms would have counted as its own. A full apply (with verify), then FLIPS flips of
 * the first listener (one target out, in, out...: FLIPS odd leaves it with one). Prints
 * `{"fullApplyMs":N,"flipMs":[...],"verifyMs":[...],"chainsWritten":N,"elementsWritten":N,"rulesWritten":N}` and
 * exits, leaving the rules in place for the throughput runs (the harness cleans them up).
 * Each flip's time includes building its RenderInput, as a sync builds one from the state. Then
 * three full verifies that find nothing to repair (what the periodic verify costs: verify-period.ts).
 *
 * Every listener spreads over two ports of SERVER but the ones iperf3 measures through: the first
 * (after the flips) and the last send to one. iperf3's control and data connections are two flows,
 * and spread over two servers they met different servers half the time: the 10,000-listener rerun
 * stopped at "iperf3 failed" through the last listener after four tries (1 in 16).
 */
import { IptablesDataplane } from '../../src/dataplane/iptables-dataplane.js'
import { NftDataplane } from '../../src/dataplane/nft-dataplane.js'
import type { Dataplane } from '../../src/dataplane/dataplane.js'
import type { RenderInput } from '../../src/dataplane/render.js'
import { createProcessRunner } from '../../src/process/runner.js'

const [backend = 'iptables', listeners = '1', server = '198.18.1.2', flips = '5', base = '20000'] = process.argv.slice(2)

function curveInput(server: string, n: number, base: number, flip = false): RenderInput {
  const a = { address: server, port: 5201, weight: 1 }
  const b = { address: server, port: 5202, weight: 1 }
  const single = (i: number): boolean => (flip && i === 0) || (n > 1 && i === n - 1)
  return { sources: [], listeners: Array.from({ length: n }, (_, i) => ({ name: `l${i}`, protocol: 'tcp' as const, port: base + i, rotation: single(i) ? [a] : [a, b], known: [a, b] })) }
}

async function main(): Promise<void> {
  const runner = createProcessRunner()
  const n = Number(listeners)
  const dp: Dataplane = backend === 'nftables' ? new NftDataplane(runner) : await IptablesDataplane.create(runner, 'nft')
  let at = performance.now()
  await dp.apply(curveInput(server, n, Number(base)), { verify: true })
  const fullApplyMs = performance.now() - at
  const flipMs: number[] = []
  let first = { chainsWritten: 0, elementsWritten: 0, rulesWritten: 0 }
  for (let i = 0; i < Number(flips); i++) {
    at = performance.now()
    const r = await dp.apply(curveInput(server, n, Number(base), i % 2 === 0), { verify: false })
    flipMs.push(performance.now() - at)
    if (i === 0) first = { chainsWritten: r.chainsWritten, elementsWritten: r.elementsWritten ?? 0, rulesWritten: r.rulesWritten }
  }
  const verifyMs: number[] = []
  const last = curveInput(server, n, Number(base), Number(flips) % 2 === 1)
  for (let i = 0; i < 3; i++) {
    at = performance.now()
    await dp.apply(last, { verify: true })
    verifyMs.push(performance.now() - at)
  }
  process.stdout.write(`${JSON.stringify({ fullApplyMs, flipMs, verifyMs, ...first })}\n`)
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`apply-worker: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})

/**
 * iperf3 throughput from the client namespace of a bench topology, Gbit/s (the curve and the
 * throughput rounds). Only to the addresses it is given, inside the bench's own namespaces.
 */
import { sleep } from './servers.js'
import { inNs, type Topology } from './topology.js'

export async function gbits(topo: Topology, address: string, port: number, seconds: number): Promise<number> {
  // An iperf3 server refuses (or, rarely, stalls) a client while it still winds down the previous
  // test: bounded attempts (connect and receive timeouts, a hard limit), retried after a pause.
  const run = () => inNs(topo.client.ns, 'iperf3', ['-c', address, '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '3000'], { timeoutMs: (seconds + 10) * 1000, reject: false })
  let r = await run()
  for (let i = 0; i < 3 && r.exitCode !== 0; i++) {
    await sleep(1000)
    r = await run()
  }
  if (r.exitCode !== 0) throw new Error(`iperf3 to ${address}:${port} failed: ${r.stdout.trim().slice(0, 400)} ${r.stderr.trim()}`)
  return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9
}

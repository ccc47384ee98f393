/**
 * Measurement 4, the health endpoint: requests per second and p50/p99 latency of `GET /lb/<name>`
 * under concurrency (wrk from the client namespace, fresh keep-alive connections like an LB's
 * probes would hold), against a bare Node HTTP server answering a constant on the same node (the
 * limit for any Node server on this machine). Runs alternate between the two servers.
 */
import { startDaemon } from './daemon.js'
import { killAll } from './processes.js'
import { startHttpServer, startScript } from './servers.js'
import { median, round } from './stats.js'
import { createTopology, inNs } from './topology.js'

export interface WrkFigures { requestsPerSecond: number; p50Ms: number; p99Ms: number; non2xx: number }

export interface HealthEndpointResult {
  fwdd: WrkFigures
  bareNode: WrkFigures
  ratioRps: number
  settings: { connections: number; seconds: number; rounds: number; path: string }
}

function ms(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim())
  if (!m) throw new Error(`wrk latency "${text}" not understood`)
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 'ms' ? 1 : 1000)
}

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): WrkFigures {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p50 = /^\s+50%\s+(\S+)$/m.exec(out)
  const p99 = /^\s+99%\s+(\S+)$/m.exec(out)
  if (!rps || !p50 || !p99) throw new Error(`wrk output not understood:\n${out}`)
  return { requestsPerSecond: Number(rps[1]), p50Ms: ms(p50[1]!), p99Ms: ms(p99[1]!), non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) }
}

export async function measureHealthEndpoint(opts: { quick: boolean; log(m: string): void }): Promise<HealthEndpointResult> {
  const connections = 32
  const seconds = opts.quick ? 2 : 5
  const rounds = opts.quick ? 1 : 3
  const topo = await createTopology(1)
  try {
    const server = topo.servers[0]!
    await startHttpServer(server.ns, server.address, [80])
    const daemon = startDaemon(topo.node.ns, { listeners: [{ name: 'web', port: 8000, targets: [{ host: server.address, port: 80 }] }] })
    await daemon.waitReady(30000)
    const bare = startScript(topo.node.ns, 'constant-server', ['198.18.0.1', '8081'])
    await bare.waitLine(/^listening$/, 10000)
    const urls = { fwdd: 'http://198.18.0.1:8080/lb/web', bareNode: 'http://198.18.0.1:8081/' }
    const runs: Record<'fwdd' | 'bareNode', WrkFigures[]> = { fwdd: [], bareNode: [] }
    for (let r = 0; r < rounds; r++) {
      for (const k of (r % 2 === 0 ? ['fwdd', 'bareNode'] : ['bareNode', 'fwdd']) as Array<'fwdd' | 'bareNode'>) {
        const out = await inNs(topo.client.ns, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', urls[k]], { timeoutMs: (seconds + 20) * 1000 })
        runs[k].push(parseWrk(out.stdout))
      }
    }
    const pick = (xs: WrkFigures[]): WrkFigures => ({
      requestsPerSecond: round(median(xs.map((x) => x.requestsPerSecond))),
      p50Ms: round(median(xs.map((x) => x.p50Ms))),
      p99Ms: round(median(xs.map((x) => x.p99Ms))),
      non2xx: xs.reduce((a, x) => a + x.non2xx, 0),
    })
    const fwdd = pick(runs.fwdd)
    const bareNode = pick(runs.bareNode)
    opts.log(`/lb/web: ${fwdd.requestsPerSecond} req/s, p50 ${fwdd.p50Ms} ms, p99 ${fwdd.p99Ms} ms; bare node: ${bareNode.requestsPerSecond} req/s, p99 ${bareNode.p99Ms} ms`)
    await daemon.stop()
    return { fwdd, bareNode, ratioRps: round(fwdd.requestsPerSecond / bareNode.requestsPerSecond), settings: { connections, seconds, rounds, path: '/lb/web' } }
  } finally {
    await killAll()
    await topo.destroy()
  }
}

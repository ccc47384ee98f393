/**
 * Measurement 1, the data plane: throughput (iperf3, one TCP stream) and connection rate (wrk, one
 * new connection per request against a constant HAProxy HTTP server) from the client namespace,
 * over three paths to the same server: direct (routed by the node, no NAT: the limit), through
 * fwdd's DNAT, and through HAProxy in TCP mode on the node. The paths alternate within each round
 * so background load on a shared machine hits all three alike; the report gives medians and ratios
 * to direct. fwdd's rules stay loaded in the node namespace for all three, so conntrack runs on
 * every path and the ratio isolates the cost of the NAT rules themselves.
 */
import { startDaemon } from './daemon.js'
import { startHttpServer, startIperfServer, startTcpProxy, sleep } from './servers.js'
import { median, round } from './stats.js'
import { killAll } from './processes.js'
import { createTopology, inNs } from './topology.js'

export interface PathFigures { direct: number; fwdd: number; haproxy: number }

export interface DataplaneResult {
  throughputGbps: PathFigures & { ratioFwdd: number; ratioHaproxy: number; samples: Record<string, number[]> }
  connectionsPerSecond: PathFigures & { ratioFwdd: number; ratioHaproxy: number; samples: Record<string, number[]>; socketErrors: Record<string, number> }
  settings: { rounds: number; iperfSeconds: number; wrkSeconds: number; wrkConnections: number; haproxyThreads: string }
}

type PathName = keyof PathFigures

export async function measureDataplane(opts: { quick: boolean }): Promise<DataplaneResult> {
  const rounds = opts.quick ? 1 : 3
  const iperfSeconds = opts.quick ? 1 : 4
  const wrkSeconds = opts.quick ? 1 : 4
  const wrkConnections = 32
  const topo = await createTopology(1)
  const server = topo.servers[0]!
  try {
    await startIperfServer(server.ns, server.address, 5201)
    await startHttpServer(server.ns, server.address, [80])
    await startTcpProxy(topo.node.ns, [
      { bind: '198.18.0.1:6201', server: `${server.address}:5201` },
      { bind: '198.18.0.1:6080', server: `${server.address}:80` },
    ])
    const daemon = startDaemon(topo.node.ns, {
      listeners: [
        { name: 'iperf', port: 5201, targets: [{ host: server.address, port: 5201 }] },
        { name: 'http', port: 8000, targets: [{ host: server.address, port: 80 }] },
      ],
    })
    await daemon.waitReady(30000)
    const endpoints: Record<PathName, { iperf: [string, number]; http: string }> = {
      direct: { iperf: [server.address, 5201], http: `http://${server.address}:80/` },
      fwdd: { iperf: ['198.18.0.1', 5201], http: 'http://198.18.0.1:8000/' },
      haproxy: { iperf: ['198.18.0.1', 6201], http: 'http://198.18.0.1:6080/' },
    }
    const paths: PathName[] = ['direct', 'fwdd', 'haproxy']
    const tput: Record<string, number[]> = { direct: [], fwdd: [], haproxy: [] }
    const rate: Record<string, number[]> = { direct: [], fwdd: [], haproxy: [] }
    const errors: Record<string, number> = { direct: 0, fwdd: 0, haproxy: 0 }
    for (let r = 0; r < rounds; r++) {
      for (const p of r % 2 === 0 ? paths : [...paths].reverse()) {
        const [host, port] = endpoints[p].iperf
        const out = await inNs(topo.client.ns, 'iperf3', ['-c', host, '-p', String(port), '-t', String(iperfSeconds), '-J'], { timeoutMs: (iperfSeconds + 20) * 1000 })
        const json = JSON.parse(out.stdout) as { end: { sum_received: { bits_per_second: number } } }
        tput[p]!.push(json.end.sum_received.bits_per_second / 1e9)
      }
      for (const p of r % 2 === 0 ? paths : [...paths].reverse()) {
        // Flows in TIME_WAIT from the previous run would fill conntrack and skew the next one.
        await inNs(topo.node.ns, 'conntrack', ['-F'], { reject: false })
        await sleep(200)
        const out = await inNs(topo.client.ns, 'wrk', ['-t1', `-c${wrkConnections}`, `-d${wrkSeconds}s`, '-H', 'Connection: close', endpoints[p].http], { timeoutMs: (wrkSeconds + 20) * 1000 })
        const rps = /Requests\/sec:\s+([\d.]+)/.exec(out.stdout)
        if (!rps) throw new Error(`wrk printed no rate for ${p}: ${out.stdout}`)
        rate[p]!.push(Number(rps[1]))
        const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out.stdout)
        if (se) errors[p]! += Number(se[1]) + Number(se[4])
      }
    }
    await daemon.stop()
    const fig = (s: Record<string, number[]>): PathFigures => ({ direct: median(s.direct!), fwdd: median(s.fwdd!), haproxy: median(s.haproxy!) })
    const t = fig(tput)
    const c = fig(rate)
    return {
      throughputGbps: { ...mapRound(t), ratioFwdd: round(t.fwdd / t.direct), ratioHaproxy: round(t.haproxy / t.direct), samples: tput },
      connectionsPerSecond: { ...mapRound(c), ratioFwdd: round(c.fwdd / c.direct), ratioHaproxy: round(c.haproxy / c.direct), samples: rate, socketErrors: errors },
      settings: { rounds, iperfSeconds, wrkSeconds, wrkConnections, haproxyThreads: 'default (one per core)' },
    }
  } finally {
    await killAll()
    await topo.destroy()
  }
}

function mapRound(f: PathFigures): PathFigures {
  return { direct: round(f.direct), fwdd: round(f.fwdd), haproxy: round(f.haproxy) }
}

/**
 * Measurement 7, the LB probe under a flood (issue 13): `/lb/web` probe success and p99 while 20
 * connections pipeline `GET /metrics` on the health port and 8 pipeline `GET /rules` on the control
 * socket, against the same probe on the same, idle node in the same run. The probe is a new
 * connection every 50 ms from the client namespace (a reserved probe source, as the Azure LB's
 * address is); the floods come from the node's own address, a source with no reserved share.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDaemon } from './daemon.js'
import { killAll, spawnChild } from './processes.js'
import { startHttpServer, startScript } from './servers.js'
import { percentile, round } from './stats.js'
import { createTopology } from './topology.js'

const FLOOD = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/flood.mjs')

export interface ProbeFigures { attempts: number; ok: number; successPercent: number; p50Ms: number; p99Ms: number }

export interface ProbeFloodResult {
  idle: ProbeFigures
  flooded: ProbeFigures & { metricsAnswered: number; rulesAnswered: number }
  /** flooded p99 / idle p99. */
  ratioP99: number
  settings: { periodMs: number; seconds: number; metricsConnections: number; controlConnections: number }
}

function figures(out: string): ProbeFigures {
  const r = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { attempts: number; ok: number; latenciesMs: number[] }
  return { attempts: r.attempts, ok: r.ok, successPercent: round((100 * r.ok) / Math.max(1, r.attempts)), p50Ms: round(percentile(r.latenciesMs, 50)), p99Ms: round(percentile(r.latenciesMs, 99)) }
}

export async function measureProbeFlood(opts: { quick: boolean; log(m: string): void }): Promise<ProbeFloodResult> {
  const seconds = opts.quick ? 3 : 15
  const periodMs = 50
  const topo = await createTopology(1)
  try {
    const server = topo.servers[0]!
    await startHttpServer(server.ns, server.address, [80])
    const daemon = startDaemon(topo.node.ns, { listeners: [{ name: 'web', port: 8000, targets: [{ host: server.address, port: 80 }] }] })
    await daemon.waitReady(30000)
    const run = async (): Promise<string> => {
      const p = startScript(topo.client.ns, 'lb-probe', ['http://198.18.0.1:8080/lb/web', String(periodMs), String(seconds * 1000)])
      await p.exited
      return p.output()
    }
    const idle = figures(await run())
    const metrics = spawnChild(topo.node.ns, process.execPath, [FLOOD, 'tcp', '198.18.0.1', '8080', '/metrics', '20', '50', String((seconds + 1) * 1000)])
    const rules = spawnChild(topo.node.ns, process.execPath, [FLOOD, 'unix', daemon.socket, '/rules', '8', '200', String((seconds + 1) * 1000)])
    const flooded = figures(await run())
    await Promise.all([metrics.exited, rules.exited])
    const answered = (c: typeof metrics): number => Number((JSON.parse(c.output().split('\n').find((l) => l.startsWith('{')) ?? '{"responses":0}') as { responses: number }).responses)
    const result: ProbeFloodResult = {
      idle,
      flooded: { ...flooded, metricsAnswered: answered(metrics), rulesAnswered: answered(rules) },
      ratioP99: round(flooded.p99Ms / Math.max(0.1, idle.p99Ms)),
      settings: { periodMs, seconds, metricsConnections: 20, controlConnections: 8 },
    }
    opts.log(`/lb/web idle: ${idle.successPercent}% ok, p99 ${idle.p99Ms} ms; flooded: ${flooded.successPercent}% ok, p99 ${flooded.p99Ms} ms (x${result.ratioP99}); flood answered ${result.flooded.metricsAnswered} /metrics, ${result.flooded.rulesAnswered} /rules`)
    await daemon.stop()
    return result
  } finally {
    await killAll()
    await topo.destroy()
  }
}

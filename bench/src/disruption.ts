/**
 * Measurement 6, disruption: long-lived connections through fwdd (each echoing a line every
 * 200 ms; hold-client.ts) must survive rule rewrites. With two echo targets behind one listener
 * and a 1 s verified resync running throughout, it does 100 reloads that each change a weight (so
 * the listener's nat chain is rewritten every time), one plain reload, and a daemon restart (stop,
 * start on the same rules, which the new daemon adopts). Then it counts connections broken
 * (closed) or stalled (silent). Expected: 0 and 0.
 */
import { startDaemon, type BenchConfig } from './daemon.js'
import { killAll } from './processes.js'
import { startScript, sleep } from './servers.js'
import { createTopology } from './topology.js'

export interface DisruptionResult {
  connections: number
  rewrites: number
  syncsThatWroteRules: number
  broken: number
  stalled: number
  maxSilenceMs: number
}

export async function measureDisruption(opts: { quick: boolean; log(m: string): void }): Promise<DisruptionResult> {
  const rewrites = opts.quick ? 10 : 100
  const connections = 50
  const topo = await createTopology(2)
  try {
    for (const s of topo.servers) await startScript(s.ns, 'echo-server', ['7']).waitLine(/^listening$/, 10000)
    const config = (w: number): BenchConfig => ({
      sync: { resyncSeconds: 1 },
      listeners: [{ name: 'echo', port: 7000, check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }, targets: topo.servers.map((s, i) => ({ host: s.address, port: 7, weight: i === 0 ? 1 : w })) }],
    })
    let daemon = startDaemon(topo.node.ns, config(1))
    await daemon.waitReady(30000)
    const hold = startScript(topo.client.ns, 'hold-client', ['198.18.0.1', '7000', String(connections), '200'])
    await hold.waitLine(/^ready$/, 15000)
    const m0 = await daemon.syncMetrics()
    for (let i = 0; i < rewrites; i++) {
      const before = (await daemon.status()).node.lastSyncAt
      daemon.writeConfig(config(i % 2 === 0 ? 2 : 1))
      await daemon.reload()
      const until = Date.now() + 10000
      while ((await daemon.status()).node.lastSyncAt === before) {
        if (Date.now() > until) throw new Error(`reload ${i + 1} was not applied within 10 s`)
        await sleep(10)
      }
    }
    const m1 = await daemon.syncMetrics()
    const wrote = (m1.partial?.count ?? 0) + (m1.full?.count ?? 0) - (m0.partial?.count ?? 0) - (m0.full?.count ?? 0)
    await daemon.reload()
    await sleep(1000)
    const dir = daemon.dir
    await daemon.stop()
    daemon = startDaemon(topo.node.ns, config(rewrites % 2 === 0 ? 1 : 2), dir)
    await daemon.waitReady(30000)
    await sleep(2000)
    hold.write('report\n')
    const r = JSON.parse(await hold.waitLine(/^\{/, 5000)) as { connections: number; broken: number; stalled: number; maxSilenceMs: number }
    opts.log(`${r.connections} connections across ${rewrites} rewrites (${wrote} syncs wrote rules), a reload and a restart: ${r.broken} broken, ${r.stalled} stalled`)
    await daemon.stop()
    return { connections: r.connections, rewrites, syncsThatWroteRules: wrote, broken: r.broken, stalled: r.stalled, maxSilenceMs: r.maxSilenceMs }
  } finally {
    await killAll()
    await topo.destroy()
  }
}

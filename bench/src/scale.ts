/**
 * Measurements 3a and 5, the daemon at scale: for 10 to 5000 listeners with 2 targets each (every
 * listener -> 198.18.1.2:80 and 198.18.2.2:80, HAProxy answering there; listener l0's first target
 * is port 81, so it alone can be failed), with the default checks (1 s interval, so 5000 listeners
 * are 10000 health checks a second) and default sync settings:
 * - start to in sync: from spawning the daemon on an empty table to `/lb` answering 200;
 * - idle footprint: RSS and CPU over a quiet window (checks and the periodic verified resync run);
 * - the periodic verified resync's own duration (from fwdd_sync_duration_seconds, kind `noop`);
 * - a single target flip: l0's first target starts refusing; time until new connections to l0 all
 *   succeed again (end to end, as in the failover measurement), and the partial sync's duration.
 */
import { cleanupRules, startDaemon, type BenchConfig, type BenchDaemon } from './daemon.js'
import { killAll } from './processes.js'
import { startHttpServer, startScript, sleep } from './servers.js'
import { round } from './stats.js'
import { createTopology, inNs } from './topology.js'

export interface ScaleRow {
  /** The dataplane backend the daemon ran (absent in reports before both were measured: iptables). */
  backend?: 'iptables' | 'nftables'
  listeners: number
  targets: number
  /** null when the daemon was not in sync within `readyTimeoutMs` (the footprint is still measured). */
  startToInSyncMs: number | null
  readyTimeoutMs: number
  idleWindowSeconds: number
  idleCpuPercent: number
  rssMB: number
  peakRssMB: number
  verifiedResyncMs: number | null
  flipRecoveryMs: number | null
  flipSyncMs: number | null
  /** What went wrong at this size (an overloaded daemon is a finding, not a harness failure). */
  notes: string[]
}

export function scaleConfig(n: number, backend: 'iptables' | 'nftables' = 'iptables'): BenchConfig {
  const listeners = []
  for (let i = 0; i < n; i++) {
    listeners.push({ name: `l${i}`, port: 10000 + i, targets: [{ host: '198.18.1.2', port: i === 0 ? 81 : 80 }, { host: '198.18.2.2', port: 80 }] })
  }
  return { listeners, ...(backend === 'nftables' ? { backend } : {}) }
}

/**
 * Every size on each backend (the quick smoke run: iptables only, to stay short). Sizes go up to
 * 10,000 listeners (`--listeners`).
 */
export async function measureScale(opts: { quick: boolean; sizes?: number[]; log(m: string): void }): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = []
  for (const backend of opts.quick ? ['iptables'] as const : ['iptables', 'nftables'] as const) rows.push(...await measureScaleOn(backend, opts))
  return rows
}

async function measureScaleOn(backend: 'iptables' | 'nftables', opts: { quick: boolean; sizes?: number[]; log(m: string): void }): Promise<ScaleRow[]> {
  const sizes = opts.sizes ?? (opts.quick ? [10, 100] : [10, 100, 1000, 5000, 10000])
  const windowS = opts.quick ? 3 : 12
  const topo = await createTopology(2)
  const rows: ScaleRow[] = []
  try {
    await startHttpServer(topo.servers[0]!.ns, topo.servers[0]!.address, [80, 81])
    await startHttpServer(topo.servers[1]!.ns, topo.servers[1]!.address, [80])
    for (const n of sizes) {
      await cleanupRules(topo.node.ns)
      const t0 = performance.now()
      const daemon = startDaemon(topo.node.ns, scaleConfig(n, backend))
      const notes: string[] = []
      // An overloaded daemon may not answer /metrics: record that and go on measuring its footprint.
      const scrape = async (): Promise<Awaited<ReturnType<BenchDaemon['syncMetrics']>> | null> => {
        try {
          return await daemon.syncMetrics()
        } catch (err: unknown) {
          notes.push(`/metrics did not answer within 30 s (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`)
          return null
        }
      }
      try {
        const readyTimeoutMs = n >= 10000 ? 120000 : n >= 5000 ? 60000 : 30000
        const ready = await daemon.waitReady(readyTimeoutMs).then(() => true, () => false)
        const startToInSyncMs = ready ? performance.now() - t0 : null
        if (!ready) notes.push(`not in sync within ${readyTimeoutMs / 1000} s of start`)
        await sleep(2000)
        const m0 = await scrape()
        const p0 = daemon.proc()
        const w0 = performance.now()
        await sleep(windowS * 1000)
        const p1 = daemon.proc()
        const wall = (performance.now() - w0) / 1000
        const m1 = await scrape()
        const verifiedResyncMs = m0 && m1 ? delta(m0, m1, 'noop') : null
        const flip = ready ? await flipOne(topo.client.ns, topo.servers[0]!.ns, scrape) : { recoveryMs: null, syncMs: null }
        rows.push({
          backend, listeners: n, targets: 2 * n,
          startToInSyncMs: startToInSyncMs === null ? null : round(startToInSyncMs),
          readyTimeoutMs,
          idleWindowSeconds: round(wall),
          idleCpuPercent: round(((p1.cpuSeconds - p0.cpuSeconds) / wall) * 100),
          rssMB: round(p1.rssBytes / 2 ** 20),
          peakRssMB: round(daemon.proc().peakRssBytes / 2 ** 20),
          verifiedResyncMs: verifiedResyncMs === null ? null : round(verifiedResyncMs),
          flipRecoveryMs: flip.recoveryMs,
          flipSyncMs: flip.syncMs === null ? null : round(flip.syncMs),
          notes,
        })
        opts.log(`${backend}, ${n} listeners: in sync ${startToInSyncMs === null ? `NOT within ${readyTimeoutMs} ms` : `${round(startToInSyncMs)} ms`} after start; idle CPU ${rows.at(-1)!.idleCpuPercent}%, RSS ${rows.at(-1)!.rssMB} MB; verified resync ${rows.at(-1)!.verifiedResyncMs} ms; flip ${flip.recoveryMs} ms (sync ${rows.at(-1)!.flipSyncMs} ms)${notes.length ? `; ${notes.join('; ')}` : ''}`)
      } finally {
        await daemon.stop()
      }
    }
    return rows
  } finally {
    await killAll()
    await topo.destroy()
  }
}

/** Mean duration (ms) of the syncs of `kind` between two scrapes; null when there were none. */
function delta(a: Record<string, { sum: number; count: number }>, b: Record<string, { sum: number; count: number }>, kind: string): number | null {
  const n = (b[kind]?.count ?? 0) - (a[kind]?.count ?? 0)
  if (n <= 0) return null
  return (((b[kind]?.sum ?? 0) - (a[kind]?.sum ?? 0)) / n) * 1000
}

type Scrape = () => Promise<Record<string, { sum: number; count: number }> | null>

async function flipOne(clientNs: string, serverNs: string, scrape: Scrape): Promise<{ recoveryMs: number | null; syncMs: number | null }> {
  const m0 = await scrape()
  const probe = startScript(clientNs, 'probe-client', ['198.18.0.1', '10000', '10', '200', '20', '20000'])
  const rule = ['-p', 'tcp', '--dport', '81', '-j', 'REJECT', '--reject-with', 'tcp-reset']
  try {
    await probe.waitLine(/^ready$/, 20000)
    const t0 = Date.now()
    await inNs(serverNs, 'iptables', ['-I', 'INPUT', ...rule])
    probe.write(`fault ${t0}\n`)
    const r = JSON.parse(await probe.waitLine(/^\{/, 30000)) as { recoveryMs?: number }
    await sleep(300)
    const m1 = await scrape()
    return { recoveryMs: r.recoveryMs ?? null, syncMs: m0 && m1 ? delta(m0, m1, 'partial') : null }
  } finally {
    await inNs(serverNs, 'iptables', ['-D', 'INPUT', ...rule], { reject: false })
    await probe.stop('SIGKILL')
  }
}

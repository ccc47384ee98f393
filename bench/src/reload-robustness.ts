/**
 * Measurement 8, the long run of the robustness suite's reload half (issue 13): the generated
 * configs of test/helpers/config-arbitraries.ts reloaded one by one into a running daemon over
 * its control socket (test/helpers/reload-cases.ts, the harness `npm test` runs 50 cases of),
 * with one connection held through the node the whole time. FWDD_BENCH_RELOAD_CASES sets the count.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { configTextWith, testPlanAddress } from '../../test/helpers/config-arbitraries.js'
import { fwddRuleLines, reloadCases, type ReloadFigures } from '../../test/helpers/reload-cases.js'
import { configYaml, startDaemon, type BenchConfig } from './daemon.js'
import { killAll, spawnChild } from './processes.js'
import { sleep, startHttpServer, waitTcp } from './servers.js'
import { createTopology, inNs } from './topology.js'

const HELD = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/held-echo.mjs')

export interface ReloadRobustnessResult {
  figures: Omit<ReloadFigures, 'examples'>
  examples: string[]
  held: { sent: number; echoed: number; lost: number; closed: boolean }
  seconds: number
}

export async function measureReloadRobustness(opts: { quick: boolean; log(m: string): void }): Promise<ReloadRobustnessResult> {
  const count = Number(process.env.FWDD_BENCH_RELOAD_CASES ?? (opts.quick ? 10 : 300))
  const topo = await createTopology(1)
  try {
    const server = topo.servers[0]!
    await startHttpServer(server.ns, server.address, [80])
    spawnChild(server.ns, process.execPath, [HELD, 'server', '7001'])
    await waitTcp(server.ns, server.address, 7001)
    const check = { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }
    const baseConfig: BenchConfig = { listeners: [
      { name: 'web', port: 8000, targets: [{ host: server.address, port: 80 }], check },
      { name: 'hold', port: 7000, targets: [{ host: server.address, port: 7001 }], check },
    ] }
    const base = configYaml(baseConfig)
    const daemon = startDaemon(topo.node.ns, baseConfig)
    let exited = false
    void daemon.child.exited.then(() => { exited = true })
    const configPath = path.join(daemon.dir, 'config.yaml')
    await daemon.waitReady(30000)
    const held = spawnChild(topo.client.ns, process.execPath, [HELD, 'client', '198.18.0.1', '7000', '100'])
    await held.waitLine(/^ready$/, 10000)
    const cases = fc.sample(configTextWith(testPlanAddress), { numRuns: count, seed: Number(process.env.FWDD_RELOAD_SEED ?? 13) })
    const started = Date.now()
    const ns = topo.node.ns
    const figures = await reloadCases({
      socket: daemon.socket,
      writeConfig: (text) => writeFileSync(configPath, text),
      rules: async () => fwddRuleLines((await inNs(ns, 'iptables-save', ['-t', 'nat'])).stdout, (await inNs(ns, 'iptables-save', ['-t', 'filter'])).stdout),
      alive: () => !exited,
    }, base, cases)
    const seconds = Math.round((Date.now() - started) / 1000)
    await inNs(topo.client.ns, 'kill', ['-USR2', String(held.pid)])
    const line = await held.waitLine(/^\{/, 10000)
    await sleep(10)
    const { examples, ...rest } = figures
    const result: ReloadRobustnessResult = { figures: rest, examples, held: JSON.parse(line) as ReloadRobustnessResult['held'], seconds }
    opts.log(`${rest.cases} reloads in ${seconds} s: ${rest.accepted} accepted, ${rest.rejectedWithPosition} rejected with position, ${rest.rejectedWithoutPosition} without, ${rest.crashes} crashes, ${rest.rulesChanged} rule changes; held connection lost ${result.held.lost} of ${result.held.sent} echoes`)
    await daemon.stop()
    return result
  } finally {
    await killAll()
    await topo.destroy()
  }
}

/**
 * Robustness, the reload half (issue: hostile input and bad days): "SIGHUP killed the daemon on a
 * YAML alias error" and its kin. Generated configs (the parse property's generators, over the
 * schema and beyond it) reloaded one by one into a running daemon: each is accepted, or refused
 * with PATH:LINE:COL while the kernel keeps the last good rules; the daemon never crashes; and a
 * connection held through the node the whole time loses no echo. FWDD_RELOAD_RUNS sets the count
 * (default 50; the benchmark's `reloadRobustness` runs 1000).
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import { appendFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import fc from 'fast-check'
import { createTopology } from '../helpers/netns.js'
import { ROOT, startDaemon, startServers, waitTcp } from '../helpers/daemon.js'
import { configTextWith, testPlanAddress } from '../helpers/config-arbitraries.js'
import { fwddRuleLines, reloadCases } from '../helpers/reload-cases.js'

const RUNS = Number(process.env.FWDD_RELOAD_RUNS ?? 50)
const HELD = path.join(ROOT, 'test/fixtures/held-echo.mjs')

t.test('generated configs reloaded into a running daemon: refused with a position or accepted, never a crash, a held flow loses nothing', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'rp' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  topo.spawn(topo.servers[0]!.ns, process.execPath, [HELD, 'server', '7001'])
  await waitTcp(topo, topo.servers[0]!.ns, topo.servers[0]!.address, 7001)
  const base = [
    'health: { port: 8080 }',
    'sources: [198.18.0.0/24]',
    'listeners:',
    '  - { name: web, port: 8000, check: { intervalMs: 300, timeoutMs: 300 }, targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }] }',
    '  - { name: hold, port: 7000, check: { intervalMs: 300, timeoutMs: 300 }, targets: [{ host: 198.18.1.2, port: 7001 }] }',
    '',
  ].join('\n')
  const d = await startDaemon(topo, base)
  const client = topo.spawn(topo.client.ns, process.execPath, [HELD, 'client', '198.18.0.1', '7000', '100'])
  let heldOut = ''
  client.stdout?.on('data', (b: Buffer) => { heldOut += b.toString() })
  const until = Date.now() + 5000
  while (!heldOut.includes('ready') && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
  t.match(heldOut, /ready/, 'the held connection echoes through the node')

  const cases = fc.sample(configTextWith(testPlanAddress), { numRuns: RUNS, seed: Number(process.env.FWDD_RELOAD_SEED ?? 13) })
  const ns = topo.node.ns
  const figures = await reloadCases({
    socket: d.socket,
    writeConfig: (text) => d.writeConfig(text),
    rules: async () => fwddRuleLines((await topo.exec(ns, 'iptables-save', ['-t', 'nat'])).stdout, (await topo.exec(ns, 'iptables-save', ['-t', 'filter'])).stdout),
    alive: () => d.child.exitCode === null && d.child.signalCode === null,
  }, base, cases, (m) => { if (process.env.FWDD_RELOAD_DEBUG) appendFileSync(process.env.FWDD_RELOAD_DEBUG, `${m}\n`) })

  client.kill('SIGUSR2')
  await client.catch(() => {})
  const held = JSON.parse(heldOut.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { sent?: number; echoed?: number; lost?: number; closed?: boolean }
  t.comment(`reload property figures: ${JSON.stringify({ ...figures, examples: undefined })}; held connection: ${JSON.stringify(held)}`)
  for (const e of figures.examples) t.comment(e)
  t.equal(figures.crashes, 0, 'no crash')
  t.equal(figures.cases, RUNS, 'every case ran')
  t.equal(figures.rejectedWithoutPosition, 0, 'every refusal names PATH:LINE:COL')
  t.equal(figures.rulesChanged, 0, 'a refused reload leaves the last good rules; an accepted one is undone by the base config')
  t.ok(figures.accepted > 0 && figures.rejectedWithPosition > 0, 'both outcomes occur, so the property is not vacuous')
  t.ok((held.sent ?? 0) > 10, `the held connection was exercised (${held.sent} lines)`)
  t.equal(held.lost, 0, 'the held connection lost no echo')
  t.equal(held.closed, false, 'and stayed open')
})

/**
 * Drift repair, by the ruleset watch at once or by the periodic resync (`sync: { resyncSeconds: 2 }`)
 * at the latest: a flushed PREROUTING (the jump gone), a flushed fwdd chain, a rule inserted into
 * an fwdd chain, and a flushed raw PREROUTING and FWD-RAW (the event mask) are all repaired within one resync period, while a rule another tool added meanwhile
 * survives, and every repair is counted.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { httpGet, startDaemon, startServers, webConfig } from '../helpers/daemon.js'

const URL = 'http://198.18.0.1:8000/'
const RESYNC_MS = 2000
/** One resync period, plus what a sync and a curl take. */
const LIMIT_MS = RESYNC_MS + 700
const FOREIGN = ['-p', 'tcp', '--dport', '9999', '-m', 'comment', '--comment', 'another-tool', '-j', 'ACCEPT']

/** Breaks forwarding with `iptables ...args` and returns ms until a new connection works again. */
async function breakAndTime(topo: Topology, args: string[][]): Promise<number> {
  for (const a of args) await topo.exec(topo.node.ns, 'iptables', a)
  const broke = Date.now()
  // On iptables-nft the daemon's ruleset watch (nft monitor) repairs within milliseconds, often
  // before this first connection: that counts as repaired at once (the repair counter proves it).
  const r = await httpGet(topo, URL, { timeoutS: 0.3 })
  if (r.ok) return 0
  while (Date.now() - broke < 3 * RESYNC_MS) {
    if ((await httpGet(topo, URL, { timeoutS: 0.3 })).ok) return Date.now() - broke
  }
  throw new Error(`forwarding not back within ${3 * RESYNC_MS} ms after ${JSON.stringify(args)}`)
}

t.test('drift is repaired within one resync period; foreign rules survive', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'df' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, webConfig(topo, { resyncSeconds: 2 }))
  t.ok((await httpGet(topo, URL)).ok, 'forwarding works')

  const flushPre = await breakAndTime(topo, [['-t', 'nat', '-F', 'PREROUTING'], ['-t', 'nat', '-A', 'PREROUTING', ...FOREIGN]])
  t.comment(`flushed PREROUTING: forwarding back after ${flushPre} ms`)
  t.ok(flushPre < LIMIT_MS, `back within one resync period (${flushPre} ms)`)
  const pre = (await topo.exec(topo.node.ns, 'iptables', ['-t', 'nat', '-S', 'PREROUTING'])).stdout
  t.match(pre, /another-tool/, 'the rule another tool added meanwhile is still there')
  t.match(pre.split('\n')[1] ?? '', /-j FWD-PREROUTING/, 'the jump is back at the top')
  t.equal(pre.split('\n').filter((l) => /-j FWD-PREROUTING/.test(l)).length, 1, 'exactly one jump')

  const flushChain = await breakAndTime(topo, [['-t', 'nat', '-F', 'FWD-SERVICES']])
  t.comment(`flushed FWD-SERVICES (the listener's rules): forwarding back after ${flushChain} ms`)
  t.ok(flushChain < LIMIT_MS, `back within one resync period (${flushChain} ms)`)

  const edited = await breakAndTime(topo, [['-t', 'nat', '-I', 'FWD-SERVICES', '1', '-j', 'RETURN']])
  t.comment(`edited FWD-SERVICES: forwarding back after ${edited} ms`)
  t.ok(edited < LIMIT_MS, `back within one resync period (${edited} ms)`)
  const services = (await topo.exec(topo.node.ns, 'iptables', ['-t', 'nat', '-S', 'FWD-SERVICES'])).stdout
  t.notMatch(services, /-j RETURN/, 'the foreign rule inside an fwdd chain is gone')

  // The raw jump and chain (the event mask of passive health) break no forwarding when lost, so
  // they are timed by reading the rules back, not by a connection.
  const rawSaved = async (): Promise<string> => (await topo.exec(topo.node.ns, 'iptables-save', ['-t', 'raw'])).stdout
  const lostAt = Date.now()
  await topo.exec(topo.node.ns, 'iptables', ['-t', 'raw', '-F', 'PREROUTING'])
  await topo.exec(topo.node.ns, 'iptables', ['-t', 'raw', '-F', 'FWD-RAW'])
  for (;;) {
    const raw = await rawSaved()
    if (/-A PREROUTING .*-j FWD-RAW/.test(raw) && /-A FWD-RAW .*--dport 8000 .*-j CT --ctevents new,destroy,reply/.test(raw)) break
    if (Date.now() - lostAt > LIMIT_MS) throw new Error(`raw jump or FWD-RAW not repaired within ${LIMIT_MS} ms:\n${raw}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  t.comment(`flushed raw PREROUTING and FWD-RAW: repaired after ${Date.now() - lostAt} ms`)

  t.match((await topo.exec(topo.node.ns, 'iptables', ['-t', 'nat', '-S', 'PREROUTING'])).stdout, /another-tool/, 'the foreign rule is still there at the end')
  const s = await d.status()
  t.ok((s.node.driftRepairs ?? 0) >= 4, `status counts the repairs: driftRepairs=${s.node.driftRepairs}`)
  t.equal(s.node.inSync, true)
})

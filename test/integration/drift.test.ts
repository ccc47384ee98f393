/**
 * Drift repair, by the ruleset watch at once or by the periodic resync (`sync: { resyncSeconds: 2 }`)
 * at the latest: a flushed PREROUTING (the jump gone), a flushed fwdd chain, a rule inserted into
 * an fwdd chain, and a flushed raw PREROUTING and FWD-RAW (the event mask) are all repaired within one resync period, while a rule another tool added meanwhile
 * survives, and every repair is counted.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT, httpGet, startDaemon, startServers, webConfig } from '../helpers/daemon.js'

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

/**
 * Polls `/lb` in the node while `breakIt` runs right after one of fwdd's own writes (a reload that
 * changes a weight), inside the 2 s in which a timing-only watch took every change for fwdd's own
 * echo and kept `/lb` at 200 through the break. Returns the answers and when the break was made.
 */
async function breakRightAfterOwnWrite(topo: Topology, d: Awaited<ReturnType<typeof startDaemon>>, yaml: string, breakIt: () => Promise<unknown>): Promise<{ answers: Array<[number, number, number]>; brokeAt: number; wroteAt: number }> {
  const stopFile = path.join(d.dir, 'lb-poll.stop')
  const poller = topo.spawn(topo.node.ns, process.execPath, [LB_POLL, 'http://127.0.0.1:8080/lb', '30000', stopFile])
  let out = ''
  poller.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  while (!out.includes('polling\n')) await new Promise((r) => setTimeout(r, 20))
  await new Promise((r) => setTimeout(r, 300))
  const before = (await d.status()).node.lastSyncAt
  d.writeConfig(yaml.replace(/port: 80 \}/, 'port: 80, weight: 3 }'))
  await d.ctl(['reload'])
  let s = await d.status()
  while (s.node.lastSyncAt === before) s = await d.status()
  const wroteAt = Date.now()
  const brokeAt = Date.now()
  await breakIt()
  // The repair takes milliseconds here; a second is room for a loaded machine.
  await new Promise((r) => setTimeout(r, 1000))
  writeFileSync(stopFile, '')
  await poller
  const line = out.split('\n').find((l) => l.startsWith('['))
  if (!line) throw new Error(`lb-poll printed no answers: ${out}`)
  return { answers: JSON.parse(line) as Array<[number, number, number]>, brokeAt, wroteAt }
}

const LB_POLL = path.join(ROOT, 'test/fixtures/lb-poll.mjs')

for (const backend of ['iptables', 'nftables'] as const) {
  t.test(`${backend}: a flush right after fwdd's own write turns /lb 503 until repaired (the watch names the writer)`, async (t) => {
    const topo = await createTopology({ servers: 2, prefix: 'dw' })
    t.teardown(() => topo.destroy())
    await startServers(topo)
    // resyncSeconds 30: only the watch can see the break within this test.
    const yaml = webConfig(topo, { resyncSeconds: 30 }).replace('listeners:', `dataplane: { backend: ${backend} }\nlisteners:`)
    const d = await startDaemon(topo, yaml)
    const flush = backend === 'iptables' ? ['iptables', ['-t', 'nat', '-F', 'PREROUTING']] as const : ['nft', ['flush', 'chain', 'ip', 'fwdd', 'prerouting']] as const
    const { answers, brokeAt, wroteAt } = await breakRightAfterOwnWrite(topo, d, yaml, () => topo.exec(topo.node.ns, flush[0], [...flush[1]]))
    t.comment(`${backend}: broke ${brokeAt - wroteAt} ms after fwdd's write was seen done`)
    const after = answers.filter(([asked]) => asked >= brokeAt)
    const firstDown = after.findIndex(([, , st]) => st === 503)
    t.ok(firstDown >= 0, `/lb answered 503 after the flush (${after.length} answers after it; before this fix every one was 200)`)
    t.equal(after.at(-1)?.[2], 200, 'and 200 again once repaired')
    t.match(d.log(), /the ruleset was changed by another process/, 'the log says why /lb turned 503')
    t.ok((await httpGet(topo, URL)).ok, 'forwarding works after the repair')
  })
}

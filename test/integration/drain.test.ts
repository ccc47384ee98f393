/**
 * `fwdctl drain` / `undrain` with traffic flowing: draining turns `/lb/<name>` and `/lb` to 503 (so
 * the LB stops sending new flows) while forwarding goes on for the flows that still arrive and the
 * ones already established; `/health` stays Healthy (a drain is no reason to repair the node).
 * The drain is kept on disk: a restarted daemon comes back drained, and only `undrain` ends it.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { httpGet, sleep, startDaemon, startServers, webConfig, type RunningDaemon } from '../helpers/daemon.js'

const HEALTHY = '{"ApplicationHealthState":"Healthy"}'

async function probe(topo: Topology, p: string): Promise<{ status: number; body: string }> {
  const r = await topo.exec(topo.node.ns, 'curl', ['-sS', '-m', '2', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:8080${p}`], { reject: false })
  const cut = r.stdout.lastIndexOf('\n')
  return { status: Number(r.stdout.slice(cut + 1)) || 0, body: r.stdout.slice(0, cut).trim() }
}

/** Waits until the daemon answers on its socket with the rules in sync (draining or not). */
async function waitInSync(d: RunningDaemon, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    const s = await d.status().catch((err: unknown) => { last = String(err); return null })
    if (s?.node.inSync && s.listeners[0]!.targets.some((x) => x.state === 'healthy')) return
    if (s) last = JSON.stringify(s.node)
    if (Date.now() > until) throw new Error(`daemon not in sync after ${timeoutMs} ms: ${last}\n${d.log()}`)
    await sleep(100)
  }
}

t.test('drain and undrain with traffic flowing; the drain survives a restart', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'dr' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const yaml = webConfig(topo)
  let d = await startDaemon(topo, yaml)
  t.equal((await probe(topo, '/lb/web')).status, 200, '/lb/web 200 before the drain')

  // Traffic: one long-lived flow (a line a second) and a steady stream of new connections.
  const slow = topo.spawn(topo.client.ns, 'curl', ['-sSN', 'http://198.18.0.1:8000/slow'])
  let lines = 0
  slow.stdout?.on('data', (b: Buffer) => { lines += b.toString().split('\n').filter(Boolean).length })
  let slowEnded = false
  void slow.finally(() => { slowEnded = true })
  let stop = false
  const failures: string[] = []
  let sent = 0
  const stream = (async () => {
    while (!stop) {
      const r = await httpGet(topo, 'http://198.18.0.1:8000/')
      sent++
      if (!r.ok) failures.push(`${r.code} ${r.body}`)
      await sleep(100)
    }
  })()
  const stillFlowing = async (step: string): Promise<void> => {
    const from = lines
    const until = Date.now() + 4000
    while (lines < from + 2) {
      if (slowEnded) throw new Error(`the long-lived flow ended at "${step}"`)
      if (Date.now() > until) throw new Error(`the long-lived flow stalled at "${step}" (${lines} lines)`)
      await sleep(100)
    }
    t.pass(`long-lived flow still flowing ${step}`)
  }
  try {
    await stillFlowing('before the drain')

    // Drain.
    const drain = await d.ctl(['drain'])
    t.equal(drain.exitCode, 0, `fwdctl drain exits 0: ${drain.stderr}`)
    t.match(drain.stdout, /draining/, 'fwdctl drain says so')
    t.same(await probe(topo, '/lb/web'), { status: 503, body: 'unavailable: draining' }, '/lb/web 503 at once, saying why')
    t.equal((await probe(topo, '/lb')).status, 503, '/lb 503')
    t.same(await probe(topo, '/health'), { status: 200, body: HEALTHY }, '/health stays Healthy while draining')
    const st = await d.ctl(['status'])
    t.equal(st.exitCode, 1, 'fwdctl status exits 1 (degraded) while draining')
    t.match(st.stdout, /draining/, 'the status table shows the drain')
    t.equal((await d.status()).node.draining, true, 'status --json: draining')
    t.equal(readFileSync(path.join(d.dir, 'state', 'draining'), 'utf8'), 'draining\n', 'the drain is on disk')
    const sentAtDrain = sent
    await stillFlowing('while drained')
    await sleep(1000)
    t.ok(sent > sentAtDrain + 3, `new connections kept arriving while drained (${sent - sentAtDrain})`)
    t.same(failures, [], 'every new connection was still forwarded while drained')

    // Restart: the drain is kept; forwarding goes on while the daemon is away.
    await d.kill('SIGTERM')
    t.equal((await d.ctl(['status'])).exitCode, 2, 'daemon stopped: fwdctl status exits 2')
    // From the moment the new daemon starts, /lb/web must never say 200: watch it until in sync.
    const lbSeen = new Set<number>()
    let watching = true
    const watch = (async () => {
      while (watching) {
        lbSeen.add((await probe(topo, '/lb/web')).status)
        await sleep(50)
      }
    })()
    d = await startDaemon(topo, yaml, { dir: d.dir, waitReady: false })
    await waitInSync(d).finally(async () => {
      watching = false
      await watch
    })
    t.notOk(lbSeen.has(200), `/lb/web never answered 200 while the daemon restarted (saw ${[...lbSeen].join(', ')}; 0 = not listening yet)`)
    t.equal((await d.status()).node.draining, true, 'the restarted daemon is still draining')
    t.same(await probe(topo, '/lb/web'), { status: 503, body: 'unavailable: draining' }, '/lb/web still 503 after the restart')
    t.equal((await d.ctl(['status'])).exitCode, 1, 'fwdctl status still 1 after the restart')
    await stillFlowing('after the restart')

    // Undrain.
    const undrain = await d.ctl(['undrain'])
    t.equal(undrain.exitCode, 0, `fwdctl undrain exits 0: ${undrain.stderr}`)
    t.same(await probe(topo, '/lb/web'), { status: 200, body: 'ok' }, '/lb/web 200 at once after undrain')
    t.equal((await probe(topo, '/lb')).status, 200, '/lb 200')
    t.equal((await d.ctl(['status'])).exitCode, 0, 'fwdctl status exits 0 again')
    t.equal(readFileSync(path.join(d.dir, 'state', 'draining'), 'utf8'), 'serving\n', 'the undrain is on disk')
    await stillFlowing('after the undrain')

    // And an undrained node stays undrained across a restart.
    await d.kill('SIGTERM')
    d = await startDaemon(topo, yaml, { dir: d.dir })
    t.equal((await d.status()).node.draining, false, 'restarted after undrain: not draining')
    t.equal((await probe(topo, '/lb/web')).status, 200, '/lb/web 200 after that restart')
  } finally {
    stop = true
    await stream
  }
  t.same(failures, [], `every new connection during the test was forwarded (${sent} sent)`)
})

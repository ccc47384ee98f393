/**
 * "Large configs are parsed on the event loop" (issue: hostile input and bad days): a reload of a
 * config near the documented size limit (src/config/limits.ts) took seconds of parsing during which
 * `/lb` did not answer. Now the parse runs on a worker thread: every probe sent while the daemon
 * parses answers 200 within 1 s, the config (refused by its last listener, so it is parsed and
 * checked in full) is rejected with its position, and the last good rules keep forwarding.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import { statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { CONFIG_LIMITS } from '../../src/config/limits.js'
import { createTopology } from '../helpers/netns.js'
import { httpGet, sleep, startDaemon, startServers, webConfig } from '../helpers/daemon.js'

/**
 * The listener and target limits filled, with long target names, to just under maxBytes; the
 * last listener reuses the first one's port, so only the full check of the whole file refuses it.
 */
function configNearLimit(): string {
  const perListener = CONFIG_LIMITS.maxTargets / CONFIG_LIMITS.maxListeners
  const lines = ['health: { port: 8080 }', 'listeners:']
  for (let i = 0; i < CONFIG_LIMITS.maxListeners; i++) {
    const last = i === CONFIG_LIMITS.maxListeners - 1
    lines.push(`  - name: listener-${i}`, `    port: ${last ? 10000 : 10000 + i}`, '    check: { intervalMs: 1000, timeoutMs: 1000, fall: 2, rise: 2 }', '    targets:')
    for (let j = 0; j < perListener; j++) lines.push(`      - { host: backend-${j}-of-listener-${i}.rack-seven.building-nine.datacenter-one.region-west-europe.corp.onprem.example, port: ${8000 + j}, weight: 1 }`)
  }
  return `${lines.join('\n')}\n`
}

t.test('a large config reload freezes the probes: /lb answers within 1 s while it parses', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'lc' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, webConfig(topo))
  const good = webConfig(topo)
  const big = configNearLimit()
  writeFileSync(d.configPath, big)
  const bytes = statSync(d.configPath).size
  t.ok(bytes > CONFIG_LIMITS.maxBytes * 0.8 && bytes <= CONFIG_LIMITS.maxBytes, `config near the limit (${bytes} of ${CONFIG_LIMITS.maxBytes} bytes)`)

  // SIGHUP, not `fwdctl reload`: under load the parse may outlast the CLI's 10 s wait.
  const logged = (): RegExpExecArray | null => /^.*config reload rejected.*$/m.exec(d.log())
  d.child.kill('SIGHUP')
  const deadline = Date.now() + 90_000
  const latencies: number[] = []
  let failures = 0
  while (!logged() && Date.now() < deadline) {
    // curl's own time to the answer: what the LB sees, without this test's process start-up.
    const r = await topo.exec(topo.client.ns, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', '-m', '1', 'http://198.18.0.1:8080/lb/web'], { reject: false })
    const [code, seconds] = r.stdout.split(' ')
    latencies.push(code === '200' ? Number(seconds) * 1000 : Infinity)
    if (code !== '200') failures++
    await sleep(100)
  }
  const rejected = logged()?.[0] ?? ''
  t.comment(`reload answered after ${latencies.length} probes; failed ${failures}, slowest ${Math.round(Math.max(...latencies))} ms`)
  t.ok(latencies.length >= 5, `the parse took long enough to probe during it (${latencies.length} probes)`)
  t.equal(failures, 0, 'every probe during the parse answered 200')
  t.ok(Math.max(...latencies) < 1000, 'every probe answered within 1 s')
  t.ok(rejected, 'the reload is refused')
  t.match(rejected, new RegExp(`${path.basename(d.configPath)}:\\d+:\\d+: listeners\\.${CONFIG_LIMITS.maxListeners - 1}\\.port`), 'with the position of the duplicate port')
  t.ok((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, 'the last good rules keep forwarding')
  writeFileSync(d.configPath, good)
  t.equal((await d.ctl(['reload'])).exitCode, 0, 'a good config reloads afterwards')
})

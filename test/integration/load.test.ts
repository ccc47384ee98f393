/**
 * "The health port is a denial-of-service lever" (issue: hostile input and bad days): while 20
 * connections pipeline `GET /metrics` from one address and a script pipelines `GET /rules` on the
 * control socket, the LB probe from another address keeps its answer within a second, the daemon
 * runs a bounded number of child processes (one shared kernel read, not one per request) and its
 * memory stays bounded. Address plan: 198.18.0.0/15 inside namespaces this test creates.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { ROOT, sleep, startDaemon, startServers, webConfig } from '../helpers/daemon.js'

const FLOOD = path.join(ROOT, 'test/fixtures/flood.mjs')

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : 0
}

function children(pid: number): number {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).length
  } catch {
    return 0
  }
}

t.test('flooded /metrics and control socket: the LB probe keeps answering within 1 s', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'ld' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, webConfig(topo))
  const pid = d.child.pid!
  const rssBefore = rssKb(pid)
  const flood = (ns: string, args: string[]) => {
    const child = topo.spawn(ns, process.execPath, [FLOOD, ...args])
    let out = ''
    child.stdout?.on('data', (b: Buffer) => { out += b.toString() })
    return { done: child.then(() => out, () => out) }
  }
  const metricsFlood = flood(topo.outsider.ns, ['tcp', '198.18.100.1', '8080', '/metrics', '20', '50', '6000'])
  const rulesFlood = flood(topo.node.ns, ['unix', d.socket, '/rules', '8', '200', '6000'])
  const latencies: number[] = []
  let failures = 0
  let maxChildren = 0
  let maxRss = rssBefore
  const until = Date.now() + 6000
  while (Date.now() < until) {
    const started = Date.now()
    const r = await topo.exec(topo.client.ns, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-m', '1', 'http://198.18.0.1:8080/lb/web'], { reject: false })
    latencies.push(Date.now() - started)
    if (r.stdout !== '200') failures++
    maxChildren = Math.max(maxChildren, children(pid))
    maxRss = Math.max(maxRss, rssKb(pid))
    await sleep(100)
  }
  const [m, c] = await Promise.all([metricsFlood.done, rulesFlood.done])
  const served = { metrics: JSON.parse(m || '{"responses":0}').responses, rules: JSON.parse(c || '{"responses":0}').responses }
  latencies.sort((a, b) => a - b)
  const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? Infinity
  t.comment(`probes ${latencies.length}, failed ${failures}, p99 ${p99} ms; flood answered ${served.metrics} /metrics and ${served.rules} /rules; max children ${maxChildren}; rss ${rssBefore} -> ${maxRss} kB`)
  t.ok(served.rules > 100, 'the control socket flood was real (answered up to its rate limit)')
  t.ok(served.metrics < 2000, `the /metrics flood was held to its rate (${served.metrics} answered in 6 s)`)
  t.equal(failures, 0, 'every probe answered 200')
  t.ok(p99 < 1000, `probe p99 under 1 s (${p99} ms)`)
  t.ok(maxChildren <= 6, `child processes stay bounded (max ${maxChildren}), not one per request`)
  t.ok(maxRss - rssBefore < 150_000, `memory growth bounded (${maxRss - rssBefore} kB)`)
  const s = await d.status()
  t.equal(s.listeners[0]!.serving, true, 'still serving after the flood')
})

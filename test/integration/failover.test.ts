/**
 * Failover of new connections when a target dies, by refusal (echo server killed) and by a black
 * hole (SYNs dropped in the server's namespace), against the real daemon and kernel.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t, { type Test } from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { ECHO_SERVER, httpGet, sleep, startDaemon, waitTcp, webConfig, type RunningDaemon } from '../helpers/daemon.js'
import type { TargetStatus } from '../../src/status.js'

const URL = 'http://198.18.0.1:8000/'
/** Consecutive successes that count as "failed over". */
const STREAK = 10

/**
 * Opens new connections one after another from `since`; returns when STREAK in a row succeeded:
 * `ms` is when the first of them was opened (every connection opened from then on succeeded),
 * `doneMs` when the last one finished. Fails if the streak has not started within `limitMs`.
 */
async function timeToStreak(topo: Topology, since: number, limitMs: number): Promise<{ ms: number; doneMs: number; bodies: string[] }> {
  const bodies: string[] = []
  let streakStart = 0
  while (bodies.length > 0 || Date.now() - since < limitMs) {
    const opened = Date.now()
    const r = await httpGet(topo, URL, { timeoutS: 0.4 })
    if (r.ok) {
      if (bodies.length === 0) streakStart = opened
      bodies.push(r.body)
      if (bodies.length >= STREAK) return { ms: streakStart - since, doneMs: Date.now() - since, bodies }
    } else {
      bodies.length = 0
    }
  }
  throw new Error(`no ${STREAK} consecutive successes within ${limitMs} ms`)
}

async function targetState(d: RunningDaemon, address: string): Promise<TargetStatus> {
  const s = await d.status()
  const target = s.listeners[0]?.targets.find((x) => x.address === address)
  if (!target) throw new Error(`no target ${address} in status`)
  return target
}

async function waitState(d: RunningDaemon, address: string, state: string, timeoutMs: number): Promise<TargetStatus> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const target = await targetState(d, address)
    if (target.state === state) return target
    if (Date.now() > until) throw new Error(`target ${address} is ${target.state}, not ${state}, after ${timeoutMs} ms`)
    await sleep(100)
  }
}

async function setup(t: Test): Promise<{ topo: Topology; d: RunningDaemon; s0: () => void }> {
  const topo = await createTopology({ servers: 2, prefix: 'fo' })
  t.teardown(() => topo.destroy())
  // s0 is started alone so the test can kill it; s1 through the helper's pattern.
  const s0 = topo.spawn(topo.servers[0]!.ns, process.execPath, [ECHO_SERVER, 's0', '80'])
  topo.spawn(topo.servers[1]!.ns, process.execPath, [ECHO_SERVER, 's1', '80'])
  for (const s of topo.servers) await waitTcp(topo, s.ns, s.address, 80)
  // Active checks alone: passive health (on by default) has its own tests (passive.test.ts).
  const d = await startDaemon(topo, webConfig(topo, { check: '{ intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }', passive: '{ enabled: false }' }))
  return { topo, d, s0: () => { s0.kill('SIGKILL') } }
}

t.test('a target that starts refusing leaves rotation within 2 s, and comes back', async (t) => {
  const { topo, d, s0 } = await setup(t)
  const s0addr = topo.servers[0]!.address
  const before = new Set((await Promise.all(Array.from({ length: 12 }, () => httpGet(topo, URL)))).map((r) => r.body))
  t.same([...before].sort(), ['s0', 's1'], 'both targets serve before the failure')

  const killedAt = Date.now()
  s0()
  const { ms, doneMs, bodies } = await timeToStreak(topo, killedAt, 2000)
  t.comment(`refuse: every new connection from ${ms} ms after the kill on succeeded (${STREAK} in a row, done at ${doneMs} ms)`)
  t.ok(ms < 2000, `failed over in ${ms} ms (< 2000)`)
  t.same([...new Set(bodies)], ['s1'], 'only s1 answers')
  const dead = await waitState(d, s0addr, 'unhealthy', 2000)
  t.match(dead.lastError, /refused/, 'status says why')
  t.equal(dead.inRotation, false)

  topo.spawn(topo.servers[0]!.ns, process.execPath, [ECHO_SERVER, 's0', '80'])
  await waitState(d, s0addr, 'healthy', 3000)
  const until = Date.now() + 3000
  let seen = new Set<string>()
  while (Date.now() < until && !seen.has('s0')) seen = new Set([...seen, (await httpGet(topo, URL)).body])
  t.ok(seen.has('s0'), 's0 is back in rotation')
})

t.test('a target that starts dropping SYNs leaves rotation within 2 s, and comes back', async (t) => {
  const { topo, d } = await setup(t)
  const s0 = topo.servers[0]!
  const dropRule = ['INPUT', '-p', 'tcp', '--dport', '80', '-j', 'DROP']
  const droppedAt = Date.now()
  await topo.exec(s0.ns, 'iptables', ['-A', ...dropRule])
  const { ms, doneMs, bodies } = await timeToStreak(topo, droppedAt, 2000)
  t.comment(`drop: every new connection from ${ms} ms after the DROP rule on succeeded (${STREAK} in a row, done at ${doneMs} ms)`)
  t.ok(ms < 2000, `failed over in ${ms} ms (< 2000)`)
  t.same([...new Set(bodies)], ['s1'], 'only s1 answers')
  const dead = await waitState(d, s0.address, 'unhealthy', 2000)
  t.match(dead.lastError, /no answer to connect within 300 ms/, 'status says the connect timed out')

  await topo.exec(s0.ns, 'iptables', ['-D', ...dropRule])
  await waitState(d, s0.address, 'healthy', 3000)
  const until = Date.now() + 3000
  let seen = new Set<string>()
  while (Date.now() < until && !seen.has('s0')) seen = new Set([...seen, (await httpGet(topo, URL)).body])
  t.ok(seen.has('s0'), 's0 is back in rotation')
})

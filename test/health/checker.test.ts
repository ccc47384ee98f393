import t from 'tap'
import { FIRST_CHECK_SPREAD_MS, HealthChecker, type CheckedTarget } from '../../src/health/checker.js'
import type { CheckResult, TcpCheck } from '../../src/health/tcp-check.js'
import { FakeClock } from '../helpers/fake-clock.js'

function target(i: number, over: Partial<CheckedTarget> = {}): CheckedTarget {
  return { key: `web|198.18.1.${i}:80`, listener: 'web', address: `198.18.1.${i}`, port: 80, intervalMs: 1000, timeoutMs: 500, fall: 2, rise: 2, ...over }
}

/** A check that answers from a table of addresses that are down, and records when it ran. */
function fakeCheck(clock: FakeClock) {
  const down = new Set<string>()
  const calls: Array<{ address: string; port: number; at: number }> = []
  const check: TcpCheck = async (address, port) => {
    calls.push({ address, port, at: clock.now() })
    const r: CheckResult = down.has(address) ? { ok: false, error: 'connection refused', latencyMs: 1 } : { ok: true, error: null, latencyMs: 1 }
    return r
  }
  return { check, down, calls }
}

t.test('first checks of 1000 targets are spread, later ones over the whole interval', async (t) => {
  const clock = new FakeClock()
  const f = fakeCheck(clock)
  const checker = new HealthChecker(f.check, { onChange: () => {} }, { clock })
  const start = clock.now()
  checker.setTargets(Array.from({ length: 1000 }, (_, i) => target(i)))
  t.equal(checker.firstRoundDone(), false)
  await clock.advance(FIRST_CHECK_SPREAD_MS)
  t.equal(new Set(f.calls.map((c) => c.address)).size, 1000, 'every target checked within the first-check window')
  t.ok(checker.firstRoundDone())
  // No 10 ms slice of the first window holds more than a few percent of the handshakes.
  const firsts = new Map<string, number>()
  for (const c of f.calls) if (!firsts.has(c.address)) firsts.set(c.address, c.at)
  const slices = new Map<number, number>()
  for (const c of [...firsts.values()].map((at) => ({ at }))) slices.set(Math.floor((c.at - start) / 10), (slices.get(Math.floor((c.at - start) / 10)) ?? 0) + 1)
  t.ok(Math.max(...slices.values()) < 120, `busiest 10 ms of the first round: ${Math.max(...slices.values())} checks`)

  // Later rounds: spread over the interval (1000 ms), so ~100 per 100 ms, never all at once.
  f.calls.length = 0
  await clock.advance(2000)
  f.calls.length = 0
  const second = clock.now()
  await clock.advance(1000)
  t.equal(f.calls.length, 1000, 'each target checked once within an interval')
  const buckets = new Array(10).fill(0) as number[]
  for (const c of f.calls) buckets[Math.min(9, Math.floor((c.at - second) / 100))]!++
  t.ok(Math.max(...buckets) < 200, `checks per 100 ms of an interval: ${buckets.join(' ')}`)

  // Steady state: each target once per interval.
  f.calls.length = 0
  await clock.advance(5000)
  const perTarget = new Map<string, number>()
  for (const c of f.calls) perTarget.set(c.address, (perTarget.get(c.address) ?? 0) + 1)
  t.ok([...perTarget.values()].every((n) => n >= 4 && n <= 6), 'about 5 checks per target in 5 intervals')
  checker.stop()
})

t.test('transitions fire onChange once per state change, with fall and rise', async (t) => {
  const clock = new FakeClock()
  const f = fakeCheck(clock)
  const changes: string[] = []
  const checker = new HealthChecker(f.check, { onChange: (key, from, to) => changes.push(`${key} ${from.state}->${to.state}`) }, { clock, random: () => 0.5 })
  const a = target(1)
  checker.setTargets([a])
  await clock.advance(1000)
  t.same(changes, [`${a.key} unknown->healthy`])
  f.down.add(a.address)
  await clock.advance(3000)
  t.same(changes, [`${a.key} unknown->healthy`, `${a.key} healthy->unhealthy`])
  t.match(checker.health(a.key), { state: 'unhealthy', lastError: 'connection refused' })
  f.down.delete(a.address)
  await clock.advance(3000)
  t.same(changes.length, 3)
  t.equal(checker.health(a.key)?.state, 'healthy')
  checker.stop()
})

t.test('checks the given port (check.port), keeps health across setTargets, forgets removed targets', async (t) => {
  const clock = new FakeClock()
  const f = fakeCheck(clock)
  const checker = new HealthChecker(f.check, { onChange: () => {} }, { clock })
  const udp = target(1, { key: 'dns|198.18.1.1:53', port: 8053 })
  checker.setTargets([udp, target(2)])
  await clock.advance(1000)
  t.ok(f.calls.some((c) => c.address === '198.18.1.1' && c.port === 8053), 'the check port is used')
  const since = checker.health(udp.key)?.since
  checker.setTargets([udp])
  t.equal(checker.health(udp.key)?.since, since, 'a kept target keeps its health')
  t.equal(checker.health(target(2).key), undefined, 'a removed target is forgotten')
  f.calls.length = 0
  await clock.advance(3000)
  t.notOk(f.calls.some((c) => c.address === '198.18.1.2'), 'a removed target is no longer checked')
  checker.stop()
})

t.test('a check that throws counts as a failure and the target keeps being checked', async (t) => {
  const clock = new FakeClock()
  let n = 0
  const checker = new HealthChecker(async () => {
    n++
    throw new Error('boom')
  }, { onChange: () => {} }, { clock })
  checker.setTargets([target(1)])
  await clock.advance(3500)
  t.ok(n >= 3, `checked ${n} times`)
  t.match(checker.health(target(1).key), { state: 'unhealthy', lastError: /boom/ })
  checker.stop()
})

t.test('stop: no more checks, results in flight are dropped', async (t) => {
  const clock = new FakeClock()
  let release: (r: CheckResult) => void = () => {}
  let calls = 0
  const changes: string[] = []
  const checker = new HealthChecker(() => {
    calls++
    return new Promise<CheckResult>((r) => { release = r })
  }, { onChange: (k, _f, to) => changes.push(to.state) }, { clock })
  checker.setTargets([target(1), target(2)])
  await clock.advance(FIRST_CHECK_SPREAD_MS)
  t.equal(calls, 2)
  checker.stop()
  release({ ok: true, error: null, latencyMs: 1 })
  await clock.advance(10000)
  t.equal(calls, 2, 'no check after stop')
  t.same(changes, [], 'the result in flight was dropped')
  t.equal(clock.pending(), 0, 'no timer left')
})

t.test('health checks failing with EMFILE do not mark a healthy target down (the node ran out of fds, not the target)', async (t) => {
  const clock = new FakeClock()
  let emfile = false
  const changes: string[] = []
  const check: TcpCheck = async () => (emfile ? { ok: false, error: 'connect failed: EMFILE', latencyMs: 0, inconclusive: true } : { ok: true, error: null, latencyMs: 1 })
  const checker = new HealthChecker(check, { onChange: (k, _f, to) => changes.push(`${k}=${to.state}`) }, { clock })
  checker.setTargets([target(1, { fall: 1 })])
  await clock.advance(2000)
  t.same(changes, ['web|198.18.1.1:80=healthy'])
  emfile = true
  await clock.advance(10_000)
  t.equal(checker.health('web|198.18.1.1:80')?.state, 'healthy', 'still healthy after ten inconclusive checks')
  t.same(changes, ['web|198.18.1.1:80=healthy'], 'no transition')
  checker.stop()
})

t.test('a few new checks go at once; many keep the whole first-check window', async (t) => {
  const clock = new FakeClock()
  const f = fakeCheck(clock)
  // random() near 1: each first check waits as long as its window allows.
  const checker = new HealthChecker(f.check, { onChange: () => {} }, { clock, random: () => 0.999 })
  checker.setTargets([target(1), target(2), target(3)])
  await clock.advance(1)
  t.equal(f.calls.length, 3, '3 new checks ran within 1 ms, not up to FIRST_CHECK_SPREAD_MS later')
  checker.setTargets(Array.from({ length: 1003 }, (_, i) => target(i + 1)))
  await clock.advance(FIRST_CHECK_SPREAD_MS - 2)
  t.equal(new Set(f.calls.map((c) => c.address)).size, 3, '1000 new checks still wait for their place in the window')
  await clock.advance(2)
  t.equal(new Set(f.calls.map((c) => c.address)).size, 1003)
  checker.stop()
})

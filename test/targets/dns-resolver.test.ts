import t from 'tap'
import { DnsResolver, type DnsOptions, type ResolveFn } from '../../src/targets/dns-resolver.js'
import { FakeClock } from '../helpers/fake-clock.js'

const OPTIONS: DnsOptions = { minTtlSeconds: 5, maxTtlSeconds: 300, retrySeconds: 5 }

/** A resolver answering from a mutable table; a name mapped to an Error rejects with it. */
function fakeDns(clock: FakeClock) {
  const answers = new Map<string, { addresses: string[]; ttlSeconds: number } | Error>()
  const calls: Array<{ name: string; at: number }> = []
  const resolve: ResolveFn = async (name) => {
    calls.push({ name, at: clock.now() })
    const a = answers.get(name)
    if (a === undefined) throw Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: 'ENOTFOUND' })
    if (a instanceof Error) throw a
    return a
  }
  return { answers, calls, resolve }
}

t.test('resolved at start; re-resolved on the TTL, clamped to [min, max]', async (t) => {
  for (const [ttl, expected] of [[0, 5], [1, 5], [30, 30], [86400, 300]] as const) {
    const clock = new FakeClock()
    const f = fakeDns(clock)
    f.answers.set('svc.test', { addresses: ['198.18.1.2'], ttlSeconds: ttl })
    const r = new DnsResolver(f.resolve, () => {}, OPTIONS, clock)
    const start = clock.now()
    await r.setNames(['svc.test', '198.18.9.9'])
    t.same(r.get('svc.test')?.addresses, ['198.18.1.2'], 'resolved before setNames returns')
    t.equal(r.get('198.18.9.9'), undefined, 'IPv4 literals are not resolved')
    await clock.advance(3 * expected * 1000 + 1)
    t.same(f.calls.map((c) => (c.at - start) / 1000), [0, expected, 2 * expected, 3 * expected], `TTL ${ttl} s -> every ${expected} s`)
    r.stop()
  }
})

t.test('a changed answer notifies once; an unchanged one does not', async (t) => {
  const clock = new FakeClock()
  const f = fakeDns(clock)
  const changes: string[] = []
  f.answers.set('svc.test', { addresses: ['198.18.1.2', '198.18.2.2'], ttlSeconds: 10 })
  const r = new DnsResolver(f.resolve, (n) => changes.push(n), OPTIONS, clock)
  await r.setNames(['svc.test'])
  t.same(changes, [], 'the first answer is not a change (the caller reads it after setNames)')
  await clock.advance(10_000)
  t.same(changes, [], 'same answer: no notification')
  f.answers.set('svc.test', { addresses: ['198.18.2.2', '198.18.1.2'], ttlSeconds: 10 })
  await clock.advance(10_000)
  t.same(changes, [], 'same set in another order: no notification')
  f.answers.set('svc.test', { addresses: ['198.18.3.2'], ttlSeconds: 10 })
  await clock.advance(10_000)
  t.same(changes, ['svc.test'])
  t.same(r.get('svc.test')?.addresses, ['198.18.3.2'])
  r.stop()
})

t.test('on failure the last good addresses are kept and the error is reported, then cleared', async (t) => {
  const clock = new FakeClock()
  const f = fakeDns(clock)
  const changes: string[] = []
  f.answers.set('svc.test', { addresses: ['198.18.1.2'], ttlSeconds: 60 })
  const r = new DnsResolver(f.resolve, (n) => changes.push(n), OPTIONS, clock)
  await r.setNames(['svc.test'])
  f.answers.set('svc.test', Object.assign(new Error('queryA ETIMEOUT svc.test'), { code: 'ETIMEOUT' }))
  await clock.advance(60_000)
  t.match(r.get('svc.test'), { addresses: ['198.18.1.2'], error: /resolving svc.test failed \(ETIMEOUT\); keeping the last good addresses/ })
  t.same(changes, ['svc.test'], 'the error is a change (status must show it)')
  const before = f.calls.length
  await clock.advance(5_000)
  t.equal(f.calls.length, before + 1, 'retried after retrySeconds, not after the TTL')
  t.same(changes, ['svc.test'], 'the same error again: no new notification')
  f.answers.set('svc.test', { addresses: [], ttlSeconds: 60 })
  await clock.advance(5_000)
  t.match(r.get('svc.test'), { addresses: ['198.18.1.2'], error: 'no A records' }, 'an empty answer keeps the last good addresses too')
  f.answers.set('svc.test', { addresses: ['198.18.1.2'], ttlSeconds: 60 })
  await clock.advance(60_000)
  t.match(r.get('svc.test'), { addresses: ['198.18.1.2'], error: null })
  t.same(changes, ['svc.test', 'svc.test', 'svc.test'])
  r.stop()
})

t.test('a name that never resolved has no addresses and says why', async (t) => {
  const clock = new FakeClock()
  const f = fakeDns(clock)
  const r = new DnsResolver(f.resolve, () => {}, OPTIONS, clock)
  await r.setNames(['nx.test'])
  t.match(r.get('nx.test'), { addresses: [], error: /ENOTFOUND/, resolvedAt: null })
  r.stop()
})

t.test('removed names and stop: no more queries, no timers left', async (t) => {
  const clock = new FakeClock()
  const f = fakeDns(clock)
  f.answers.set('a.test', { addresses: ['198.18.1.2'], ttlSeconds: 5 })
  f.answers.set('b.test', { addresses: ['198.18.2.2'], ttlSeconds: 5 })
  const r = new DnsResolver(f.resolve, () => {}, OPTIONS, clock)
  await r.setNames(['a.test', 'b.test'])
  await r.setNames(['b.test'])
  t.equal(r.get('a.test'), undefined)
  await clock.advance(20_000)
  t.notOk(f.calls.slice(2).some((c) => c.name === 'a.test'), 'a removed name is not queried again')
  // stop while a query is in flight: it must not arm a new timer.
  let release: () => void = () => {}
  const slow = new DnsResolver(() => new Promise((res) => { release = () => res({ addresses: ['198.18.1.2'], ttlSeconds: 5 }) }), () => {}, OPTIONS, clock)
  const pending = slow.setNames(['c.test'])
  r.stop()
  slow.stop()
  release()
  await pending
  const n = f.calls.length
  await clock.advance(60_000)
  t.equal(f.calls.length, n, 'no query after stop')
  t.equal(clock.pending(), 0, 'no timer left')
})

// The pure functions over the reconciler's state, as table tests.
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { TargetHealth } from '../../src/health/target-health.js'
import { flowCutsFor, indexTargets, initialState, rotations, withHealth, withTargets } from '../../src/reconcile/state.js'

function cfg(text: string) {
  const r = parseConfig(text, 'state.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  return r.config
}
const none = { dns: () => undefined, ipGroup: () => undefined, privateLinkService: () => undefined }
const two = cfg(`listeners:
  - name: a
    port: 8000
    targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }]
  - name: b
    port: 8001
    targets: [{ host: 198.18.1.2, port: 80 }]
`)
const h = (state: 'healthy' | 'unhealthy'): TargetHealth => ({ state, since: 0, successes: 0, failures: 0, lastError: null })

t.test('targets of different listeners on the same endpoint share one check', async (t) => {
  const idx = indexTargets(two, none)
  t.equal(idx.checks.length, 2, 'three targets, two checks')
  t.equal(idx.checkOf.get('a|198.18.1.2:80'), idx.checkOf.get('b|198.18.1.2:80'))
  t.same(idx.targetsOfCheck.get(idx.checkOf.get('a|198.18.1.2:80')!), ['a|198.18.1.2:80', 'b|198.18.1.2:80'])
})

t.test('a forbidden DNS answer is reported, not silently dropped', async (t) => {
  const c = cfg(`listeners:
  - name: a
    port: 8000
    targets: [{ host: db.example.test, port: 80 }]
`)
  const idx = indexTargets(c, { ...none, dns: () => ({ addresses: ['127.0.0.1', '198.18.1.2'], error: null }) })
  t.same([...idx.byKey.keys()], ['a|198.18.1.2:80'])
  t.match(idx.problems.get('a')?.[0], /db\.example\.test answered 127\.0\.0\.1, which cannot be a target/)
})

t.test('health, rotation and cuts', async (t) => {
  let s = initialState(two, none)
  const [c1, c2] = s.index.checks.map((c) => c.key)
  s = withHealth(s, new Map([[c1!, h('healthy')], [c2!, h('healthy')]]))
  t.same([...rotations(s).entries()].map(([k, v]) => [k, v.map((x) => x.address)]), [['a', ['198.18.1.2', '198.18.2.2']], ['b', ['198.18.1.2']]])
  s = withHealth(s, new Map([[c1!, h('unhealthy')]]))
  t.same([...s.toCut].sort(), ['a|198.18.1.2:80', 'b|198.18.1.2:80'], 'both listeners sending there queue a cut')
  const rot = rotations(s)
  t.same(rot.get('b'), [], 'b has nothing left (reject)')
  const { cuts, toCut } = flowCutsFor(s, rot)
  t.same(cuts, [{ protocol: 'tcp', address: '198.18.1.2', port: 80, keys: ['a|198.18.1.2:80', 'b|198.18.1.2:80'] }], 'no listener sends there any more: one cut for every flow to it')
  t.equal(toCut.size, 0)
  const { cuts: early, toCut: kept } = flowCutsFor(s, new Map([['a', s.index.byListener.get('a')!], ['b', []]]))
  t.same(early.map((c) => c.listenerPort), [8001], 'rules that still send to it through a: only b\'s flows are cut')
  t.same([...kept], ['a|198.18.1.2:80'], "a's cut waits for rules without the target")
  s = withHealth(s, new Map([[c1!, h('healthy')]]))
  t.equal(s.toCut.size, 0, 'a target that recovered leaves the cut queue')
})

t.test('a reload keeps the health of kept checks and drops the others', async (t) => {
  let s = initialState(two, none)
  const [c1, c2] = s.index.checks.map((c) => c.key)
  s = withHealth(s, new Map([[c1!, h('healthy')], [c2!, h('unhealthy')]]))
  const next = withTargets(s, cfg(`listeners:
  - name: a
    port: 8000
    targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.3.2, port: 80 }]
`), none)
  t.same(next.health.get(c1!), h('healthy'), 'kept')
  t.equal(next.health.has(c2!), false, 'gone with its target')
  t.same([...next.toCut], [], 'cuts of removed targets are forgotten')
})

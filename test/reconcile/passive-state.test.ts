// Passive health as reconciler state: ejections take targets out of rotation, cut only unanswered
// flows, respect the maximum share, and end through active results.
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { TargetHealth } from '../../src/health/target-health.js'
import type { FlowOutcome } from '../../src/passive/flow-tracker.js'
import { effectiveHealthOf, withActiveResult, withFlowOutcomes } from '../../src/reconcile/passive-state.js'
import { flowCutsFor, initialState, rotations, withHealth, withTargets, type ReconcilerState } from '../../src/reconcile/state.js'
import { buildStatus } from '../../src/reconcile/node-status.js'

function cfg(text: string) {
  const r = parseConfig(text, 'passive.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  return r.config
}
const none = { dns: () => undefined, ipGroup: () => undefined, privateLinkService: () => undefined }
const three = cfg(`passive: { baseEjectionMs: 1000 }
listeners:
  - name: a
    port: 8000
    passive: { maxEjectionPercent: 34 }
    targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }, { host: 198.18.3.2, port: 80 }]
`)
const healthy: TargetHealth = { state: 'healthy', since: 0, successes: 1, failures: 0, lastError: null }

function started(): ReconcilerState {
  let s = withTargets(initialState(three, none), three, none)
  s = withHealth(s, new Map(s.index.checks.map((c) => [c.key, healthy])))
  return s
}
const fail = (key: string, at: number, reason: 'unanswered' | 'reset' = 'unanswered'): FlowOutcome => ({ key, ok: false, reason, at })

t.test('the config carries passive settings: top-level defaults under the listener block; on for tcp, off for udp', async (t) => {
  const l = three.listeners[0]!
  t.same(l.passive, { enabled: true, unansweredMs: 200, minUnansweredMs: 50, fall: 2, resetFall: 1, baseEjectionMs: 1000, maxEjectionMs: 60000, maxEjectionPercent: 34, maxFlowsPerSecond: 1000 })
  const u = cfg(`listeners:
  - { name: u, protocol: udp, port: 53, targets: [{ host: 198.18.1.2, port: 53 }] }
  - { name: off, port: 81, passive: { enabled: false }, targets: [{ host: 198.18.1.2, port: 80 }] }
`)
  t.equal(u.listeners[0]!.passive!.enabled, false)
  t.equal(u.listeners[1]!.passive!.enabled, false)
  const bad = parseConfig(`listeners:
  - { name: u, protocol: udp, port: 53, passive: { enabled: true }, targets: [{ host: 198.18.1.2, port: 53 }] }
passive: { baseEjectionMs: 9000, maxEjectionMs: 1000 }
`, 'bad.yaml')
  t.notOk(bad.ok)
  if (!bad.ok) {
    t.match(bad.problems.map((p) => p.path), ['listeners.0.passive.enabled', 'passive.maxEjectionMs'].map((p) => p))
    const typo = parseConfig(`listeners:
  - { name: a, port: 80, passive: { unansweredMS: 100 }, targets: [{ host: 198.18.1.2, port: 80 }] }
`, 'typo.yaml')
    t.match(!typo.ok && typo.problems[0]!.message, /unknown key "unansweredMS"; did you mean "unansweredMs"/)
  }
})

t.test('fall failures eject at once: out of rotation, unhealthy with the reason, only unanswered flows cut', async (t) => {
  const s0 = started()
  const r = withFlowOutcomes(s0, [fail('a|198.18.1.2:80', 10), fail('a|198.18.1.2:80', 20)])
  t.same(r.ejected, ['a|198.18.1.2:80'])
  const s = r.state
  t.same(rotations(s).get('a')!.map((x) => x.address), ['198.18.2.2', '198.18.3.2'])
  t.match(effectiveHealthOf(s, 'a|198.18.1.2:80'), { state: 'unhealthy', lastError: /ejected by traffic for 1000 ms: 2 consecutive connections unanswered after 200 ms/ })
  const { cuts } = flowCutsFor(s, rotations(s))
  t.same(cuts, [{ protocol: 'tcp', address: '198.18.1.2', port: 80, unansweredOnly: true, keys: ['a|198.18.1.2:80'] }])
  const status = buildStatus({ ...s, applied: rotations(s) }, { now: 100, wall: (x) => x, startedAt: 0, version: 'test' })
  const target = status.listeners[0]!.targets[0]!
  t.match(target, { state: 'unhealthy', inRotation: false, ejected: { reason: /unanswered/, ejections: 1 } })
  t.equal(status.listeners[0]!.targets[1]!.ejected, null, 'a target not ejected says null')
})

t.test('never more than maxEjectionPercent of a listener\'s targets: the next one is held, with the reason', async (t) => {
  let s = withFlowOutcomes(started(), [fail('a|198.18.1.2:80', 10), fail('a|198.18.1.2:80', 20)]).state
  const r = withFlowOutcomes(s, [fail('a|198.18.2.2:80', 30, 'reset'), fail('a|198.18.2.2:80', 40, 'reset')])
  t.same(r.ejected, [], '34% of 3 targets is one')
  s = r.state
  t.match(s.passive.get('a|198.18.2.2:80')?.held, /more than 34%/)
  t.equal(rotations(s).get('a')!.length, 2)
})

t.test('an ejection ends after its time and rise active successes; a later one lasts longer', async (t) => {
  let s = withFlowOutcomes(started(), [fail('a|198.18.1.2:80', 10), fail('a|198.18.1.2:80', 20)]).state
  const check = s.index.checkOf.get('a|198.18.1.2:80')!
  s = withActiveResult(s, check, true, 500).state
  t.equal(rotations(s).get('a')!.length, 2, 'an active success before the ejection time does not bring it back')
  s = withActiveResult(s, check, true, 1030).state
  const r = withActiveResult(s, check, true, 1040)
  t.same(r.restored, ['a|198.18.1.2:80'], 'rise (2) successes after the ejection time')
  s = r.state
  t.equal(rotations(s).get('a')!.length, 3)
  t.notOk(s.toCut.has('a|198.18.1.2:80'), 'no cut left queued for it')
  s = withFlowOutcomes(s, [fail('a|198.18.1.2:80', 2000), fail('a|198.18.1.2:80', 2010)]).state
  const e = s.passive.get('a|198.18.1.2:80')!.ejection!
  t.equal(e.until - e.at, 2000, 'the second ejection lasts twice the base')
})

t.test('whenAllDown still decides when nothing is left', async (t) => {
  const one = cfg(`listeners:
  - name: a
    port: 8000
    whenAllDown: all
    passive: { maxEjectionPercent: 100 }
    targets: [{ host: 198.18.1.2, port: 80 }]
`)
  let s = withTargets(initialState(one, none), one, none)
  s = withHealth(s, new Map(s.index.checks.map((c) => [c.key, healthy])))
  s = withFlowOutcomes(s, [fail('a|198.18.1.2:80', 1), fail('a|198.18.1.2:80', 2)]).state
  t.same(rotations(s).get('a')!.map((x) => x.address), ['198.18.1.2'], 'whenAllDown: all keeps it')
})

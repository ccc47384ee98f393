/** The passive ejection state machine of one target (pure). */
import t from 'tap'
import type { PassiveSpec } from '../../src/config/types.js'
import { ejectionTimeMs, initialPassiveState, maxEjected, recordActive, recordFlow, type PassiveTargetState } from '../../src/passive/ejection.js'

const spec: PassiveSpec = { enabled: true, unansweredMs: 200, minUnansweredMs: 200, fall: 2, resetFall: 2, baseEjectionMs: 1000, maxEjectionMs: 5000, maxEjectionPercent: 50, maxFlowsPerSecond: 1000 }

function eject(s: PassiveTargetState, at: number): PassiveTargetState {
  s = recordFlow(s, false, 'unanswered', spec, at, true).state
  const r = recordFlow(s, false, 'unanswered', spec, at + 10, true)
  t.ok(r.ejected, 'the second consecutive failure ejects')
  return r.state
}

function restore(s: PassiveTargetState, at: number, rise = 2): PassiveTargetState {
  for (let i = 0; i < rise; i++) s = recordActive(s, true, rise, at + i).state
  t.equal(s.ejection, null, 'back after rise active successes')
  return s
}

t.test('fall consecutive failures eject; a success in between starts the count again', async (t) => {
  let s = recordFlow(initialPassiveState, false, 'reset', spec, 0, true).state
  s = recordFlow(s, true, null, spec, 1, true).state
  const r = recordFlow(s, false, 'reset', spec, 2, true)
  t.notOk(r.ejected, 'fail, success, fail is not two in a row')
  const r2 = recordFlow(r.state, false, 'reset', spec, 3, true)
  t.ok(r2.ejected)
  t.match(r2.state.ejection, { at: 3, until: 1003, reason: 'ejected by traffic for 1000 ms: 2 consecutive connections reset before they were established' })
})

t.test('resetFall: one reset ejects at the default (1), one unanswered flow does not; capped by fall', async (t) => {
  const dflt = { ...spec, resetFall: 1 }
  const r = recordFlow(initialPassiveState, false, 'reset', dflt, 5, true)
  t.ok(r.ejected, 'a single reset ejects')
  t.match(r.state.ejection, { reason: 'ejected by traffic for 1000 ms: 1 connection reset before it was established' })
  const u = recordFlow(initialPassiveState, false, 'unanswered', dflt, 5, true)
  t.notOk(u.ejected, 'a single unanswered flow does not (fall 2)')
  t.ok(recordFlow(u.state, false, 'reset', dflt, 6, true).ejected, 'a reset after an unanswered flow ejects')
  const capped = { ...spec, fall: 2, resetFall: 5 }
  const c1 = recordFlow(initialPassiveState, false, 'reset', capped, 5, true)
  t.notOk(c1.ejected)
  t.ok(recordFlow(c1.state, false, 'reset', capped, 6, true).ejected, 'resetFall above fall: fall decides')
})

t.test('comes back only after the ejection time and then rise active successes', async (t) => {
  const s = eject(initialPassiveState, 0)
  t.equal(recordActive(s, true, 2, 500).state, s, 'successes before the ejection time do not count')
  let x = recordActive(s, true, 2, 1010).state
  x = recordActive(x, false, 2, 1020).state
  t.equal(x.ejection?.successes, 0, 'a failure starts the count again')
  x = recordActive(x, true, 2, 1030).state
  const r = recordActive(x, true, 2, 1040)
  t.ok(r.restored)
  t.equal(r.state.ejection, null)
})

t.test('the ejection time grows with repeated ejections, up to maxEjectionMs, and starts again after a quiet spell', async (t) => {
  let s = initialPassiveState
  const times: number[] = []
  let now = 0
  for (let i = 0; i < 7; i++) {
    s = eject(s, now)
    times.push(s.ejection!.until - s.ejection!.at)
    now = s.ejection!.until
    s = restore(s, now)
    now += 100
  }
  t.same(times, [1000, 2000, 3000, 4000, 5000, 5000, 5000])
  s = eject(s, now + spec.maxEjectionMs + 1)
  t.equal(s.ejection!.until - s.ejection!.at, 1000, 'after maxEjectionMs without an ejection the count starts again')
  t.equal(ejectionTimeMs(3, spec), 3000)
})

t.test('an ejection the share does not allow is held, and says why', async (t) => {
  let s = recordFlow(initialPassiveState, false, 'unanswered', spec, 0, false).state
  const r = recordFlow(s, false, 'unanswered', spec, 1, false)
  t.notOk(r.ejected)
  t.match(r.state.held, /more than 50% of the listener's targets/)
  s = recordFlow(r.state, true, null, spec, 2, false).state
  t.equal(s.held, null, 'a success clears the hold')
  t.equal(maxEjected(2, 50), 1)
  t.equal(maxEjected(1, 50), 0, 'a lone target is never ejected by traffic at 50%')
  t.equal(maxEjected(10, 25), 2)
})

t.test('verdicts on an ejected target are ignored', async (t) => {
  const s = eject(initialPassiveState, 0)
  t.equal(recordFlow(s, false, 'reset', spec, 20, true).state, s)
})

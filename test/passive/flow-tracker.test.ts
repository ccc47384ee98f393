/** The flow tracker: verdicts from event times, never from read times. */
import t from 'tap'
import type { ConntrackEvent } from '../../src/passive/conntrack-event.js'
import { FlowTracker, LATE_ANSWER_MS, MIN_RTT_SAMPLES, thresholdFor, withAnswer, type AnswerTime } from '../../src/passive/flow-tracker.js'

const ev = (type: ConntrackEvent['type'], id: string, state: string, unreplied: boolean, port = 80): ConntrackEvent => ({
  type, proto: 'tcp', state, unreplied, id, target: { address: '198.18.1.2', port }, listenerPort: 8000, atWallMs: null,
})
const tracker = (): FlowTracker => new FlowTracker((e) => (e.target.port === 80 ? { key: 'web|198.18.1.2:80', unansweredMs: 200, minUnansweredMs: 200 } : null))

t.test('an answer before the deadline is a success, even when it is read after the deadline', async (t) => {
  const f = tracker()
  f.onEvent(ev('new', '1', 'SYN_SENT', true), 1000)
  // The SYN_RECV happened at 1150 but is read only at 1500: the caller's horizon is what it has read.
  t.same(f.expire(1149), [], 'nothing due before the deadline')
  t.same(f.onEvent(ev('update', '1', 'SYN_RECV', false), 1150), [{ key: 'web|198.18.1.2:80', ok: true, reason: null, at: 1150 }])
  t.same(f.expire(1500), [], 'answered flows never expire')
  t.equal(f.size, 0)
})

t.test('a flow with no answer by created + unansweredMs is unanswered, stamped at its deadline', async (t) => {
  const f = tracker()
  f.onEvent(ev('new', '1', 'SYN_SENT', true), 1000)
  f.onEvent(ev('new', '2', 'SYN_SENT', true), 1050)
  t.equal(f.nextDeadline(), 1200)
  t.same(f.expire(1210), [{ key: 'web|198.18.1.2:80', ok: false, reason: 'unanswered', at: 1200, thresholdMs: 200 }])
  t.equal(f.nextDeadline(), 1250)
  t.same(f.expire(1250).map((o) => o.at), [1250])
})

t.test('a reset before established is a failure at once; fwdd\'s own cut (DESTROY in SYN_SENT) is forgotten', async (t) => {
  const f = tracker()
  f.onEvent(ev('new', '1', 'SYN_SENT', true), 1000)
  t.same(f.onEvent(ev('destroy', '1', 'CLOSE', true), 1001), [{ key: 'web|198.18.1.2:80', ok: false, reason: 'reset', at: 1001 }])
  f.onEvent(ev('new', '2', 'SYN_SENT', true), 1000)
  t.same(f.onEvent(ev('destroy', '2', 'SYN_SENT', true), 1100), [])
  t.same(f.expire(5000), [], 'a forgotten flow is not judged later')
})

t.test('flows passive health does not judge are not tracked; ejected targets are forgotten; clear empties', async (t) => {
  const f = tracker()
  f.onEvent(ev('new', '9', 'SYN_SENT', true, 443), 1000)
  t.equal(f.size, 0)
  f.onEvent(ev('new', '1', 'SYN_SENT', true), 1000)
  f.forget(new Set(['web|198.18.1.2:80']))
  t.equal(f.size, 0)
  f.onEvent(ev('new', '2', 'SYN_SENT', true), 1000)
  f.clear()
  t.same(f.expire(9999), [])
})

t.test('past the bound new flows are counted, not tracked', async (t) => {
  const f = new FlowTracker(() => ({ key: 'k', unansweredMs: 200, minUnansweredMs: 200 }), 2)
  for (const id of ['1', '2', '3']) f.onEvent(ev('new', id, 'SYN_SENT', true), 1000)
  t.equal(f.size, 2)
  t.equal(f.untracked, 1)
})

t.test('the threshold is learned from the target\'s answer times (RFC 6298), within [minUnansweredMs, unansweredMs]', async (t) => {
  t.equal(thresholdFor(undefined, { unansweredMs: 200, minUnansweredMs: 50 }), 200, 'nothing learned: unansweredMs')
  let a: AnswerTime | undefined
  for (let i = 0; i < MIN_RTT_SAMPLES - 1; i++) a = withAnswer(a, 2)
  t.equal(thresholdFor(a, { unansweredMs: 200, minUnansweredMs: 50 }), 200, `fewer than ${MIN_RTT_SAMPLES} answers: unansweredMs`)
  a = withAnswer(a, 2)
  t.equal(thresholdFor(a, { unansweredMs: 200, minUnansweredMs: 50 }), 50, 'a 2 ms path: the floor')
  t.equal(thresholdFor(a, { unansweredMs: 200, minUnansweredMs: 200 }), 200, 'minUnansweredMs = unansweredMs: nothing learned')
  let slow: AnswerTime | undefined
  for (let i = 0; i < 20; i++) slow = withAnswer(slow, 1000 + (i % 2) * 10)
  const s = thresholdFor(slow, { unansweredMs: 2500, minUnansweredMs: 50 })
  t.ok(s > 2000 && s < 2500, `a path answering in about a second: about twice that (${s} ms)`)
  t.equal(thresholdFor(slow, { unansweredMs: 1500, minUnansweredMs: 50 }), 1500, 'never above unansweredMs')
})

t.test('a target that answers fast is judged by its learned threshold; flows keep the threshold they were created with', async (t) => {
  const f = new FlowTracker(() => ({ key: 'k', unansweredMs: 200, minUnansweredMs: 50 }))
  let at = 0
  for (let i = 0; i < MIN_RTT_SAMPLES; i++) {
    f.onEvent(ev('new', `a${i}`, 'SYN_SENT', true), at)
    t.equal(f.answered(`a${i}`, at + 1)[0]?.ok, true)
    at += 10
  }
  f.onEvent(ev('new', 'learned', 'SYN_SENT', true), 75)
  t.equal(f.nextDeadline(), 125, 'the 9th flow waits 50 ms')
  t.same(f.expire(124), [])
  t.same(f.expire(130), [{ key: 'k', ok: false, reason: 'unanswered', at: 125, thresholdMs: 50 }])
  const g = new FlowTracker(() => ({ key: 'k', unansweredMs: 200, minUnansweredMs: 50 }))
  g.onEvent(ev('new', 'first', 'SYN_SENT', true), 0)
  for (let i = 0; i < MIN_RTT_SAMPLES; i++) {
    g.onEvent(ev('new', `b${i}`, 'SYN_SENT', true), 1 + i)
    g.answered(`b${i}`, 2 + i)
  }
  g.onEvent(ev('new', 'late', 'SYN_SENT', true), 20)
  t.same(g.expire(100).map((o) => [o.at, o.thresholdMs]), [[70, 50]], 'the later flow, learned, is due first')
  t.same(g.expire(200).map((o) => [o.at, o.thresholdMs]), [[200, 200]], 'the first keeps unansweredMs')
  t.equal(g.nextDeadline(), null)
})

t.test('a path that became slower: the late answer of a flow judged unanswered raises the threshold', async (t) => {
  const f = new FlowTracker(() => ({ key: 'k', unansweredMs: 200, minUnansweredMs: 50 }))
  for (let i = 0; i < MIN_RTT_SAMPLES; i++) {
    f.onEvent(ev('new', `a${i}`, 'SYN_SENT', true), i * 10)
    f.answered(`a${i}`, i * 10 + 2)
  }
  f.onEvent(ev('new', 'slow', 'SYN_SENT', true), 1000)
  t.match(f.expire(1060), [{ reason: 'unanswered', thresholdMs: 50 }], 'judged by the 2 ms path\'s threshold')
  t.ok(f.has('slow'), 'its id is still known for a late answer')
  t.same(f.answered('slow', 1080), [], 'the late answer is no verdict')
  const learned = thresholdFor(f.answerTime('k'), { unansweredMs: 200, minUnansweredMs: 50 })
  t.ok(learned > 80, `but is learned from: the threshold is now ${learned} ms`)
  f.onEvent(ev('new', 'next', 'SYN_SENT', true), 2000)
  t.same(f.expire(2000 + 80), [], 'a flow answered in 80 ms is no longer judged unanswered')
  t.equal(f.answered('next', 2080)[0]?.ok, true)
  f.onEvent(ev('new', 'old', 'SYN_SENT', true), 3000)
  t.match(f.expire(3000 + 200), [{ reason: 'unanswered' }], 'judged by unansweredMs at the latest')
  t.ok(f.has('old'))
  f.expire(3000 + LATE_ANSWER_MS + 1)
  t.notOk(f.has('old'), `a flow judged unanswered is forgotten ${LATE_ANSWER_MS} ms after its creation`)
})

/** The conntrack event watcher on a fake runner and the fake clock: event time, horizons, lost events. */
import t from 'tap'
import type { Runner } from '../../src/process/runner.js'
import { CONNTRACK_EVENT_ARGS, LOSS_HOLD_MS, TrafficWatcher, type WatchReport } from '../../src/passive/traffic-watcher.js'
import type { FlowOutcome } from '../../src/passive/flow-tracker.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'

function harness() {
  const clock = new FakeClock()
  const streams: Array<{ file: string; args: readonly string[]; line: (l: string) => void; exit: (c: number | null) => void; err?: (l: string) => void; stopped: boolean }> = []
  const runner: Runner = {
    run: async () => { throw new Error('the watcher must not run() anything') },
    stream(file, args, line, exit, err) {
      const s = { file, args, line, exit, ...(err ? { err } : {}), stopped: false }
      streams.push(s)
      return { stop: () => { s.stopped = true } }
    },
  }
  const outcomes: FlowOutcome[] = []
  const reports: WatchReport[] = []
  let listening = 0
  const w = new TrafficWatcher(runner, clock, {
    onListening: () => { listening++ },
    classify: (ev) => (ev.target.address === '198.18.1.2' ? { key: 'web|198.18.1.2:80', unansweredMs: 200, minUnansweredMs: 200 } : null),
    onOutcomes: (o) => outcomes.push(...o),
    onReport: (r) => reports.push(r),
  })
  /** A line as conntrack prints it, stamped `agoMs` before the clock's wall time now. */
  const line = (kind: 'NEW' | 'UPDATE' | 'DESTROY', id: string, state: string, unreplied: boolean, agoMs = 0): string => {
    const wall = (clock.wallNow() - agoMs) / 1000
    return `[${wall.toFixed(6)}]\t[${kind}] tcp      6 120 ${state} src=198.18.0.2 dst=198.18.0.1 sport=4${id} dport=8000 ${unreplied ? '[UNREPLIED] ' : ''}src=198.18.1.2 dst=198.18.1.1 sport=80 dport=4${id} mark=262144 id=${id}`
  }
  return { clock, streams, outcomes, reports, w, line, listening: () => listening }
}

t.test('runs conntrack -E filtered to fwdd\'s connmark, stamped, with ids', async (t) => {
  const h = harness()
  h.w.start()
  t.equal(h.streams[0]?.file, 'conntrack')
  t.same(h.streams[0]?.args, CONNTRACK_EVENT_ARGS)
  t.match(CONNTRACK_EVENT_ARGS.join(' '), /-m 0x40000\/0x40000 .*-o timestamp,id/)
  h.w.stop()
  t.ok(h.streams[0]?.stopped)
})

t.test('an unanswered SYN is a failure soon after its deadline', async (t) => {
  const h = harness()
  h.w.start()
  h.streams[0]!.line(h.line('NEW', '1', 'SYN_SENT', true))
  await h.clock.advance(190)
  t.same(h.outcomes, [], 'not before the deadline')
  await h.clock.advance(40)
  t.match(h.outcomes, [{ ok: false, reason: 'unanswered' }], 'judged within two ticks of the deadline')
  h.w.stop()
})

/** A clock whose timers fire only when the test says: a blocked event loop. */
class ManualClock {
  t = 1000
  timers: Array<{ at: number; fn: () => void }> = []
  now = (): number => this.t
  wallNow = (): number => this.t + 1_700_000_000_000
  setTimeout = (fn: () => void, ms: number): unknown => {
    const timer = { at: this.t + ms, fn }
    this.timers.push(timer)
    return timer
  }
  clearTimeout = (h: unknown): void => { this.timers = this.timers.filter((x) => x !== h) }
  /** Runs the due timers, as the timers phase of one loop turn. */
  fireDue(): void {
    const due = this.timers.filter((x) => x.at <= this.t)
    this.timers = this.timers.filter((x) => x.at > this.t)
    for (const x of due) x.fn()
  }
}

t.test('a late read does not make a flow look unanswered: an answer stamped in time is a success', async (t) => {
  const clock = new ManualClock()
  let feed: (l: string) => void = () => {}
  const outcomes: FlowOutcome[] = []
  const w = new TrafficWatcher({ run: async () => ({ exitCode: 0, stdout: '', stderr: '' }), stream: (_f, _a, line) => { feed = line; return { stop() {} } } }, clock, {
    classify: () => ({ key: 'k', unansweredMs: 200, minUnansweredMs: 200 }), onOutcomes: (o) => outcomes.push(...o), onReport: () => {},
  })
  w.start()
  const stamp = (at: number): string => `[${((at + 1_700_000_000_000) / 1000).toFixed(6)}]`
  const tail = (id: string, unreplied: boolean): string => `src=198.18.0.2 dst=198.18.0.1 sport=4000 dport=8000 ${unreplied ? '[UNREPLIED] ' : ''}src=198.18.1.2 dst=198.18.1.1 sport=80 dport=4000 mark=262144 id=${id}`
  feed(`${stamp(1000)}\t[NEW] tcp 6 120 SYN_SENT ${tail('1', true)}`)
  feed(`${stamp(1000)}\t[NEW] tcp 6 120 SYN_SENT ${tail('2', true)}`)
  // The loop is blocked from 1000 to 1500. Its answer to flow 1 came at 1150 and waits in the pipe.
  clock.t = 1500
  clock.fireDue()
  await new Promise((r) => setImmediate(r))
  t.same(outcomes, [], 'the first tick after the block judges nothing: it cannot know what is still unread')
  feed(`${stamp(1150)}\t [UPDATE] tcp 6 60 SYN_RECV ${tail('1', false)}`)
  await new Promise((r) => setImmediate(r))
  t.match(outcomes, [{ ok: true, at: 1150 }], 'flow 1, answered at 1150, is a success although read at 1500')
  t.equal(outcomes.length, 1, 'flow 2 is not judged yet: the latest stamp read (1150) is before its deadline')
  clock.t = 1510
  clock.fireDue()
  t.match(outcomes, [{ ok: true }, { ok: false, reason: 'unanswered', at: 1200 }], 'the next tick (the previous one was at 1500, after the block) judges flow 2')
  w.stop()
})

t.test('with no events read, a flow is judged once a tick after its deadline follows another tick', async (t) => {
  const clock = new ManualClock()
  let feed: (l: string) => void = () => {}
  const outcomes: FlowOutcome[] = []
  const w = new TrafficWatcher({ run: async () => ({ exitCode: 0, stdout: '', stderr: '' }), stream: (_f, _a, line) => { feed = line; return { stop() {} } } }, clock, {
    classify: () => ({ key: 'k', unansweredMs: 200, minUnansweredMs: 200 }), onOutcomes: (o) => outcomes.push(...o), onReport: () => {},
  })
  w.start()
  feed(`[${((1000 + 1_700_000_000_000) / 1000).toFixed(6)}]\t[NEW] tcp 6 120 SYN_SENT src=198.18.0.2 dst=198.18.0.1 sport=4000 dport=8000 [UNREPLIED] src=198.18.1.2 dst=198.18.1.1 sport=80 dport=4000 mark=262144 id=7`)
  for (clock.t = 1010; clock.t <= 1200; clock.t += 10) clock.fireDue()
  t.same(outcomes, [], 'not judged up to its deadline (1200)')
  clock.t = 1210
  clock.fireDue()
  t.match(outcomes, [{ ok: false, reason: 'unanswered', at: 1200 }], 'judged at the tick after the one at its deadline')
  w.stop()
})

t.test('lost events: every waiting flow is forgotten, fallback is reported, verdicts pause, then watching again', async (t) => {
  const h = harness()
  h.w.start()
  h.streams[0]!.line(h.line('NEW', '1', 'SYN_SENT', true))
  h.streams[0]!.err!('WARNING: We have hit ENOBUFS! We are losing events.')
  t.match(h.reports.at(-1), { mode: 'fallback', lostEvents: 1, reason: /dropped conntrack events/ })
  await h.clock.advance(500)
  t.same(h.outcomes, [], 'the flow waiting when events were lost is not judged')
  h.streams[0]!.line(h.line('NEW', '2', 'SYN_SENT', true))
  await h.clock.advance(500)
  t.same(h.outcomes, [], 'flows seen during the hold are not judged')
  await h.clock.advance(LOSS_HOLD_MS)
  t.match(h.reports.at(-1), { mode: 'watching', lostEvents: 1, reason: null })
  h.streams[0]!.line(h.line('NEW', '3', 'SYN_SENT', true))
  await h.clock.advance(300)
  t.match(h.outcomes, [{ ok: false, reason: 'unanswered' }])
  h.w.stop()
})

t.test('conntrack missing or ended: unavailable (active checks only), and it is restarted', async (t) => {
  const h = harness()
  h.w.start()
  h.streams[0]!.exit(null)
  t.match(h.reports.at(-1), { mode: 'unavailable', reason: /could not be started/ })
  await h.clock.advance(1100)
  t.equal(h.streams.length, 2, 'started again')
  t.match(h.reports.at(-1), { mode: 'unavailable' }, 'not reported watching before conntrack says anything')
  h.streams[1]!.exit(null)
  await h.clock.advance(1100)
  t.equal(h.streams.length, 2, 'the next restart backs off')
  await h.clock.advance(1000)
  t.equal(h.streams.length, 3)
  const reports = h.reports.length
  h.streams[2]!.err!('NOTICE: Netlink socket buffer size has been set to 16777216 bytes.')
  t.match(h.reports.at(-1), { mode: 'watching' }, 'watching once conntrack runs')
  t.equal(h.reports.length, reports + 1)
  h.w.stop()
})

t.test('each run of conntrack reports it listens once, on its first line (stderr or stdout), not at spawn', async (t) => {
  const h = harness()
  h.w.start()
  t.equal(h.listening(), 0, 'spawned is not yet subscribed')
  h.streams[0]!.err!('NOTICE: Netlink socket buffer size has been set to 33554432 bytes.')
  h.streams[0]!.line(h.line('NEW', '1', 'SYN_SENT', true))
  t.equal(h.listening(), 1)
  h.streams[0]!.exit(1)
  await h.clock.advance(1000)
  t.equal(h.streams.length, 2, 'restarted')
  h.streams[1]!.line(h.line('NEW', '2', 'SYN_SENT', true))
  t.equal(h.listening(), 2, 'a new run listens anew')
  h.w.stop()
})

t.test('an answer is read from the id and stamp alone; a reset still from the whole line', async (t) => {
  const h = harness()
  h.w.start()
  h.streams[0]!.line(h.line('NEW', '1', 'SYN_SENT', true, 50))
  h.streams[0]!.line(h.line('NEW', '2', 'SYN_SENT', true, 50))
  h.streams[0]!.line(h.line('UPDATE', '1', 'SYN_RECV', false, 20))
  h.streams[0]!.line(h.line('DESTROY', '2', 'CLOSE', true, 10))
  h.streams[0]!.line(h.line('UPDATE', '1', 'ESTABLISHED', false))
  await settle()
  t.match(h.outcomes, [{ key: 'web|198.18.1.2:80', ok: true, reason: null }, { ok: false, reason: 'reset' }], 'flow 1 answered once (its later events are of a flow no longer waited on), flow 2 reset')
  t.equal(h.outcomes.length, 2)
  t.ok(h.outcomes[0]!.at < h.outcomes[1]!.at, 'each at its own stamp')
  h.w.stop()
})

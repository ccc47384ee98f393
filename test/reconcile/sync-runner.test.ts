import t from 'tap'
import { SyncRunner } from '../../src/reconcile/sync-runner.js'
import { FakeClock } from '../helpers/fake-clock.js'

/** A sync that records when it ran and with which `verify`, and fails while `failing` is set. */
function recorder(clock: FakeClock) {
  const runs: Array<{ at: number; verify: boolean }> = []
  const state = { failing: false, durationMs: 0 }
  const sync = async (verify: boolean): Promise<void> => {
    runs.push({ at: clock.now(), verify })
    if (state.durationMs > 0) await new Promise<void>((r) => clock.setTimeout(r, state.durationMs))
    if (state.failing) throw new Error('iptables-restore exited 4')
  }
  return { runs, state, sync }
}

t.test('requests close together collapse into one sync', async (t) => {
  const clock = new FakeClock()
  const r = recorder(clock)
  const runner = new SyncRunner({ minIntervalMs: 50, clock, sync: r.sync })
  runner.request()
  runner.request()
  runner.request(true)
  await clock.advance(0)
  t.equal(r.runs.length, 1, 'three requests, one sync')
  t.equal(r.runs[0]!.verify, true, 'verify if any request asked for it')
  await clock.advance(1000)
  t.equal(r.runs.length, 1, 'nothing more without a request')
  runner.stop()
})

t.test('two syncs start at least minIntervalMs apart; requests during a sync make one more', async (t) => {
  const clock = new FakeClock()
  const r = recorder(clock)
  r.state.durationMs = 10
  const runner = new SyncRunner({ minIntervalMs: 100, clock, sync: r.sync })
  const start = clock.now()
  runner.request()
  await clock.advance(5)
  for (let i = 0; i < 5; i++) runner.request()
  await clock.advance(1)
  t.equal(r.runs.length, 1, 'requests during a sync wait for it')
  await clock.advance(500)
  t.same(r.runs.map((x) => x.at - start), [0, 100], 'the second sync waits for the minimum interval')
  runner.request()
  await clock.advance(0)
  t.equal(r.runs.length, 3, 'a request long after the last sync runs at once')
  t.same(r.runs.map((x) => x.verify), [false, false, false])
  runner.stop()
})

t.test('a failed sync retries with doubling backoff, verifying; requests do not cut the backoff short', async (t) => {
  const clock = new FakeClock()
  const r = recorder(clock)
  const errors: number[] = []
  const runner = new SyncRunner({ minIntervalMs: 50, backoffMs: 200, maxBackoffMs: 1000, clock, sync: r.sync, onError: (_e, retry) => errors.push(retry) })
  const start = clock.now()
  r.state.failing = true
  runner.request(false)
  await clock.advance(100)
  runner.request(false) // a health change during the backoff
  await clock.advance(2400)
  t.same(r.runs.map((x) => x.at - start), [0, 200, 600, 1400, 2400], 'retries at +200, +400, +800, then capped at +1000')
  t.same(errors, [200, 400, 800, 1000, 1000])
  t.same(r.runs.map((x) => x.verify), [false, true, true, true, true], 'every retry verifies (full rewrite)')
  t.equal(runner.failureCount, 5)
  r.state.failing = false
  await clock.advance(1000)
  t.equal(r.runs.length, 6)
  t.equal(runner.failureCount, 0, 'success resets the count')
  t.equal(clock.pending(), 0, 'nothing pending after success')
  const requestedAt = clock.now()
  runner.request()
  await clock.advance(0)
  t.equal(r.runs.at(-1)!.at, requestedAt, 'after a success the backoff is gone: the next request runs at once')
  t.same(errors.length, 5)
  runner.stop()
})

t.test('stop: no sync after stop', async (t) => {
  const clock = new FakeClock()
  const r = recorder(clock)
  const runner = new SyncRunner({ minIntervalMs: 50, clock, sync: r.sync })
  runner.request()
  await clock.advance(0)
  runner.request()
  runner.stop()
  await clock.advance(1000)
  runner.request()
  await clock.advance(1000)
  t.equal(r.runs.length, 1)
})

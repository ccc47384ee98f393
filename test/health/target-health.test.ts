import t from 'tap'
import { initialHealth, recordResult, type TargetHealth } from '../../src/health/target-health.js'

type Step = 'ok' | 'fail'

/** Runs a sequence of results from `unknown` and returns the state after each one. */
function run(steps: Step[], fall: number, rise: number): Array<TargetHealth['state']> {
  let h = initialHealth(0)
  return steps.map((s, i) => {
    h = recordResult(h, s === 'ok', s === 'ok' ? null : 'connection refused', { fall, rise }, i + 1)
    return h.state
  })
}

const table: Array<{ name: string; steps: Step[]; fall: number; rise: number; states: string[] }> = [
  { name: 'first success decides at once', steps: ['ok'], fall: 2, rise: 2, states: ['healthy'] },
  { name: 'first failure decides at once', steps: ['fail'], fall: 2, rise: 2, states: ['unhealthy'] },
  { name: 'one lost probe does not flap', steps: ['ok', 'fail', 'ok', 'fail'], fall: 2, rise: 2, states: ['healthy', 'healthy', 'healthy', 'healthy'] },
  { name: 'fall consecutive failures take it down', steps: ['ok', 'fail', 'fail'], fall: 2, rise: 2, states: ['healthy', 'healthy', 'unhealthy'] },
  { name: 'fall 3', steps: ['ok', 'fail', 'fail', 'fail'], fall: 3, rise: 2, states: ['healthy', 'healthy', 'healthy', 'unhealthy'] },
  { name: 'fall 1', steps: ['ok', 'fail'], fall: 1, rise: 1, states: ['healthy', 'unhealthy'] },
  { name: 'rise consecutive successes bring it back', steps: ['fail', 'ok', 'ok'], fall: 2, rise: 2, states: ['unhealthy', 'unhealthy', 'healthy'] },
  { name: 'a failure resets the rise count', steps: ['fail', 'ok', 'fail', 'ok', 'ok'], fall: 2, rise: 2, states: ['unhealthy', 'unhealthy', 'unhealthy', 'unhealthy', 'healthy'] },
  { name: 'a success resets the fall count', steps: ['ok', 'fail', 'ok', 'fail', 'fail'], fall: 2, rise: 2, states: ['healthy', 'healthy', 'healthy', 'healthy', 'unhealthy'] },
  { name: 'rise 3', steps: ['fail', 'ok', 'ok', 'ok'], fall: 2, rise: 3, states: ['unhealthy', 'unhealthy', 'unhealthy', 'healthy'] },
]

for (const row of table) {
  t.same(run(row.steps, row.fall, row.rise), row.states, row.name)
}

t.test('since moves only on a state change; lastError says why and clears on recovery', async (t) => {
  const th = { fall: 2, rise: 2 }
  let h = recordResult(initialHealth(0), true, null, th, 10)
  t.match(h, { state: 'healthy', since: 10, lastError: null })
  h = recordResult(h, false, 'connection refused', th, 20)
  t.match(h, { state: 'healthy', since: 10, lastError: 'connection refused', failures: 1 }, 'a first failure is reported but does not move the state')
  h = recordResult(h, false, 'no answer to connect within 300 ms', th, 30)
  t.match(h, { state: 'unhealthy', since: 30, lastError: 'no answer to connect within 300 ms' })
  h = recordResult(h, true, null, th, 40)
  t.match(h, { state: 'unhealthy', since: 30, lastError: 'no answer to connect within 300 ms', successes: 1 }, 'the reason stays until it is back')
  h = recordResult(h, true, null, th, 50)
  t.match(h, { state: 'healthy', since: 50, lastError: null })
})

t.test('the input is not modified', async (t) => {
  const h = initialHealth(0)
  const copy = { ...h }
  recordResult(h, false, 'x', { fall: 2, rise: 2 }, 1)
  t.same(h, copy)
})

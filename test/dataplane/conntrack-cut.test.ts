// The conntrack adapter's cut commands, on a recording runner (no root): a passive ejection cuts
// only fwdd's still-unanswered tcp flows of the target.
import t from 'tap'
import { Conntrack } from '../../src/dataplane/conntrack.js'
import type { Runner } from '../../src/process/runner.js'

function recording(): { runner: Runner; calls: string[][] } {
  const calls: string[][] = []
  return { calls, runner: { run: async (file, args) => { calls.push([file, ...args]); return { exitCode: 0, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n' } } } }
}

t.test('unansweredOnly adds --state SYN_SENT for tcp; the connmark filter is always there', async (t) => {
  const r = recording()
  const ct = new Conntrack(r.runner)
  t.equal(await ct.deleteFlowsTo('tcp', '198.18.1.2', 80, 8000, { unansweredOnly: true }), 3)
  t.same(r.calls[0], ['conntrack', '-D', '-p', 'tcp', '--orig-port-dst', '8000', '--state', 'SYN_SENT', '--reply-src', '198.18.1.2', '--reply-port-src', '80', '--mark', '0x40000/0x40000'])
  await ct.deleteFlowsTo('tcp', '198.18.1.2', 80)
  t.same(r.calls[1], ['conntrack', '-D', '-p', 'tcp', '--reply-src', '198.18.1.2', '--reply-port-src', '80', '--mark', '0x40000/0x40000'], 'a full cut as before')
  await ct.deleteFlowsTo('udp', '198.18.1.2', 53, undefined, { unansweredOnly: true })
  t.notOk(r.calls[2]!.includes('--state'), 'udp has no tcp state to filter on')
})

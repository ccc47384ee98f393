// The doctor's passive-health line for every mode the daemon can report.
import t from 'tap'
import { passiveVerdict } from '../../src/cli/doctor-passive.js'
import { formatVerdicts } from '../../src/cli/verdict.js'

t.test('one line per mode: pass, warn or fail, with a fix where something is off', async (t) => {
  const line = (r: Parameters<typeof passiveVerdict>[0]): string => formatVerdicts([passiveVerdict(r)])
  t.match(line({ mode: 'watching', lostEvents: 0, reason: null }), /^PASS {2}passive-health: watching/)
  t.match(line({ mode: 'watching', lostEvents: 3, reason: null }), /^WARN {2}passive-health: .*dropped events 3 time/)
  t.match(line({ mode: 'off', lostEvents: 0, reason: null }), /^PASS {2}passive-health: off/)
  t.match(line({ mode: 'fallback', lostEvents: 1, reason: 'the kernel dropped conntrack events (ENOBUFS)' }), /^WARN {2}passive-health: paused, active checks only: the kernel dropped conntrack events \(ENOBUFS\).*\(fix: /)
  t.match(line({ mode: 'unavailable', lostEvents: 0, reason: 'conntrack -E could not be started (is conntrack installed?); active checks only' }), /^FAIL {2}passive-health: not running.*is conntrack installed.*\(fix: install the conntrack package/)
  t.match(line(null), /^WARN {2}passive-health: not checked: no daemon answered/)
  t.equal(passiveVerdict({ mode: 'unavailable', lostEvents: 0, reason: null }).ok, false, 'unavailable fails the doctor run (exit 1)')
})

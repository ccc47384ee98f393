// Addresses are from the test plan (198.18.0.0/15); nothing here touches the network.
import t from 'tap'
import { formatAge, formatBytes, formatStatusTable, statusExitCode } from '../../src/cli/status-table.js'
import type { Status } from '../../src/status.js'

const now = new Date('2024-05-01T12:00:00Z')

function base(): Status {
  return {
    node: { ready: true, draining: false, inSync: true, lastSyncAt: '2024-05-01T11:59:57Z', lastError: null, version: '0.1.0' },
    listeners: [
      {
        name: 'onprem-http', protocol: 'tcp', port: 8000, serving: true,
        targets: [
          { host: '198.18.0.10', label: 'onprem-http/0', address: '198.18.0.10', port: 8000, state: 'healthy', since: '2024-05-01T11:55:00Z', lastError: null, inRotation: true, weight: 1, connections: 12, bytes: 1_572_864 },
          { host: 'db.example', label: 'onprem-http/1-0', address: '198.18.0.11', port: 8000, state: 'unhealthy', since: '2024-05-01T11:59:50Z', lastError: 'connect ECONNREFUSED', inRotation: false, weight: 2, connections: 0, bytes: 0 },
        ],
      },
      {
        name: 'dns', protocol: 'udp', port: 53, serving: true,
        targets: [
          { host: '/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/ipGroups/resolvers', label: 'dns/0-0', address: '198.18.1.1', port: 53, state: 'unknown', since: '2024-04-29T12:00:00Z', lastError: null, inRotation: true },
        ],
      },
    ],
  }
}

t.test('defect 5, the status table: summary first, a header row, label and weight columns, reasons on their own line', async (t) => {
  t.equal(formatStatusTable(base(), { color: false, now }), [
    'fwdd 0.1.0 ready, synced 3s ago; 2/2 listeners serving, 1/3 targets healthy',
    '',
    'LISTENER/LABEL     ADDRESS           STATE      SINCE  W  ROT  CONNS  BYTES',
    'onprem-http        tcp/8000          serving',
    '  onprem-http/0    198.18.0.10:8000  healthy    5m     1  yes  12     1.5 MiB',
    '  onprem-http/1-0  198.18.0.11:8000  unhealthy  10s    2  no   0      0 B',
    '      from db.example',
    '      reason: connect ECONNREFUSED',
    'dns                udp/53            serving',
    '  dns/0-0          198.18.1.1:53     unknown    2d     -  yes  -      -',
    '      from ipGroup resolvers',
    '',
  ].join('\n'))
  t.equal(statusExitCode(base()), 0)
})

t.test('defect 5: every line fits 80 columns, a long reason wraps onto lines of its own', async (t) => {
  const s = base()
  s.listeners[0]!.targets[1]!.lastError = 'connect ETIMEDOUT 198.18.0.11:8000 after 1000 ms; the check failed 2 times in a row, so the target left rotation until 2 checks pass'
  const out = formatStatusTable(s, { color: true, now })
  for (const line of out.split('\n')) t.ok(line.replace(/\u001b\[\d+m/g, '').length <= 80, `fits: ${line}`)
  t.match(out, /\n {6}\u001b\[31mreason: connect ETIMEDOUT[^\n]*\u001b\[0m\n {6}\u001b\[31m[^\n]*until 2 checks pass\u001b\[0m\n/, 'each wrapped line is coloured and reset on its own line')
})

t.test('defect 5: colours reset before every newline, also in multi-line node errors', async (t) => {
  const s = base()
  s.node = { ...s.node, inSync: false, ready: false, lastError: 'config reload rejected:\nc.yaml:3:5: listeners.0.port: write a number' }
  const out = formatStatusTable(s, { color: true, now })
  for (const line of out.split('\n')) {
    const opens = (line.match(/\u001b\[3\dm|\u001b\[2m/g) ?? []).length
    const resets = (line.match(/\u001b\[0m/g) ?? []).length
    t.equal(opens, resets, `balanced: ${JSON.stringify(line)}`)
  }
})

t.test('defect 5: a draining node reads draining, not NOT READY', async (t) => {
  const s = base()
  s.node = { ...s.node, ready: false, draining: true, inSync: false, lastSyncAt: null, lastError: 'applying rule set: iptables-restore exited 4' }
  s.listeners = [{ name: 'web', protocol: 'tcp', port: 80, serving: false, targets: [] }]
  t.equal(formatStatusTable(s, { color: false, now }), [
    'fwdd 0.1.0 draining, NOT IN SYNC (never synced); 0/1 listeners serving, 0/0 targets healthy',
    '  last error: applying rule set: iptables-restore exited 4',
    '',
    'LISTENER/LABEL  ADDRESS  STATE        SINCE  W  ROT  CONNS  BYTES',
    'web             tcp/80   NOT SERVING',
    '  (no targets)',
    '',
  ].join('\n'))
  t.notMatch(formatStatusTable(s, { color: false, now }), /NOT READY/)
  t.equal(statusExitCode(s), 1)
})

t.test('no listeners', async (t) => {
  const s = base()
  s.listeners = []
  t.equal(formatStatusTable(s, { color: false, now }), 'fwdd 0.1.0 ready, synced 3s ago; 0/0 listeners serving, 0/0 targets healthy\n\nno listeners configured\n')
  t.equal(statusExitCode(s), 1)
})

t.test('colour on adds escapes but not visible text, and only then', async (t) => {
  const plain = formatStatusTable(base(), { color: false, now })
  const colored = formatStatusTable(base(), { color: true, now })
  t.notMatch(plain, /\u001b/)
  t.match(colored, '\u001b[32mhealthy\u001b[0m')
  t.match(colored, '\u001b[31munhealthy\u001b[0m')
  t.match(colored, '\u001b[33munknown\u001b[0m')
  t.equal(colored.replace(/\u001b\[\d+m/g, ''), plain, 'same text and alignment once escapes are removed')
  const s = base()
  s.node.draining = true
  t.match(formatStatusTable(s, { color: true, now }), '\u001b[33mdraining\u001b[0m')
})

t.test('exit code: each degraded condition alone gives 1 (read from the daemon verdicts, never re-derived)', async (t) => {
  const cases: Array<[string, (s: Status) => void]> = [
    ['draining', (s) => { s.node.draining = true; s.node.ready = false }],
    ['not in sync', (s) => { s.node.inSync = false; s.node.ready = false }],
    ['a listener with only unhealthy targets', (s) => { for (const x of s.listeners[0]!.targets) x.state = 'unhealthy'; s.listeners[0]!.serving = false; s.node.ready = false }],
    ['a listener not serving, node still claiming ready', (s) => { s.listeners[1]!.serving = false }],
    ['no listeners', (s) => { s.listeners = [] }],
  ]
  for (const [name, mutate] of cases) {
    const s = base()
    mutate(s)
    t.equal(statusExitCode(s), 1, name)
  }
})

t.test('ages and byte sizes', async (t) => {
  t.equal(formatAge('2024-05-01T12:00:05Z', now), '0s', 'future times (clock skew) are 0s')
  t.equal(formatAge('2024-05-01T11:00:00Z', now), '1h')
  t.equal(formatAge('not a date', now), '?')
  t.same([0, 1023, 1024, 10 * 1024, 5 * 1024 ** 3, undefined].map(formatBytes), ['0 B', '1023 B', '1.0 KiB', '10 KiB', '5.0 GiB', '-'])
})

t.test('a target ejected by passive health reads ejected, with why and when it may return; a held ejection and a paused watch say so', async (t) => {
  const s = base()
  const target = s.listeners[0]!.targets[0]!
  Object.assign(target, { state: 'unhealthy', inRotation: false, lastError: 'ejected by traffic for 5000 ms: 2 consecutive connections unanswered after 200 ms', ejected: { reason: 'x', since: '2024-05-01T11:59:58Z', until: '2024-05-01T12:00:03Z', ejections: 1 } })
  s.listeners[0]!.targets[1]!.ejectionHeld = "2 consecutive connections reset before they were established, but ejecting it would take more than 50% of the listener's targets out (passive.maxEjectionPercent)"
  s.node.passive = { mode: 'fallback', lostEvents: 3, reason: 'the kernel dropped conntrack events' }
  const out = formatStatusTable(s, { color: false, now })
  t.match(out, /  onprem-http\/0 +198\.18\.0\.10:8000 +ejected +/)
  const unwrapped = out.replace(/\n {2,}/g, ' ')
  t.match(unwrapped, /reason: ejected by traffic for 5000 ms: 2 consecutive connections unanswered after 200 ms/)
  t.match(unwrapped, /may return from 2024-05-01T12:00:03Z after check\.rise active successes \(recent ejections: 1\)/)
  t.match(unwrapped, /not ejected: 2 consecutive connections reset/)
  t.match(unwrapped, /passive health fallback: the kernel dropped conntrack events/)
  for (const line of out.split('\n')) t.ok(line.length <= 80, `fits 80 columns: ${line}`)
})

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
          { host: '198.18.0.10', address: '198.18.0.10', port: 8000, state: 'healthy', since: '2024-05-01T11:55:00Z', lastError: null, inRotation: true, connections: 12, bytes: 1_572_864 },
          { host: 'db.example', address: '198.18.0.11', port: 8000, state: 'unhealthy', since: '2024-05-01T11:59:50Z', lastError: 'connect ECONNREFUSED', inRotation: false, connections: 0, bytes: 0 },
        ],
      },
      {
        name: 'dns', protocol: 'udp', port: 53, serving: true,
        targets: [
          { host: '/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/ipGroups/resolvers', address: '198.18.1.1', port: 53, state: 'unknown', since: '2024-04-29T12:00:00Z', lastError: null, inRotation: true },
        ],
      },
    ],
  }
}

t.test('ready node, colour off: exact text', async (t) => {
  t.equal(formatStatusTable(base(), { color: false, now }), [
    'node  ready  not draining  in sync  synced 3s ago  fwdd 0.1.0',
    '',
    'onprem-http  tcp/8000  serving',
    '  198.18.0.10:8000                   healthy    5m ago   12 conns  1.5 MiB  in rotation',
    '  198.18.0.11:8000 (db.example)      unhealthy  10s ago  0 conns   0 B      out of rotation  connect ECONNREFUSED',
    '',
    'dns  udp/53  serving',
    '  198.18.1.1:53 (ipGroup resolvers)  unknown    2d ago   - conns   -        in rotation',
    '',
  ].join('\n'))
  t.equal(statusExitCode(base()), 0)
})

t.test('degraded node: draining, not in sync, a listener down, last error', async (t) => {
  const s = base()
  s.node = { ...s.node, ready: false, draining: true, inSync: false, lastSyncAt: null, lastError: 'applying rule set: iptables-restore exited 4' }
  s.listeners = [{ name: 'web', protocol: 'tcp', port: 80, serving: false, targets: [] }]
  t.equal(formatStatusTable(s, { color: false, now }), [
    'node  NOT READY  draining  NOT IN SYNC  never synced  fwdd 0.1.0',
    '  last error: applying rule set: iptables-restore exited 4',
    '',
    'web  tcp/80  NOT SERVING',
    '  (no targets)',
    '',
  ].join('\n'))
  t.equal(statusExitCode(s), 1)
})

t.test('no listeners', async (t) => {
  const s = base()
  s.listeners = []
  t.equal(formatStatusTable(s, { color: false, now }), 'node  ready  not draining  in sync  synced 3s ago  fwdd 0.1.0\n\nno listeners configured\n')
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

t.test('exit code: each degraded condition alone gives 1', async (t) => {
  const cases: Array<[string, (s: Status) => void]> = [
    ['draining', (s) => { s.node.draining = true }],
    ['not in sync', (s) => { s.node.inSync = false }],
    ['a listener with only unhealthy targets', (s) => { for (const x of s.listeners[0]!.targets) x.state = 'unhealthy' }],
    ['unknown and out of rotation', (s) => { s.listeners[1]!.targets[0]!.inRotation = false }],
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

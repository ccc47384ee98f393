// --check warnings (issue 14 item 7): likely mistakes in a valid config are reported with their
// position and `warning:`, and the config still loads.
import t from 'tap'
import { parseConfig, formatWarnings } from '../../src/config/load.js'

function warnings(yaml: string): string[] {
  const r = parseConfig(yaml, 'c.yaml')
  if (!r.ok) throw new Error(`expected a valid config: ${JSON.stringify(r.problems)}`)
  return r.warnings.length ? formatWarnings(r.warnings).split('\n') : []
}

t.test('warnings: a clean config has none', async (t) => {
  t.same(warnings('listeners:\n  - name: web\n    port: 80\n    targets:\n      - { host: 198.18.1.10, port: 80 }\n      - { host: 198.18.1.11, port: 80 }\n'), [])
})

t.test('warnings: udp listener without check.port', async (t) => {
  t.same(warnings('listeners:\n  - name: dns\n    protocol: udp\n    port: 53\n    targets:\n      - { host: 198.18.1.10, port: 53 }\n'), [
    'c.yaml:3:15: warning: listeners.0.protocol: a udp listener without check.port is never health-checked: every target stays in rotation even when it is down; add check.port (a TCP port on the targets)',
  ])
})

t.test('warnings: duplicate targets', async (t) => {
  t.same(warnings('listeners:\n  - name: web\n    port: 80\n    targets:\n      - { host: 198.18.1.10, port: 80 }\n      - { host: 198.18.1.10, port: 80 }\n'), [
    'c.yaml:6:9: warning: listeners.0.targets.1: 198.18.1.10:80 is already listeners.0.targets.0; a duplicate only doubles its share of traffic, use weight for that',
  ])
})

t.test('warnings: timeoutMs > intervalMs', async (t) => {
  t.same(warnings('listeners:\n  - name: web\n    port: 80\n    check: { intervalMs: 500, timeoutMs: 800 }\n    targets:\n      - { host: 198.18.1.10, port: 80 }\n      - { host: 198.18.1.11, port: 80 }\n'), [
    'c.yaml:4:42: warning: listeners.0.check.timeoutMs: timeoutMs (800) is longer than intervalMs (500): checks overlap and a failure is seen late; make timeoutMs at most intervalMs',
  ])
})

t.test('warnings: whenAllDown: all with one target', async (t) => {
  t.same(warnings('listeners:\n  - name: web\n    port: 80\n    whenAllDown: all\n    targets:\n      - { host: 198.18.1.10, port: 80 }\n'), [
    'c.yaml:4:18: warning: listeners.0.whenAllDown: whenAllDown: all with a single target sends traffic to it even when it is down; it only matters with two or more targets',
  ])
})

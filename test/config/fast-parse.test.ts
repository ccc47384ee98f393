// The fast path of a config load (issue 12): plain values from js-yaml for a valid config, the
// positioned `yaml` Document for anything else. These pin that both paths give the same values,
// that the fast path steps aside for what it cannot vouch for, and that a large invalid config
// still gets its positions.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { parseDocument } from 'yaml'
import { fastParse } from '../../src/config/fast-parse.js'
import { formatProblems, parseConfig, parsePositioned } from '../../src/config/load.js'
import { CONFIG_LIMITS } from '../../src/config/limits.js'

/** What the positioned path's parser makes of the text (undefined on a syntax error). */
const positioned = (text: string): unknown => {
  const doc = parseDocument(text, { uniqueKeys: true })
  return doc.errors.length > 0 ? undefined : doc.toJS()
}

const largeConfig = (n: number): string => {
  const lines = ['health: { port: 8080, probeSources: [198.18.0.2] }', 'sources: [198.18.0.0/24]', 'listeners:']
  for (let i = 0; i < n; i++) lines.push(`  - { name: l${i}, port: ${10000 + i}, targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }] }`)
  return `${lines.join('\n')}\n`
}

t.test('fast path: plain scalars resolve as the positioned path resolves them (YAML 1.2 core)', async (t) => {
  const scalars = ['80', '+80', '-80', '080', '0x50', '0o120', '0b101', '1_000', '1e3', '1.5', '1.', '.5', '-1.0e+2', '.inf', '-.Inf', '.nan', 'null', 'Null', '~', '',
    'true', 'True', 'FALSE', 'tRue', 'yes', 'no', 'on', 'off', '2001-12-14', '12:30', '0', '-0', '10.0.1.0/26', '198.18.1.2', 'a b', "'80'", '"80"', '"a\\tb"',
    "'it''s'", '9007199254740993', '>-\n  a\n  b', '|\n  a\n  b', '"multi\n  line"', 'plain\n  folded', '[a, b]', '{a: 1}', 'x # c', 'x#c', '1.2.3', '1E3', '1e+3']
  for (const s of scalars) {
    const text = `v: ${s}\n`
    t.same(fastParse(text), positioned(text), JSON.stringify(s))
  }
})

t.test('fast path: a valid config gives the same Config on both paths', async (t) => {
  const configs = [
    readFileSync(new URL('../../tools/release/debian/example-config.yaml', import.meta.url), 'utf8'),
    largeConfig(50),
    [
      '# every section, block style, comments and quoting',
      'health: { port: 8081, address: "0.0.0.0", probeSources: [\'198.18.0.2\'] }',
      'metrics:',
      '  port: 9181',
      'sync: { resyncSeconds: 30, minIntervalMs: 100 }',
      'passive: { enabled: true, fall: 3 }',
      'sources:',
      '  - 198.18.0.0/24   # the NAT subnet',
      'listeners:',
      '  - name: web',
      '    port: 8000',
      '    whenAllDown: reject',
      '    check: { intervalMs: 2000, timeoutMs: 500, fall: 3, rise: 2, port: 8001 }',
      '    targets:',
      '      - host: app.corp.example',
      '        port: 80',
      '        weight: 2.5',
      '        name: primary',
      '      - { host: "198.18.2.2", port: 0x50 }',
      '  - name: dns',
      '    protocol: udp',
      '    port: 53',
      '    check: { port: 53 }',
      '    targets: [{ host: 198.18.3.2, port: 53 }]',
      '',
    ].join('\n'),
  ]
  for (const text of configs) {
    t.not(fastParse(text), undefined, 'the fast path takes it')
    const fast = parseConfig(text, 'c.yaml')
    t.ok(fast.ok, fast.ok ? 'valid' : formatProblems(fast.problems))
    t.same(fast, parsePositioned(text, 'c.yaml'))
  }
})

t.test('fast path: steps aside for aliases, tags, directives and counts past the limits', async (t) => {
  const one = '{ name: a, port: 8000, targets: [{ host: 198.18.1.2, port: 80 }] }'
  t.equal(fastParse(`std: &t { host: 198.18.1.2, port: 80 }\nlisteners: [{ name: a, port: 8000, targets: [*t] }]\n`), undefined, 'alias')
  t.equal(fastParse(`listeners: [{ name: a, port: !!float 8000, targets: [] }]\n`), undefined, 'tag')
  t.equal(fastParse(`%YAML 1.1\n---\nlisteners: [${one}]\n`), undefined, 'directive')
  t.equal(fastParse(`listeners: [${one}]\nlisteners: []\n`), undefined, 'duplicate key')
  t.equal(fastParse(''), undefined, 'empty document')
  t.equal(fastParse(`listeners: [${one}]\n---\nlisteners: []\n`), undefined, 'two documents')
  t.equal(fastParse(largeConfig(CONFIG_LIMITS.maxListeners + 1)), undefined, 'more listeners than the limit')
  t.not(fastParse(largeConfig(CONFIG_LIMITS.maxListeners)), undefined, 'exactly the limit')
})

t.test('fast path: a large invalid config is reported with positions, as before', async (t) => {
  // 3000 listeners: over the worker's 64 KiB threshold, and quick to read twice.
  const text = largeConfig(3000).replace('name: l2998, port: 12998', 'name: l2998, port: 70000').replace('{ name: l1500, port: 11500, targets: [{ host: 198.18.1.2,', '{ name: l1500, port: 11500, targets: [{ host: 127.0.0.1,')
  const r = parseConfig(text, 'big.yaml')
  t.notOk(r.ok)
  if (!r.ok) {
    t.equal(formatProblems(r.problems), [
      "big.yaml:1504:51: listeners.1500.targets.0.host: 127.0.0.1 is loopback; forwarding there would expose the node itself; use the on-premises server's address",
      'big.yaml:3002:26: listeners.2998.port: 70000 is out of range; write a number from 1 to 65535',
    ].join('\n'))
  }
  t.same(r, parsePositioned(text, 'big.yaml'), 'the same problems as the positioned path alone')
})

t.test('fast path: a valid config with warnings keeps their positions', async (t) => {
  const text = 'listeners:\n  - name: dns\n    protocol: udp\n    port: 53\n    targets: [{ host: 198.18.3.2, port: 53 }]\n'
  const r = parseConfig(text, 'c.yaml')
  t.ok(r.ok)
  if (r.ok) t.match(r.warnings, [{ line: 3, col: 15, path: 'listeners.0.protocol' }])
})

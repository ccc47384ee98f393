// YAML alias defects (issue 13 item 4): each of these made `fwdd --check` print a stack trace. Now
// each is refused with its line and column, except legitimate anchor reuse, which must pass.
import t from 'tap'
import { parseConfig, formatProblems } from '../../src/config/load.js'

const listener = (i: number, check = '*std'): string => `  - name: l${i}\n    port: ${9000 + i}\n    check: ${check}\n    targets:\n      - host: 198.18.1.10\n        port: 80\n`

t.test('yaml alias: an anchor reused on 101 listeners is a normal config and passes', async (t) => {
  const yaml = `x-std: &std { intervalMs: 500, timeoutMs: 300, fall: 2, rise: 2 }\nlisteners:\n${Array.from({ length: 101 }, (_, i) => listener(i)).join('')}`
  // x-std is not a key fwdd knows, so put the anchor on the first listener's check instead.
  const inline = `listeners:\n${listener(0, '&std { intervalMs: 500, timeoutMs: 300 }')}${Array.from({ length: 100 }, (_, i) => listener(i + 1)).join('')}`
  const r = parseConfig(inline, 'c.yaml')
  t.ok(r.ok, r.ok ? 'passes' : formatProblems(r.problems))
  if (r.ok) {
    t.equal(r.config.listeners.length, 101)
    t.same(r.config.listeners[100]?.check, { intervalMs: 500, timeoutMs: 300, fall: 2, rise: 2 })
  }
  const unknownTop = parseConfig(yaml, 'c.yaml')
  t.notOk(unknownTop.ok, 'an unknown top-level key holding the anchor is still refused')
  if (!unknownTop.ok) t.match(formatProblems(unknownTop.problems), /^c\.yaml:1:1: x-std: unknown key/)
})

t.test('yaml alias: billion laughs is refused at the alias that crosses the limit', async (t) => {
  const rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
  for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f'], ['h', 'g']]) rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`)
  const started = process.hrtime.bigint()
  const r = parseConfig(`${rows.join('\n')}\n`, 'c.yaml')
  t.notOk(r.ok)
  if (!r.ok) {
    t.equal(r.problems.length, 1)
    t.match(formatProblems(r.problems), /^c\.yaml:\d+:\d+: \(yaml\): aliases expand the config beyond 1000000 values/)
  }
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'refused without expanding it')
})

t.test('yaml alias: an alias before its anchor is refused at the alias', async (t) => {
  const r = parseConfig(`listeners:\n${listener(0, '*std')}${listener(1, '&std { fall: 3 }')}`, 'c.yaml')
  t.notOk(r.ok)
  if (!r.ok) t.equal(formatProblems(r.problems), 'c.yaml:4:12: (yaml): alias "*std" comes before any anchor "&std"; define the anchor first (above this line)')
})

t.test('yaml alias: an alias inside its own anchor is refused, not a cycle', async (t) => {
  const r = parseConfig('listeners: &l\n  - *l\n', 'c.yaml')
  t.notOk(r.ok)
  if (!r.ok) t.equal(formatProblems(r.problems), 'c.yaml:2:5: (yaml): alias "*l" is inside the node it refers to, which would repeat forever; point it at another node')
})

t.test('yaml alias: an alias to an undefined anchor is refused', async (t) => {
  const r = parseConfig('listeners: *nothing\n', 'c.yaml')
  t.notOk(r.ok)
  if (!r.ok) t.match(formatProblems(r.problems), /^c\.yaml:1:12: \(yaml\): alias "\*nothing" comes before any anchor/)
})

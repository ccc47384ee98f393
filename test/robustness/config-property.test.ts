// Robustness (issue 13): generated configs, over the schema and beyond it, either pass or are
// refused with PATH:LINE:COL; parseConfig never throws and never reports an `(internal)` failure.
// FWDD_PROPERTY_RUNS raises the case count for long runs (default 1000).
import t from 'tap'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { parseConfig } from '../../src/config/load.js'

const runs = Number(process.env.FWDD_PROPERTY_RUNS ?? 1000)
const anyValue = fc.oneof(fc.integer({ min: -10, max: 70000 }), fc.string({ maxLength: 8 }), fc.constant(null), fc.boolean(), fc.double())
const target = fc.record({ host: fc.oneof(fc.ipV4(), fc.domain(), anyValue), port: fc.oneof(fc.integer({ min: 0, max: 70000 }), anyValue), weight: fc.oneof(fc.integer({ min: 0, max: 2000 }), anyValue) }, { requiredKeys: ['host', 'port'] })
const listener = fc.record({
  name: fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,16}$/), anyValue),
  protocol: fc.constantFrom('tcp', 'udp', 'sctp'),
  port: fc.oneof(fc.integer({ min: 1, max: 65535 }), anyValue),
  targets: fc.array(target, { maxLength: 4 }),
  check: fc.record({ intervalMs: fc.integer({ min: 0, max: 5000 }), timeoutMs: fc.integer({ min: 0, max: 5000 }), port: fc.integer({ min: 0, max: 70000 }) }, { requiredKeys: [] }),
  whenAllDown: fc.constantFrom('reject', 'all', 'none'),
}, { requiredKeys: ['name', 'port', 'targets'] })
const config = fc.record({ listeners: fc.array(listener, { maxLength: 4 }), sources: fc.array(fc.oneof(fc.constant('10.0.1.0/26'), fc.string({ maxLength: 12 }))), bogus: anyValue }, { requiredKeys: ['listeners'] })
// Within the schema: valid listeners on distinct ports, so a share of the cases must be accepted.
const valid = fc.uniqueArray(fc.integer({ min: 1, max: 8079 }), { minLength: 1, maxLength: 5 }).chain((ports) => fc.tuple(...ports.map((p, i) => fc.record({
  name: fc.constant(`l${i}`), port: fc.constant(p), protocol: fc.constantFrom('tcp', 'udp'),
  targets: fc.array(fc.record({ host: fc.constantFrom('198.18.1.10', '198.18.1.11', 'app.corp.example'), port: fc.integer({ min: 1, max: 65535 }), weight: fc.integer({ min: 1, max: 1000 }) }), { minLength: 1, maxLength: 3 }),
})))).map((listeners) => stringify({ listeners }))
const text = fc.oneof(
  valid,
  config.map((c) => stringify(c)),
  // Beyond the schema: damaged YAML (a slice replaced by YAML punctuation and aliases).
  fc.tuple(config.map((c) => stringify(c)), fc.nat(), fc.constantFrom('*a', '&a', ': ', '- ', '[', '{', '"', '\t', '---\n', '? ', '!!str ', '<<: *a\n')).map(([s, i, junk]) => s.slice(0, i % (s.length + 1)) + junk + s.slice(i % (s.length + 1))),
  fc.string({ maxLength: 200 }),
)

t.test('property: every generated config passes or is refused with a position, never a crash', async (t) => {
  const figures = { tried: 0, accepted: 0, rejected: 0, crashes: 0 }
  fc.assert(fc.property(text, (yaml) => {
    figures.tried++
    let r
    try { r = parseConfig(yaml, 'c.yaml') } catch { figures.crashes++; return false }
    if (r.ok) { figures.accepted++; return true }
    figures.rejected++
    return r.problems.length > 0 && r.problems.every((p) => p.line >= 1 && p.col >= 1 && p.path !== '(internal)')
  }), { numRuns: runs })
  t.equal(figures.crashes, 0)
  t.ok(figures.accepted > 0 && figures.rejected > 0, 'both outcomes occur, so the property is not vacuous')
  t.comment(`property figures: ${JSON.stringify(figures)}`)
})

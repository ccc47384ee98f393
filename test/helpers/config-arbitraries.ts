/**
 * fast-check generators of config text, over the schema and beyond it (issue 13's robustness
 * suite). Shared by the parse property (test/robustness/config-property.test.ts), the reload
 * property (test/integration/config-reload-property.test.ts) and the benchmark's long run.
 */
import fc from 'fast-check'
import { stringify } from 'yaml'

const anyValue = fc.oneof(fc.integer({ min: -10, max: 70000 }), fc.string({ maxLength: 8 }), fc.constant(null), fc.boolean(), fc.double())
/**
 * Config texts: valid configs (a share must be accepted), configs over the schema with wrong values,
 * damaged YAML (a slice replaced by punctuation and aliases) and random strings. `address` makes
 * the IPv4 target addresses: a daemon that loads the config health-checks them, so the reload
 * suite passes addresses of the test plan (198.18.0.0/15) only.
 */
export function configTextWith(address: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const target = fc.record({ host: fc.oneof(address, fc.domain(), anyValue), port: fc.oneof(fc.integer({ min: 0, max: 70000 }), anyValue), weight: fc.oneof(fc.integer({ min: 0, max: 2000 }), anyValue) }, { requiredKeys: ['host', 'port'] })
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
  return fc.oneof(
    valid,
    config.map((c) => stringify(c)),
    // Beyond the schema: damaged YAML (a slice replaced by YAML punctuation and aliases).
    fc.tuple(config.map((c) => stringify(c)), fc.nat(), fc.constantFrom('*a', '&a', ': ', '- ', '[', '{', '"', '\t', '---\n', '? ', '!!str ', '<<: *a\n')).map(([s, i, junk]) => s.slice(0, i % (s.length + 1)) + junk + s.slice(i % (s.length + 1))),
    fc.string({ maxLength: 200 }),
  )
}

/** Any IPv4 address: for the parse property, which never contacts what it parses. */
export const configText = configTextWith(fc.ipV4())

/** Addresses of the test plan only (198.18.0.0/15): for configs a daemon in a namespace loads. */
export const testPlanAddress = fc.tuple(fc.integer({ min: 18, max: 19 }), fc.nat(255), fc.nat(255)).map(([b, c, d]) => `198.${b}.${c}.${d}`)

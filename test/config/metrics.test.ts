// The `metrics:` block and `health.probeSources`: defaults, and what they must refuse with a fix.
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'

const base = 'listeners:\n  - { name: web, port: 8000, targets: [{ host: 198.18.1.2, port: 80 }] }\n'

t.test('absent: /metrics stays on the health port; present: loopback:9180 by default', async (t) => {
  const a = parseConfig(base, 'a.yaml')
  t.ok(a.ok && a.config.metrics === undefined)
  const b = parseConfig(`metrics: {}\n${base}`, 'b.yaml')
  t.same(b.ok && b.config.metrics, { address: '127.0.0.1', port: 9180 })
})

t.test('collisions and bad addresses are refused with the field and the fix', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['metrics: { port: 8080 }\n', /metrics\.port: metrics\.port 8080 is the health port; pick another port/],
    ['metrics: { address: localhost }\n', /metrics\.address: "localhost" is not an IPv4 address; write 127\.0\.0\.1/],
    ['metrics: { port: 8000 }\n', /listeners\.0\.port: port 8000 is the metrics port/],
    ['metrics: { addres: 127.0.0.1 }\n', /addres/],
    ['health: { probeSources: [probe.example] }\n', /health\.probeSources\.0: "probe\.example" is not an IPv4 address/],
  ]
  for (const [extra, re] of cases) {
    const r = parseConfig(`${extra}${base}`, 'c.yaml')
    t.equal(r.ok, false, extra)
    if (!r.ok) t.match(r.problems.map((p) => `${p.path}: ${p.message}`).join('\n'), re, extra)
  }
})

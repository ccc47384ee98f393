// Renderer golden tests: the exact iptables-restore text of fwdd's chains for typical inputs.
// Set UPDATE_GOLDEN=1 to rewrite the files after an intended change, then review the diff.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { probabilities, renderRuleSet, type RenderInput, type RenderTarget } from '../../src/dataplane/render.js'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden')

function text(input: RenderInput): string {
  const rs = renderRuleSet(input)
  let out = ''
  for (const table of ['nat', 'filter'] as const) {
    out += `*${table}\n`
    for (const c of rs[table].keys()) out += `:${c} - [0:0]\n`
    for (const rules of rs[table].values()) for (const r of rules) out += `${r}\n`
    out += 'COMMIT\n'
  }
  return out
}

const tgt = (address: string, port = 80, weight = 1): RenderTarget => ({ address, port, weight })

const cases: Record<string, RenderInput> = {
  'weights': { sources: [], listeners: [{ name: 'web', protocol: 'tcp', port: 8000, rotation: [tgt('198.18.1.2', 80, 1), tgt('198.18.2.2', 80, 2), tgt('198.18.3.2', 80, 1)], known: [tgt('198.18.1.2', 80, 1), tgt('198.18.2.2', 80, 2), tgt('198.18.3.2', 80, 1)] }] },
  'allow-list': { sources: ['198.18.0.0/24', '198.18.100.7/32'], listeners: [{ name: 'web', protocol: 'tcp', port: 8000, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')] }] },
  'udp': { sources: [], listeners: [{ name: 'dns', protocol: 'udp', port: 53, rotation: [tgt('198.18.1.2', 53), tgt('198.18.2.2', 53)], known: [tgt('198.18.1.2', 53), tgt('198.18.2.2', 53)] }] },
  'several-listeners': {
    sources: ['198.18.0.0/24'],
    listeners: [
      { name: 'web', protocol: 'tcp', port: 8000, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2'), tgt('198.18.2.2')] },
      { name: 'api', protocol: 'tcp', port: 8443, rotation: [tgt('198.18.2.2', 443), tgt('198.18.1.2', 443)], known: [tgt('198.18.2.2', 443), tgt('198.18.1.2', 443)] },
      { name: 'syslog', protocol: 'udp', port: 514, rotation: [], known: [tgt('198.18.3.2', 514)] },
    ],
  },
}

for (const [name, input] of Object.entries(cases)) {
  t.test(name, async (t) => {
    const file = path.join(dir, `${name}.rules`)
    const got = text(input)
    if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, got)
    t.equal(got, readFileSync(file, 'utf8'))
  })
}

t.test('same input, same output', async (t) => {
  t.equal(text(cases['several-listeners']!), text(structuredClone(cases['several-listeners']!)))
})

t.test('probabilities follow weights', async (t) => {
  t.same(probabilities([1, 1]), ['0.50000000000'])
  t.same(probabilities([1, 1, 1, 1]), ['0.25000000000', '0.33333333333', '0.50000000000'])
  t.same(probabilities([1, 2, 1]), ['0.25000000000', '0.66666666667'])
  t.same(probabilities([5]), [])
})

t.test('no target in rotation: no DNAT, connections refused in INPUT', async (t) => {
  const rs = renderRuleSet({ sources: [], listeners: [{ name: 'web', protocol: 'tcp', port: 8000, rotation: [], known: [tgt('198.18.1.2')] }] })
  t.same(rs.nat.get('FWD-L-web'), [])
  t.match(rs.filter.get('FWD-INPUT')?.[0] ?? '', /--dport 8000 .* -j REJECT --reject-with tcp-reset$/)
})

t.test('every rule carries a comment', async (t) => {
  for (const input of Object.values(cases)) {
    const rs = renderRuleSet(input)
    for (const table of ['nat', 'filter'] as const) for (const rules of rs[table].values()) for (const r of rules) t.match(r, / -m comment --comment /)
  }
})

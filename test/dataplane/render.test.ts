// Renderer golden tests: the exact iptables-restore text of fwdd's chains for typical inputs.
// Set UPDATE_GOLDEN=1 to rewrite the files after an intended change, then review the diff.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { TABLES } from '../../src/dataplane/chains.js'
import { FANOUT, INLINE_MAX_TARGETS, MAX_EVENT_RANGES, RenderMemo, hashlimitRate, probabilities, renderRuleSet, type RenderInput, type RenderTarget } from '../../src/dataplane/render.js'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden')

function text(input: RenderInput): string {
  const rs = renderRuleSet(input)
  let out = ''
  for (const table of TABLES) {
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
  // Passive health on 8000-8002 (one range), 8443 (alone), off on 8003 (it breaks no range of
  // its own: 8003 is simply not matched), and never on udp.
  'passive': {
    sources: ['198.18.0.0/24'],
    listeners: [
      { name: 'a', protocol: 'tcp', port: 8001, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')], passive: true },
      { name: 'b', protocol: 'tcp', port: 8000, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')], passive: true },
      { name: 'c', protocol: 'tcp', port: 8002, rotation: [], known: [tgt('198.18.1.2')], passive: true },
      { name: 'd', protocol: 'tcp', port: 8003, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')], passive: false },
      { name: 'e', protocol: 'tcp', port: 8443, rotation: [tgt('198.18.2.2', 443)], known: [tgt('198.18.2.2', 443)], passive: true },
      { name: 'f', protocol: 'udp', port: 8004, rotation: [tgt('198.18.1.2', 53)], known: [tgt('198.18.1.2', 53)], passive: true },
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

t.test('the event-mask chain: ranges merged, one span past the bound, empty with passive health off', async (t) => {
  const raw = (ports: number[], passive = true): string[] => renderRuleSet({
    sources: [],
    listeners: ports.map((port) => ({ name: `l${port}`, protocol: 'tcp' as const, port, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')], passive })),
  }).raw.get('FWD-RAW')!
  // Each range is a pair: the sample's mask, then the mask that reports nothing for the rest.
  const dports = (rules: string[]): string[] => rules.filter((_, i) => i % 2 === 0).map((r) => / --dport (\S+) /.exec(r)![1]!)
  t.same(dports(raw([9000, 8000, 8001, 8003, 8002, 8005])), ['8000:8003', '8005', '9000'])
  t.same(raw([8000, 8001], false), [], 'passive health off: no rule, the chain stays')
  t.same(raw([]), [])
  // MAX_EVENT_RANGES ranges (every other port) stay apart; one more and a single span covers them.
  const odd = (n: number): number[] => Array.from({ length: n }, (_, i) => 10000 + 2 * i)
  t.equal(raw(odd(MAX_EVENT_RANGES)).length, 2 * MAX_EVENT_RANGES)
  t.same(dports(raw(odd(MAX_EVENT_RANGES + 1))), [`10000:${10000 + 2 * MAX_EVENT_RANGES}`])
  const [sampled, rest] = raw([8000])
  t.match(sampled, /-m hashlimit --hashlimit-upto 1000\/sec --hashlimit-burst 100 --hashlimit-mode dstport --hashlimit-name fwdd-p1000 .*-j CT --ctevents new,destroy,reply$/, 'the sample (default 1000 a second per port), the events in the order iptables-save prints them')
  t.match(rest, /-j CT --ctevents secmark$/, 'the rest: an event fwdd never causes')
})

t.test('the event-mask chain: ports of different samples stay apart; a rate is rendered as iptables prints it back', async (t) => {
  const raw = (ls: Array<[number, number]>): string[] => renderRuleSet({
    sources: [],
    listeners: ls.map(([port, rate]) => ({ name: `l${port}`, protocol: 'tcp' as const, port, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')], passive: true, sampleFlowsPerSecond: rate })),
  }).raw.get('FWD-RAW')!
  const rates = raw([[8000, 50], [8001, 50], [8002, 60000], [8003, 50]]).filter((_, i) => i % 2 === 0).map((r) => /--dport (\S+) .*--hashlimit-upto (\S+) .*--hashlimit-name (\S+)/.exec(r)!.slice(1).join(' '))
  t.same(rates, ['8000:8001 50/sec fwdd-p50', '8002 62500/sec fwdd-p62500', '8003 50/sec fwdd-p50'])
  t.same([1, 7, 999, 1000, 3000, 7777, 60000, 100000].map(hashlimitRate), [1, 7, 999, 1000, 3003, 7812, 62500, 100000], 'what iptables 1.8.9 printed for each')
})

t.test('same input, same output', async (t) => {
  t.equal(text(cases['several-listeners']!), text(structuredClone(cases['several-listeners']!)))
})

t.test('probabilities follow weights', async (t) => {
  t.same(probabilities([1, 1]), ['0.50000000000'])
  // What the kernel prints back (32-bit fraction of 2^31), so a verify finds no false drift.
  t.same(probabilities([1, 1, 1, 1]), ['0.25000000000', '0.33333333349', '0.50000000000'])
  t.same(probabilities([1, 2, 1]), ['0.25000000000', '0.66666666651'])
  t.same(probabilities([1, 1, 1, 1, 1]), ['0.20000000019', '0.25000000000', '0.33333333349', '0.50000000000'])
  t.same(probabilities([5]), [])
})

t.test('no target in rotation: no DNAT, connections refused in INPUT', async (t) => {
  const rs = renderRuleSet({ sources: [], listeners: [{ name: 'web', protocol: 'tcp', port: 8000, rotation: [], known: [tgt('198.18.1.2')] }] })
  t.notMatch([...rs.nat.values()].flat().join('\n'), /DNAT/, 'no DNAT for the listener')
  t.match(rs.filter.get('FWD-INPUT')?.[1] ?? '', /--dport 8000 .* -j REJECT --reject-with tcp-reset$/)
})

t.test('many listeners: dispatch by port range in O(log n) rules, one FORWARD rule', async (t) => {
  const listeners = Array.from({ length: 10000 }, (_, i) => ({ name: `l${i}`, protocol: 'tcp' as const, port: 10000 + i, rotation: [tgt('198.18.1.2'), tgt('198.18.2.2')], known: [tgt('198.18.1.2')] }))
  const rs = renderRuleSet({ sources: [], listeners })
  t.same(rs.filter.get('FWD-FORWARD')!.length, 1, 'every forwarded packet meets one fwdd rule')
  /** Rules a new connection to `port` looks at until its DNAT (the first DNAT rule matching it). */
  const walk = (port: number): number => {
    let chain = 'FWD-SERVICES'
    let walked = 0
    for (;;) {
      const rules = rs.nat.get(chain)!
      const i = rules.findIndex((r) => matches(r, port) && !/ -j CONNMARK /.test(r))
      walked += i + 1
      const to = / -j (\S+)/.exec(rules[i]!)![1]!
      if (to === 'DNAT') return walked
      chain = to
    }
  }
  const levels = Math.ceil(Math.log(10000) / Math.log(FANOUT))
  t.ok(walk(19999) <= FANOUT * levels + 3 * FANOUT, `the last of 10,000 listeners is found after ${walk(19999)} rules`)
  t.ok(walk(10000) <= levels + 2, `the first after ${walk(10000)}`)
  t.ok(rs.nat.get('FWD-SERVICES')!.length <= FANOUT, 'a packet to another port leaves after at most FANOUT rules at the top')
  t.ok(rs.nat.size + rs.filter.size < 10000 / 3, `${rs.nat.size + rs.filter.size} chains for 10,000 listeners (no chain per listener)`)
})

/** Whether rule `r` matches a new connection to `port` (`--dport P`, `--dport A:B` or `--dports P,Q`). */
function matches(r: string, port: number): boolean {
  const range = / --dport (\d+)(?::(\d+))? /.exec(r)
  if (range) return port >= Number(range[1]) && port <= Number(range[2] ?? range[1])
  const list = / --dports (\S+) /.exec(r)
  return list !== null && list[1]!.split(',').map(Number).includes(port)
}

t.test('a leaf marks its listeners in one rule: those with inline DNAT rules, before them', async (t) => {
  const many = Array.from({ length: INLINE_MAX_TARGETS + 1 }, (_, i) => tgt(`198.18.1.${i + 2}`))
  const listeners = [
    { name: 'a', protocol: 'tcp' as const, port: 8000, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')] },
    { name: 'none', protocol: 'tcp' as const, port: 8001, rotation: [], known: [tgt('198.18.1.2')] },
    { name: 'big', protocol: 'tcp' as const, port: 8002, rotation: many, known: many },
    { name: 'b', protocol: 'tcp' as const, port: 8003, rotation: [tgt('198.18.2.2')], known: [tgt('198.18.2.2')] },
    { name: 'u', protocol: 'udp' as const, port: 8000, rotation: [tgt('198.18.2.2', 53)], known: [tgt('198.18.2.2', 53)] },
  ]
  const services = renderRuleSet({ sources: [], listeners }).nat.get('FWD-SERVICES')!
  const marks = services.filter((r) => / -j CONNMARK /.test(r))
  t.same(marks, [
    '-A FWD-SERVICES -p tcp -m multiport --dports 8000,8003 -m comment --comment "a,b: mark forwarded" -j CONNMARK --set-xmark 0x40000/0x40000',
    '-A FWD-SERVICES -p udp -m udp --dport 8000 -m comment --comment "u: mark forwarded" -j CONNMARK --set-xmark 0x40000/0x40000',
  ], 'no mark for a listener without targets (refused) or with a chain of its own (marks there)')
  for (const m of marks) t.ok(services.indexOf(m) < services.findIndex((r) => / -j DNAT /.test(r) && r.includes(m.includes('-p udp') ? '-p udp' : '-p tcp')), 'the mark comes before its protocol\'s DNAT rules')
  // A full leaf of a tree: one mark rule for its FANOUT listeners, at the top.
  const rs = renderRuleSet({ sources: [], listeners: Array.from({ length: FANOUT * 3 }, (_, i) => ({ name: `l${i}`, protocol: 'tcp' as const, port: 9000 + i, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')] })) })
  const leaf = rs.nat.get(`FWD-ST-9000-${9000 + FANOUT - 1}`)!
  t.match(leaf[0], new RegExp(`--dports ${Array.from({ length: FANOUT }, (_, i) => 9000 + i).join(',')} .*-j CONNMARK`))
  t.equal(leaf.filter((r) => / -j CONNMARK /.test(r)).length, 1)
})

t.test('FWD-INPUT refuses runs of contiguous listener ports in one rule each', async (t) => {
  const refusals = (ports: Array<[number, 'tcp' | 'udp']>): string[] => renderRuleSet({
    sources: [], listeners: ports.map(([port, protocol], i) => ({ name: `l${i}`, protocol, port, rotation: [tgt('198.18.1.2')], known: [tgt('198.18.1.2')] })),
  }).filter.get('FWD-INPUT')!.slice(1).map((r) => /--dport (\S+) -m comment --comment (.*) -j REJECT --reject-with (\S+)$/.exec(r)!.slice(1).join(' '))
  t.same(refusals([[8002, 'tcp'], [8000, 'tcp'], [8001, 'tcp'], [9000, 'tcp'], [8001, 'udp']]), [
    '8000:8002 "fwdd: 3 listeners, ports 8000-8002: not forwarded, refuse" tcp-reset',
    '9000 "l3: not forwarded, refuse" tcp-reset',
    '8001 "l4: not forwarded, refuse" icmp-port-unreachable',
  ])
  // 10,000 listeners on every other port: runs of one, found through the tree.
  const rs = renderRuleSet({ sources: [], listeners: Array.from({ length: 10000 }, (_, i) => ({ name: `l${i}`, protocol: 'tcp' as const, port: 10000 + 2 * i, rotation: [], known: [] })) })
  t.ok(rs.filter.get('FWD-INPUT')!.length <= FANOUT + 1, 'a tree above the runs')
  t.ok([...rs.filter.values()].flat().some((r) => /--dport 29998 .*l9999: not forwarded/.test(r)), 'the last run is there')
  t.notOk([...rs.filter.values()].flat().some((r) => /--dport 29999 /.test(r)), 'a port between two listeners is not refused')
})

t.test('a listener with more than INLINE_MAX_TARGETS targets gets a chain of its own', async (t) => {
  const many = Array.from({ length: INLINE_MAX_TARGETS + 1 }, (_, i) => tgt(`198.18.1.${i + 2}`))
  const rs = renderRuleSet({ sources: [], listeners: [{ name: 'big', protocol: 'tcp', port: 8000, rotation: many, known: many }, { name: 'small', protocol: 'tcp', port: 8001, rotation: [tgt('198.18.2.2')], known: [tgt('198.18.2.2')] }] })
  t.same(rs.nat.get('FWD-SERVICES')!.filter((r) => /--dport 8000 /.test(r)), ['-A FWD-SERVICES -p tcp -m tcp --dport 8000 -m comment --comment big -j FWD-L-big'])
  t.equal(rs.nat.get('FWD-L-big')!.length, INLINE_MAX_TARGETS + 2, 'mark and one DNAT per target')
  t.notOk(rs.nat.has('FWD-L-small'), 'a small listener stays inline')
})

t.test('every rule carries a comment', async (t) => {
  for (const input of Object.values(cases)) {
    const rs = renderRuleSet(input)
    for (const table of ['nat', 'filter'] as const) for (const rules of rs[table].values()) for (const r of rules) t.match(r, / -m comment --comment /)
  }
})

/** A sequence of inputs a running node goes through: flips, weights, new and removed listeners, a port move. */
function history(): RenderInput[] {
  const base = (n: number, f: (i: number) => Partial<RenderInput['listeners'][number]> = () => ({})): RenderInput => ({
    sources: [],
    listeners: Array.from({ length: n }, (_, i) => ({ name: `l${i}`, protocol: (i % 3 === 0 ? 'udp' : 'tcp') as 'tcp' | 'udp', port: 10000 + i, rotation: [tgt('198.18.1.2'), tgt('198.18.2.2')], known: [tgt('198.18.1.2'), tgt('198.18.2.2')], ...f(i) })),
  })
  return [
    base(40),
    base(40, (i) => (i === 7 ? { rotation: [tgt('198.18.2.2')] } : {})),
    base(40, (i) => (i === 7 ? { rotation: [tgt('198.18.1.2', 80, 3), tgt('198.18.2.2')] } : {})),
    base(41),
    base(39),
    base(39, (i) => (i === 5 ? { port: 20000 } : {})),
    base(39, (i) => (i === 5 ? { known: [tgt('198.18.1.2'), tgt('198.18.2.2'), tgt('198.18.3.2')] } : {})),
    { ...base(39), sources: ['198.18.0.0/24'] },
  ]
}

t.test('a memo changes nothing in the output, through a node history', async (t) => {
  const memo = new RenderMemo()
  for (const [i, input] of history().entries()) t.same(renderRuleSet(input, memo), renderRuleSet(input), `step ${i}`)
})

t.test('a flip with a memo renders one chain anew and hands back the same arrays for the rest', async (t) => {
  const memo = new RenderMemo()
  const [before, flipped] = history()
  const a = renderRuleSet(before!, memo)
  const b = renderRuleSet(flipped!, memo)
  const changed: string[] = []
  for (const table of TABLES) {
    for (const [chain, rules] of b[table]) if (a[table].get(chain) !== rules && !/^FWD-(PREROUTING|SERVICES|POSTROUTING|INPUT|FORWARD)$/.test(chain)) changed.push(chain)
  }
  t.equal(changed.length, 1, `one chain is a new array: ${changed.join(' ')} (the few top chains are rebuilt, O(1))`)
  t.ok(b.nat.get(changed[0]!)!.some((r) => /--dport 10007 /.test(r)), 'and it is the leaf that holds the flipped listener')
})

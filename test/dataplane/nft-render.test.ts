// The nftables renderer without a kernel: listeners as map elements with weighted buckets, the
// numgen cascade of a listener with a chain of its own, and the memo that makes a flip a few
// elements. What the kernel prints back is checked against the real nft in nft-dataplane.test.ts.
import t from 'tap'
import { MAX_BUCKETS, NftMemo, buckets, renderNft, spread, type NftBlock } from '../../src/dataplane/nft-render.js'
import type { RenderInput, RenderTarget } from '../../src/dataplane/render.js'

const tgt = (address: string, port = 80, weight = 1): RenderTarget => ({ address, port, weight })

t.test('spread: one rule per target, numgen over the weight left, the last unconditional', async (t) => {
  t.same(spread('tcp', [tgt('198.18.1.2')]), ['meta l4proto tcp dnat to 198.18.1.2:80'])
  t.same(spread('tcp', [tgt('198.18.1.2', 80, 1), tgt('198.18.2.2', 80, 2), tgt('198.18.3.2', 80, 1)]), [
    'numgen random mod 4 < 1 meta l4proto tcp dnat to 198.18.1.2:80',
    'numgen random mod 3 < 2 meta l4proto tcp dnat to 198.18.2.2:80',
    'meta l4proto tcp dnat to 198.18.3.2:80',
  ])
})

t.test('spread: each target gets exactly weight/total of new flows', async (t) => {
  for (const weights of [[1, 1], [1, 2, 1], [5, 3, 1, 1], [1, 1, 1, 1, 1, 1, 7]]) {
    const rules = spread('tcp', weights.map((w, i) => tgt(`198.18.1.${i + 2}`, 80, w)))
    const total = weights.reduce((a, b) => a + b, 0)
    let reach = 1
    rules.forEach((r, i) => {
      const m = /^numgen random mod (\d+) < (\d+) /.exec(r)
      const take = m ? Number(m[2]) / Number(m[1]) : 1
      t.ok(Math.abs(reach * take - weights[i]! / total) < 1e-12, `weights ${weights.join(',')}: target ${i} gets ${weights[i]}/${total}`)
      reach *= 1 - take
    })
  }
})

function input(n: number, flip = -1, sources: string[] = []): RenderInput {
  return {
    sources,
    listeners: Array.from({ length: n }, (_, i) => ({
      name: `l${i}`, protocol: (i % 4 === 0 ? 'udp' : 'tcp') as 'tcp' | 'udp', port: 10000 + i,
      rotation: i === flip ? [tgt('198.18.2.2')] : [tgt('198.18.1.2'), tgt('198.18.2.2', 80, 2)],
      known: [tgt('198.18.1.2'), tgt('198.18.2.2', 80, 2)],
    })),
  }
}

/** A model with map elements sorted and the memo's delta left out: what nft would print, compared. */
function normal(m: Map<string, NftBlock>): Array<[string, Omit<NftBlock, 'delta'>]> {
  return [...m].map(([k, b]) => [k, { kind: b.kind, name: b.name, decl: b.decl, rules: b.rules, elements: [...b.elements].sort() }])
}

t.test('a memo changes nothing in the output but the order of map elements, through a node history', async (t) => {
  const memo = new NftMemo()
  const steps = [input(30), input(30, 4), input(30, 4), input(31), input(29), input(29, -1, ['198.18.0.0/24']),
    { ...input(29), listeners: input(29).listeners.map((l, i) => (i === 3 ? { ...l, port: 20000 } : l)) },
    { ...input(29), listeners: input(29).listeners.map((l, i) => (i === 3 ? { ...l, name: 'renamed' } : l)) },
    { ...input(29), listeners: input(29).listeners.map((l) => ({ ...l, rotation: [] })) }, input(29)]
  for (const [i, s] of steps.entries()) t.same(normal(renderNft(s, memo)), normal(renderNft(s)), `step ${i}`)
})

t.test('buckets: weights over their greatest common divisor', async (t) => {
  t.same(buckets([tgt('198.18.1.2', 80, 1), tgt('198.18.2.2', 80, 2)]), [1, 2])
  t.same(buckets([tgt('198.18.1.2', 80, 4), tgt('198.18.2.2', 80, 6)]), [2, 3])
  t.same(buckets([tgt('198.18.1.2', 80, 5)]), [1])
})

t.test('listeners are map elements: a target of weight w holds w of the buckets, the table does not grow in rules', async (t) => {
  const m = renderNft(input(8))
  t.same(m.get('map targets_3')?.decl, ['typeof meta l4proto . th dport . numgen random mod 3 : ip daddr . th dport'])
  t.same(m.get('map targets_3')?.elements.filter((e) => e.startsWith('tcp . 10001 ')), ['tcp . 10001 . 0 : 198.18.1.2 . 80', 'tcp . 10001 . 1 : 198.18.2.2 . 80', 'tcp . 10001 . 2 : 198.18.2.2 . 80'])
  t.same(m.get('chain spread_3')?.rules, ['ct mark set ct mark | 0x00040000 dnat ip to meta l4proto . th dport . numgen random mod 3 map @targets_3'])
  t.ok(m.get('map services')?.elements.includes('udp . 10000 : goto spread_3'))
  // One target: a map without numgen.
  const one = renderNft(input(8, 2))
  t.same(one.get('map targets_1')?.elements, ['tcp . 10002 : 198.18.2.2 . 80'])
  t.same(one.get('chain spread_1')?.rules, ['ct mark set ct mark | 0x00040000 dnat ip to meta l4proto . th dport map @targets_1'])
  // Weights past MAX_BUCKETS: a chain of its own with the numgen cascade.
  const heavy = renderNft({ sources: [], listeners: [{ name: 'big', protocol: 'tcp', port: 8000, rotation: [tgt('198.18.1.2', 80, 1), tgt('198.18.2.2', 80, MAX_BUCKETS)], known: [] }] })
  t.same(heavy.get('chain l-big')?.rules, ['ct mark set ct mark | 0x00040000', `numgen random mod ${MAX_BUCKETS + 1} < 1 meta l4proto tcp dnat to 198.18.1.2:80`, 'meta l4proto tcp dnat to 198.18.2.2:80'])
  t.same(heavy.get('map services')?.elements, ['tcp . 8000 : goto l-big'])
  // No target: no services element (input refuses), still a refuse element.
  const none = renderNft({ sources: [], listeners: [{ name: 'off', protocol: 'tcp', port: 8000, rotation: [], known: [] }] })
  t.same(none.get('map services')?.elements, [])
  t.same(none.get('map refuse')?.elements, ['tcp . 8000 : goto refuse-tcp'])
  // The rule count does not grow with listeners: 10 and 10,000 listeners, the same blocks and rules.
  const rules = (mm: Map<string, NftBlock>): number => [...mm.values()].reduce((a, b) => a + b.rules.length, 0)
  t.equal(rules(renderNft(input(10000))), rules(renderNft(input(10))))
  t.equal(renderNft(input(10000)).size, renderNft(input(10)).size)
})

t.test('a flip with a memo patches the maps the listener left and joined, and says which elements', async (t) => {
  const memo = new NftMemo()
  const a = renderNft(input(50), memo)
  const b = renderNft(input(50, 9), memo)
  const changed = [...b].filter(([k, blk]) => a.get(k) !== blk).map(([k]) => k)
  // The few fixed chains (the spread chains among them) are built anew each time, O(1), compared by the applier.
  t.same(changed.filter((k) => !/^chain (prerouting|postrouting|input|refuse-(tcp|udp)|spread_\d+)$/.test(k)).sort(), ['map services', 'map targets_1', 'map targets_3'])
  t.equal(a.get('map refuse'), b.get('map refuse'), 'the refuse map is the same object')
  t.equal(a.get('set passive_1000'), b.get('set passive_1000'), 'and so are the passive sets')
  const s = b.get('map services')!
  t.equal(s.delta?.from, a.get('map services'))
  t.same(s.delta && [s.delta.gone, s.delta.fresh], [['tcp . 10009 : goto spread_3'], ['tcp . 10009 : goto spread_1']])
  t.same(b.get('map targets_3')!.delta?.gone.length, 3, 'its three buckets left targets_3')
  t.notOk(b.get('map targets_1')!.delta, 'a map new in this render has no delta: written whole')
  const c = renderNft(input(50), memo)
  t.notOk(c.has('map targets_1'), 'a targets map nobody is in is gone again')
  t.same(c.get('map targets_3')!.delta?.fresh.length, 3)
})

t.test('blocks come in declaration order: chains, then sets and maps', async (t) => {
  const kinds = [...renderNft(input(10, -1, ['198.18.0.0/24'])).values()].map((b) => b.kind)
  const rank = { counter: 0, chain: 1, set: 2, map: 2 } as const
  t.notOk(kinds.includes('counter'), 'no named counters: bytes come from conntrack')
  t.ok(kinds.every((k, i) => i === 0 || rank[kinds[i - 1]!] <= rank[k]), kinds.join(' '))
})

t.test('passive health: prerouting sets the event mask of new flows to the ports of passive tcp listeners, by sample', async (t) => {
  const l = (name: string, port: number, protocol: 'tcp' | 'udp', passive: boolean | undefined, rotation = [tgt('198.18.1.2')], sampleFlowsPerSecond?: number) =>
    ({ name, protocol, port, rotation, known: [tgt('198.18.1.2')], ...(passive === undefined ? {} : { passive }), ...(sampleFlowsPerSecond ? { sampleFlowsPerSecond } : {}) })
  const m = renderNft({ sources: [], listeners: [l('on', 8000, 'tcp', true), l('next', 8001, 'tcp', true), l('off', 8002, 'tcp', false), l('unset', 8003, 'tcp', undefined), l('dns', 53, 'udp', true), l('empty', 8004, 'tcp', true, []), l('slow', 9000, 'tcp', true, undefined, 20)] })
  t.same(m.get('set passive_1000')?.elements, ['8000-8001', '8004'], 'tcp listeners with passive health, with or without a target (a flip does not touch the set), runs merged')
  t.same(m.get('set passive_20')?.elements, ['9000'])
  t.same(m.get('set sample_20')?.decl, ['type inet_service', 'size 65536', 'flags dynamic'])
  t.same(m.get('chain prerouting')?.rules, [
    'tcp dport @passive_20 ct event set new,destroy,reply',
    'tcp dport @passive_20 update @sample_20 { tcp dport limit rate over 20/second burst 2 packets } ct event set label',
    'tcp dport @passive_1000 ct event set new,destroy,reply',
    'tcp dport @passive_1000 update @sample_1000 { tcp dport limit rate over 1000/second burst 100 packets } ct event set label',
    'fib daddr type local meta l4proto . th dport vmap @services',
  ], 'the mask, then beyond the sample a mask that reports nothing, before the dispatch')
  const none = renderNft({ sources: [], listeners: [l('off', 8002, 'tcp', false)] })
  t.same(none.get('chain prerouting')?.rules, ['fib daddr type local meta l4proto . th dport vmap @services'], 'no passive listener: no mask rule, no set')
  t.notOk([...none.keys()].some((k) => k.startsWith('set ')))
  // The memo tells a change of the sample.
  const memo = new NftMemo()
  renderNft({ sources: [], listeners: [l('on', 8000, 'tcp', true)] }, memo)
  const c = renderNft({ sources: [], listeners: [l('on', 8000, 'tcp', true, undefined, 30)] }, memo)
  t.same(c.get('set passive_30')?.elements, ['8000'])
  t.notOk(c.has('set passive_1000'))
})

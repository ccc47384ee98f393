// The nftables renderer without a kernel: the weighted spread's integer cascade, and the memo that
// makes a flip render one chain (output identical with or without it). What the kernel prints back
// is checked against the real nft in nft-dataplane.test.ts.
import t from 'tap'
import { NftMemo, renderNft, spread } from '../../src/dataplane/nft-render.js'
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

t.test('a memo changes nothing in the output, through a node history', async (t) => {
  const memo = new NftMemo()
  const steps = [input(30), input(30, 4), input(30, 4), input(31), input(29), input(29, -1, ['198.18.0.0/24']),
    { ...input(29), listeners: input(29).listeners.map((l, i) => (i === 3 ? { ...l, port: 20000 } : l)) }]
  for (const [i, s] of steps.entries()) t.same([...renderNft(s, memo)], [...renderNft(s)], `step ${i}`)
})

t.test('a flip with a memo hands back the same block objects for all but one chain, maps included', async (t) => {
  const memo = new NftMemo()
  const a = renderNft(input(50), memo)
  const b = renderNft(input(50, 9), memo)
  const fresh = [...b].filter(([k, blk]) => a.get(k) !== blk).map(([k]) => k)
  t.same(fresh.filter((k) => !/^chain (prerouting|postrouting|forward|input|refuse-(tcp|udp))$/.test(k)), ['chain l-l9'])
  t.equal(a.get('map services'), b.get('map services'), 'the services map is the same object')
  t.equal(a.get('map refuse'), b.get('map refuse'), 'and so is the refuse map')
})

t.test('blocks come in declaration order: chains, the set, then maps', async (t) => {
  const kinds = [...renderNft(input(10, -1, ['198.18.0.0/24'])).values()].map((b) => b.kind)
  const rank = { counter: 0, chain: 1, set: 2, map: 3 } as const
  t.notOk(kinds.includes('counter'), 'no named counters: bytes come from conntrack')
  t.ok(kinds.every((k, i) => i === 0 || rank[kinds[i - 1]!] <= rank[k]), kinds.join(' '))
})

t.test('passive health on: the listener chain sets the event mask before the mark; off, udp or no target: no mask', async (t) => {
  const l = (name: string, protocol: 'tcp' | 'udp', passive: boolean | undefined, rotation = [tgt('198.18.1.2')]) =>
    ({ name, protocol, port: protocol === 'tcp' ? 8000 : 53, rotation, known: [tgt('198.18.1.2')], ...(passive === undefined ? {} : { passive }) })
  const m = renderNft({ sources: [], listeners: [l('on', 'tcp', true), l('off', 'tcp', false), l('unset', 'tcp', undefined), l('dns', 'udp', true), l('empty', 'tcp', true, [])] })
  t.same(m.get('chain l-on')?.rules, ['ct event set new,destroy,reply', 'limit rate over 1000/second burst 100 packets ct event set label', 'ct mark set ct mark | 0x00040000', 'meta l4proto tcp dnat to 198.18.1.2:80'], 'the mask, then beyond the sample (default 1000 a second) a mask that reports nothing')
  for (const name of ['off', 'unset', 'dns']) t.notOk(m.get(`chain l-${name}`)?.rules.some((r) => r.startsWith('ct event')), name)
  t.same(m.get('chain l-empty')?.rules, [], 'no target: nothing to forward, nothing to judge')
  // The memo tells a chain whose passive setting changed from one that did not.
  const memo = new NftMemo()
  const a = renderNft({ sources: [], listeners: [l('on', 'tcp', true)] }, memo)
  const b = renderNft({ sources: [], listeners: [l('on', 'tcp', false)] }, memo)
  t.not(a.get('chain l-on'), b.get('chain l-on'))
  t.same(b.get('chain l-on')?.rules[0], 'ct mark set ct mark | 0x00040000')
  // ... and one whose sample changed.
  const c = renderNft({ sources: [], listeners: [{ ...l('on', 'tcp', true), sampleFlowsPerSecond: 20 }] }, memo)
  t.same(c.get('chain l-on')?.rules[1], 'limit rate over 20/second burst 2 packets ct event set label')
  const d = renderNft({ sources: [], listeners: [{ ...l('on', 'tcp', true), sampleFlowsPerSecond: 30 }] }, memo)
  t.same(d.get('chain l-on')?.rules[1], 'limit rate over 30/second burst 3 packets ct event set label', 'a change of the sample alone rewrites the chain')
})

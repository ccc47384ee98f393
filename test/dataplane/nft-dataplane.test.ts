// The nftables backend against the real kernel, in an empty namespace: what it renders is what
// `nft list table` prints back (no false drift), a flip writes a few elements, drift is found and
// repaired, counters read, cleanup removes the table and only it.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { NftDataplane } from '../../src/dataplane/nft-dataplane.js'
import type { RenderInput, RenderTarget } from '../../src/dataplane/render.js'
import { emptyNs, nsRunner } from '../helpers/ns-runner.js'

const tgt = (address: string, port = 80, weight = 1): RenderTarget => ({ address, port, weight })
const input = (rotation: RenderTarget[]): RenderInput => ({
  sources: ['198.18.0.0/24', '198.18.100.7/32'],
  listeners: [
    { name: 'web', protocol: 'tcp', port: 8000, rotation, known: [tgt('198.18.1.2'), tgt('198.18.2.2', 80, 2), tgt('198.18.3.2')], passive: true },
    { name: 'dns', protocol: 'udp', port: 53, rotation: [tgt('198.18.1.2', 53)], known: [tgt('198.18.1.2', 53)] },
    { name: 'off', protocol: 'tcp', port: 9000, rotation: [], known: [] },
  ],
})

t.test('nft dataplane on the real kernel', async (t) => {
  const { ns, remove } = emptyNs('fwnft')
  t.teardown(remove)
  const runner = nsRunner(ns)
  const dp = new NftDataplane(runner)
  t.equal(await dp.adopt(), false, 'nothing to adopt in an empty namespace')
  const all = [tgt('198.18.1.2'), tgt('198.18.2.2', 80, 2), tgt('198.18.3.2')]
  const first = await dp.apply(input(all), { verify: false })
  t.ok(first.chainsWritten > 5, 'first apply writes the table')
  const again = await dp.apply(input(all), { verify: true })
  t.same(again.drift, [], 'what was rendered is what the kernel prints: no false drift')
  t.equal(again.chainsWritten, 0, 'verify of an unchanged table writes nothing')

  const flip = await dp.apply(input([tgt('198.18.1.2'), tgt('198.18.3.2')]), { verify: true })
  t.ok((flip.elementsWritten ?? 0) <= 8 && flip.rulesWritten <= 1, `a target flip writes the listener's few elements, and the one rule of a spread new to the table (${flip.elementsWritten} elements, ${flip.rulesWritten} rule)`)
  t.same(flip.drift, [])

  await runner.run('nft', ['flush', 'chain', 'ip', 'fwdd', 'prerouting'])
  const repaired = await dp.apply(input([tgt('198.18.1.2'), tgt('198.18.3.2')]), { verify: true })
  t.same(repaired.drift, ['nft/chain prerouting'], 'a flushed chain is drift')
  t.same((await dp.apply(input([tgt('198.18.1.2'), tgt('198.18.3.2')]), { verify: true })).drift, [], 'and is repaired')

  t.same([...(await dp.counters()).keys()], [], 'no flows, no bytes: counters come from conntrack, not from counter objects')

  // A table written by an older fwdd carried a named counter per target: the next verify deletes it.
  await runner.run('nft', ['add', 'counter', 'ip', 'fwdd', 't_web_198.18.1.2_80'])
  const upgraded = await dp.apply(input([tgt('198.18.1.2'), tgt('198.18.3.2')]), { verify: true })
  t.equal(upgraded.chainsDeleted, 1, 'the old counter is deleted')
  t.notMatch(await dp.rulesText(), /counter t_/, 'and is gone from the table')

  const adopter = new NftDataplane(runner)
  t.equal(await adopter.adopt(), true, 'a new daemon adopts the table')
  t.same((await adopter.apply(input([tgt('198.18.1.2'), tgt('198.18.3.2')]), { verify: false })).chainsWritten, 0, 'and writes nothing when it matches')

  const fewer = await dp.apply({ sources: [], listeners: [input(all).listeners[1]!] }, { verify: true })
  t.equal(fewer.chainsDeleted, 5, `two listeners removed, and the sources: their spread map and chain, the two passive sets and the sources set deleted (${fewer.chainsDeleted})`)
  t.same((await dp.apply({ sources: [], listeners: [input(all).listeners[1]!] }, { verify: true })).drift, [])

  await runner.run('nft', ['add', 'table', 'ip', 'other'])
  t.same((await dp.cleanup({ dryRun: true })).removed, ['nft table ip fwdd'])
  t.match(await dp.rulesText(), /table ip fwdd/, 'dry run changed nothing')
  await dp.cleanup()
  t.equal(await dp.rulesText(), '', 'table gone')
  t.equal((await runner.run('nft', ['list', 'table', 'ip', 'other'])).exitCode, 0, 'another table survives')
})

/** Another tool's nft: not run through fwdd's runner, so not a pid fwdd started. */
function other(ns: string, args: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args])
}

/** The table as the fwdd before listeners became map elements wrote it: a chain per listener. */
const OLD_LAYOUT = `table ip fwdd {
  map services { type inet_proto . inet_service : verdict; elements = { tcp . 8000 : goto l-web, udp . 53 : goto l-dns, tcp . 9000 : goto l-off } }
  map refuse { type inet_proto . inet_service : verdict; elements = { tcp . 8000 : goto refuse-tcp, udp . 53 : goto refuse-udp, tcp . 9000 : goto refuse-tcp } }
  set sources { type ipv4_addr; flags interval; elements = { 198.18.0.0/24, 198.18.100.7 } }
  chain refuse-tcp { reject with tcp reset; }
  chain refuse-udp { reject; }
  chain l-web {
    ct event set new,destroy,reply
    limit rate over 1000/second burst 100 packets ct event set label
    ct mark set ct mark | 0x00040000
    numgen random mod 2 < 1 meta l4proto tcp dnat to 198.18.1.2:80
    meta l4proto tcp dnat to 198.18.3.2:80
  }
  chain l-dns { ct mark set ct mark | 0x00040000; meta l4proto udp dnat to 198.18.1.2:53; }
  chain l-off { }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; ip saddr @sources fib daddr type local meta l4proto . th dport vmap @services; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; ct mark & 0x00040000 == 0x00040000 masquerade random,fully-random; }
  chain forward { type filter hook forward priority filter; policy accept; ct mark & 0x00040000 == 0x00040000 accept; }
  chain input { type filter hook input priority filter; policy accept; ct state established,related return; meta l4proto . th dport vmap @refuse; }
}
`

t.test('a table of the older layout (a chain per listener) is adopted and rewritten in one transaction', async (t) => {
  const { ns, remove } = emptyNs('fwnfu')
  t.teardown(remove)
  const runner = nsRunner(ns)
  t.equal((await runner.run('nft', ['-f', '-'], { input: OLD_LAYOUT })).exitCode, 0, 'the old table loads')
  const dp = new NftDataplane(runner)
  t.equal(await dp.adopt(), true)
  const rotation = [tgt('198.18.1.2'), tgt('198.18.3.2')]
  const r = await dp.apply(input(rotation), { verify: false })
  t.ok(r.chainsDeleted >= 3, `the listener chains are deleted (${r.chainsDeleted} blocks)`)
  const text = await dp.rulesText()
  t.notMatch(text, /chain l-/, 'no listener chain is left')
  t.notMatch(text, /chain forward/, 'nor the forward chain of older versions (its accept changed nothing)')
  t.match(text, /tcp \. 8000 : goto spread_2/, 'web goes through the shared spread chain')
  t.same((await dp.apply(input(rotation), { verify: true })).drift, [], 'and a verify finds what was rendered')
})

t.test('watch reports a change by another tool within a second', async (t) => {
  const { ns, remove } = emptyNs('fwnfw')
  t.teardown(remove)
  const runner = nsRunner(ns)
  const ran: string[] = []
  // One dataplane, as in the daemon: its own repair must not be reported (the monitor knows its writes).
  const dp = new NftDataplane({ ...runner, run: (file, args, opts) => (ran.push([file, ...args].join(' ')), runner.run(file, args, opts)) })
  await dp.apply(input([tgt('198.18.1.2')]), { verify: false })
  const seen: Array<{ attributed: boolean; entriesOnly: boolean }> = []
  const stop = dp.watch((c) => seen.push(c))
  t.teardown(stop)
  await new Promise((r) => setTimeout(r, 500))
  await dp.apply(input([tgt('198.18.3.2')]), { verify: false })
  await new Promise((r) => setTimeout(r, 300))
  t.same(seen, [], "fwdd's own write is not reported (nft monitor names fwdd's nft as its writer)")
  const at = performance.now()
  other(ns, ['flush', 'chain', 'ip', 'fwdd', 'prerouting'])
  while (seen.length === 0 && performance.now() - at < 2000) await new Promise((r) => setTimeout(r, 10))
  t.ok(seen.length > 0, `flush reported after ${Math.round(performance.now() - at)} ms`)
  t.ok(performance.now() - at < 1000)
  t.same(seen, [{ attributed: true, entriesOnly: true }], 'by another process, within the base chains')
  ran.length = 0
  const repaired = await dp.apply(input([tgt('198.18.3.2')]), { verify: false, entries: true })
  t.same(repaired.drift, ['nft/base chains'], 'an entries verify reports the base chains repaired')
  t.equal(repaired.chainsWritten, 3, 'and rewrites the three of them')
  t.same(ran.filter((c) => / list /.test(c) || c.includes('-s')), [], 'without reading the kernel (nft 1.0.6 fetches the whole table to list one chain)')
  t.match(await dp.rulesText(), /fib daddr type local meta l4proto \. th dport vmap @services/, 'the flushed dispatch rule is back')
  t.same((await dp.apply(input([tgt('198.18.3.2')]), { verify: true })).drift, [], 'a full verify finds nothing left to repair')
  await new Promise((r) => setTimeout(r, 300))
  t.equal(seen.length, 1, 'the repair is fwdd\'s own write: not reported')
  other(ns, ['flush', 'chain', 'ip', 'fwdd', 'spread_1'])
  while (seen.length === 1 && performance.now() - at < 3000) await new Promise((r) => setTimeout(r, 10))
  t.same(seen[1], { attributed: true, entriesOnly: false }, 'a spread chain flushed is beyond the entry points')
  other(ns, ['delete', 'table', 'ip', 'fwdd'])
  const rebuilt = await dp.apply(input([tgt('198.18.3.2')]), { verify: false, entries: true })
  t.ok(rebuilt.chainsWritten > 5, 'an entries verify that finds the table gone writes it whole')
  t.ok(rebuilt.drift.includes('nft/base chains') && rebuilt.drift.includes('nft/map services'), `and counts what it rebuilt as drift (${rebuilt.drift.length} blocks), not as a first write`)
  t.same((await dp.apply(input([tgt('198.18.3.2')]), { verify: true })).drift, [], 'after which a full verify finds nothing')
})

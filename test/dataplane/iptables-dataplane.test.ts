// The iptables backend against the real kernel, in an empty namespace (both variants): the
// port-range layout is printed back by iptables-save exactly as rendered (no false drift, also with
// three equal targets: the 32-bit probability), a flip writes one chain, switching from nftables
// removes its table.
import t from 'tap'
import { IptablesDataplane } from '../../src/dataplane/iptables-dataplane.js'
import { NftDataplane } from '../../src/dataplane/nft-dataplane.js'
import type { RenderInput, RenderTarget } from '../../src/dataplane/render.js'
import { emptyNs, nsRunner } from '../helpers/ns-runner.js'

const tgt = (address: string, port = 80, weight = 1): RenderTarget => ({ address, port, weight })
const three = [tgt('198.18.1.2'), tgt('198.18.2.2'), tgt('198.18.3.2')]
const many = (n: number, rotation: RenderTarget[]): RenderInput => ({
  sources: ['198.18.0.0/24'],
  listeners: Array.from({ length: n }, (_, i) => ({ name: `l${i}`, protocol: i % 5 === 0 ? 'udp' as const : 'tcp' as const, port: 8000 + i, rotation, known: rotation, passive: i % 3 !== 0 })),
})

for (const variant of ['nft', 'legacy']) {
  t.test(`iptables-${variant} dataplane on the real kernel`, async (t) => {
    const { ns, remove } = emptyNs('fwipt')
    t.teardown(remove)
    const runner = nsRunner(ns)
    const dp = await IptablesDataplane.create(runner, variant)
    t.equal(dp.name, `iptables-${variant}`)
    t.equal(await dp.adopt(), false)
    const first = await dp.apply(many(40, three), { verify: true })
    t.ok(first.chainsWritten >= 10, `first apply writes the top chains and the port-range tree (${first.chainsWritten})`)
    const again = await dp.apply(many(40, three), { verify: true })
    t.same(again.drift, [])
    t.equal(again.chainsWritten, 0, 'the kernel prints back what was rendered (tree ranges, probabilities)')
    const flip = await dp.apply(many(40, three).listeners.length ? { ...many(40, three), listeners: many(40, three).listeners.map((l, i) => i === 39 ? { ...l, rotation: three.slice(0, 2) } : l) } : many(40, three), { verify: true })
    t.equal(flip.chainsWritten, 1, 'a flip writes one chain')
    const fewer = await dp.apply(many(3, three), { verify: true })
    t.ok(fewer.chainsDeleted >= 4, `nat tree chains no longer needed are deleted (${fewer.chainsDeleted})`)
    t.same((await dp.apply(many(3, three), { verify: true })).drift, [])
    t.match(await dp.rulesText(), /MASQUERADE --random-fully/)
    t.match(await dp.rulesText(), /-A FWD-RAW -p tcp -m tcp --dport 8001:8002 .* -j CT --ctevents new,destroy,reply/, 'the raw event-mask chain, read back')
    dp.renewEventMask()
    const renewed = await dp.apply(many(3, three), { verify: true })
    t.same([renewed.chainsWritten, renewed.drift], [1, []], 'a renewal rewrites FWD-RAW alone and is no drift')
    const { removed } = await dp.cleanup({ dryRun: true })
    t.ok(removed.length > 4, 'dry run lists chains and jumps')
    await dp.cleanup()
    t.same((await dp.cleanup({ dryRun: true })).removed, [], 'nothing left')
  })
}

t.test('switching backends removes the other backend\'s rules', async (t) => {
  const { ns, remove } = emptyNs('fwsw')
  t.teardown(remove)
  const runner = nsRunner(ns)
  const nft = new NftDataplane(runner)
  await nft.apply(many(3, three), { verify: true })
  const ipt = await IptablesDataplane.create(runner, 'nft')
  t.equal(await ipt.adopt(), false, 'no iptables rules to adopt')
  t.equal((await runner.run('nft', ['list', 'table', 'ip', 'fwdd'])).exitCode, 1, 'the nft table is gone')
  await ipt.apply(many(3, three), { verify: true })
  t.equal(await new NftDataplane(runner, async () => [String((await ipt.applier.cleanup()).chainsDeleted)]).adopt(), false)
  t.notMatch(await ipt.rulesText(), /-A FWD-/, 'and back: iptables chains gone')
})

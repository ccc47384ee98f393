// The applier against a strict fake of iptables: one transaction, only fwdd's chains, jumps once.
import t from 'tap'
import { Applier } from '../../src/dataplane/applier.js'
import { renderRuleSet, type RenderInput } from '../../src/dataplane/render.js'
import { FakeIptables } from '../helpers/fake-iptables.js'

const backend = { name: 'nft' as const, save: 'iptables-nft-save', restore: 'iptables-nft-restore' }
const two: RenderInput = {
  sources: ['198.18.0.0/24'],
  listeners: [{ name: 'web', protocol: 'tcp', port: 8000, rotation: [{ address: '198.18.1.2', port: 80, weight: 1 }, { address: '198.18.2.2', port: 80, weight: 1 }], known: [{ address: '198.18.1.2', port: 80, weight: 1 }, { address: '198.18.2.2', port: 80, weight: 1 }] }],
}

function setup(): { fake: FakeIptables; applier: Applier } {
  const fake = new FakeIptables()
  // Another tool's rules and chain, which must survive everything.
  fake.tables.nat.set('DOCKER', ['-d 198.18.9.9/32 -j RETURN'])
  fake.tables.nat.get('PREROUTING')!.push('-m addrtype --dst-type LOCAL -j DOCKER')
  fake.tables.filter.get('FORWARD')!.push('-j DROP')
  return { fake, applier: new Applier(fake, backend) }
}

t.test('first apply writes every chain and the five jumps at the top, in one transaction', async (t) => {
  const { fake, applier } = setup()
  const r = await applier.apply(renderRuleSet(two), { verify: true })
  t.equal(fake.restoreCalls(), 1)
  t.equal(r.jumpsFixed, 5)
  t.same(fake.tables.raw.get('PREROUTING'), ['-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m comment --comment fwdd -j FWD-RAW'])
  t.same(fake.tables.raw.get('FWD-RAW'), [], 'no listener uses passive health: the raw chain is there, empty')
  t.equal(fake.tables.nat.get('PREROUTING')![0], '-m comment --comment fwdd -j FWD-PREROUTING')
  t.equal(fake.tables.filter.get('FORWARD')![0], '-m comment --comment fwdd -j FWD-FORWARD')
  t.same(fake.tables.nat.get('DOCKER'), ['-d 198.18.9.9/32 -j RETURN'])
  t.equal(fake.tables.filter.get('FORWARD')![1], '-j DROP')
})

t.test('applying the same set again runs no restore', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  const r1 = await applier.apply(renderRuleSet(two), { verify: false })
  const r2 = await applier.apply(renderRuleSet(two), { verify: true })
  t.equal(fake.restoreCalls(), 1)
  t.same([r1.chainsWritten, r2.chainsWritten, r2.jumpsFixed], [0, 0, 0])
  // A fresh applier (a restarted daemon) that verifies finds nothing to do either.
  const again = new Applier(fake, backend)
  t.equal((await again.apply(renderRuleSet(two), { verify: true })).chainsWritten, 0)
  t.equal(fake.restoreCalls(), 1)
})

t.test('a target flip rewrites only the chain that holds the listener', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  const one = structuredClone(two)
  one.listeners[0]!.rotation.pop()
  const r = await applier.apply(renderRuleSet(one), { verify: false })
  t.equal(r.chainsWritten, 1)
  const last = fake.calls.at(-1)!
  t.match(last.input ?? '', /^\*nat\n:FWD-SERVICES - \[0:0\]\n/)
  t.notMatch(last.input ?? '', /FWD-PREROUTING - /)
})

t.test('drift is found and repaired when verifying: a flushed chain and a missing jump', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  fake.tables.nat.set('FWD-SERVICES', [])
  fake.tables.nat.get('PREROUTING')!.shift()
  const quiet = await applier.apply(renderRuleSet(two), { verify: false })
  t.equal(quiet.chainsWritten, 0, 'a partial sync trusts what it applied')
  const r = await applier.apply(renderRuleSet(two), { verify: true })
  t.same(r.drift.sort(), ['nat/FWD-SERVICES', 'nat/PREROUTING->FWD-PREROUTING'])
  t.equal(fake.tables.nat.get('PREROUTING')![0], '-m comment --comment fwdd -j FWD-PREROUTING')
  t.equal(fake.tables.nat.get('FWD-SERVICES')!.length, 3)
  t.equal(fake.tables.nat.get('PREROUTING')!.length, 2, 'the other tool\'s jump is still there')
})

t.test('duplicate jumps are removed', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  fake.tables.nat.get('PREROUTING')!.push('-m comment --comment fwdd -j FWD-PREROUTING')
  await applier.apply(renderRuleSet(two), { verify: true })
  t.equal(fake.tables.nat.get('PREROUTING')!.filter((r) => r.includes('FWD-PREROUTING')).length, 1)
})

t.test('chains no longer needed are deleted; other chains untouched', async (t) => {
  const { fake, applier } = setup()
  const both: RenderInput = structuredClone(two)
  // More targets than INLINE_MAX_TARGETS: the listener gets a chain of its own.
  const five = [2, 3, 4, 5, 6].map((h) => ({ address: `198.18.1.${h}`, port: 443, weight: 1 }))
  both.listeners.push({ name: 'api', protocol: 'tcp', port: 8443, rotation: five, known: five })
  await applier.apply(renderRuleSet(both), { verify: true })
  t.ok(fake.tables.nat.has('FWD-L-api'))
  const r = await applier.apply(renderRuleSet(two), { verify: false })
  t.equal(r.chainsDeleted, 1)
  t.notOk(fake.tables.nat.has('FWD-L-api'))
  t.ok(fake.tables.nat.has('DOCKER'))
})

t.test('a failed restore reports iptables\' stderr and the next apply verifies in full', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  const one = structuredClone(two)
  one.listeners[0]!.rotation.pop()
  fake.failNextRestore = 'iptables-restore v1.8.9 (nf_tables): Another app is currently holding the xtables lock.'
  await t.rejects(applier.apply(renderRuleSet(one), { verify: false }), /applying the rule set: iptables-nft-restore exited 4: .*xtables lock/)
  const saves = fake.calls.filter((c) => c.file.endsWith('-save')).length
  await applier.apply(renderRuleSet(one), { verify: false })
  t.ok(fake.calls.filter((c) => c.file.endsWith('-save')).length > saves, 'the retry read the kernel again')
  t.equal(fake.tables.nat.get('FWD-SERVICES')!.length, 2)
})

t.test('adoption: a new applier that adopts the kernel writes only differences', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  const next = new Applier(fake, backend)
  next.adopt(await next.readKernel())
  const one = structuredClone(two)
  one.listeners[0]!.rotation.pop()
  const r = await next.apply(renderRuleSet(one), { verify: false })
  t.equal(r.chainsWritten, 1)
})

t.test('cleanup removes every FWD- chain and jump and nothing else; twice is fine', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  const r = await applier.cleanup()
  t.equal(r.jumpsDeleted, 5)
  for (const table of Object.values(fake.tables)) {
    for (const [chain, rules] of table) {
      t.notOk(chain.startsWith('FWD-'), chain)
      t.notOk(rules.some((x) => x.includes('FWD-')), chain)
    }
  }
  t.same(fake.tables.nat.get('PREROUTING'), ['-m addrtype --dst-type LOCAL -j DOCKER'])
  t.same(fake.tables.filter.get('FORWARD'), ['-j DROP'])
  const before = fake.restoreCalls()
  t.same(await applier.cleanup(), { chainsDeleted: 0, jumpsDeleted: 0 })
  t.equal(fake.restoreCalls(), before)
})

t.test('a DNAT another tool inserts above the jump steals the listener: a verify moves the jump back to the top', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  const steal = '-p tcp -m tcp --dport 8000 -j DNAT --to-destination 198.18.9.9:80'
  fake.tables.nat.get('PREROUTING')!.unshift(steal)
  const quiet = await applier.apply(renderRuleSet(two), { verify: false })
  t.equal(quiet.jumpsFixed, 0, 'a partial sync trusts what it applied')
  const r = await applier.apply(renderRuleSet(two), { verify: true })
  t.same(r.drift, [`nat/PREROUTING->FWD-PREROUTING below "${steal}"`], 'counted as drift, naming the rule that was above')
  t.equal(r.jumpsFixed, 1)
  t.same(fake.tables.nat.get('PREROUTING'), ['-m comment --comment fwdd -j FWD-PREROUTING', steal, '-m addrtype --dst-type LOCAL -j DOCKER'], 'the jump is first, the other rules keep their order')
  const again = await applier.apply(renderRuleSet(two), { verify: true })
  t.same([again.drift, again.jumpsFixed], [[], 0], 'once first, nothing more to do')
  // Only nat PREROUTING decides where a flow goes: a rule above fwdd's FORWARD accept is left alone.
  fake.tables.filter.get('FORWARD')!.unshift('-j ACCEPT')
  t.same((await applier.apply(renderRuleSet(two), { verify: true })).drift, [])
})

t.test('an entries verify reads only the built-in chains (no iptables-save) and repairs the jumps there', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(two), { verify: true })
  fake.tables.nat.set('PREROUTING', ['-m addrtype --dst-type LOCAL -j DOCKER']) // someone flushed it and re-added theirs
  const steal = '-p tcp -m tcp --dport 8000 -j DNAT --to-destination 198.18.9.9:80'
  fake.tables.nat.get('PREROUTING')!.unshift(steal)
  fake.tables.filter.get('INPUT')!.length = 0
  fake.calls = []
  const r = await applier.apply(renderRuleSet(two), { verify: false, entries: true })
  t.same(fake.calls.filter((c) => c.file.endsWith('-save')), [], 'no full read')
  t.same(fake.calls.filter((c) => c.file === 'iptables-nft').map((c) => c.args.slice(2).join(' ')), ['-t raw -S PREROUTING', '-t nat -S PREROUTING', '-t nat -S POSTROUTING', '-t filter -S FORWARD', '-t filter -S INPUT'], 'the built-in chains fwdd jumps from, one by one')
  t.same(r.drift.sort(), ['filter/INPUT->FWD-INPUT', 'nat/PREROUTING->FWD-PREROUTING'], 'both missing jumps counted as drift')
  t.equal(fake.restoreCalls(), 1, 'one transaction')
  t.equal(r.chainsWritten, 0, 'fwdd\'s own chains are not rewritten')
  t.same(fake.tables.nat.get('PREROUTING'), ['-m comment --comment fwdd -j FWD-PREROUTING', steal, '-m addrtype --dst-type LOCAL -j DOCKER'], 'the jump is back at the top, above the rule inserted meanwhile')
  t.equal(fake.tables.filter.get('INPUT')![0], '-m comment --comment fwdd -j FWD-INPUT')
  const again = await applier.apply(renderRuleSet(two), { verify: false, entries: true })
  t.same([again.drift, again.jumpsFixed, fake.restoreCalls()], [[], 0, 1], 'intact: nothing written')
})

const passive: RenderInput = { ...two, listeners: two.listeners.map((l) => ({ ...l, passive: true })) }
const MASK = [
  '-A FWD-RAW -p tcp -m tcp --dport 8000 -m hashlimit --hashlimit-upto 1000/sec --hashlimit-burst 100 --hashlimit-mode dstport --hashlimit-name fwdd-p1000 -m comment --comment "fwdd: passive health events, ports 8000, 1000 flows/s" -j CT --ctevents new,destroy,reply',
  '-A FWD-RAW -p tcp -m tcp --dport 8000 -m comment --comment "fwdd: passive health, ports 8000, beyond the sample" -j CT --ctevents secmark',
]
const unprefixed = MASK.map((r) => r.slice('-A FWD-RAW '.length))

t.test('the raw table round trip: written in the same transaction, read back, adopted, repaired, cleaned up', async (t) => {
  const { fake, applier } = setup()
  fake.tables.raw.get('PREROUTING')!.push('-p udp -j CT --notrack')
  await applier.apply(renderRuleSet(passive), { verify: true })
  t.equal(fake.restoreCalls(), 1, 'raw, nat and filter in one iptables-restore')
  t.match(fake.calls.at(-1)!.input ?? '', /^\*raw\n[^]*COMMIT\n\*nat\n[^]*COMMIT\n\*filter\n/)
  t.same(fake.tables.raw.get('FWD-RAW'), unprefixed)
  t.same(fake.tables.raw.get('PREROUTING')?.[1], '-p udp -j CT --notrack', 'the other tool\'s raw rule stays')
  const kernel = await applier.readKernel()
  t.same(kernel.tables.raw.fwdChains.get('FWD-RAW'), MASK, 'parsed back from iptables-save as rendered')
  // A restarted daemon adopts it and has nothing to write.
  const again = new Applier(fake, backend)
  again.adopt(await again.readKernel())
  t.equal((await again.apply(renderRuleSet(passive), { verify: true })).chainsWritten, 0)
  t.equal(fake.restoreCalls(), 1)
  // Drift: another tool flushes fwdd's raw chain and deletes the raw jump; a verify repairs both.
  fake.tables.raw.set('FWD-RAW', [])
  fake.tables.raw.get('PREROUTING')!.shift()
  const r = await again.apply(renderRuleSet(passive), { verify: true })
  t.same(r.drift.sort(), ['raw/FWD-RAW', 'raw/PREROUTING->FWD-RAW'])
  t.same(fake.tables.raw.get('FWD-RAW'), unprefixed)
  t.equal(fake.tables.raw.get('PREROUTING')?.filter((x) => x.endsWith('-j FWD-RAW')).length, 1)
  // Passive health turned off: the chain is emptied, not removed, as fwdd's other chains are.
  await again.apply(renderRuleSet(two), { verify: false })
  t.same(fake.tables.raw.get('FWD-RAW'), [])
  await again.cleanup()
  t.notOk(fake.tables.raw.has('FWD-RAW'))
  t.same(fake.tables.raw.get('PREROUTING'), ['-p udp -j CT --notrack'])
})

t.test('renew rewrites the raw chain once even when the kernel holds the same rules, and nothing else', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(passive), { verify: true })
  applier.renew('raw', 'FWD-RAW')
  const r = await applier.apply(renderRuleSet(passive), { verify: true })
  t.equal(r.chainsWritten, 1)
  t.same(r.drift, [], 'a renewal is not drift')
  t.equal(fake.calls.at(-1)!.input, `*raw\n:FWD-RAW - [0:0]\n${MASK.join('\n')}\nCOMMIT\n`)
  await applier.apply(renderRuleSet(passive), { verify: true })
  t.equal(fake.restoreCalls(), 2, 'once: the next apply writes nothing')
})

t.test('adopting the rules of an older fwdd without the raw chain: FWD-RAW and its jump are added, not counted as drift', async (t) => {
  const { fake, applier } = setup()
  await applier.apply(renderRuleSet(passive), { verify: true })
  fake.tables.raw.get('PREROUTING')!.splice(0)
  fake.tables.raw.delete('FWD-RAW')
  const upgraded = new Applier(fake, backend)
  upgraded.adopt(await upgraded.readKernel())
  const r = await upgraded.apply(renderRuleSet(passive), { verify: true })
  t.same(r.drift, [])
  t.equal(r.jumpsFixed, 1)
  t.same(fake.tables.raw.get('FWD-RAW'), unprefixed)
})

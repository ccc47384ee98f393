// The reconciler at its own level: the real renderer and applier against the strict iptables fake,
// a fake clock (no sleeps), a scripted health check and a recording conntrack. No root.
// Addresses are from 198.18.0.0/15 and never leave the process.
import t from 'tap'
import { pino } from 'pino'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import { Applier } from '../../src/dataplane/applier.js'
import { renderRuleSet, type RenderInput } from '../../src/dataplane/render.js'
import { SpawnError, type Runner } from '../../src/process/runner.js'
import { Reconciler } from '../../src/reconcile/reconciler.js'
import { STALE_AFTER_MS } from '../../src/reconcile/sync-health.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { FakeIptables } from '../helpers/fake-iptables.js'

const backend = { name: 'nft' as const, save: 'iptables-nft-save', restore: 'iptables-nft-restore' }
const silent = pino({ level: 'silent' })

function config(targets: string[], extra = ''): Config {
  const text = `sources: [198.18.0.0/24]
listeners:
  - name: web
    port: 8000
${extra}    targets:
${targets.map((a) => `      - { host: ${a}, port: 80 }`).join('\n')}
`
  const r = parseConfig(text, 'test.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  return r.config
}

/** A runner in front of the fake that can fail the next save, restore, or start of a program. */
class FaultyRunner implements Runner {
  fault: 'read' | 'apply' | 'spawn' | null = null
  constructor(readonly fake: FakeIptables) {}
  async run(file: string, args: readonly string[], options: { input?: string } = {}) {
    if (this.fault === 'spawn') throw new SpawnError(file, { cause: new Error('spawn EMFILE') })
    if (this.fault === 'read' && file.endsWith('-save')) return { exitCode: 1, stdout: '', stderr: 'iptables-save: cannot read' }
    if (this.fault === 'apply' && file.endsWith('-restore')) return { exitCode: 4, stdout: '', stderr: 'iptables-restore: line 2 failed' }
    return this.fake.run(file, args, options)
  }
}

interface Harness {
  clock: FakeClock
  fake: FakeIptables
  runner: FaultyRunner
  rec: Reconciler
  /** Addresses whose checks succeed; anything else is refused. */
  up: Set<string>
  /** Addresses whose checks never answer (until their timeout). */
  silentAddrs: Set<string>
  events: string[]
  applied: RenderInput[]
  /** Starts the reconciler and lets its first check round and first sync complete. */
  running(): Promise<void>
  /** Makes the next applies hang until `release()`. */
  hold(): { release(): void }
  /** Makes every conntrack cut hang until released. */
  holdCuts(): { release(): void }
  dnatTo(): string[]
}

/** Another tool flushes nat PREROUTING: fwdd's jump goes with it. */
function flushPrerouting(h: Harness): void {
  h.fake.tables.nat.get('PREROUTING')!.length = 0
}

/** Whether fwdd's jump is in nat PREROUTING (again). */
function jumpBack(h: Harness): boolean {
  return h.fake.tables.nat.get('PREROUTING')!.some((r) => r.includes('FWD-PREROUTING'))
}

function harness(cfg: Config, up: string[], logger = silent, dns: Record<string, string[]> = {}): Harness {
  const clock = new FakeClock()
  const fake = new FakeIptables()
  const runner = new FaultyRunner(fake)
  const applier = new Applier(runner, backend)
  const events: string[] = []
  const applied: RenderInput[] = []
  const upSet = new Set(up)
  const silentAddrs = new Set<string>()
  let gate: Promise<void> | null = null
  let cutGate: Promise<void> | null = null
  const rec = new Reconciler({
    config: cfg,
    clock,
    logger,
    random: () => 0.5,
    dataplane: {
      async apply(input, o) {
        if (gate) await gate
        const r = await applier.apply(renderRuleSet(input), o)
        applied.push(input)
        events.push(`apply ${input.listeners.map((l) => `${l.name}=${l.rotation.map((x) => x.address).join(',')}`).join(' ')}`)
        return r
      },
    },
    conntrack: {
      async deleteFlowsTo(protocol, address, port, listenerPort) {
        if (cutGate) await cutGate
        events.push(`cut ${address}:${port}${listenerPort === undefined ? '' : ` via ${listenerPort}`}`)
        return 1
      },
    },
    check: (address, _port, timeoutMs) => {
      if (silentAddrs.has(address)) return new Promise((r) => clock.setTimeout(() => r({ ok: false, error: 'timed out', latencyMs: timeoutMs }), timeoutMs))
      return Promise.resolve(upSet.has(address) ? { ok: true, error: null, latencyMs: 1 } : { ok: false, error: 'connection refused', latencyMs: 1 })
    },
    resolve: async (name) => ({ addresses: dns[name] ?? [], ttlSeconds: 30 }),
  })
  return {
    clock, fake, runner, rec, up: upSet, silentAddrs, events, applied,
    async running() {
      const started = rec.start(2000)
      await clock.advance(300)
      await started
      await clock.advance(100)
    },
    hold() {
      let release!: () => void
      gate = new Promise<void>((r) => { release = r })
      return { release: () => { gate = null; release() } }
    },
    holdCuts() {
      let release!: () => void
      cutGate = new Promise<void>((r) => { release = r })
      return { release: () => { cutGate = null; release() } }
    },
    dnatTo: () => [...fake.tables.nat.values()].flat().flatMap((r) => /--to-destination (\S+)/.exec(r)?.[1] ?? []),
  }
}

const status = (h: Harness) => h.rec.status({ version: 'test' })

t.test('first-round wait: nothing is applied until every target had its first check', async (t) => {
  const h = harness(config(['198.18.1.2', '198.18.2.2']), ['198.18.1.2', '198.18.2.2'])
  h.silentAddrs.add('198.18.2.2')
  const started = h.rec.start(5000)
  await h.clock.advance(500)
  t.equal(h.applied.length, 0, 'one target still unchecked: no rules yet (a restart keeps the adopted ones)')
  await h.clock.advance(1000)
  await started
  await h.clock.advance(100)
  t.equal(h.applied.length, 1, 'applied once the slow check answered')
  t.same(h.dnatTo(), ['198.18.1.2:80'], 'only the healthy target gets new connections')
  h.rec.stop()
})

t.test('prewrite (nothing adopted): every target is written while the first round is out, then the round\'s verdicts', async (t) => {
  const h = harness(config(['198.18.1.2', '198.18.2.2']), ['198.18.1.2'])
  h.silentAddrs.add('198.18.2.2')
  const started = h.rec.start(5000, { prewrite: true })
  await h.clock.advance(500)
  t.same(h.events, ['apply web=198.18.1.2,198.18.2.2'], 'written at once, both targets in rotation')
  t.same(h.dnatTo().sort(), ['198.18.1.2:80', '198.18.2.2:80'])
  t.equal(status(h).node.inSync, false, 'not in sync: /lb says 503 until the first sync')
  t.equal(status(h).listeners[0]!.serving, false)
  await h.clock.advance(5000)
  await started
  await h.clock.advance(100)
  t.same(h.events.slice(1), ['apply web=198.18.1.2', 'cut 198.18.2.2:80'], 'the first sync writes the round\'s verdict (and cuts what the prewrite may have sent the dead target)')
  t.same(h.dnatTo(), ['198.18.1.2:80'], 'the silent target is out')
  t.equal(status(h).node.inSync, true)
  h.rec.stop()
})

t.test('prewrite that fails: the first sync writes everything', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  h.runner.fault = 'apply'
  const started = h.rec.start(2000, { prewrite: true })
  await h.clock.advance(10)
  h.runner.fault = null
  await h.clock.advance(300)
  await started
  await h.clock.advance(100)
  t.same(h.dnatTo(), ['198.18.1.2:80'])
  t.equal(status(h).node.inSync, true)
  h.rec.stop()
})

t.test('first-round wait is bounded', async (t) => {
  const h = harness(config(['198.18.1.2'], '    check: { intervalMs: 60000, timeoutMs: 60000 }\n'), [])
  h.silentAddrs.add('198.18.1.2')
  const started = h.rec.start(1500)
  await h.clock.advance(1499)
  t.equal(h.applied.length, 0)
  await h.clock.advance(100)
  await started
  await h.clock.advance(100)
  t.equal(h.applied.length, 1, 'the first sync runs at the bound even though a check is still out')
  h.rec.stop()
})

t.test('reload keeps health: kept targets stay healthy and in the rules, a new one joins after its first check', async (t) => {
  const h = harness(config(['198.18.1.2', '198.18.2.2']), ['198.18.1.2', '198.18.2.2', '198.18.3.2'])
  await h.running()
  const before = status(h).listeners[0]!.targets.map((x) => [x.address, x.state, x.since])
  const applies = h.applied.length
  await h.rec.reload(config(['198.18.1.2', '198.18.2.2', '198.18.3.2']))
  await h.clock.advance(0)
  const mid = status(h).listeners[0]!.targets
  t.same(mid.slice(0, 2).map((x) => [x.address, x.state, x.since]), before, 'kept targets keep state and since')
  t.equal(mid[2]!.state, 'unknown', 'the new target starts unknown')
  await h.clock.advance(400)
  t.ok(h.applied.length > applies, 'a sync followed the reload')
  t.ok(h.applied.slice(applies).every((i) => i.listeners[0]!.rotation.length >= 2), 'no sync in between dropped a kept target')
  t.same(h.dnatTo().sort(), ['198.18.1.2:80', '198.18.2.2:80', '198.18.3.2:80'])
  h.rec.stop()
})

t.test('flows are cut only after the rules no longer send to the dead target', async (t) => {
  const h = harness(config(['198.18.1.2', '198.18.2.2'], '    check: { intervalMs: 1000, timeoutMs: 500, fall: 1, rise: 1 }\n'), ['198.18.1.2', '198.18.2.2'])
  await h.running()
  h.events.length = 0
  h.up.delete('198.18.2.2')
  await h.clock.advance(1500)
  const applyAt = h.events.findIndex((e) => e === 'apply web=198.18.1.2')
  const cutAt = h.events.findIndex((e) => e.startsWith('cut 198.18.2.2:80'))
  t.ok(applyAt >= 0, 'the rules without the dead target were applied')
  t.ok(cutAt > applyAt, `the cut came after that apply (${h.events.join('; ')})`)
  t.notOk(h.dnatTo().includes('198.18.2.2:80'))
  h.rec.stop()
})

t.test('whenAllDown: all keeps the dead targets in the rules, so their flows are not cut', async (t) => {
  const h = harness(config(['198.18.1.2'], '    whenAllDown: all\n    check: { intervalMs: 1000, timeoutMs: 500, fall: 1, rise: 1 }\n'), ['198.18.1.2'])
  await h.running()
  h.up.clear()
  await h.clock.advance(3000)
  t.notOk(h.events.some((e) => e.startsWith('cut')), 'no cut while the rules still send there')
  t.same(h.dnatTo(), ['198.18.1.2:80'])
  h.rec.stop()
})

t.test('staleness bound: a change not applied within the bound makes the node not in sync', async (t) => {
  const h = harness(config(['198.18.1.2', '198.18.2.2'], '    check: { intervalMs: 1000, timeoutMs: 500, fall: 1, rise: 1 }\n'), ['198.18.1.2', '198.18.2.2'])
  await h.running()
  t.equal(status(h).node.inSync, true)
  const gate = h.hold()
  h.up.delete('198.18.2.2')
  await h.clock.advance(1100)
  t.equal(status(h).node.inSync, true, 'queued, within the bound')
  await h.clock.advance(STALE_AFTER_MS)
  const s = status(h)
  t.equal(s.node.inSync, false, 'past the bound: not in sync')
  t.equal(s.listeners[0]!.serving, false)
  t.equal(s.listeners[0]!.reason, 'not-in-sync')
  t.equal(s.node.health?.healthy, true, '/health stays Healthy: only a long failure makes the node itself unhealthy')
  gate.release()
  await h.clock.advance(100)
  t.equal(status(h).node.inSync, true, 'in sync again once applied')
  h.rec.stop()
})

for (const kind of ['read', 'apply', 'spawn'] as const) {
  t.test(`an error of kind ${kind} is shown while it lasts and cleared after recovery`, async (t) => {
    const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
    await h.running()
    h.runner.fault = kind
    h.fake.tables.nat.get('PREROUTING')!.shift() // drift, so the repair must write
    h.rec.request(true)
    await h.clock.advance(100)
    let s = status(h)
    t.equal(s.node.inSync, false, 'a failing sync is not in sync')
    t.ok(s.node.lastError, `lastError says why: ${s.node.lastError}`)
    t.ok(s.node.errors?.[kind === 'spawn' ? 'read' : kind], 'stored under its kind')
    h.runner.fault = null
    await h.clock.advance(15_000)
    s = status(h)
    t.equal(s.node.inSync, true, 'recovered')
    t.equal(s.node.lastError, null, 'the error is cleared, whatever its message said')
    h.rec.stop()
  })
}

t.test('a rejected reload shows until a good reload clears it', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  h.rec.rejectReload('config reload rejected: bad port')
  t.equal(status(h).node.lastError, 'config reload rejected: bad port')
  t.equal(status(h).node.inSync, true, 'the last good rules are still in sync')
  await h.rec.reload(config(['198.18.1.2']))
  t.equal(status(h).node.lastError, null)
  h.rec.stop()
})

t.test('a backward wall-clock step does not stop syncs', async (t) => {
  const h = harness(config(['198.18.1.2', '198.18.2.2'], '    check: { intervalMs: 1000, timeoutMs: 500, fall: 1, rise: 1 }\n'), ['198.18.1.2', '198.18.2.2'])
  await h.running()
  h.clock.stepWall(-3_600_000)
  h.up.delete('198.18.2.2')
  await h.clock.advance(1500)
  t.same(h.dnatTo(), ['198.18.1.2:80'], 'the dead target left the rules within a check interval')
  await h.clock.advance(STALE_AFTER_MS * 2)
  t.equal(status(h).node.inSync, true)
  h.clock.stepWall(3_600_000 * 2)
  h.up.add('198.18.2.2')
  await h.clock.advance(3000)
  t.same(h.dnatTo().sort(), ['198.18.1.2:80', '198.18.2.2:80'], 'a forward step neither')
  h.rec.stop()
})

t.test('flow cuts never hold up the next sync', async (t) => {
  const h = harness(config(['198.18.1.2', '198.18.2.2', '198.18.3.2'], '    check: { intervalMs: 1000, timeoutMs: 500, fall: 1, rise: 1 }\n'), ['198.18.1.2', '198.18.2.2', '198.18.3.2'])
  await h.running()
  const cuts = h.holdCuts()
  h.up.delete('198.18.3.2')
  await h.clock.advance(1100)
  t.notOk(h.dnatTo().includes('198.18.3.2:80'))
  h.up.delete('198.18.2.2')
  await h.clock.advance(1100)
  t.same(h.dnatTo(), ['198.18.1.2:80'], 'the second failure was applied while the first cut still hangs')
  t.equal(status(h).listeners[0]!.serving, true)
  cuts.release()
  await h.rec.cutsIdle()
  t.ok(h.events.some((e) => e.startsWith('cut 198.18.3.2')) && h.events.some((e) => e.startsWith('cut 198.18.2.2')))
  h.rec.stop()
})

t.test('the state is versioned on every change', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  const v0 = h.rec.version
  h.rec.setDraining(true)
  t.ok(h.rec.version > v0)
  const v1 = h.rec.version
  h.rec.setDraining(true)
  t.equal(h.rec.version, v1, 'no change, no new version')
  h.rec.stop()
})

t.test('a failing apply turns /health Unhealthy only after 60 s (not within seconds)', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  h.runner.fault = 'apply'
  h.fake.tables.nat.get('PREROUTING')!.shift()
  h.rec.request(true)
  await h.clock.advance(5000)
  let s = status(h)
  t.equal(s.node.inSync, false, '/lb goes 503 at once')
  t.equal(s.node.health?.healthy, true, '/health still Healthy after 5 s of failures')
  await h.clock.advance(56_000)
  s = status(h)
  t.same(s.node.health, { healthy: false, reasons: ['apply-failing'] }, 'Unhealthy once applies failed for over a minute')
  h.runner.fault = null
  await h.clock.advance(15_000)
  t.same(status(h).node.health, { healthy: true, reasons: [] }, 'Healthy again after recovery')
  h.rec.stop()
})

t.test('drift seen by the watch: not in sync at once, in sync again after the verifying repair', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  t.equal(status(h).node.inSync, true)
  await h.clock.advance(3000) // past the window in which events may be echoes of fwdd's own write
  const gate = h.hold()
  flushPrerouting(h) // someone flushed PREROUTING
  h.rec.driftSuspected()
  t.equal(status(h).node.inSync, false, 'not in sync the moment the change is seen: /lb answers 503')
  t.equal(status(h).listeners[0]!.reason, 'not-in-sync')
  gate.release()
  await h.clock.advance(100)
  t.equal(status(h).node.inSync, true, 'in sync once the verify sync repaired it')
  t.ok(jumpBack(h), 'the jump is back')
  h.rec.stop()
})

t.test('a ruleset event right after a sync (the echo of fwdd\'s own write) asks for a verify but never turns /lb 503', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  const applies = h.applied.length
  h.rec.driftSuspected()
  t.equal(status(h).node.inSync, true, 'still in sync')
  await h.clock.advance(100)
  t.ok(h.applied.length > applies, 'a verify sync ran')
  h.rec.stop()
})

t.test('a change the watch attributed to another process is drift even right after fwdd\'s own write', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  // Within the timing echo window of the first (writing) sync: iptables-nft replaying a flush that
  // raced fwdd's write lands here, and nft monitor names its writer.
  const gate = h.hold()
  flushPrerouting(h)
  h.rec.driftSuspected({ attributed: true, entriesOnly: false })
  t.equal(status(h).node.inSync, false, '/lb answers 503 at once')
  gate.release()
  await h.clock.advance(100)
  t.equal(status(h).node.inSync, true, 'in sync once the verify repaired it')
  t.ok(jumpBack(h), 'the jump is back')
  h.rec.stop()
})

t.test('a change only to the built-in chains is repaired by an entries verify; one of unknown scope needs a full one', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  await h.clock.advance(3000)
  flushPrerouting(h)
  h.fake.calls = []
  h.rec.driftSuspected({ attributed: true, entriesOnly: true })
  t.equal(status(h).node.inSync, false, 'not in sync at once')
  await h.clock.advance(100)
  t.equal(status(h).node.inSync, true, 'in sync after the entries verify')
  t.same(h.fake.calls.filter((c) => c.file.endsWith('-save')), [], 'without a full read')
  t.ok(jumpBack(h), 'the jump is back')
  // Entries-only, then a change that reached fwdd's chains before the repair ran: a full verify.
  await h.clock.advance(3000)
  const gate = h.hold()
  flushPrerouting(h)
  h.rec.driftSuspected({ attributed: true, entriesOnly: true })
  h.fake.tables.nat.set('FWD-SERVICES', [])
  h.rec.driftSuspected({ attributed: true, entriesOnly: false })
  h.fake.calls = []
  gate.release()
  await h.clock.advance(200)
  t.ok(h.fake.calls.some((c) => c.file.endsWith('-save')), 'a full read')
  t.equal(status(h).node.inSync, true, 'in sync once the full verify repaired both')
  t.ok((h.fake.tables.nat.get('FWD-SERVICES') ?? []).length > 0, 'fwdd\'s chain is refilled')
  h.rec.stop()
})

t.test('lost watch events ask for a full verify without turning /lb 503', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  await h.clock.advance(3000)
  h.fake.calls = []
  h.rec.driftSuspected({ attributed: false, entriesOnly: false, lost: true })
  t.equal(status(h).node.inSync, true, 'still in sync: a loss is not drift')
  await h.clock.advance(100)
  t.ok(h.fake.calls.some((c) => c.file.endsWith('-save')), 'a full read ran')
  h.rec.stop()
})

t.test('drift seen while a verify that writes nothing is running is drift, not an echo', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  await h.clock.advance(3000) // past the echo window of the first (writing) sync
  const gate = h.hold()
  h.rec.request(true) // a periodic verify: it will find nothing to write
  await h.clock.advance(10)
  flushPrerouting(h) // flushed while it runs
  h.rec.driftSuspected()
  t.equal(status(h).node.inSync, false, '/lb answers 503 at once: a sync in flight that wrote nothing made no echo')
  gate.release()
  await h.clock.advance(200)
  t.equal(status(h).node.inSync, true, 'in sync once the verify requested by the event repaired it')
  t.ok(jumpBack(h), 'the jump is back')
  h.rec.stop()
})

t.test('a server shared by many listeners going down logs one line, not one per listener', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) })
  const many = Array.from({ length: 40 }, (_, i) => `  - { name: l${i}, port: ${9000 + i}, targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }] }`).join('\n')
  const r = parseConfig(`listeners:\n${many}\n`, 'test.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  const h = harness(r.config, ['198.18.1.2', '198.18.2.2'], logger)
  await h.running()
  h.up.delete('198.18.1.2')
  await h.clock.advance(5000)
  const left = lines.filter((l) => l.msg === 'target left rotation')
  t.equal(left.length, 1, 'one line for the one server')
  t.match(left[0], { address: '198.18.1.2:80', targets: 40, first: ['l0/0', 'l1/0', 'l2/0', 'l3/0', 'l4/0'], to: 'unhealthy' })
  t.notOk(h.dnatTo().includes('198.18.1.2:80'), 'and it left every rotation')
  h.rec.stop()
})

t.test('start: targets named by DNS are resolved before the first round (the index is rebuilt with the answers)', async (t) => {
  const h = harness(config(['198.18.1.2', 'app.corp.example']), ['198.18.1.2', '198.18.2.2'], silent, { 'app.corp.example': ['198.18.2.2'] })
  await h.running()
  t.same(h.dnatTo().sort(), ['198.18.1.2:80', '198.18.2.2:80'], 'the answer is a target from the first sync on')
  t.same(status(h).listeners[0]!.targets.map((x) => [x.host, x.address, x.state]), [['198.18.1.2', '198.18.1.2', 'healthy'], ['app.corp.example', '198.18.2.2', 'healthy']])
  h.rec.stop()
})

t.test('the last full verify\'s duration is kept (it stretches the periodic verify); other syncs leave it', async (t) => {
  const h = harness(config(['198.18.1.2']), ['198.18.1.2'])
  await h.running()
  let gate = h.hold()
  h.rec.request(true)
  await h.clock.advance(100) // the verify starts and waits at the gate
  await new Promise((r) => setTimeout(r, 60))
  gate.release()
  await h.clock.advance(100)
  const verified = h.rec.lastFullVerifyMs
  t.ok(verified >= 55 && verified < 2000, `a verify held for 60 ms took ${verified.toFixed(0)} ms`)
  gate = h.hold()
  const applies = h.applied.length
  h.rec.request(false)
  await h.clock.advance(100)
  await new Promise((r) => setTimeout(r, 150))
  gate.release()
  await h.clock.advance(100)
  t.equal(h.applied.length, applies + 1, 'a sync without verify ran, held for 150 ms')
  t.equal(h.rec.lastFullVerifyMs, verified, 'and left it')
  h.rec.stop()
})

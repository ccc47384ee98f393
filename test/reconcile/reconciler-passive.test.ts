// The reconciler with passive health: traffic verdicts come in through the watch it starts, an
// ejection takes the target out in one sync and cuts only its unanswered flows, and active
// successes after the ejection time bring it back. Fake clock, fake dataplane, no root.
import t from 'tap'
import { pino } from 'pino'
import { parseConfig } from '../../src/config/load.js'
import type { RenderInput } from '../../src/dataplane/render.js'
import type { TrafficWatcherHandlers } from '../../src/passive/traffic-watcher.js'
import { Reconciler } from '../../src/reconcile/reconciler.js'
import { FakeClock } from '../helpers/fake-clock.js'

function setup(passive = '{ baseEjectionMs: 1000, maxEjectionMs: 1000 }') {
  const r = parseConfig(`listeners:
  - name: web
    port: 8000
    check: { intervalMs: 500, timeoutMs: 100, fall: 2, rise: 2 }
    passive: ${passive}
    targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }]
`, 'passive.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  const clock = new FakeClock()
  const applied: RenderInput[] = []
  const cuts: string[] = []
  let handlers: TrafficWatcherHandlers | null = null
  let watches = 0
  let renewals = 0
  const rec = new Reconciler({
    config: r.config, clock, logger: pino({ level: 'silent' }), random: () => 0.5,
    dataplane: { async apply(input) { applied.push(input); return { chainsWritten: 1, chainsDeleted: 0, jumpsFixed: 0, drift: [] } as never }, renewEventMask() { renewals++ } },
    conntrack: { async deleteFlowsTo(_p, address, port, _l, o) { cuts.push(`${address}:${port}${o?.unansweredOnly ? ' unanswered' : ''}`); return 1 } },
    check: async () => ({ ok: true, error: null, latencyMs: 1 }),
    resolve: async () => ({ addresses: [], ttlSeconds: 30 }),
    watchTraffic: (h) => { handlers = h; watches++; return { start() {}, stop() { handlers = null }, forget() {} } },
  })
  const rotation = (): string[] => applied.at(-1)?.listeners[0]?.rotation.map((x) => x.address) ?? []
  const ev = (id: string, address: string) => ({ type: 'new' as const, proto: 'tcp' as const, state: 'SYN_SENT', unreplied: true, id, target: { address, port: 80 }, listenerPort: 8000, atWallMs: null })
  return { rec, clock, applied, cuts, rotation, ev, handlers: () => handlers, watches: () => watches, renewals: () => renewals }
}

t.test('an ejection is one sync away and cuts only unanswered flows; active successes after its time bring it back', async (t) => {
  const h = setup()
  const started = h.rec.start(2000)
  await h.clock.advance(300)
  await started
  await h.clock.advance(100)
  t.same(h.rotation(), ['198.18.1.2', '198.18.2.2'])
  const w = h.handlers()!
  t.ok(w, 'the watch was started for a tcp listener with passive health on')
  t.same(w.classify(h.ev('1', '198.18.1.2')), { key: 'web|198.18.1.2:80', unansweredMs: 200, minUnansweredMs: 50 })
  t.equal(w.classify({ ...h.ev('2', '198.18.1.2'), listenerPort: 9999 }), null, 'a flow of another port is not judged')
  const now = h.clock.now()
  w.onOutcomes([{ key: 'web|198.18.1.2:80', ok: false, reason: 'reset', at: now }, { key: 'web|198.18.1.2:80', ok: false, reason: 'reset', at: now }])
  await h.clock.advance(60)
  await h.rec.cutsIdle()
  t.same(h.rotation(), ['198.18.2.2'], 'out of rotation at the next sync')
  t.same(h.cuts, ['198.18.1.2:80 unanswered'], 'only its unanswered flows are cut')
  t.equal(w.classify(h.ev('3', '198.18.1.2')), null, 'flows of an ejected target are no longer judged')
  const st = h.rec.status({ version: 'test' }).listeners[0]!.targets[0]!
  t.match(st, { state: 'unhealthy', inRotation: false, ejected: { ejections: 1 }, lastError: /1 connection reset before it was established/ })
  await h.clock.advance(3000)
  t.same(h.rotation(), ['198.18.1.2', '198.18.2.2'], 'back after 1 s and two active successes (checks every 500 ms)')
  t.equal(h.rec.status({ version: 'test' }).listeners[0]!.targets[0]!.ejected, null)
  h.rec.stop()
})

t.test('a reload that turns passive health off stops the watch and drops ejections', async (t) => {
  const h = setup()
  const started = h.rec.start(2000)
  await h.clock.advance(300)
  await started
  const now = h.clock.now()
  h.handlers()!.onOutcomes([{ key: 'web|198.18.1.2:80', ok: false, reason: 'reset', at: now }, { key: 'web|198.18.1.2:80', ok: false, reason: 'reset', at: now }])
  await h.clock.advance(100)
  t.same(h.rotation(), ['198.18.2.2'])
  const off = parseConfig(`listeners:
  - name: web
    port: 8000
    check: { intervalMs: 500, timeoutMs: 100, fall: 2, rise: 2 }
    passive: { enabled: false }
    targets: [{ host: 198.18.1.2, port: 80 }, { host: 198.18.2.2, port: 80 }]
`, 'off.yaml')
  if (!off.ok) throw new Error('bad config')
  await h.rec.reload(off.config)
  await h.clock.advance(200)
  t.equal(h.handlers(), null, 'watch stopped')
  t.same(h.rotation(), ['198.18.1.2', '198.18.2.2'], 'the ejection no longer counts')
  t.equal(h.rec.status({ version: 'test' }).node.passive?.mode, 'off')
  h.rec.stop()
})

t.test('when the watch listens, the dataplane renews its event mask and a sync writes it', async (t) => {
  const h = setup()
  const started = h.rec.start(2000)
  await h.clock.advance(300)
  await started
  await h.clock.advance(100)
  const syncs = h.applied.length
  t.equal(h.renewals(), 0)
  h.handlers()!.onListening!()
  await h.clock.advance(100)
  t.equal(h.renewals(), 1)
  t.ok(h.applied.length > syncs, 'a sync follows')
  h.rec.stop()
})

/**
 * Passive health against the real daemon, kernel and conntrack: targets ejected by their own
 * forwarded traffic long before the active check could have (its interval here is 10 s, and it
 * needs `fall: 2` failures), a flapping target's growing ejection time, the maximum ejection
 * share, a slow but answering target kept, on both dataplane backends.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t, { type Test } from 'tap'
import path from 'node:path'
import { createTopology, type Topology } from '../helpers/netns.js'
import { ECHO_SERVER, ROOT, sleep, startDaemon, waitTcp, type RunningDaemon } from '../helpers/daemon.js'
import type { TargetStatus } from '../../src/status.js'

const LOOP = path.join(ROOT, 'test/fixtures/connect-loop.mjs')
/** Active checks this slow cannot take a target out in under 10 s (two failures 10 s apart). */
const SLOW_ACTIVE = '{ intervalMs: 10000, timeoutMs: 1000, fall: 2, rise: 1 }'

function config(topo: Topology, o: { check?: string; passive?: string; backend?: string } = {}): string {
  return [
    'health: { port: 8080 }',
    'sources: [198.18.0.0/24]',
    ...(o.backend ? [`dataplane: { backend: ${o.backend} }`] : []),
    'listeners:',
    '  - name: web',
    '    port: 8000',
    `    check: ${o.check ?? SLOW_ACTIVE}`,
    `    passive: ${o.passive ?? '{ unansweredMs: 300, fall: 2, baseEjectionMs: 5000 }'}`,
    '    targets:',
    ...topo.servers.map((s) => `      - { host: ${s.address}, port: 80 }`),
    '',
  ].join('\n')
}

interface Setup { topo: Topology; d: RunningDaemon; kill(i: number): void; start(i: number): Promise<void>; traffic(intervalMs?: number, sequential?: boolean): void }

async function setup(t: Test, o: { servers?: number; check?: string; passive?: string; backend?: string } = {}): Promise<Setup> {
  const topo = await createTopology({ servers: o.servers ?? 2, prefix: 'pv' })
  t.teardown(() => topo.destroy())
  const servers = new Map<number, ReturnType<Topology['spawn']>>()
  const start = async (i: number): Promise<void> => {
    const s = topo.servers[i]!
    servers.set(i, topo.spawn(s.ns, process.execPath, [ECHO_SERVER, `s${i}`, '80']))
    await waitTcp(topo, s.ns, s.address, 80)
  }
  for (let i = 0; i < topo.servers.length; i++) await start(i)
  // A generous start: the machine is shared by several agents.
  const d = await startDaemon(topo, config(topo, o), { waitReady: false })
  await d.waitReady(30000)
  return {
    topo, d, start,
    kill: (i) => { servers.get(i)?.kill('SIGKILL') },
    traffic: (intervalMs = 25, sequential = false) => { topo.spawn(topo.client.ns, process.execPath, [LOOP, topo.node.address, '8000', String(intervalMs), '3000', sequential ? '1' : '0']) },
  }
}

async function target(d: RunningDaemon, address: string): Promise<TargetStatus> {
  const s = await d.status()
  const x = s.listeners[0]?.targets.find((y) => y.address === address)
  if (!x) throw new Error(`no target ${address} in status`)
  return x
}

/** Polls the status until `ok(target)`; returns it and when (ms after `since`). */
async function waitFor(d: RunningDaemon, address: string, ok: (x: TargetStatus) => boolean, since: number, limitMs: number): Promise<{ x: TargetStatus; ms: number }> {
  for (;;) {
    const x = await target(d, address)
    if (ok(x)) return { x, ms: Date.now() - since }
    if (Date.now() - since > limitMs) throw new Error(`target ${address} not as wanted after ${limitMs} ms: ${JSON.stringify(x)}\n--- log ---\n${d.log().slice(-3000)}`)
    await sleep(50)
  }
}

for (const backend of ['iptables', 'nftables']) {
  t.test(`${backend}: a black-holed target (SYNs dropped) is ejected by traffic before the active check could`, async (t) => {
    const p = await setup(t, { backend })
    const s0 = p.topo.servers[0]!
    p.traffic()
    await sleep(1000)
    t.equal((await target(p.d, s0.address)).ejected, null, 'not ejected while it answers')
    const droppedAt = Date.now()
    await p.topo.exec(s0.ns, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '80', '--syn', '-j', 'DROP'])
    // inRotation is the rotation of the rules last applied: the ejection is in the state at once and
    // leaves the rules one sync later, so wait for both (CI polled between the two on nftables).
    const { x } = await waitFor(p.d, s0.address, (y) => y.ejected != null && y.inRotation === false, droppedAt, 9000)
    // When the daemon ejected it (its own stamp), not when this loaded machine's status poll saw it.
    const ms = Date.parse(x.ejected!.since) - droppedAt
    t.comment(`${backend}: black hole ejected ${ms} ms after the DROP rule (active interval 10 s)`)
    t.ok(ms < 5000, `ejected in ${ms} ms, well before two active checks 10 s apart`)
    // A second of answers (about 20 per target) taught fwdd how fast this path answers: the
    // threshold is learned (passive.minUnansweredMs 50 at the least), not unansweredMs 300.
    const learned = /2 consecutive connections unanswered after (\d+) ms \(learned from its answer times\)/.exec(x.ejected?.reason ?? '')
    t.ok(learned, `judged by a learned threshold: ${x.ejected?.reason}`)
    t.ok(Number(learned?.[1]) >= 50 && Number(learned?.[1]) < 300, `the learned threshold (${learned?.[1]} ms) is within [50, 300)`)
    t.equal(x.inRotation, false)
    t.equal(x.state, 'unhealthy', 'an ejected target reports unhealthy')
    t.match(x.lastError, /ejected by traffic/)
    const other = await target(p.d, p.topo.servers[1]!.address)
    t.equal(other.inRotation, true, 'the other target keeps serving')
    const table = await p.d.ctl(['status'])
    t.match(table.stdout, /ejected/, 'the table says ejected')
    const metrics = await p.topo.exec(p.topo.node.ns, 'curl', ['-sS', 'http://127.0.0.1:8080/metrics'])
    t.match(metrics.stdout, /fwdd_target_ejections_total\{listener="web",target="web\/0",reason="unanswered"\} 1/)
    t.match(metrics.stdout, /fwdd_target_ejected\{listener="web",target="web\/0"\} 1/)
    t.match(metrics.stdout, /fwdd_passive_mode\{mode="watching"\} 1/)
    const synSent = await p.topo.exec(p.topo.node.ns, 'conntrack', ['-L', '-p', 'tcp', '--state', 'SYN_SENT', '--reply-src', s0.address, '--mark', '0x40000/0x40000'], { reject: false })
    t.notMatch(synSent.stdout, /SYN_SENT.*sport=80 /, 'its unanswered flows were cut')
  })
}

for (const backend of ['iptables', 'nftables']) {
  // On both backends: the reset is read from a DESTROY event, which the event mask keeps.
  t.test(`${backend}: a refusing target is ejected by traffic (resets) before the active check could`, async (t) => {
    const p = await setup(t, { backend })
    const s0 = p.topo.servers[0]!
    p.traffic()
    await sleep(1000)
    const killedAt = Date.now()
    p.kill(0)
    const { x } = await waitFor(p.d, s0.address, (y) => y.ejected != null && y.inRotation === false, killedAt, 9000)
    const ms = Date.parse(x.ejected!.since) - killedAt
    t.comment(`${backend}: refusing target ejected ${ms} ms after the kill`)
    t.ok(ms < 5000, `ejected in ${ms} ms`)
    t.match(x.ejected?.reason, /: 1 connection reset before it was established$/, 'one reset ejects (passive.resetFall, default 1)')
    t.equal(x.inRotation, false)
  })
}

t.test('a flapping target\'s ejection time grows', async (t) => {
  // Active checks every 300 ms with rise 1 bring it back soon after its ejection time; fall 20 keeps
  // them from taking it out first.
  const p = await setup(t, { check: '{ intervalMs: 300, timeoutMs: 300, fall: 20, rise: 1 }', passive: '{ unansweredMs: 300, fall: 2, baseEjectionMs: 1000, maxEjectionMs: 10000 }' })
  const s0 = p.topo.servers[0]!
  p.traffic()
  await sleep(800)
  const durations: number[] = []
  for (let round = 1; round <= 2; round++) {
    const at = Date.now()
    p.kill(0)
    const { x } = await waitFor(p.d, s0.address, (y) => y.ejected != null, at, 5000)
    durations.push(Date.parse(x.ejected!.until) - Date.parse(x.ejected!.since))
    t.equal(x.ejected!.ejections, round, `ejection ${round}`)
    await p.start(0)
    await waitFor(p.d, s0.address, (y) => y.ejected === null && y.inRotation === true, Date.now(), 8000)
    await sleep(500)
  }
  t.same(durations, [1000, 2000], 'the second ejection lasts twice the first')
})

t.test('the maximum ejection share holds: with both targets refusing, only one is ejected', async (t) => {
  const p = await setup(t, { passive: '{ unansweredMs: 300, fall: 2, maxEjectionPercent: 50 }' })
  p.traffic()
  await sleep(800)
  const at = Date.now()
  p.kill(0)
  p.kill(1)
  const [a, b] = p.topo.servers.map((s) => s.address) as [string, string]
  const until = Date.now() + 3000
  let seenHeld = false
  while (Date.now() < until) {
    const [x, y] = [await target(p.d, a), await target(p.d, b)]
    t.ok(!(x.ejected && y.ejected), 'never both ejected')
    if ((x.ejected && y.ejectionHeld) || (y.ejected && x.ejectionHeld)) seenHeld = true
    await sleep(100)
  }
  t.ok(seenHeld, 'one is ejected and the other says its ejection was held back')
  const x = await target(p.d, a)
  const y = await target(p.d, b)
  t.match((x.ejectionHeld ?? '') + (y.ejectionHeld ?? ''), /more than 50% of the listener's targets/)
})

t.test('a slow but answering target (SYN answered after a second, within the threshold) is never ejected', async (t) => {
  // No netem here: every second SYN to s0 is dropped, so each sequential connection is answered on
  // its SYN retransmission, about 1 s late. The threshold is 2.5 s.
  const p = await setup(t, { servers: 1, passive: '{ unansweredMs: 2500, fall: 2, maxEjectionPercent: 100 }' })
  const s0 = p.topo.servers[0]!
  await p.topo.exec(s0.ns, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '80', '--syn', '-m', 'statistic', '--mode', 'nth', '--every', '2', '--packet', '0', '-j', 'DROP'])
  p.traffic(50, true)
  await sleep(7000)
  const x = await target(p.d, s0.address)
  t.equal(x.ejected, null, 'never ejected')
  t.equal(x.inRotation, true)
  const metrics = await p.topo.exec(p.topo.node.ns, 'curl', ['-sS', 'http://127.0.0.1:8080/metrics'])
  const answered = Number(/fwdd_passive_flow_verdicts_total\{verdict="answered"\} (\d+)/.exec(metrics.stdout)?.[1] ?? 0)
  t.ok(answered >= 4, `its flows were judged answered (${answered})`)
  t.notMatch(metrics.stdout, /verdict="unanswered"/, 'none judged unanswered')
})

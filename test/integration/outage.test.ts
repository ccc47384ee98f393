/**
 * "An outage of many on-premises endpoints makes the whole node look broken" (issue: hostile input
 * and bad days). 200 targets of one listener die at once; their flow cuts (200 `conntrack -D`) run in
 * the background, so a second listener's failover is applied as fast as on a quiet node, its `/lb`
 * answers 200 throughout and `/health` stays Healthy: no repair storm.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { ECHO_SERVER, sleep, startDaemon, waitTcp } from '../helpers/daemon.js'

const MANY = 200

t.test('200 targets dying leave the other listener serving and the node Healthy', async (t) => {
  const topo = await createTopology({ servers: 3, prefix: 'og' })
  t.teardown(() => topo.destroy())
  const [s0, s1, s2] = topo.servers as [typeof topo.servers[0], typeof topo.servers[0], typeof topo.servers[0]]
  const addresses = Array.from({ length: MANY }, (_, i) => `198.18.1.${10 + i}`)
  await topo.exec(s0.ns, 'bash', ['-c', addresses.map((a) => `ip addr add ${a}/24 dev eth0`).join(' && ')])
  const big = topo.spawn(s0.ns, process.execPath, [ECHO_SERVER, 'big', '80'])
  const web1 = topo.spawn(s1.ns, process.execPath, [ECHO_SERVER, 's1', '80'])
  topo.spawn(s2.ns, process.execPath, [ECHO_SERVER, 's2', '80'])
  for (const s of [s0, s1, s2]) await waitTcp(topo, s.ns, s.address, 80)
  const yaml = [
    'sources: [198.18.0.0/24]',
    'sync: { resyncSeconds: 30 }',
    'listeners:',
    '  - name: big',
    '    port: 9000',
    '    check: { intervalMs: 300, timeoutMs: 300, fall: 1, rise: 1 }',
    '    targets:',
    ...addresses.map((a) => `      - { host: ${a}, port: 80 }`),
    '  - name: web',
    '    port: 8000',
    '    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }',
    `    targets: [{ host: ${s1.address}, port: 80 }, { host: ${s2.address}, port: 80 }]`,
    '',
  ].join('\n')
  const d = await startDaemon(topo, yaml, { waitReady: false })
  await d.waitReady(20_000)
  // Some flows to the big listener's targets, so the cuts have something to do.
  for (let i = 0; i < 20; i++) await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '1', 'http://198.18.0.1:9000/'], { reject: false })

  let lbFailures = 0
  let unhealthy = 0
  let probing = true
  const probe = (async () => {
    while (probing) {
      const lb = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '1', 'http://198.18.0.1:8080/lb/web'], { reject: false })
      if (lb.stdout.trim() !== 'ok') lbFailures++
      const h = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '1', 'http://198.18.0.1:8080/health'], { reject: false })
      if (!h.stdout.includes('"Healthy"')) unhealthy++
      await sleep(100)
    }
  })()
  big.kill('SIGKILL')
  await sleep(700)
  const killedAt = Date.now()
  web1.kill('SIGKILL')
  // Failed over when ten new connections in a row reach the live target (what a client sees).
  let outAfter = Infinity
  let streak = 0
  let streakStart = 0
  while (Date.now() - killedAt < 10_000) {
    const opened = Date.now()
    const r = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '0.5', 'http://198.18.0.1:8000/'], { reject: false })
    if (r.exitCode === 0) {
      if (streak === 0) streakStart = opened
      if (++streak >= 10) {
        outAfter = streakStart - killedAt
        break
      }
    } else streak = 0
  }
  await sleep(2000)
  probing = false
  await probe
  const s = await d.status()
  const bigDown = s.listeners.find((l) => l.name === 'big')!.targets.filter((x) => x.state === 'unhealthy').length
  t.comment(`web failed over after ${outAfter} ms, with ${MANY} cuts of the big listener in the background`)
  t.equal(bigDown, MANY, 'every target of the big listener is down')
  t.ok(outAfter < 2500, `the other listener's failover was applied promptly (${outAfter} ms)`)
  t.equal(lbFailures, 0, '/lb/web answered 200 throughout')
  t.equal(unhealthy, 0, '/health stayed Healthy throughout')
  t.equal(s.node.inSync, true)
})

// `fwdd --config-from imds` with the real daemon in namespaces: a userData change reconfigures the
// running daemon, an invalid one is rejected (last good kept, status says why), and a failing
// userData read keeps the current config and shows in the status.
// Address plan: 198.18.0.0/15 inside namespaces this test creates (test/helpers/netns.ts); the fake
// IMDS and ARM are reached through the node namespace's own loopback (test/helpers/azure-daemon.ts).
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { startServers } from '../helpers/daemon.js'
import { startAzureDaemon, startNsAzureFakes, waitFor, whoAnswers } from '../helpers/azure-daemon.js'
import { rid } from '../fakes/azure/harness.js'
import { ipGroupBody } from '../fakes/azure/arm-bodies.js'

const ipGroupId = rid('Microsoft.Network/ipGroups', 'onprem')

const userData = (listeners: string): string => `health: { port: 8080 }
azure: { refreshSeconds: 5 }
sources: [198.18.0.0/24]
sync: { resyncSeconds: 2 }
listeners:
${listeners}`

const listener = (name: string, port: number, target: string): string => `  - name: ${name}
    port: ${port}
    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }
    targets:
      - ${target}
`

t.test('userData reconfigures a running daemon', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'azi' })
  t.teardown(() => topo.destroy())
  const fakes = await startNsAzureFakes(topo)
  t.teardown(() => fakes.close())
  fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.1.2']))
  await startServers(topo)
  fakes.imds.setUserDataText(userData(listener('web', 8000, '{ host: 198.18.1.2, port: 80 }')))
  const d = startAzureDaemon(topo, fakes)
  t.teardown(() => d.kill('SIGKILL'))
  const get = (port: number): Promise<string> => whoAnswers(topo, topo.client.ns, `http://198.18.0.1:${port}/`)

  t.test('the first userData is the config', async (t) => {
    await waitFor('web → s0', async () => (await get(8000)) === 's0', 15_000, d.log)
    const s = await d.status()
    t.equal(s.node.configSource, 'imds:userData')
    t.same(s.listeners.map((l) => l.name), ['web'])
    t.same(s.node.azure, { errors: [], warnings: [] })
  })

  t.test('a new userData: a changed target and a new listener are applied', async (t) => {
    fakes.imds.setUserDataText(userData(listener('web', 8000, '{ host: 198.18.2.2, port: 80 }') + listener('api', 8001, '{ host: 198.18.1.2, port: 80 }')))
    await waitFor('web → s1', async () => (await get(8000)) === 's1', 10_000, d.log)
    await waitFor('api → s0', async () => (await get(8001)) === 's0', 3_000, d.log)
    const s = await d.status()
    t.same(s.listeners.map((l) => [l.name, l.port]), [['web', 8000], ['api', 8001]])
    t.equal(s.node.lastError, null)
  })

  t.test('an invalid userData is rejected; the last good config stays and status says why', async (t) => {
    fakes.imds.setUserDataText(userData(listener('web', 8000, '{ host: 198.18.1.2, port: 80 }').replace('port: 8000', 'prot: 8000')))
    const s = await waitFor('the rejection in the status', async () => {
      const st = await d.status()
      return st.node.lastError?.includes('rejected') ? st : undefined
    }, 10_000, d.log)
    t.match(s!.node.lastError, /config reload rejected; keeping the last good config: imds:userData:\d+:\d+: [\s\S]*imds:userData:7:5: listeners\.0\.prot: unknown key "prot"/, 'names the place and the field')
    t.same(s!.listeners.map((l) => l.name), ['web', 'api'], 'the last good listeners stay')
    t.equal(await get(8000), 's1', 'web still forwards to the last good target')
    t.equal(await get(8001), 's0', 'api still forwards')
  })

  t.test('a valid userData again, now with an IP Group target: applied, the error clears', async (t) => {
    fakes.imds.setUserDataText(userData(listener('web', 8000, `{ ipGroup: ${ipGroupId}, port: 80 }`)))
    await waitFor('web → s0 from the IP Group', async () => (await get(8000)) === 's0', 10_000, d.log)
    await waitFor('api removed', async () => (await get(8001)) === '', 3_000, d.log)
    const s = await d.status()
    t.equal(s.node.lastError, null, 'the rejection is no longer the last error')
    t.same(s.listeners[0]!.targets.map((x) => [x.host, x.address]), [[ipGroupId, '198.18.1.2']])
    fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.2.2']))
    await waitFor('web → s1 after the IP Group changed', async () => (await get(8000)) === 's1', 10_000, d.log)
  })

  t.test('userData cannot be read: the config stays, the status says why until it can', async (t) => {
    fakes.imds.failNext(/userData$/, { status: 500, body: '{"error":"internal"}' }, 1)
    const s = await waitFor('the read error in the status', async () => {
      const st = await d.status()
      return (st.node.azure?.errors.length ?? 0) > 0 ? st : undefined
    }, 10_000, d.log)
    t.match(s!.node.azure!.errors, [/requesting \/metadata\/instance\/compute\/userData from IMDS: HTTP 500.*; keeping the current config/])
    t.equal(await get(8000), 's1', 'forwarding goes on')
    await waitFor('the read error to clear', async () => (await d.status()).node.azure?.errors.length === 0, 15_000, d.log)
    t.equal(await get(8000), 's1')
  })
})

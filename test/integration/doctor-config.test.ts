/**
 * "`fwdctl doctor` checks /etc/fwdd/config.yaml, not the daemon's config" (issue: one reconciler,
 * one truth): without `--config`, doctor asks the running daemon what it runs (its file, or the
 * userData it applied) and checks that; a healthy node passes whether the daemon was started with
 * a non-default `--config` or with `--config-from imds`.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { startDaemon, startServers, webConfig } from '../helpers/daemon.js'
import { startAzureDaemon, startNsAzureFakes, waitFor, whoAnswers } from '../helpers/azure-daemon.js'

t.test('doctor passes on a healthy node started with a non-default --config', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'dcf' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, webConfig(topo))
  t.notMatch(d.configPath, /^\/etc\/fwdd\//, 'the config is not at the default path')
  const r = await d.ctl(['doctor'])
  t.equal(r.exitCode, 0, `doctor passes:\n${r.stdout}`)
  t.match(r.stdout, /PASS {2}config: valid/)
  t.notMatch(r.stdout, /ENOENT/)
})

t.test('doctor passes on a healthy node started with --config-from imds', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'dci' })
  t.teardown(() => topo.destroy())
  const fakes = await startNsAzureFakes(topo)
  t.teardown(() => fakes.close())
  await startServers(topo)
  fakes.imds.setUserDataText(`health: { port: 8080 }
sources: [198.18.0.0/24]
listeners:
  - name: web
    port: 8000
    check: { intervalMs: 300, timeoutMs: 300 }
    targets: [{ host: 198.18.1.2, port: 80 }]
`)
  const d = startAzureDaemon(topo, fakes)
  t.teardown(() => d.kill('SIGKILL'))
  await waitFor('web → s0', async () => (await whoAnswers(topo, topo.client.ns, 'http://198.18.0.1:8000/')) === 's0', 40_000, d.log)
  await waitFor('in sync', async () => (await d.ctl(['status'])).exitCode === 0, 20_000, d.log)
  const r = await d.ctl(['doctor'])
  t.equal(r.exitCode, 0, `doctor passes:\n${r.stdout}`)
  t.match(r.stdout, /PASS {2}config: valid/)
})

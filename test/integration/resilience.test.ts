/**
 * A long-lived connection through fwdd (the echo server's /slow endpoint writes a line a second)
 * survives: kill -9 of the daemon (new connections keep working while it is dead), a restart that
 * adopts the rules, a valid reload that changes another listener, and an invalid reload (SIGHUP),
 * whose error shows as config.yaml:LINE:COL in status.node.lastError.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { httpGet, sleep, startDaemon, startServers } from '../helpers/daemon.js'

function config(topo: Topology, otherPort: number, broken = false): string {
  return [
    'health: { port: 8080 }',
    'sources: [198.18.0.0/24]',
    'sync: { resyncSeconds: 2 }',
    'listeners:',
    '  - name: web',
    '    port: 8000',
    '    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }',
    '    targets:',
    ...topo.servers.map((s) => `      - { host: ${s.address}, port: 80 }`),
    '  - name: other',
    `    port: ${otherPort}`,
    '    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }',
    '    targets:',
    `      - { host: ${topo.servers[0]!.address}, port: ${broken ? 'eighty' : 80} }`,
    '',
  ].join('\n')
}
/** 1-based line and column of the broken value (`eighty`) in a config text. */
function brokenAt(text: string): { line: number; col: number } {
  const lines = text.split('\n')
  const i = lines.findIndex((l) => l.includes('eighty'))
  return { line: i + 1, col: lines[i]!.indexOf('eighty') + 1 }
}

t.test('a long-lived connection survives kill -9, restart, valid and invalid reloads', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'rs' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  let d = await startDaemon(topo, config(topo, 8001))

  const slow = topo.spawn(topo.client.ns, 'curl', ['-sSN', 'http://198.18.0.1:8000/slow'])
  let lines = 0
  let lastName = ''
  slow.stdout?.on('data', (b: Buffer) => {
    const got = b.toString().split('\n').filter(Boolean)
    lines += got.length
    lastName = got.at(-1) ?? lastName
  })
  let slowExited = false
  void slow.finally(() => { slowExited = true })
  /** Resolves when the long-lived connection got two more lines; fails if it ended. */
  const stillFlowing = async (step: string): Promise<void> => {
    const from = lines
    const until = Date.now() + 4000
    while (lines < from + 2) {
      if (slowExited) throw new Error(`the long-lived connection ended at "${step}"`)
      if (Date.now() > until) throw new Error(`the long-lived connection stalled at "${step}" (${lines} lines)`)
      await sleep(100)
    }
    t.pass(`long-lived connection still flowing after ${step} (${lines} lines from ${lastName})`)
  }
  await stillFlowing('start')

  // kill -9: the rules stay in the kernel.
  await d.kill('SIGKILL')
  t.equal((await d.ctl(['status'])).exitCode, 2, 'the daemon is gone (fwdctl status exits 2)')
  for (let i = 0; i < 5; i++) t.ok((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, `new connection ${i} works while the daemon is dead`)
  await stillFlowing('kill -9')

  // Restart: adopts the rules, changes nothing that matters to live flows.
  d = await startDaemon(topo, config(topo, 8001), { dir: d.dir })
  t.match(d.log(), /adopting/, 'the new daemon adopted the rules it found')
  await stillFlowing('restart')

  // A valid reload that changes another listener.
  d.writeConfig(config(topo, 8002))
  const reload = await d.ctl(['reload'])
  t.equal(reload.exitCode, 0, `fwdctl reload: ${reload.stdout}${reload.stderr}`)
  const until = Date.now() + 5000
  while ((await d.status()).listeners.find((l) => l.name === 'other')?.port !== 8002 && Date.now() < until) await sleep(100)
  t.equal((await d.status()).listeners.find((l) => l.name === 'other')?.port, 8002, 'the other listener moved')
  await d.waitReady()
  t.ok((await httpGet(topo, 'http://198.18.0.1:8002/')).ok, 'the other listener answers on its new port')
  await stillFlowing('valid reload of another listener')

  // An invalid reload by SIGHUP: rejected, the last good rules stay, the error says where.
  const broken = config(topo, 8003, true)
  const where = brokenAt(broken)
  d.writeConfig(broken)
  d.child.kill('SIGHUP')
  let lastError: string | null = null
  const until2 = Date.now() + 5000
  while (lastError === null && Date.now() < until2) {
    lastError = (await d.status()).node.lastError
    if (lastError === null) await sleep(100)
  }
  t.match(lastError, new RegExp(`config\\.yaml:${where.line}:${where.col}: `), `status.node.lastError says where: ${lastError}`)
  t.match(d.log(), /config reload rejected/, 'the log says the reload was rejected')
  const s = await d.status()
  t.equal(s.listeners.find((l) => l.name === 'other')?.port, 8002, 'the last good config stays')
  t.ok((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, 'new connections still work')
  await stillFlowing('invalid reload')
  t.equal(slowExited, false, 'the long-lived connection never ended')
})

/**
 * "A backward wall-clock step stops every sync for the size of the step" (issue: hostile input and
 * bad days). The real daemon runs under libfaketime (Debian's faketime) with its wall clock stepped
 * back an hour while running, the monotonic clock left alone as NTP or `date -s` would; a target
 * then dies and must leave the rules at once, with `/lb` and `/health` unaffected.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { ECHO_SERVER, httpGet, sleep, startDaemon, waitTcp, webConfig } from '../helpers/daemon.js'

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'

t.test('a backward wall-clock step does not stop syncs (faketime)', async (t) => {
  if (!existsSync(LIBFAKETIME)) throw new Error(`${LIBFAKETIME} is missing: install Debian's faketime (see .ci/run)`)
  const topo = await createTopology({ servers: 2, prefix: 'ck' })
  t.teardown(() => topo.destroy())
  const s0 = topo.spawn(topo.servers[0]!.ns, process.execPath, [ECHO_SERVER, 's0', '80'])
  topo.spawn(topo.servers[1]!.ns, process.execPath, [ECHO_SERVER, 's1', '80'])
  for (const s of topo.servers) await waitTcp(topo, s.ns, s.address, 80)
  const stamp = path.join(mkdtempSync(path.join(tmpdir(), 'fwdd-ft-')), 'faketime')
  writeFileSync(stamp, '+0\n')
  const d = await startDaemon(topo, webConfig(topo), {
    env: { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: stamp, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
  })
  writeFileSync(stamp, '-3600\n')
  // The next sync after the step shows it: the periodic verify comes every 2 s (resyncSeconds),
  // so a fixed 1.5 s wait could end before any sync ran (it failed so in CI once).
  let shown = NaN
  for (const until = Date.now() + 6000; Date.now() < until; await sleep(200)) {
    shown = Date.parse((await d.status()).node.lastSyncAt ?? '')
    if (Date.now() - shown > 3_000_000) break
  }
  t.ok(Date.now() - shown > 3_000_000, 'the daemon sees the stepped wall clock (shown sync time is an hour back)')
  s0.kill('SIGKILL')
  const until = Date.now() + 5000
  let out = true
  while (Date.now() < until) {
    const s = await d.status()
    const target = s.listeners[0]!.targets.find((x) => x.address === topo.servers[0]!.address)!
    out = target.inRotation === true
    if (!out && s.node.inSync) break
    await sleep(100)
  }
  t.equal(out, false, 'the dead target left the rules within 5 s of dying, an hour after the step')
  const s = await d.status()
  t.equal(s.node.inSync, true, 'in sync')
  t.equal(s.listeners[0]!.serving, true, 'the listener serves from the other target')
  const lb = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '2', 'http://198.18.0.1:8080/lb/web'], { reject: false })
  t.equal(lb.stdout.trim(), 'ok', '/lb/web answers 200')
  const health = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '2', 'http://198.18.0.1:8080/health'], { reject: false })
  t.equal(health.stdout, '{"ApplicationHealthState":"Healthy"}', '/health stays Healthy')
  for (let i = 0; i < 5; i++) t.equal((await httpGet(topo, 'http://198.18.0.1:8000/')).body, 's1', 'new connections go to the live target')
})

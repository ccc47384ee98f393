/**
 * "Drain with a full state directory answers Internal Server Error, logs nothing and leaves the node
 * serving" (issue: hostile input and bad days). With the state directory on a full tmpfs, `fwdctl
 * drain` still drains at once (/lb answers 503), says why the drain will not survive a restart and
 * exits non-zero, and the daemon logs it. Address plan: 198.18.0.0/15 inside namespaces this test creates.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { startDaemon, startServers, webConfig } from '../helpers/daemon.js'

t.test('drain with a full state directory drains, and says it could not be saved', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'dz' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-full-'))
  const state = path.join(dir, 'state')
  await execa('mkdir', ['-p', state])
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', state])
  t.teardown(async () => { await execa('umount', ['-l', state], { reject: false }) })
  await execa('sh', ['-c', `dd if=/dev/zero of=${state}/filler bs=4k 2>/dev/null; true`])
  const d = await startDaemon(topo, webConfig(topo), { dir })
  const r = await d.ctl(['drain'])
  t.not(r.exitCode, 0, 'fwdctl drain exits non-zero')
  t.match(r.stdout + r.stderr, /draining now, but the state could not be saved \(.*ENOSPC.*\): it will not survive a restart/, 'and says why')
  const lb = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '2', 'http://198.18.0.1:8080/lb/web'], { reject: false })
  t.equal(lb.stdout.trim(), 'unavailable: draining', 'the drain took effect')
  t.match(d.log(), /drain state could not be saved/, 'the daemon logged it')
})

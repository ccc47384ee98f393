/**
 * "Without conntrack, status shows 0 connections instead of unknown" (issue: hostile input and bad
 * days). The real daemon runs with a PATH where `conntrack` does not exist: forwarding and health
 * work, and the connection counts are absent (unknown), never a made-up 0.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import { mkdtempSync, readdirSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { httpGet, startDaemon, startServers, webConfig } from '../helpers/daemon.js'

/** A directory with every program of /usr/sbin, /usr/bin, /sbin and /bin except `conntrack`. */
function pathWithout(program: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-path-'))
  for (const from of ['/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    let names: string[] = []
    try { names = readdirSync(from) } catch { continue }
    for (const n of names) {
      if (n === program) continue
      try { symlinkSync(path.join(from, n), path.join(dir, n)) } catch { /* first one wins */ }
    }
  }
  return dir
}

t.test('no conntrack: forwarding works, connections are unknown (absent), not 0', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'nc' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, webConfig(topo), { env: { PATH: pathWithout('conntrack') } })
  t.equal((await httpGet(topo, 'http://198.18.0.1:8000/')).ok, true, 'forwarding works')
  const s = await d.status()
  for (const target of s.listeners[0]!.targets) t.equal(target.connections, undefined, `${target.address}: connections unknown`)
  t.equal(s.listeners[0]!.serving, true)
})

/**
 * The programs on the far side of a benchmark: HAProxy as a fast constant HTTP server (so the
 * server is never the bottleneck of a connection-rate run), HAProxy in TCP mode on the node (the
 * userspace proxy users would otherwise pick), iperf3 servers, and the small Node scripts of this
 * folder run as separate processes inside namespaces.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnChild, type Child } from './processes.js'
import { inNs } from './topology.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))

/** Path of a compiled script of this folder (dist/bench/NAME.js). */
export function benchScript(name: string): string {
  return path.join(HERE, `${name}.js`)
}

/** Waits until `address:port` accepts TCP connections, checked from inside `ns`. */
export async function waitTcp(ns: string, address: string, port: number, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const r = await inNs(ns, 'bash', ['-c', `exec 3<>/dev/tcp/${address}/${port}`], { reject: false, timeoutMs: 2000 })
    if (r.exitCode === 0) return
    if (Date.now() > until) throw new Error(`${address}:${port} did not open (checked from ${ns})`)
    await sleep(50)
  }
}

function tempFile(name: string, text: string): string {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'fwdd-bench-')), name)
  writeFileSync(p, text)
  return p
}

const HAPROXY_GLOBAL = ['global', '  maxconn 8000', 'defaults', '  timeout client 30s', '  timeout server 30s', '  timeout connect 5s']

/** HAProxy answering `200 ok` to every HTTP request on each of `ports` (one thread). */
export async function startHttpServer(ns: string, address: string, ports: readonly number[]): Promise<Child> {
  const cfg = [
    ...HAPROXY_GLOBAL.slice(0, 2), '  nbthread 1', ...HAPROXY_GLOBAL.slice(2), '  mode http',
    'frontend constant',
    ...ports.map((p) => `  bind 0.0.0.0:${p}`),
    '  http-request return status 200 content-type text/plain string ok',
    '',
  ].join('\n')
  const child = spawnChild(ns, 'haproxy', ['-db', '-f', tempFile('server.cfg', cfg)])
  for (const p of ports) await waitTcp(ns, address, p).catch((err: unknown) => { throw withOutput(err, child) })
  return child
}

/** HAProxy in TCP mode: `bind` on the node to `server` (address:port) for each pair. Default threads (one per core). */
export async function startTcpProxy(ns: string, pairs: ReadonlyArray<{ bind: string; server: string }>): Promise<Child> {
  const cfg = [...HAPROXY_GLOBAL, '  mode tcp']
  pairs.forEach((p, i) => cfg.push(`listen p${i}`, `  bind ${p.bind}`, `  server s ${p.server}`))
  const child = spawnChild(ns, 'haproxy', ['-db', '-f', tempFile('proxy.cfg', `${cfg.join('\n')}\n`)])
  for (const p of pairs) {
    const [addr, port] = p.bind.split(':')
    await waitTcp(ns, addr!, Number(port)).catch((err: unknown) => { throw withOutput(err, child) })
  }
  return child
}

/** An iperf3 server on `port`. */
export async function startIperfServer(ns: string, address: string, port: number): Promise<Child> {
  const child = spawnChild(ns, 'iperf3', ['-s', '-p', String(port)])
  await waitTcp(ns, address, port).catch((err: unknown) => { throw withOutput(err, child) })
  return child
}

/** A Node script of this folder, run with this Node inside `ns`. */
export function startScript(ns: string, name: string, args: readonly string[]): Child {
  return spawnChild(ns, process.execPath, [benchScript(name), ...args])
}

function withOutput(err: unknown, child: Child): Error {
  return new Error(`${err instanceof Error ? err.message : String(err)}; its output:\n${child.output().slice(-1500)}`)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

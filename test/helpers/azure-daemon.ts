/**
 * The fake IMDS and ARM, reachable from inside a test's node namespace, and the real daemon and
 * CLI pointed at them.
 *
 * Test address plan: hosts only in namespaces the test creates, 198.18.0.0/15 (test/helpers/netns.ts).
 * The fakes listen on 127.0.0.1 of the test process (root namespace) so tests drive them directly
 * (put resources, queue faults, change userData). The daemon lives in the node namespace, whose
 * 127.0.0.1 is its own loopback; so each fake is also served on a unix socket in a temp dir (unix
 * sockets are shared across network namespaces) and `ns-relay.mjs`, run inside the node namespace,
 * listens on that namespace's 127.0.0.1 and pipes each connection to the socket. The relay copies
 * bytes only: the daemon checks the fake ARM's certificate (for 127.0.0.1) against
 * NODE_EXTRA_CA_CERTS exactly as it would check the real one. The node namespace has no default
 * route, so nothing the daemon does can reach 169.254.169.254 or Azure.
 */
import net from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { ResultPromise } from 'execa'
import type { Topology } from './netns.js'
import { FWDCTL, FWDD, NODE_RUNTIME, ROOT, assertPackaged, sleep } from './daemon.js'
import type { Status } from '../../src/status.js'
import { FakeImds } from '../fakes/azure/fake-imds.js'
import { FakeArm } from '../fakes/azure/fake-arm.js'
import { makeTestTls, type TestTls } from '../fakes/azure/tls.js'
import { INSTANCE } from '../fakes/azure/harness.js'
import { CONFLICTING_IDENTITY_VARIABLES } from '../../src/azure/credential.js'

const RELAY = path.join(ROOT, 'test/fakes/azure/ns-relay.mjs')
/** Ports of the relays on the node namespace's loopback (the namespace is fresh, so they are free). */
const ARM_PORT = 9443
const IMDS_PORT = 9080

/** The fakes and the environment that points a process in the node namespace at them. */
export interface NsAzureFakes {
  tls: TestTls
  imds: FakeImds
  arm: FakeArm
  /** FWDD_ARM_ENDPOINT, FWDD_IMDS_ENDPOINT, NODE_EXTRA_CA_CERTS (replacing the machine's), other identity variables unset. */
  env: Record<string, string | undefined>
  close(): Promise<void>
}

/** Serves `path` (a unix socket) by piping each connection to 127.0.0.1:`port` of this process's namespace. */
async function unixToTcp(socketPath: string, port: number): Promise<net.Server> {
  const server = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1')
    c.pipe(up).pipe(c)
    c.on('error', () => up.destroy())
    up.on('error', () => c.destroy())
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve))
  return server
}

/** Starts both fakes in this process and the relay in the node namespace (killed by `topo.destroy()`). */
export async function startNsAzureFakes(topo: Topology): Promise<NsAzureFakes> {
  const tls = makeTestTls()
  const imds = new FakeImds({ ...INSTANCE })
  const arm = new FakeArm(tls, (token) => imds.issuedTokens.has(token))
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-azure-sock-'))
  const servers: net.Server[] = []
  let relay: ResultPromise | undefined
  const close = async (): Promise<void> => {
    relay?.kill('SIGKILL')
    for (const s of servers.splice(0)) s.close()
    await arm.close()
    await imds.close()
    tls.cleanup()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await imds.listen()
    await arm.listen()
    const portOf = (endpoint: string) => Number(new URL(endpoint).port)
    servers.push(await unixToTcp(path.join(dir, 'arm.sock'), portOf(arm.endpoint)))
    servers.push(await unixToTcp(path.join(dir, 'imds.sock'), portOf(imds.endpoint)))
    const r = topo.spawn(topo.node.ns, process.execPath, [RELAY, `${ARM_PORT}=${path.join(dir, 'arm.sock')}`, `${IMDS_PORT}=${path.join(dir, 'imds.sock')}`])
    relay = r
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the relay in the node namespace did not start')), 5000)
      r.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
  } catch (err) {
    await close()
    throw err
  }
  const env: Record<string, string | undefined> = {
    FWDD_ARM_ENDPOINT: `https://127.0.0.1:${ARM_PORT}`,
    FWDD_IMDS_ENDPOINT: `http://127.0.0.1:${IMDS_PORT}`,
    NODE_EXTRA_CA_CERTS: tls.caFile,
    AZURE_POD_IDENTITY_AUTHORITY_HOST: undefined,
  }
  for (const name of CONFLICTING_IDENTITY_VARIABLES) env[name] = undefined
  return { tls, imds, arm, env, close }
}

/** The daemon, started with `--config FILE` or `--config-from imds`. */
export interface AzureDaemon {
  dir: string
  configPath: string
  socket: string
  log(): string
  ctl(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>
  status(): Promise<Status>
  kill(signal?: NodeJS.Signals): Promise<void>
}

/**
 * Starts fwdd in the node namespace against the fakes. With `yaml` the config is a file (also
 * what `doctor` reads); without it the daemon runs with `--config-from imds`. Killed by
 * `topo.destroy()` at the latest.
 */
export function startAzureDaemon(topo: Topology, fakes: NsAzureFakes, opts: { yaml?: string } = {}): AzureDaemon {
  assertPackaged()
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-azure-test-'))
  const configPath = path.join(dir, 'config.yaml')
  const socket = path.join(dir, 'fwdd.sock')
  if (opts.yaml !== undefined) writeFileSync(configPath, opts.yaml)
  const source = opts.yaml !== undefined ? ['--config', configPath] : ['--config-from', 'imds']
  let output = ''
  // execa merges env into process.env; an undefined value removes the variable.
  const child = topo.spawn(topo.node.ns, NODE_RUNTIME, ['--max-semi-space-size=1', FWDD, ...source, '--socket', socket, '--state-dir', path.join(dir, 'state')], fakes.env as Record<string, string>)
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const d: AzureDaemon = {
    dir, configPath, socket,
    log: () => output,
    ctl: (args) => ctlWithEnv(topo, fakes, [FWDCTL, '--socket', socket, ...args]),
    async status() {
      const r = await d.ctl(['status', '--json'])
      if (r.exitCode === 2) throw new Error(`daemon unreachable: ${r.stderr}\n--- log ---\n${output}`)
      return JSON.parse(r.stdout) as Status
    },
    async kill(signal = 'SIGTERM') {
      child.kill(signal)
      await child.catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return d
}

/** Runs the shipped runtime with `args` in the node namespace with the fakes' environment (for `fwdctl doctor --azure`). */
function ctlWithEnv(topo: Topology, fakes: NsAzureFakes, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const unset = Object.entries(fakes.env).filter(([, v]) => v === undefined).flatMap(([k]) => ['-u', k])
  const set = Object.entries(fakes.env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`)
  return topo.exec(topo.node.ns, 'env', [...unset, ...set, NODE_RUNTIME, ...args], { reject: false, timeoutMs: 30_000 })
}

/**
 * Polls `probe` until it returns a truthy value (returned) or `timeoutMs` passes; then throws
 * with `what` and the last value seen, so a failure says what was waited for.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T>, timeoutMs: number, log?: () => string): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    last = await probe()
    if (last) return last
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}${log ? `\n--- log ---\n${log().slice(-4000)}` : ''}`)
    await sleep(200)
  }
}

/** Which server answered a GET through the forwarder from `ns` ('' when nothing answered). */
export async function whoAnswers(topo: Topology, ns: string, url: string): Promise<string> {
  const r = await topo.exec(ns, 'curl', ['-sS', '-m', '2', url], { reject: false })
  return r.exitCode === 0 ? r.stdout.trim() : ''
}

/**
 * Benchmark address plan (the same as the tests' and the lab's): hosts exist only inside network
 * namespaces this harness creates and removes, addressed from 198.18.0.0/15, plus loopback.
 * Nothing is ever sent to any other address. Names are `bn` + 6 random hex digits + a role suffix.
 *
 *   client   198.18.0.2/24  --veth--  198.18.0.1/24   node (fwdd and HAProxy run here)
 *   server i 198.18.(1+i).2/24 -veth- 198.18.(1+i).1/24 node
 *
 * The node forwards, so the client reaches a server's own address over a plain routed path: the
 * "direct" baseline every data-plane figure is divided by.
 */
import { randomBytes } from 'node:crypto'
import { createProcessRunner, type RunOptions, type RunResult, type Runner } from '../../src/process/runner.js'

const base = createProcessRunner()

/** Runs a short command inside a namespace; throws with its stderr on a non-zero exit unless `reject: false`. */
export async function inNs(ns: string, file: string, args: readonly string[], opts: RunOptions & { reject?: boolean } = {}): Promise<RunResult> {
  const r = await base.run('ip', ['netns', 'exec', ns, file, ...args], opts)
  if (opts.reject !== false && r.exitCode !== 0) throw new Error(`in ${ns}: ${file} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr.trim()}`)
  return r
}

/** A `Runner` whose programs run inside `ns` (for driving the real Applier in a namespace). */
export function nsRunner(ns: string): Runner {
  return { run: (file, args, opts) => base.run('ip', ['netns', 'exec', ns, file, ...args], opts) }
}

async function sh(file: string, args: readonly string[]): Promise<void> {
  const r = await base.run(file, args)
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr.trim()}`)
}

export interface Host {
  ns: string
  address: string
}

export interface Topology {
  node: Host
  client: Host
  servers: Host[]
  destroy(): Promise<void>
}

const created = new Set<string>()

/** Deletes every namespace any topology of this process created and has not deleted yet. */
export async function destroyAllNamespaces(): Promise<void> {
  for (const ns of [...created].reverse()) {
    await base.run('ip', ['netns', 'del', ns])
    created.delete(ns)
  }
}

/** The namespaces still to delete, for a signal handler's synchronous cleanup. */
export function liveNamespaces(): string[] {
  return [...created].reverse()
}

/** A single empty namespace (loopback only), for driving the applier against a clean kernel table. */
export async function createBareNamespace(): Promise<{ ns: string; destroy(): Promise<void> }> {
  const ns = `bn${randomBytes(3).toString('hex')}-a`
  await sh('ip', ['netns', 'add', ns])
  created.add(ns)
  await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  return {
    ns,
    async destroy() {
      await base.run('ip', ['netns', 'del', ns])
      created.delete(ns)
    },
  }
}

/** Builds client, node and `servers` namespaces as in the plan above, tuned for many short connections. */
export async function createTopology(servers: number): Promise<Topology> {
  if (process.getuid?.() !== 0) throw new Error('benchmarks need root (network namespaces, iptables): run `sudo npm run bench`')
  const id = `bn${randomBytes(3).toString('hex')}`
  const mine: string[] = []
  const addNs = async (ns: string): Promise<void> => {
    await sh('ip', ['netns', 'add', ns])
    created.add(ns)
    mine.push(ns)
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    // Many short connections (connection-rate runs) must not run out of ports or TIME_WAIT slots.
    await inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1'])
  }
  const link = async (a: string, aIf: string, aAddr: string, b: string, bAddr: string): Promise<void> => {
    await sh('ip', ['link', 'add', aIf, 'netns', a, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b])
    await sh('ip', ['-n', a, 'addr', 'add', aAddr, 'dev', aIf])
    await sh('ip', ['-n', b, 'addr', 'add', bAddr, 'dev', 'eth0'])
    await sh('ip', ['-n', a, 'link', 'set', aIf, 'up'])
    await sh('ip', ['-n', b, 'link', 'set', 'eth0', 'up'])
  }
  const destroy = async (): Promise<void> => {
    for (const ns of mine.splice(0).reverse()) {
      await base.run('ip', ['netns', 'del', ns])
      created.delete(ns)
    }
  }
  try {
    const node = `${id}-n`
    const client = `${id}-c`
    await addNs(node)
    await addNs(client)
    await link(node, 'to-client', '198.18.0.1/24', client, '198.18.0.2/24')
    await sh('ip', ['-n', client, 'route', 'add', 'default', 'via', '198.18.0.1'])
    const hosts: Host[] = []
    for (let i = 0; i < servers; i++) {
      const ns = `${id}-s${i}`
      await addNs(ns)
      await link(node, `to-s${i}`, `198.18.${1 + i}.1/24`, ns, `198.18.${1 + i}.2/24`)
      await sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', `198.18.${1 + i}.1`])
      hosts.push({ ns, address: `198.18.${1 + i}.2` })
    }
    await inNs(node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
    return { node: { ns: node, address: '198.18.0.1' }, client: { ns: client, address: '198.18.0.2' }, servers: hosts, destroy }
  } catch (err: unknown) {
    await destroy()
    throw err
  }
}

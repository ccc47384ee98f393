/**
 * Test address plan (every integration test and the lab follow it): hosts exist only inside network
 * namespaces that the test creates and removes, addressed from 198.18.0.0/15. Nothing is ever sent
 * to any other address. Namespace names carry a random suffix so test files can run in parallel.
 *
 *   client   198.18.0.2/24  --veth--  198.18.0.1/24   node (fwdd runs here)
 *   outsider 198.18.100.2/24 -veth--  198.18.100.1/24 node   (a source outside `sources`)
 *   server i 198.18.(1+i).2/24 -veth- 198.18.(1+i).1/24 node
 */
import { randomBytes } from 'node:crypto'
import { execa, type ResultPromise } from 'execa'

export interface Host {
  ns: string
  address: string
}

export interface Topology {
  node: Host & { clientSide: string }
  client: Host
  outsider: Host
  servers: Host[]
  /** Runs a command inside a namespace; rejects with its stderr on a non-zero exit. */
  exec(ns: string, file: string, args: string[], opts?: { input?: string; reject?: boolean; timeoutMs?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>
  /**
   * Starts a long-running process inside a namespace; it is killed by `destroy()`. The result is
   * an execa child, which is also a promise of its exit: do not return it from an async function
   * (that waits for the process to end); wrap it in an object instead.
   */
  spawn(ns: string, file: string, args: string[], env?: Record<string, string>): ResultPromise
  /** Kills every process started with `spawn` and deletes every namespace. Safe to call twice. */
  destroy(): Promise<void>
}

async function sh(file: string, args: string[], input?: string): Promise<string> {
  const r = await execa(file, args, { input, reject: false })
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr}`)
  return r.stdout
}

/** Whether the machine can make namespaces and run iptables: integration tests fail (not skip) if not. */
export async function requireRoot(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('integration tests need root (CI runs as root): run `sudo npm test`')
  for (const bin of ['ip', 'iptables', 'iptables-save', 'iptables-restore', 'conntrack']) {
    const r = await execa('sh', ['-c', `command -v ${bin}`], { reject: false })
    if (r.exitCode !== 0) throw new Error(`${bin} is missing: install it (see .ci/run)`)
  }
}

/** Builds client, outsider, node and `servers` namespaces wired as in the plan above. */
export async function createTopology(opts: { servers: number; prefix?: string }): Promise<Topology> {
  await requireRoot()
  const id = (opts.prefix ?? 'fw') + randomBytes(3).toString('hex')
  const nsNode = `${id}-n`
  const nsClient = `${id}-c`
  const nsOut = `${id}-o`
  const created: string[] = []
  const children = new Set<ResultPromise>()

  const destroy = async (): Promise<void> => {
    for (const c of children) c.kill('SIGKILL')
    await Promise.allSettled([...children])
    children.clear()
    for (const ns of created.splice(0).reverse()) {
      await execa('ip', ['netns', 'del', ns], { reject: false })
    }
  }

  try {
    const addNs = async (ns: string): Promise<void> => {
      await sh('ip', ['netns', 'add', ns])
      created.push(ns)
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    }
    const link = async (a: string, aIf: string, aAddr: string, b: string, bIf: string, bAddr: string): Promise<void> => {
      await sh('ip', ['link', 'add', aIf, 'netns', a, 'type', 'veth', 'peer', 'name', bIf, 'netns', b])
      await sh('ip', ['-n', a, 'addr', 'add', aAddr, 'dev', aIf])
      await sh('ip', ['-n', b, 'addr', 'add', bAddr, 'dev', bIf])
      await sh('ip', ['-n', a, 'link', 'set', aIf, 'up'])
      await sh('ip', ['-n', b, 'link', 'set', bIf, 'up'])
    }
    await addNs(nsNode)
    await addNs(nsClient)
    await addNs(nsOut)
    await link(nsNode, 'to-client', '198.18.0.1/24', nsClient, 'eth0', '198.18.0.2/24')
    await sh('ip', ['-n', nsClient, 'route', 'add', 'default', 'via', '198.18.0.1'])
    await link(nsNode, 'to-outsider', '198.18.100.1/24', nsOut, 'eth0', '198.18.100.2/24')
    await sh('ip', ['-n', nsOut, 'route', 'add', 'default', 'via', '198.18.100.1'])
    const servers: Host[] = []
    for (let i = 0; i < opts.servers; i++) {
      const ns = `${id}-s${i}`
      await addNs(ns)
      await link(nsNode, `to-s${i}`, `198.18.${1 + i}.1/24`, ns, 'eth0', `198.18.${1 + i}.2/24`)
      await sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', `198.18.${1 + i}.1`])
      servers.push({ ns, address: `198.18.${1 + i}.2` })
    }
    await sh('ip', ['netns', 'exec', nsNode, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    return {
      node: { ns: nsNode, address: '198.18.0.1', clientSide: '198.18.0.1' },
      client: { ns: nsClient, address: '198.18.0.2' },
      outsider: { ns: nsOut, address: '198.18.100.2' },
      servers,
      async exec(ns, file, args, o = {}) {
        const r = await execa('ip', ['netns', 'exec', ns, file, ...args], { input: o.input, reject: false, timeout: o.timeoutMs })
        const out = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }
        if (o.reject !== false && out.exitCode !== 0) throw new Error(`in ${ns}: ${file} ${args.join(' ')}: exit ${out.exitCode}: ${out.stderr}`)
        return out
      },
      spawn(ns, file, args, env) {
        const child = execa('ip', ['netns', 'exec', ns, file, ...args], { reject: false, env, buffer: false, stdio: ['ignore', 'pipe', 'pipe'] })
        children.add(child)
        child.finally(() => children.delete(child)).catch(() => {})
        return child
      },
      destroy,
    }
  } catch (err) {
    await destroy()
    throw err
  }
}

/**
 * Doctor checks that depend on the dataplane: on the nftables backend, fwdd's own table and its
 * three hooked chains (instead of the iptables chains and jumps), and on either backend the
 * source-port capacity of each target. Read-only, every input injected (see doctor-local.ts).
 */
import { NAT_PORTS_PER_ADDRESS, SOURCE_PORT_FAIL, SOURCE_PORT_WARN, sourcePortCeiling } from '../dataplane/source-ports.js'
import { parseNftTable } from '../dataplane/nft-parse.js'
import { NFT_TABLE } from '../dataplane/nft-render.js'
import type { Runner } from '../process/runner.js'
import type { Verdict } from './verdict.js'

const pass = (check: string, detail: string): Verdict => ({ check, ok: true, level: 'ok', detail })
const warn = (check: string, detail: string, fix: string): Verdict => ({ check, ok: true, level: 'warn', detail, fix })
const fail = (check: string, detail: string, fix: string): Verdict => ({ check, ok: false, level: 'fail', detail, fix })

/** The base chains of `table ip fwdd` and the hook each must carry (see nft-render.ts). */
export const NFT_HOOKS = [
  { chain: 'prerouting', hook: 'type nat hook prerouting priority dstnat' },
  { chain: 'postrouting', hook: 'type nat hook postrouting priority srcnat' },
  { chain: 'input', hook: 'type filter hook input priority filter' },
] as const

const REPAIR = 'run `fwdctl reload` (the next sync writes it again); if it disappears again, another tool is deleting or flushing nftables tables (`nft list ruleset`, `nft monitor`)'

/**
 * The nftables replacement for the iptables backend and jump checks, in the same place and count:
 * `nftables-table`, then one `hook <chain>` verdict per base chain (present, hooked as fwdd writes
 * it, and not flushed). `iptablesHasFwd` says whether fwdd chains also exist in iptables: a stale
 * copy of the other backend, which a daemon start removes.
 */
export async function checkNftables(runner: Runner, iptablesHasFwd: boolean): Promise<Verdict[]> {
  let text: string | null = null
  let error = ''
  try {
    const r = await runner.run('nft', ['-s', 'list', 'table', 'ip', NFT_TABLE])
    if (r.exitCode === 0) text = r.stdout
    else error = /No such file or directory/.test(r.stderr) ? `table ip ${NFT_TABLE} does not exist: nothing is forwarded` : `nft exited ${r.exitCode}: ${r.stderr.trim()}`
  } catch (e: unknown) {
    error = `nft cannot run (${e instanceof Error ? e.message : String(e)})`
  }
  const hooks = (why: string): Verdict[] => NFT_HOOKS.map((h) => fail(`hook ${h.chain}`, `not checked: ${why}`, 'fix nftables-table first'))
  if (text === null) {
    const fix = error.startsWith('nft cannot run') ? 'install nftables (`apt-get install nftables`)' : `start fwdd (\`systemctl start fwdd\`) or ${REPAIR}`
    return [fail('nftables-table', error, fix), ...hooks('no table')]
  }
  const model = parseNftTable(text)
  const table = iptablesHasFwd
    ? warn('nftables-table', `table ip ${NFT_TABLE} present, but fwdd chains also exist in iptables (left from the iptables backend)`, 'restart fwdd (`systemctl restart fwdd`): on start it removes the other backend\'s rules, keeping established flows')
    : pass('nftables-table', `table ip ${NFT_TABLE} present`)
  return [table, ...NFT_HOOKS.map((h) => {
    const check = `hook ${h.chain}`
    const b = model.get(`chain ${h.chain}`)
    if (!b) return fail(check, `chain ${h.chain} is missing from table ip ${NFT_TABLE}`, REPAIR)
    if (!b.decl.some((d) => d.startsWith(h.hook))) return fail(check, `chain ${h.chain} is not hooked as fwdd writes it (${h.hook})`, REPAIR)
    if (b.rules.length === 0) return fail(check, `chain ${h.chain} is empty (flushed): nothing enters fwdd's dispatch`, REPAIR)
    return pass(check, `${h.hook}, ${b.rules.length} rule${b.rules.length === 1 ? '' : 's'}`)
  })]
}

/**
 * `source-ports`: the busiest target's concurrent forwarded flows against the node's ceiling (one
 * source address masquerades to a target address:port with at most NAT_PORTS_PER_ADDRESS source
 * ports). Warns above SOURCE_PORT_WARN, fails above SOURCE_PORT_FAIL (new flows to it then fail).
 * `flows` maps `address:port/protocol` of a target to its live flows (Conntrack.countByTarget).
 */
export async function checkSourcePorts(flows: () => Promise<Map<string, number>>): Promise<Verdict> {
  const check = 'source-ports'
  let counts: Map<string, number>
  try {
    counts = await flows()
  } catch (e: unknown) {
    return warn(check, `cannot count forwarded flows (${e instanceof Error ? e.message : String(e)})`, 'run doctor as root with conntrack installed (`apt-get install conntrack`)')
  }
  const ceiling = sourcePortCeiling()
  const busiest = [...counts].sort((a, b) => b[1] - a[1])[0]
  if (!busiest) return pass(check, `no forwarded flows (ceiling ${ceiling} per target address:port)`)
  const [target, n] = busiest
  const detail = `busiest target ${target}: ${n} of ${ceiling} source ports (${Math.floor((n / ceiling) * 100)}%)`
  const fix = `one node address can hold at most ${NAT_PORTS_PER_ADDRESS} flows to one target address:port: add instances to the scale set, or spread the load over more target addresses or ports (README: source-port capacity)`
  if (n / ceiling > SOURCE_PORT_FAIL) return fail(check, detail, fix)
  if (n / ceiling > SOURCE_PORT_WARN) return warn(check, detail, fix)
  return pass(check, detail)
}

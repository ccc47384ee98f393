/**
 * Doctor checks of what runs before or around fwdd in netfilter, read from `nft list chains` and
 * the iptables-save text doctor already has: whether the node routes for anyone (forwarding on with
 * a FORWARD policy of ACCEPT), and, with the nftables backend, which other nat prerouting chains
 * run before fwdd's table. Pure functions of text, so each verdict is tested on text.
 */
import { NFT_TABLE } from '../dataplane/nft-render.js'
import type { Verdict } from './verdict.js'

/** One base chain (a chain with a hook) as `nft list chains` prints it. */
export interface NftBaseChain {
  family: string
  table: string
  chain: string
  type: string
  hook: string
  /** The numeric priority (named priorities such as `dstnat` resolved for the ip family). */
  priority: number
  policy: string
}

/** Named priorities (nft(8), "standard priority names", ip/ip6/inet families). */
const PRIORITIES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 }

/** Parses `nft list chains`; chains without a hook (regular chains) are left out. */
export function parseNftChains(text: string): NftBaseChain[] {
  const out: NftBaseChain[] = []
  let table: { family: string; name: string } | null = null
  let chain: string | null = null
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    let m = /^table (\S+) (\S+) \{$/.exec(line)
    if (m) { table = { family: m[1]!, name: m[2]! }; continue }
    m = /^chain (\S+) \{$/.exec(line)
    if (m) { chain = m[1]!; continue }
    m = /^type (\S+) hook (\S+)(?: device \S+)? priority ([^;]+);(?: policy (\S+);)?/.exec(line)
    if (m && table && chain) {
      const priority = priorityValue(m[3]!.trim())
      if (priority !== undefined) out.push({ family: table.family, table: table.name, chain, type: m[1]!, hook: m[2]!, priority, policy: m[4] ?? 'accept' })
    }
  }
  return out
}

function priorityValue(text: string): number | undefined {
  const m = /^(-?\d+|[a-z]+)(?: ([+-]) (\d+))?$/.exec(text)
  if (!m) return undefined
  const base = /^-?\d+$/.test(m[1]!) ? Number(m[1]) : PRIORITIES[m[1]!]
  if (base === undefined) return undefined
  return m[2] === undefined ? base : base + (m[2] === '-' ? -1 : 1) * Number(m[3])
}

const pass = (check: string, detail: string): Verdict => ({ check, ok: true, level: 'ok', detail })
const warn = (check: string, detail: string, fix: string): Verdict => ({ check, ok: true, level: 'warn', detail, fix })

/**
 * With forwarding on and nothing dropping in FORWARD, the node routes for anyone who sends it a
 * packet for another address: a source outside `sources` reaches the targets directly, past fwdd.
 * `iptablesText` is the in-use variant's iptables-save (null when unreadable); `nftChains` the base
 * chains (null without nft): a forward chain with policy drop in any table also closes it.
 */
export function checkForwardPolicy(ipForward: boolean, iptablesText: string | null, nftChains: NftBaseChain[] | null): Verdict {
  const check = 'forward-policy'
  if (!ipForward) return pass(check, 'net.ipv4.ip_forward is off: the node routes nothing')
  const policy = iptablesText === null ? null : forwardPolicyOf(iptablesText)
  if (policy === 'DROP') return pass(check, 'filter FORWARD policy DROP')
  const dropping = (nftChains ?? []).find((c) => c.hook === 'forward' && c.policy === 'drop')
  if (dropping) return pass(check, `forward hook policy drop (${dropping.family} ${dropping.table} ${dropping.chain})`)
  return warn(check, `net.ipv4.ip_forward = 1 and the filter FORWARD policy is ${policy ?? 'unknown (not readable)'}: a source outside \`sources\` can reach the targets (and whatever else this node routes to) directly through the node, past fwdd`,
    'set the policy to DROP (`iptables -P FORWARD DROP`, kept in your firewall config; fwdd accepts its own forwarded flows in FWD-FORWARD either way); on Azure, leaving IP forwarding off on the NIC (the default; fwdd does not need it) already prevents this, because Azure drops packets not addressed to the NIC')
}

/** The filter FORWARD policy in iptables-save text; ACCEPT when the filter table does not exist. */
function forwardPolicyOf(text: string): string {
  const at = text.search(/^\*filter$/m)
  if (at < 0) return 'ACCEPT'
  return /^:FORWARD (\S+)/m.exec(text.slice(at))?.[1] ?? 'ACCEPT'
}

/**
 * nftables backend: fwdd's table hooks nat prerouting at dstnat; a base chain of another table at
 * an earlier priority runs first, and a DNAT there takes a listener's flows before fwdd sees them.
 * Undefined when fwdd's table is not in the listing (iptables backend, or fwdd not running).
 */
export function checkNatPreroutingOrder(nftChains: NftBaseChain[] | null): Verdict | undefined {
  const chains = (nftChains ?? []).filter((c) => c.type === 'nat' && c.hook === 'prerouting')
  const own = chains.find((c) => c.family === 'ip' && c.table === NFT_TABLE)
  if (!own) return undefined
  const check = 'nat-prerouting-order'
  const others = chains.filter((c) => c !== own && (c.family === 'ip' || c.family === 'inet'))
  const earlier = others.filter((c) => c.priority < own.priority)
  const same = others.filter((c) => c.priority === own.priority).length
  const sameNote = same > 0 ? `; ${same} other at the same priority (${own.priority}), whose order against fwdd's is not fixed` : ''
  if (earlier.length === 0) return pass(check, `table ${own.family} ${own.table} (priority ${own.priority}) runs first in nat prerouting${sameNote}`)
  const list = earlier.map((c) => `${c.family} ${c.table} ${c.chain} (priority ${c.priority})`).join(', ')
  return warn(check, `nat prerouting chains run before fwdd's (priority ${own.priority}): ${list}; a DNAT there takes a listener's flows before fwdd sees them${sameNote}`,
    `make sure those chains do not DNAT the listener ports, or hook them at a priority after ${own.priority}`)
}

/**
 * The renderer: desired forwarding state in, the complete content of fwdd's chains out. Pure (no
 * I/O, no clock), so golden tests pin the exact rules. Rules are written in the canonical form
 * `iptables-save` prints them in, so the applier can compare kernel and desired state as text.
 */
import {
  FILTER_FORWARD, FILTER_INPUT, FORWARD_MARK, NAT_POSTROUTING, NAT_PREROUTING, NAT_SERVICES,
  listenerChain, type Table,
} from './chains.js'

export interface RenderTarget {
  address: string
  port: number
  weight: number
}

export interface RenderListener {
  name: string
  protocol: 'tcp' | 'udp'
  port: number
  /** Targets that receive new connections, in a stable order. Empty: new connections are refused. */
  rotation: RenderTarget[]
  /** Every target the listener knows (in rotation or not), for per-target accounting. */
  known: RenderTarget[]
}

export interface RenderInput {
  /** Normalised CIDRs allowed to use the listeners; empty means anyone. */
  sources: string[]
  listeners: RenderListener[]
}

/** Chain name to its rules (each a full `-A CHAIN ...` line), in order, per table. */
export type RuleSet = Record<Table, Map<string, string[]>>

/** Quotes a comment the way iptables-save prints it (bare when it has no special characters). */
export function comment(text: string): string {
  const clean = text.replace(/["\\]/g, '').slice(0, 255)
  return /^[A-Za-z0-9_.:/+-]+$/.test(clean) ? `-m comment --comment ${clean}` : `-m comment --comment "${clean}"`
}

function proto(p: 'tcp' | 'udp', port: number): string {
  return `-p ${p} -m ${p} --dport ${port}`
}

/**
 * Probability for rule i of n so that weights hold: w_i / (w_i + ... + w_n), printed as the kernel
 * will print it back: xt_statistic keeps the probability as a 32-bit fraction of 2^31 and
 * iptables-save prints that with 11 decimals, so 1/3 comes back as 0.33333333349. Rendering the
 * stored value (not 0.33333333333) keeps three or more equal targets from reading as drift on
 * every verify. The last rule is unconditional and needs none.
 */
export function probabilities(weights: readonly number[]): string[] {
  const out: string[] = []
  for (let i = 0; i < weights.length - 1; i++) {
    const rest = weights.slice(i).reduce((a, b) => a + b, 0)
    out.push(kernelProbability((weights[i] ?? 0) / rest))
  }
  return out
}

/** The probability as xt_statistic stores it (lround(p * 2^31)) and iptables-save prints it. */
export function kernelProbability(p: number): string {
  return (Math.round(p * 0x80000000) / 0x80000000).toFixed(11)
}

/**
 * Remembers, between renders, the rules of each listener chain and of each dispatch tree, keyed by
 * what they are made of. A sync that flips one target then renders one chain anew and hands back
 * the very same arrays for every other chain, so the applier tells them unchanged by identity:
 * the work of a flip is O(listeners) cheap key checks, not O(rules) string building and compares.
 * Output is identical with or without a memo (test/dataplane/render.test.ts proves it).
 */
export class RenderMemo {
  readonly chains = new Map<string, { key: string; rules: string[] }>()
  readonly trees = new Map<string, { key: string; into: string[]; chains: Map<string, string[]> }>()
}

/** Renders the full rule set for fwdd's chains. Same input, same output, byte for byte. */
export function renderRuleSet(input: RenderInput, memo: RenderMemo = new RenderMemo()): RuleSet {
  const nat = new Map<string, string[]>()
  const filter = new Map<string, string[]>()

  const pre: string[] = []
  const sources = input.sources.length > 0 ? input.sources : [null]
  for (const src of sources) {
    const s = src === null ? '' : `-s ${src} `
    pre.push(`-A ${NAT_PREROUTING} ${s}-m addrtype --dst-type LOCAL ${comment(src === null ? 'fwdd: any source' : 'fwdd: allowed source')} -j ${NAT_SERVICES}`)
  }
  nat.set(NAT_PREROUTING, pre)
  const services: string[] = []
  const input_: string[] = [`-A ${FILTER_INPUT} -m conntrack --ctstate RELATED,ESTABLISHED ${comment('fwdd: established, not a listener')} -j RETURN`]
  for (const p of ['tcp', 'udp'] as const) {
    const ls = input.listeners.filter((l) => l.protocol === p).sort((a, b) => a.port - b.port)
    if (ls.length === 0) continue
    const key = ls.map((l) => `${l.port}:${l.name}`).join(',')
    const tree = (name: string, from: string, prefix: string, leaf: (chain: string, l: RenderListener) => string): { into: string[]; chains: Map<string, string[]> } => {
      const hit = memo.trees.get(name)
      if (hit && hit.key === key) return hit
      const made = { key, into: [] as string[], chains: new Map<string, string[]>() }
      portTree(made.chains, made.into, from, prefix, p, ls, leaf)
      memo.trees.set(name, made)
      return made
    }
    const svc = tree(`nat/${p}`, NAT_SERVICES, `FWD-S${p === 'tcp' ? 'T' : 'U'}`, (chain, l) =>
      `-A ${chain} ${proto(l.protocol, l.port)} ${comment(l.name)} -j ${listenerChain(l.name)}`)
    services.push(...svc.into)
    for (const [c, rules] of svc.chains) nat.set(c, rules)
    const refuse = tree(`filter/${p}`, FILTER_INPUT, `FWD-I${p === 'tcp' ? 'T' : 'U'}`, (chain, l) =>
      `-A ${chain} ${proto(l.protocol, l.port)} ${comment(`${l.name}: not forwarded, refuse`)} -j REJECT --reject-with ${l.protocol === 'tcp' ? 'tcp-reset' : 'icmp-port-unreachable'}`)
    input_.push(...refuse.into)
    for (const [c, rules] of refuse.chains) filter.set(c, rules)
  }
  nat.set(NAT_SERVICES, services)
  nat.set(NAT_POSTROUTING, [`-A ${NAT_POSTROUTING} -m connmark --mark ${FORWARD_MARK} ${comment('fwdd: masquerade forwarded flows')} -j MASQUERADE --random-fully`])
  filter.set(FILTER_INPUT, input_)
  // One rule for every forwarded packet, fwdd's or not: per-target bytes come from conntrack
  // accounting (conntrack.ts), not from a rule walk per packet.
  filter.set(FILTER_FORWARD, [`-A ${FILTER_FORWARD} -m connmark --mark ${FORWARD_MARK} ${comment('fwdd: forwarded flows')} -j ACCEPT`])

  const seen = new Set<string>()
  for (const l of input.listeners) {
    seen.add(l.name)
    const key = `${l.protocol}|${l.rotation.map((t) => `${t.address}:${t.port}*${t.weight}`).join(',')}`
    const hit = memo.chains.get(l.name)
    if (hit && hit.key === key) {
      nat.set(listenerChain(l.name), hit.rules)
      continue
    }
    const rules = listenerRules(l)
    memo.chains.set(l.name, { key, rules })
    nat.set(listenerChain(l.name), rules)
  }
  for (const name of memo.chains.keys()) if (!seen.has(name)) memo.chains.delete(name)
  return { nat, filter }
}

/** The listener's own chain: mark the flow, then DNAT by the statistic cascade over the weights. */
function listenerRules(l: RenderListener): string[] {
  const chain = listenerChain(l.name)
  const rules: string[] = []
  if (l.rotation.length === 0) return rules
  rules.push(`-A ${chain} ${comment(`${l.name}: mark forwarded`)} -j CONNMARK --set-xmark ${FORWARD_MARK}`)
  const probs = probabilities(l.rotation.map((t) => t.weight))
  l.rotation.forEach((t, i) => {
    const p = probs[i]
    const stat = p === undefined ? '' : ` -m statistic --mode random --probability ${p}`
    rules.push(`-A ${chain} -p ${l.protocol} ${comment(`${l.name} -> ${t.address}:${t.port}`)}${stat} -j DNAT --to-destination ${t.address}:${t.port}`)
  })
  return rules
}

/** Listeners per dispatch chain: a new connection walks about FANOUT/2 rules per level, log4(n) levels. */
export const FANOUT = 4

/**
 * Dispatch by port range: the listeners (sorted by port) are split into FANOUT ranges, each a chain
 * `PREFIX-LO-HI` entered by one `--dport LO:HI` rule, recursively, until a chain holds at most
 * FANOUT listeners; so a new connection finds its listener in O(log n) rules, and a packet to
 * another port leaves after at most FANOUT range rules at the top.
 */
function portTree(table: Map<string, string[]>, into: string[], from: string, prefix: string, p: 'tcp' | 'udp',
  ls: readonly RenderListener[], leaf: (chain: string, l: RenderListener) => string): void {
  if (ls.length <= FANOUT) {
    for (const l of ls) into.push(leaf(from, l))
    return
  }
  const size = Math.ceil(ls.length / FANOUT)
  for (let i = 0; i < ls.length; i += size) {
    const part = ls.slice(i, i + size)
    const lo = part[0]!.port
    const hi = part[part.length - 1]!.port
    if (part.length === 1) {
      into.push(leaf(from, part[0]!))
      continue
    }
    const chain = `${prefix}-${lo}-${hi}`
    into.push(`-A ${from} -p ${p} -m ${p} --dport ${lo}:${hi} ${comment(`fwdd: ports ${lo}-${hi}`)} -j ${chain}`)
    const rules: string[] = []
    table.set(chain, rules)
    portTree(table, rules, chain, prefix, p, part, leaf)
  }
}

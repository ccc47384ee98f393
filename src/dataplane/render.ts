/**
 * The renderer: desired forwarding state in, the complete content of fwdd's chains out. Pure (no
 * I/O, no clock), so golden tests pin the exact rules. Rules are written in the canonical form
 * `iptables-save` prints them in, so the applier can compare kernel and desired state as text.
 */
import {
  CT_EVENTS, CT_EVENTS_UNSAMPLED, FILTER_FORWARD, FILTER_INPUT, FORWARD_MARK, NAT_POSTROUTING, NAT_PREROUTING, NAT_SERVICES,
  RAW_PREROUTING, listenerChain, type Table,
} from './chains.js'
import { RenderMemo, keep, renderTree, sameRotation, sameSig, type Sig, type Tree } from './render-tree.js'

export { FANOUT, RenderMemo } from './render-tree.js'

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
  /**
   * Passive health judges this listener's flows (tcp only): its new flows get the conntrack event
   * mask `new,reply,destroy`, so the kernel never generates the other events of its flows.
   */
  passive?: boolean
  /** With `passive`: how many new flows a second get that mask (config `passive.maxFlowsPerSecond`); absent: PASSIVE_SAMPLE_DEFAULT. */
  sampleFlowsPerSecond?: number
}

/** The sample of a passive listener's new flows per second when the input names none (the config default). */
export const PASSIVE_SAMPLE_DEFAULT = 1000

/** How many new flows a second of `l` passive health judges; 0 when it judges none (off, or udp). Both renderers ask this. */
export function passiveSample(l: RenderListener): number {
  return l.protocol === 'tcp' && l.passive === true ? l.sampleFlowsPerSecond ?? PASSIVE_SAMPLE_DEFAULT : 0
}

/**
 * The burst of a sample: a tenth of a second's worth. A full second's worth (1000 flows at once,
 * three events each) overflowed conntrack -E's socket at the start of a 5000-a-second run (the
 * passive cost bench lost events); a tenth keeps the sample even.
 */
export function sampleBurst(rate: number): number {
  return Math.max(1, Math.round(rate / 10))
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
 * A listener with at most this many targets in rotation is written inline in its leaf (mark and
 * DNAT rules matching its port); one with more gets a chain of its own (`FWD-L-<name>`), so a new
 * connection to a neighbour in the same leaf never walks a long cascade.
 */
export const INLINE_MAX_TARGETS = 4

/**
 * Renders the full rule set for fwdd's chains. Same input, same output, byte for byte.
 *
 * Layout: FWD-PREROUTING keeps allowed sources to local addresses and jumps to FWD-SERVICES, which
 * dispatches by port range down a tree of chains (`FWD-ST-LO-HI`, `FWD-SU-LO-HI`) to a leaf that
 * holds the listeners' own rules. Why listeners live in the leaves and not in a chain each:
 * iptables-nft-restore looks chains up by walking its list, so the cost of a restore grows with
 * rules x chains; 10,000 listener chains took 28 s to load where 1,400 leaves take about a second
 * (bench/results). FWD-INPUT refuses, down the same tree, what reached a listener port without
 * being forwarded.
 */
export function renderRuleSet(input: RenderInput, memo: RenderMemo = new RenderMemo()): RuleSet {
  const nat = new Map<string, string[]>()
  const filter = new Map<string, string[]>()
  const used = new Set<string>()
  const memoized = (table: Map<string, string[]>, chain: string, sig: Sig, make: () => string[]): void => {
    used.add(chain)
    const hit = memo.chains.get(chain)
    if (hit && sameSig(hit.sig, sig)) {
      table.set(chain, hit.rules)
      return
    }
    const rules = make()
    memo.chains.set(chain, { sig: keep(sig), rules })
    table.set(chain, rules)
  }

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
    const reject = `-j REJECT --reject-with ${p === 'tcp' ? 'tcp-reset' : 'icmp-port-unreachable'}`
    const mark = (chain: string, own: RenderListener[]): string => markRule(chain, p, own)
    const jump = (from: string, a: number, b: number, to: string): string => `-A ${from} -p ${p} -m ${p} --dport ${a}:${b} ${comment(`fwdd: ports ${a}-${b}`)} -j ${to}`
    const nt: Tree<RenderListener> = {
      table: nat, top: NAT_SERVICES, into: services, prefix: `FWD-S${p === 'tcp' ? 'T' : 'U'}`, items: ls,
      lo: (l) => l.port,
      hi: (l) => l.port,
      sig: (l) => [0, l.port, l.port, l.name, l.rotation],
      matches: (l, e) => e[0] === 0 && e[1] === l.port && e[3] === l.name && e[4] !== null && sameRotation(e[4], l.rotation),
      rules: listenerRules,
      marks: (l) => (marked(l) ? l : null),
      markRule: mark,
      jump,
    }
    type Run = { lo: number; hi: number; names: string[] }
    const it: Tree<Run> = {
      table: filter, top: FILTER_INPUT, into: input_, prefix: `FWD-I${p === 'tcp' ? 'T' : 'U'}`, items: refuseRanges(ls),
      lo: (r) => r.lo,
      hi: (r) => r.hi,
      sig: (r) => [0, r.lo, r.hi, r.names.length === 1 ? r.names[0]! : null, null],
      matches: (r, e) => e[0] === 0 && e[1] === r.lo && e[2] === r.hi && e[3] === (r.names.length === 1 ? r.names[0]! : null),
      rules: (chain, r) => [`-A ${chain} -p ${p} -m ${p} --dport ${r.lo === r.hi ? r.lo : `${r.lo}:${r.hi}`} ${comment(r.names.length === 1 ? `${r.names[0]}: not forwarded, refuse` : `fwdd: ${r.names.length} listeners, ports ${r.lo}-${r.hi}: not forwarded, refuse`)} ${reject}`],
      marks: () => null,
      markRule: mark,
      jump,
    }
    renderTree(nt, memo, used)
    renderTree(it, memo, used)
    for (const l of ls) {
      if (l.rotation.length <= INLINE_MAX_TARGETS) continue
      memoized(nat, listenerChain(l.name), [[0, l.port, l.port, `${l.protocol}/${l.name}`, l.rotation]], () => [markRule(listenerChain(l.name), null, [l]), ...cascade(listenerChain(l.name), '', l)])
    }
  }
  nat.set(NAT_SERVICES, services)
  const raw = new Map<string, string[]>()
  const masked = eventMaskPorts(input.listeners)
  memoized(raw, RAW_PREROUTING, masked.map((m) => [2, m.port, m.rate, null, null] as const), () => eventMaskRules(masked))
  nat.set(NAT_POSTROUTING, [`-A ${NAT_POSTROUTING} -m connmark --mark ${FORWARD_MARK} ${comment('fwdd: masquerade forwarded flows')} -j MASQUERADE --random-fully`])
  filter.set(FILTER_INPUT, input_)
  // One rule for every forwarded packet, fwdd's or not: per-target bytes come from conntrack
  // accounting (conntrack.ts), not from a rule walk per packet.
  filter.set(FILTER_FORWARD, [`-A ${FILTER_FORWARD} -m connmark --mark ${FORWARD_MARK} ${comment('fwdd: forwarded flows')} -j ACCEPT`])
  for (const chain of memo.chains.keys()) if (!used.has(chain)) memo.chains.delete(chain)
  return { raw, nat, filter }
}

/** Past this many port ranges, FWD-RAW holds one pair of rules over their whole span (see eventMaskRules). */
export const MAX_EVENT_RANGES = 32

/** A passive port and its sample of new flows a second. */
interface MaskedPort { port: number; rate: number }

/**
 * The ports of tcp listeners with passive health, ascending, whether or not a target is in rotation
 * (a flip must not rewrite FWD-RAW; a flow to a listener with no target is refused, never judged).
 */
function eventMaskPorts(listeners: readonly RenderListener[]): MaskedPort[] {
  const byPort = new Map<number, number>()
  for (const l of listeners) {
    const rate = passiveSample(l)
    if (rate === 0) continue
    byPort.set(l.port, Math.max(rate, byPort.get(l.port) ?? 0))
  }
  return [...byPort].map(([port, rate]) => ({ port, rate })).sort((a, b) => a.port - b.port)
}

/**
 * FWD-RAW: the event mask of new tcp flows to the ports of listeners with passive health, contiguous
 * ports of the same sample rate merged into `--dport a:b`. Only SYNs enter the chain and each walks
 * at most 2 x MAX_EVENT_RANGES rules; past that bound one pair covers min:max at the highest rate,
 * so another tool's flows to a port in that span get the mask too. That is harmless: the mask only
 * limits what conntrack event listeners receive of those flows, never how they are tracked or
 * forwarded. Sources are not matched, for the same reason and so the chain does not grow with
 * sources x ranges: a flow from a source outside the allow-list gets the mask but no DNAT, and
 * passive health never judges it. No listener with passive health: the chain stays, empty.
 *
 * Each range is a pair. The first gives the mask passive health reads to at most `rate` new flows
 * a second per port (hashlimit by destination port; one table per rate, since rules sharing a
 * hashlimit name share its rate). The second gives every other SYN the mask `secmark`, an event fwdd
 * never causes: without a mask the flow would get the kernel's default, every event. xt_CT takes
 * the first template only (a second CT target sees the packet's template and does nothing).
 */
function eventMaskRules(ports: readonly MaskedPort[]): string[] {
  const ranges: Array<{ a: number; b: number; rate: number }> = []
  for (const { port, rate } of ports) {
    const last = ranges[ranges.length - 1]
    if (last && last.b === port - 1 && last.rate === rate) last.b = port
    else ranges.push({ a: port, b: port, rate })
  }
  const span = ranges.length > MAX_EVENT_RANGES ? [{ a: ranges[0]!.a, b: ranges[ranges.length - 1]!.b, rate: Math.max(...ranges.map((r) => r.rate)) }] : ranges
  return span.flatMap(({ a, b, rate: wanted }) => {
    const rate = hashlimitRate(wanted)
    const dport = `-p tcp -m tcp --dport ${a === b ? a : `${a}:${b}`}`
    const what = `ports ${a === b ? a : `${a}-${b}`}`
    return [
      `-A ${RAW_PREROUTING} ${dport} -m hashlimit --hashlimit-upto ${rate}/sec --hashlimit-burst ${sampleBurst(wanted)} --hashlimit-mode dstport --hashlimit-name fwdd-p${rate} ${comment(`fwdd: passive health events, ${what}, ${rate} flows/s`)} -j CT --ctevents ${CT_EVENTS}`,
      `-A ${RAW_PREROUTING} ${dport} ${comment(`fwdd: passive health, ${what}, beyond the sample`)} -j CT --ctevents ${CT_EVENTS_UNSAMPLED}`,
    ]
  })
}

/**
 * The rate as iptables-save prints it back: xt_hashlimit keeps a rate as the interval between
 * tokens, 10^6 / rate in whole units, so 60000/sec comes back as 62500/sec. Rendering the stored
 * value keeps such a rate from reading as drift on every verify (as kernelProbability does for
 * xt_statistic); checked against iptables 1.8.9 for 1 to 100,000.
 */
export function hashlimitRate(rate: number): number {
  return Math.floor(1e6 / Math.floor(1e6 / rate))
}

/** A listener's rules in the leaf `chain`: inline when its rotation is short, else a jump to its own chain. */
function listenerRules(chain: string, l: RenderListener): string[] {
  if (l.rotation.length === 0) return [] // nothing to DNAT to: the connection reaches FWD-INPUT and is refused
  if (l.rotation.length > INLINE_MAX_TARGETS) return [`-A ${chain} ${proto(l.protocol, l.port)} ${comment(l.name)} -j ${listenerChain(l.name)}`]
  return cascade(chain, `${proto(l.protocol, l.port)} `, l)
}

/** Whether the leaf holding `l` marks its flows (inline DNAT rules); a listener with a chain of its own marks there. */
function marked(l: RenderListener): boolean {
  return l.rotation.length > 0 && l.rotation.length <= INLINE_MAX_TARGETS
}

/**
 * The connmark of forwarded flows, one rule for the listeners of a chain: their ports (a leaf
 * holds at most FANOUT, within multiport's 15), or every packet when `p` is null (a listener's
 * own chain). One rule per leaf instead of one per listener: 10,000 listeners load ~8,750 fewer
 * rules, and iptables-nft-restore's time grows with rules (bench/results).
 */
function markRule(chain: string, p: 'tcp' | 'udp' | null, ls: readonly RenderListener[]): string {
  const what = comment(`${ls.map((l) => l.name).join(',')}: mark forwarded`)
  const match = p === null ? '' : ls.length === 1 ? `${proto(p, ls[0]!.port)} ` : `-p ${p} -m multiport --dports ${ls.map((l) => l.port).join(',')} `
  return `-A ${chain} ${match}${what} -j CONNMARK --set-xmark ${FORWARD_MARK}`
}

/** DNAT by the statistic cascade over the weights (the flow is marked before); `match` selects the listener's port. */
function cascade(chain: string, match: string, l: RenderListener): string[] {
  const rules: string[] = []
  const probs = probabilities(l.rotation.map((t) => t.weight))
  l.rotation.forEach((t, i) => {
    const p = probs[i]
    const stat = p === undefined ? '' : ` -m statistic --mode random --probability ${p}`
    rules.push(`-A ${chain} ${match || `-p ${l.protocol} `}${comment(`${l.name} -> ${t.address}:${t.port}`)}${stat} -j DNAT --to-destination ${t.address}:${t.port}`)
  })
  return rules
}

/**
 * Listener ports merged into runs of contiguous ports, for FWD-INPUT: every port of a protocol
 * gets the same refusal, so 10,000 listeners on consecutive ports are one rule, not 10,000 (a
 * third of the rules iptables-nft-restore loaded, and of the start's write). Ports in ascending order.
 */
function refuseRanges(ls: readonly RenderListener[]): Array<{ lo: number; hi: number; names: string[] }> {
  const out: Array<{ lo: number; hi: number; names: string[] }> = []
  for (const l of ls) {
    const last = out[out.length - 1]
    if (last && (last.hi === l.port || last.hi === l.port - 1)) {
      last.hi = l.port
      last.names.push(l.name)
    } else out.push({ lo: l.port, hi: l.port, names: [l.name] })
  }
  return out
}

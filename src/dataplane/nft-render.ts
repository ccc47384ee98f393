/**
 * The nftables renderer: the same RenderInput as the iptables renderer, out comes fwdd's own table
 * `ip fwdd` as blocks (chains, sets, maps) written in the exact form `nft -s list table` prints
 * them, so the applier compares kernel and desired state block by block as text. Pure.
 *
 * Layout (learned from kube-proxy's nftables mode, KEP-3866): every packet costs a constant number
 * of lookups whatever the listener count, and the listeners live in map elements, not in rules.
 * prerouting (dstnat) checks the allowed-source set and dispatches new connections through the
 * `services` verdict map keyed by protocol . port to one of a few shared `spread_B` chains, B
 * being the listener's weights reduced to buckets. That chain marks the flow and DNATs through
 * the map `targets_B`, keyed by protocol . port . `numgen random mod B`: a target of weight w holds
 * w of the listener's B buckets, so it gets w/total of the flows exactly. A flip is a few element
 * changes (the listener's buckets move from one map to another), and a full write is elements,
 * which nf_tables loads far faster than rules (10,000 listeners: ~0.4 s against ~1.2 s with a
 * chain per listener, by hand). A listener whose weights need more than MAX_BUCKETS buckets gets
 * a chain of its own (`l-NAME`) with one `numgen` rule per target instead. forward (filter)
 * accepts marked packets (per-target bytes come from conntrack accounting, as on the iptables
 * backend: flow-counters.ts). input refuses at once, through the `refuse` map, a new connection
 * that reached a listener port without being forwarded. postrouting (srcnat) masquerades marked
 * flows only, fully random.
 *
 * Passive health: prerouting sets the conntrack event mask new,destroy,reply (`ct event set`) on
 * the first packet of a new tcp flow to a port in `passive_R` (the ports of tcp listeners whose
 * sample is R new flows a second), before conntrack confirms the flow: the kernel then never
 * generates the UPDATE of each later TCP state change, which passive health does not read. Beyond
 * the sample (a per-port `limit` kept in the dynamic set `sample_R`, as iptables' hashlimit does)
 * a new flow gets the mask `label`, an event fwdd never causes, so the kernel reports nothing of
 * it. Sources are not matched: a flow that is not forwarded gets the mask and is never judged. The
 * iptables backend does the same in the raw table (render.ts, FWD-RAW).
 */
import { CT_EVENTS, NFT_CT_EVENTS_UNSAMPLED } from './chains.js'
import { passiveSample, sampleBurst, type RenderInput, type RenderListener, type RenderTarget } from './render.js'
import { sameRotation } from './render-tree.js'

export const NFT_TABLE = 'fwdd'
/** The ct mark bit of forwarded flows: the same bit the iptables mode sets as connmark. */
export const NFT_MARK = '0x00040000'
/**
 * The most buckets a listener's spread may take in a `targets_B` map (its weights divided by their
 * greatest common divisor, summed): past it, one element per bucket would cost more than a chain
 * of its own with one rule per target.
 */
export const MAX_BUCKETS = 32

export type BlockKind = 'counter' | 'set' | 'map' | 'chain'

export interface NftBlock {
  kind: BlockKind
  name: string
  /** Declaration lines inside the block (type/flags/hook), as nft prints them. */
  decl: string[]
  /** Set or map elements as nft prints each one (a dynamic set's, which traffic adds, are left out). */
  elements: string[]
  /** Chain rules as nft prints them. */
  rules: string[]
  /**
   * How a map differs from the block `from` of the render before (the memo knows which listeners
   * changed): when the kernel holds `from`, the applier writes these few elements instead of
   * comparing every element (a flip).
   */
  delta?: { from: NftBlock; gone: readonly string[]; fresh: readonly string[] }
}

/** Block name (`chain l-web`, `map services`...) to block. */
export type NftModel = Map<string, NftBlock>

export function blockKey(kind: BlockKind, name: string): string {
  return `${kind} ${name}`
}

function block(kind: BlockKind, name: string, decl: string[] = [], elements: string[] = [], rules: string[] = []): NftBlock {
  return { kind, name, decl, elements, rules }
}

/**
 * The weighted spread as rules, one per target, for a listener with a chain of its own: target i
 * takes a new flow when `numgen random mod R < w` holds, R being the weight still left (its own and
 * every later target's), so it gets w/total of the flows exactly, as iptables' `statistic
 * --probability` cascade does, in integers. Why not an anonymous `numgen random mod N map`: each
 * is a set in the kernel, looked up by walking the table's set list (5000 listeners: 6.2 s to load).
 */
export function spread(l4: string, targets: readonly RenderTarget[]): string[] {
  let left = targets.reduce((a, t) => a + t.weight, 0)
  return targets.map((t) => {
    const pick = left === t.weight ? '' : `numgen random mod ${left} < ${t.weight} `
    left -= t.weight
    return `${pick}meta l4proto ${l4} dnat to ${t.address}:${t.port}`
  })
}

/** How many buckets each target takes (its weight over the weights' greatest common divisor). */
export function buckets(targets: readonly RenderTarget[]): number[] {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))
  const g = targets.reduce((a, t) => gcd(a, t.weight), 0) || 1
  return targets.map((t) => t.weight / g)
}

export function listenerChainName(name: string): string {
  return `l-${name}`
}

/** What one listener puts in the table, and what it was made from (the memo's key). */
interface ListenerPart {
  protocol: string
  port: number
  passive: number
  rotation: readonly RenderTarget[]
  /** Its element in `services` (none with no target in rotation: refused in input), kept as an array so a render hands back the same one. */
  service: readonly string[]
  refuse: readonly string[]
  /** The `targets_B` map its buckets are in, or null (no target, or a chain of its own). */
  map: string | null
  targets: string[]
  /** Its own chain when its weights need more than MAX_BUCKETS buckets. */
  chain: NftBlock | null
}

/**
 * Remembers, between renders, what each listener contributed, keyed by what it is made of
 * (protocol, port, passive sample, rotation), and each map built from those contributions. A sync
 * that flips one target renders that listener anew, patches only the maps its elements left or
 * joined (saying which elements, `delta`), and hands back the very same block objects for
 * everything else, so the dataplane tells them unchanged by identity. Output is the same with or
 * without a memo, but for the order of map elements (which nft does not keep either).
 */
export class NftMemo {
  readonly parts = new Map<string, ListenerPart>()
  /** Map name to its last block. */
  readonly maps = new Map<string, NftBlock>()
  passive: NftBlock[] | null = null
}

function part(l: RenderListener): ListenerPart {
  const passive = passiveSample(l)
  const base = { protocol: l.protocol, port: l.port, passive, rotation: l.rotation.map((t) => ({ ...t })), refuse: [`${l.protocol} . ${l.port} : goto refuse-${l.protocol}`] }
  if (l.rotation.length === 0) return { ...base, service: [], map: null, targets: [], chain: null }
  const shares = buckets(l.rotation)
  const total = shares.reduce((a, b) => a + b, 0)
  if (total > MAX_BUCKETS) {
    const name = listenerChainName(l.name)
    const chain = block('chain', name, [], [], [`ct mark set ct mark | ${NFT_MARK}`, ...spread(l.protocol, l.rotation)])
    return { ...base, service: [`${l.protocol} . ${l.port} : goto ${name}`], map: null, targets: [], chain }
  }
  const targets: string[] = []
  let bucket = 0
  l.rotation.forEach((t, i) => {
    for (let k = 0; k < shares[i]!; k++) targets.push(total === 1 ? `${l.protocol} . ${l.port} : ${t.address} . ${t.port}` : `${l.protocol} . ${l.port} . ${bucket++} : ${t.address} . ${t.port}`)
  })
  return { ...base, service: [`${l.protocol} . ${l.port} : goto spread_${total}`], map: `targets_${total}`, targets, chain: null }
}

/** The shared chain and map of listeners whose spread takes `b` buckets. */
function spreadBlocks(b: number): { chain: NftBlock; map: NftBlock } {
  const key = b === 1 ? 'meta l4proto . th dport' : `meta l4proto . th dport . numgen random mod ${b}`
  return {
    chain: block('chain', `spread_${b}`, [], [], [`ct mark set ct mark | ${NFT_MARK} dnat ip to ${key} map @targets_${b}`]),
    map: block('map', `targets_${b}`, [`typeof ${key} : ip daddr . th dport`]),
  }
}

/**
 * Renders fwdd's table. Same input, same output. Blocks come in the order they can be declared in
 * one transaction: chains, then the sets and maps (maps name chains, rules name sets and maps; the
 * applier declares every block before it fills any).
 */
export function renderNft(input: RenderInput, memo: NftMemo = new NftMemo()): NftModel {
  const m: NftModel = new Map()
  const add = (b: NftBlock): void => void m.set(blockKey(b.kind, b.name), b)
  const mark = `ct mark & ${NFT_MARK} == ${NFT_MARK}`

  // What changed since the last render: each map's elements gone and fresh, and whether the
  // passive sets must be built anew. A listener unchanged since then costs a lookup and a compare.
  const gone = new Map<string, string[]>()
  const fresh = new Map<string, string[]>()
  const note = (into: Map<string, string[]>, map: string | null, elements: readonly string[]): void => {
    if (map === null || elements.length === 0) return
    const list = into.get(map)
    if (list) for (const e of elements) list.push(e)
    else into.set(map, [...elements])
  }
  let passiveDirty = false
  const parts: ListenerPart[] = []
  for (const l of input.listeners) {
    const had = memo.parts.get(l.name)
    if (had && had.protocol === l.protocol && had.port === l.port && had.passive === passiveSample(l) && sameRotation(had.rotation, l.rotation)) {
      parts.push(had)
      continue
    }
    const p = part(l)
    memo.parts.set(l.name, p)
    parts.push(p)
    if (had?.service[0] !== p.service[0]) {
      note(gone, 'services', had?.service ?? [])
      note(fresh, 'services', p.service)
    }
    if (had?.refuse[0] !== p.refuse[0]) {
      note(gone, 'refuse', had?.refuse ?? [])
      note(fresh, 'refuse', p.refuse)
    }
    if (had) note(gone, had.map, had.targets)
    note(fresh, p.map, p.targets)
    if (!had || had.passive !== p.passive || had.port !== p.port || had.protocol !== p.protocol) passiveDirty = true
  }
  // Listeners gone since the last render (names are unique: more remembered than given means some left).
  if (memo.parts.size > input.listeners.length) {
    const names = new Set(input.listeners.map((l) => l.name))
    for (const [name, p] of memo.parts) {
      if (names.has(name)) continue
      memo.parts.delete(name)
      note(gone, 'services', p.service)
      note(gone, 'refuse', p.refuse)
      note(gone, p.map, p.targets)
      passiveDirty = true
    }
  }

  // The maps: the last block when nothing left or joined it, else that block patched (a flip), or
  // built from what joined when there was none. A targets map no listener is in is left out.
  const verdictMap = ['type inet_proto . inet_service : verdict']
  const maps = new Map<string, NftBlock>()
  for (const name of new Set(['services', 'refuse', ...memo.maps.keys(), ...fresh.keys()])) {
    const prev = memo.maps.get(name)
    const out = gone.get(name) ?? []
    const joined = fresh.get(name) ?? []
    // An element that left with one listener and came back with another stays (a rename). Sets,
    // not list scans: a reload that moves every listener's targets leaves and joins 20,000 each.
    const stays = out.length > 0 && joined.length > 0 ? new Set(joined) : null
    const kept = stays ? new Set(out.filter((e) => stays.has(e))) : null
    const removed = kept ? out.filter((e) => !kept.has(e)) : out
    const added = kept ? joined.filter((e) => !kept.has(e)) : joined
    let b: NftBlock
    if (prev && removed.length + added.length === 0) b = prev
    else {
      const decl = name.startsWith('targets_') ? spreadBlocks(Number(name.slice('targets_'.length))).map.decl : verdictMap
      const drop = new Set(removed)
      const elements = prev ? [...(drop.size > 0 ? prev.elements.filter((e) => !drop.has(e)) : prev.elements), ...added] : [...added]
      b = { ...block('map', name, decl, elements), ...(prev ? { delta: { from: prev, gone: removed, fresh: added } } : {}) }
    }
    if (b.elements.length === 0 && name.startsWith('targets_')) {
      memo.maps.delete(name)
      continue
    }
    memo.maps.set(name, b)
    maps.set(name, b)
  }
  const spreads = [...maps.keys()].filter((n) => n.startsWith('targets_')).map((n) => Number(n.slice('targets_'.length))).sort((x, y) => x - y)

  for (const p of parts) if (p.chain) add(p.chain)
  for (const b of spreads) add(spreadBlocks(b).chain)
  add(block('chain', 'refuse-tcp', [], [], ['reject with tcp reset']))
  add(block('chain', 'refuse-udp', [], [], ['reject']))

  // Passive health's sets: ports of tcp listeners by sample, contiguous ports merged into ranges.
  // Interval sets: a plain set of 16-bit keys is a bitmap in the kernel, whose every insert walks
  // the elements already in it (10,000 ports took ~0.45 s to load, by hand).
  if (passiveDirty || !memo.passive) {
    const byRate = new Map<number, number[]>()
    for (const p of parts) if (p.passive > 0) (byRate.get(p.passive) ?? byRate.set(p.passive, []).get(p.passive)!).push(p.port)
    const blocks: NftBlock[] = []
    for (const rate of [...byRate.keys()].sort((a, b) => a - b)) {
      blocks.push(block('set', `passive_${rate}`, ['type inet_service', 'flags interval'], ranges(byRate.get(rate)!)))
      blocks.push(block('set', `sample_${rate}`, ['type inet_service', 'size 65536', 'flags dynamic']))
    }
    memo.passive = blocks
  }
  const rates = memo.passive.filter((b) => b.name.startsWith('sample_')).map((b) => Number(b.name.slice('sample_'.length)))
  const srcSet = input.sources.length > 0
  add(block('chain', 'prerouting', ['type nat hook prerouting priority dstnat; policy accept;'], [], [
    ...rates.flatMap((r) => [
      `tcp dport @passive_${r} ct event set ${CT_EVENTS}`,
      `tcp dport @passive_${r} update @sample_${r} { tcp dport limit rate over ${r}/second burst ${sampleBurst(r)} packets } ct event set ${NFT_CT_EVENTS_UNSAMPLED}`,
    ]),
    `${srcSet ? 'ip saddr @sources ' : ''}fib daddr type local meta l4proto . th dport vmap @services`,
  ]))
  add(block('chain', 'postrouting', ['type nat hook postrouting priority srcnat; policy accept;'], [], [`${mark} masquerade random,fully-random`]))
  // No forward chain: an `accept` there would not override a drop in another table's forward hook
  // (nftables evaluates every base chain on a hook; only a drop is final), so it would change
  // nothing, and would cost every packet the node routes, fwdd's or not, a hook and a rule.
  add(block('chain', 'input', ['type filter hook input priority filter; policy accept;'], [], [
    'ct state established,related return',
    'meta l4proto . th dport vmap @refuse',
  ]))
  if (srcSet) add(block('set', 'sources', ['type ipv4_addr', 'flags interval'], input.sources.map((s) => s.replace(/\/32$/, ''))))
  for (const b of memo.passive) add(b)

  for (const name of ['services', 'refuse', ...spreads.map((b) => `targets_${b}`)]) add(maps.get(name)!)
  return m
}

/** Ascending ports as nft prints an interval set's elements: contiguous runs as `a-b`. */
function ranges(ports: number[]): string[] {
  const sorted = [...new Set(ports)].sort((a, b) => a - b)
  const out: string[] = []
  for (let i = 0; i < sorted.length; i++) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`)
    i = j
  }
  return out
}

/** Whether two blocks are the same (elements compared as sets: nft prints them in its own order). */
export function sameBlock(a: NftBlock, b: NftBlock): boolean {
  if (a === b) return true
  if (a.kind !== b.kind || a.decl.join('\n') !== b.decl.join('\n') || a.rules.join('\n') !== b.rules.join('\n')) return false
  if (a.elements.length !== b.elements.length) return false
  const set = new Set(a.elements)
  return b.elements.every((e) => set.has(e))
}

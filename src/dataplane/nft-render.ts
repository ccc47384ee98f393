/**
 * The nftables renderer: the same RenderInput as the iptables renderer, out comes fwdd's own table
 * `ip fwdd` as blocks (chains, sets, maps) written in the exact form `nft -s list table`
 * prints them, so the applier compares kernel and desired state block by block as text. Pure.
 *
 * Layout (learned from kube-proxy's nftables mode, KEP-3866): every packet costs a constant number
 * of lookups whatever the listener count. prerouting (dstnat) checks the allowed-source set and
 * dispatches new connections through the `services` verdict map keyed by protocol . port to one
 * chain per listener, which marks the flow and spreads it over the weights with one
 * `numgen random mod R < w` rule per target. forward (filter) accepts marked packets (per-target
 * bytes come from conntrack accounting, as on the iptables backend: flow-counters.ts). input refuses at
 * once, through the `refuse` map, a new connection that reached a listener port without being
 * forwarded. postrouting (srcnat) masquerades marked flows only, fully random.
 *
 * The chain of a tcp listener with passive health also sets the flow's conntrack event mask to
 * new,destroy,reply (`ct event set`) on its first packet, before conntrack confirms the flow: the
 * kernel then never generates the UPDATE of each later TCP state change, which passive health does
 * not read. Beyond the listener's sample (`passive.maxFlowsPerSecond`, a `limit` in the chain) a
 * new flow gets the mask `label` instead, an event fwdd never causes, so the kernel reports
 * nothing of it. The iptables backend does the same in the raw table (render.ts, FWD-RAW).
 */
import { CT_EVENTS, NFT_CT_EVENTS_UNSAMPLED } from './chains.js'
import { passiveSample, sampleBurst, type RenderInput, type RenderTarget } from './render.js'

export const NFT_TABLE = 'fwdd'
/** The ct mark bit of forwarded flows: the same bit the iptables mode sets as connmark. */
export const NFT_MARK = '0x00040000'

export type BlockKind = 'counter' | 'set' | 'map' | 'chain'

export interface NftBlock {
  kind: BlockKind
  name: string
  /** Declaration lines inside the block (type/flags/hook), as nft prints them. */
  decl: string[]
  /** Set or map elements as nft prints each one. */
  elements: string[]
  /** Chain rules as nft prints them. */
  rules: string[]
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
 * The weighted spread as rules, one per target: target i takes a new flow when `numgen random mod
 * R < w` holds, R being the weight still left (its own and every later target's), so it gets
 * w/total of the flows exactly, as iptables' `statistic --probability` cascade does, in integers.
 * Why not `numgen random mod N map { ... }`: every such map is an anonymous set in the kernel, and
 * nf_tables creates and looks sets up by walking the table's set list, so 5000 listeners cost
 * seconds to load and to list (measured: 6.2 s against 0.6 s for these rules). The rules cost the
 * same per new flow (O(targets) of one listener, never of the node) and nothing per established
 * packet, which never reaches a nat chain.
 */
export function spread(l4: string, targets: readonly RenderTarget[]): string[] {
  let left = targets.reduce((a, t) => a + t.weight, 0)
  return targets.map((t) => {
    const pick = left === t.weight ? '' : `numgen random mod ${left} < ${t.weight} `
    left -= t.weight
    return `${pick}meta l4proto ${l4} dnat to ${t.address}:${t.port}`
  })
}

export function listenerChainName(name: string): string {
  return `l-${name}`
}

interface ListenerElements {
  key: string
  service: string
  refuse: string
}

/**
 * Remembers, between renders, what each listener contributed, keyed by what it is made of: its
 * chain (by protocol and rotation) and its map elements (by protocol and port). A sync that flips
 * one target renders one chain anew and hands back the very same block objects for everything
 * else, maps included when no listener's elements changed, so the dataplane tells them unchanged
 * by identity. Output is identical with or without a memo.
 */
export class NftMemo {
  readonly chains = new Map<string, { protocol: string; passive: number; rotation: readonly RenderTarget[]; id: string; block: NftBlock }>()
  readonly elements = new Map<string, ListenerElements>()
  maps: { names: string; blocks: NftBlock[] } | null = null
}

/**
 * Renders fwdd's table. Same input, same output. Blocks come in the order they can be declared in
 * one transaction: chains, the set, then the maps that name chains.
 */
export function renderNft(input: RenderInput, memo: NftMemo = new NftMemo()): NftModel {
  const m: NftModel = new Map()
  const add = (b: NftBlock): void => void m.set(blockKey(b.kind, b.name), b)
  const mark = `ct mark & ${NFT_MARK} == ${NFT_MARK}`

  const parts: ListenerElements[] = []
  const chains: Array<{ id: string; block: NftBlock }> = []
  let missed = false
  const names = new Set<string>()
  for (const l of input.listeners) {
    names.add(l.name)
    const ekey = `${l.protocol}/${l.port}`
    let part = memo.elements.get(l.name)
    if (!part || part.key !== ekey) {
      part = { key: ekey, service: `${l.protocol} . ${l.port} : goto ${listenerChainName(l.name)}`, refuse: `${l.protocol} . ${l.port} : goto refuse-${l.protocol}` }
      memo.elements.set(l.name, part)
      missed = true
    }
    parts.push(part)
    let chain = memo.chains.get(l.name)
    const passive = passiveSample(l)
    if (!chain || chain.protocol !== l.protocol || chain.passive !== passive || !sameTargets(chain.rotation, l.rotation)) {
      // Only a flow's first packet walks a nat chain, and its conntrack is not confirmed yet: the
      // one place `ct event set` can shape the events of fwdd's flows, at no cost per packet.
      // Flows beyond the sample (this chain's own limiter) get a mask that reports nothing (a
      // second `ct event set` on the same packet replaces the first).
      const mask = passive > 0 ? [`ct event set ${CT_EVENTS}`, `limit rate over ${passive}/second burst ${sampleBurst(passive)} packets ct event set ${NFT_CT_EVENTS_UNSAMPLED}`] : []
      const rules = l.rotation.length === 0 ? [] : [...mask, `ct mark set ct mark | ${NFT_MARK}`, ...spread(l.protocol, l.rotation)]
      chain = { protocol: l.protocol, passive, rotation: l.rotation.map((t) => ({ ...t })), id: blockKey('chain', listenerChainName(l.name)), block: block('chain', listenerChainName(l.name), [], [], rules) }
      memo.chains.set(l.name, chain)
    }
    chains.push(chain)
  }
  for (const name of memo.elements.keys()) if (!names.has(name)) memo.elements.delete(name)
  for (const name of memo.chains.keys()) if (!names.has(name)) memo.chains.delete(name)

  const srcSet = input.sources.length > 0
  for (const c of chains) m.set(c.id, c.block)
  add(block('chain', 'refuse-tcp', [], [], ['reject with tcp reset']))
  add(block('chain', 'refuse-udp', [], [], ['reject']))
  add(block('chain', 'prerouting', ['type nat hook prerouting priority dstnat; policy accept;'], [],
    [`${srcSet ? 'ip saddr @sources ' : ''}fib daddr type local meta l4proto . th dport vmap @services`]))
  add(block('chain', 'postrouting', ['type nat hook postrouting priority srcnat; policy accept;'], [], [`${mark} masquerade random,fully-random`]))
  add(block('chain', 'forward', ['type filter hook forward priority filter; policy accept;'], [], [`${mark} accept`]))
  add(block('chain', 'input', ['type filter hook input priority filter; policy accept;'], [], [
    'ct state established,related return',
    'meta l4proto . th dport vmap @refuse',
  ]))
  if (srcSet) add(block('set', 'sources', ['type ipv4_addr', 'flags interval'], input.sources.map((s) => s.replace(/\/32$/, ''))))

  // The maps are the same objects as last time when no listener's elements changed, in the same order.
  const order = input.listeners.map((l) => l.name).join(',')
  if (missed || !memo.maps || memo.maps.names !== order) {
    memo.maps = {
      names: order,
      blocks: [
        block('map', 'services', ['type inet_proto . inet_service : verdict'], parts.map((p) => p.service)),
        block('map', 'refuse', ['type inet_proto . inet_service : verdict'], parts.map((p) => p.refuse)),
      ],
    }
  }
  for (const b of memo.maps.blocks) add(b)
  return m
}

/** Same targets in the same order (compared field by field: no key string is built per listener per sync). */
function sameTargets(a: readonly RenderTarget[], b: readonly RenderTarget[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i]!.address !== b[i]!.address || a[i]!.port !== b[i]!.port || a[i]!.weight !== b[i]!.weight) return false
  return true
}

/** Whether two blocks are the same (elements compared as sets: nft prints them in its own order). */
export function sameBlock(a: NftBlock, b: NftBlock): boolean {
  if (a === b) return true
  if (a.kind !== b.kind || a.decl.join('\n') !== b.decl.join('\n') || a.rules.join('\n') !== b.rules.join('\n')) return false
  if (a.elements.length !== b.elements.length) return false
  const set = new Set(a.elements)
  return b.elements.every((e) => set.has(e))
}

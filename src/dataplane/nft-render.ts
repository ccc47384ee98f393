/**
 * The nftables renderer: the same RenderInput as the iptables renderer, out comes fwdd's own table
 * `ip fwdd` as blocks (chains, sets, maps, counters) written in the exact form `nft -s list table`
 * prints them, so the applier compares kernel and desired state block by block as text. Pure.
 *
 * Layout (learned from kube-proxy's nftables mode, KEP-3866): every packet costs a constant number
 * of lookups whatever the listener count. prerouting (dstnat) checks the allowed-source set and
 * dispatches new connections through the `services` verdict map keyed by protocol . port to one
 * chain per listener, which marks the flow and spreads it with `numgen random mod N` over the
 * weights. forward (filter) counts marked packets in a named counter per target, found through a
 * map keyed by listener port . target address . target port, and accepts them. input refuses at
 * once, through the `refuse` map, a new connection that reached a listener port without being
 * forwarded. postrouting (srcnat) masquerades marked flows only, fully random.
 */
import type { RenderInput, RenderTarget } from './render.js'

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

/** The named counter of one target of one listener. Listener names carry no `_`, so it parses back. */
export function counterName(listener: string, address: string, port: number): string {
  return `t_${listener}_${address}_${port}`
}

/** Inverse of counterName: the targetKey `listener|address:port`, or null for other names. */
export function counterKey(name: string): string | null {
  const m = /^t_([a-z0-9-]+)_([0-9.]+)_(\d+)$/.exec(name)
  return m ? `${m[1]}|${m[2]}:${m[3]}` : null
}

function block(kind: BlockKind, name: string, decl: string[] = [], elements: string[] = [], rules: string[] = []): NftBlock {
  return { kind, name, decl, elements, rules }
}

/** `numgen random mod W` ranges over the weights; one target needs no numgen. */
export function spread(l4: string, targets: readonly RenderTarget[]): string {
  if (targets.length === 1) return `meta l4proto ${l4} dnat to ${targets[0]!.address}:${targets[0]!.port}`
  const total = targets.reduce((a, t) => a + t.weight, 0)
  let at = 0
  const parts = targets.map((t) => {
    const lo = at
    at += t.weight
    const range = t.weight === 1 ? `${lo}` : `${lo}-${at - 1}`
    return `${range} : ${t.address} . ${t.port}`
  })
  return `meta l4proto ${l4} dnat ip to numgen random mod ${total} map { ${parts.join(', ')} }`
}

export function listenerChainName(name: string): string {
  return `l-${name}`
}

/** Renders fwdd's table. Same input, same output. */
export function renderNft(input: RenderInput): NftModel {
  const m: NftModel = new Map()
  const add = (b: NftBlock): void => void m.set(blockKey(b.kind, b.name), b)
  const mark = `ct mark & ${NFT_MARK} == ${NFT_MARK}`

  const acct: Record<'tcp' | 'udp', string[]> = { tcp: [], udp: [] }
  for (const l of input.listeners) {
    const seen = new Set<string>()
    for (const t of l.known) {
      const k = `${t.address}:${t.port}`
      if (seen.has(k)) continue
      seen.add(k)
      const c = counterName(l.name, t.address, t.port)
      add(block('counter', c))
      acct[l.protocol].push(`${l.port} . ${t.address} . ${t.port} : "${c}"`)
    }
  }
  const srcSet = input.sources.length > 0
  if (srcSet) add(block('set', 'sources', ['type ipv4_addr', 'flags interval'], input.sources.map((s) => s.replace(/\/32$/, ''))))
  add(block('map', 'services', ['type inet_proto . inet_service : verdict'], input.listeners.map((l) => `${l.protocol} . ${l.port} : goto ${listenerChainName(l.name)}`)))
  add(block('map', 'refuse', ['type inet_proto . inet_service : verdict'], input.listeners.map((l) => `${l.protocol} . ${l.port} : goto refuse-${l.protocol}`)))
  for (const p of ['tcp', 'udp'] as const) add(block('map', `acct-${p}`, ['type inet_service . ipv4_addr . inet_service : counter'], acct[p]))

  for (const l of input.listeners) {
    const rules = l.rotation.length === 0 ? [] : [`ct mark set ct mark | ${NFT_MARK}`, spread(l.protocol, l.rotation)]
    add(block('chain', listenerChainName(l.name), [], [], rules))
  }
  add(block('chain', 'refuse-tcp', [], [], ['reject with tcp reset']))
  add(block('chain', 'refuse-udp', [], [], ['reject']))
  add(block('chain', 'prerouting', ['type nat hook prerouting priority dstnat; policy accept;'], [],
    [`${srcSet ? 'ip saddr @sources ' : ''}fib daddr type local meta l4proto . th dport vmap @services`]))
  add(block('chain', 'postrouting', ['type nat hook postrouting priority srcnat; policy accept;'], [], [`${mark} masquerade random,fully-random`]))
  add(block('chain', 'forward', ['type filter hook forward priority filter; policy accept;'], [], [
    `${mark} meta l4proto tcp counter name ct original proto-dst . ct reply ip saddr . ct reply proto-src map @acct-tcp`,
    `${mark} meta l4proto udp counter name ct original proto-dst . ct reply ip saddr . ct reply proto-src map @acct-udp`,
    `${mark} accept`,
  ]))
  add(block('chain', 'input', ['type filter hook input priority filter; policy accept;'], [], [
    'ct state established,related return',
    'meta l4proto . th dport vmap @refuse',
  ]))
  return m
}

/** Whether two blocks are the same (elements compared as sets: nft prints them in its own order). */
export function sameBlock(a: NftBlock, b: NftBlock): boolean {
  if (a.kind !== b.kind || a.decl.join('\n') !== b.decl.join('\n') || a.rules.join('\n') !== b.rules.join('\n')) return false
  if (a.elements.length !== b.elements.length) return false
  const set = new Set(a.elements)
  return b.elements.every((e) => set.has(e))
}

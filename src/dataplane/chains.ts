/**
 * Names of everything fwdd owns in the kernel. Every chain starts with `FWD-` (CONTRACT.md): that
 * prefix is how cleanup, adoption and drift detection tell fwdd's chains from everyone else's.
 */

export const CHAIN_PREFIX = 'FWD-'

export type Table = 'raw' | 'nat' | 'filter'

/** Every table fwdd writes, in the order one transaction declares them. */
export const TABLES: readonly Table[] = ['raw', 'nat', 'filter']

/** The connmark bit that marks flows fwdd forwarded; MASQUERADE and the FORWARD accept match it. */
export const FORWARD_MARK = '0x40000/0x40000'

/**
 * raw: the conntrack event mask of new flows to listeners with passive health (`-j CT --ctevents`).
 * xt_CT works only in raw, on a template that conntrack copies into the flow it creates next, so
 * this chain runs before conntrack and sees every SYN, fwdd's or not (render.ts says how it is kept
 * cheap). It exists, empty, even when no listener uses passive health, as every other chain does.
 */
export const RAW_PREROUTING = 'FWD-RAW'
/**
 * The conntrack events passive health reads (flow-tracker.ts): NEW starts a flow, the first reply
 * (an UPDATE without [UNREPLIED]) answers it, a DESTROY in state CLOSE while unreplied is a reset.
 * The kernel generates no other event for fwdd's flows: not the UPDATE of every TCP state change.
 * Written in the kernel's bit order, which is how both iptables-save and nft print it back.
 */
export const CT_EVENTS = 'new,destroy,reply'
/**
 * The event mask of a passive listener's new flows beyond its sample (passive.maxFlowsPerSecond):
 * one event fwdd never causes, so the kernel reports nothing of them. A mask of 0 is no mask (the
 * kernel's default: every event). iptables names it `secmark` (no SECMARK/CONNSECMARK rule is
 * fwdd's); nft 1.0.6 does not parse `secmark` here, so nftables uses `label` (fwdd sets no ct label).
 */
export const CT_EVENTS_UNSAMPLED = 'secmark'
export const NFT_CT_EVENTS_UNSAMPLED = 'label'
/** nat: entry from PREROUTING; keeps only allowed sources going to local addresses. */
export const NAT_PREROUTING = 'FWD-PREROUTING'
/** nat: dispatch by protocol and port to the listener chains. */
export const NAT_SERVICES = 'FWD-SERVICES'
/** nat: masquerade of marked (forwarded) flows only. */
export const NAT_POSTROUTING = 'FWD-POSTROUTING'
/** filter: accept of marked flows, so a FORWARD policy of DROP does not break forwarding. */
export const FILTER_FORWARD = 'FWD-FORWARD'
/** filter: refuse at once what reached a listener port without being forwarded. */
export const FILTER_INPUT = 'FWD-INPUT'

/** nat chain of one listener: marks the flow and picks a target. */
export function listenerChain(name: string): string {
  return `FWD-L-${name}`
}

/** filter chain of one listener: one accept per target, whose counters are the per-target bytes. */
export function listenerFilterChain(name: string): string {
  return `FWD-F-${name}`
}

export interface Jump {
  table: Table
  /** The built-in chain the jump lives in. */
  from: string
  to: string
  /** The rule spec as iptables-save prints it, without `-A <from> `. */
  spec: string
  /**
   * The jump must come before every rule of other tools in its chain: in nat PREROUTING the first
   * DNAT wins, so a DNAT another tool inserted above fwdd's jump would take the listener's traffic
   * while fwdd reports itself in sync. A verify moves such a jump back to the top (a drift repair).
   */
  first?: true
}

/** The jump rules from built-in chains into fwdd's chains, inserted at the top of each. */
export const JUMPS: readonly Jump[] = [
  // Only tcp SYNs take this jump (iptables-save prints `--syn` this way): every other packet leaves
  // raw PREROUTING after one rule. Its position does not matter (no verdict is taken in FWD-RAW).
  { table: 'raw', from: 'PREROUTING', to: RAW_PREROUTING, spec: `-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m comment --comment fwdd -j ${RAW_PREROUTING}` },
  { table: 'nat', from: 'PREROUTING', to: NAT_PREROUTING, spec: `-m comment --comment fwdd -j ${NAT_PREROUTING}`, first: true },
  { table: 'nat', from: 'POSTROUTING', to: NAT_POSTROUTING, spec: `-m comment --comment fwdd -j ${NAT_POSTROUTING}` },
  { table: 'filter', from: 'FORWARD', to: FILTER_FORWARD, spec: `-m comment --comment fwdd -j ${FILTER_FORWARD}` },
  { table: 'filter', from: 'INPUT', to: FILTER_INPUT, spec: `-m comment --comment fwdd -j ${FILTER_INPUT}` },
]

export function isFwdChain(name: string): boolean {
  return name.startsWith(CHAIN_PREFIX)
}

/**
 * Names of everything fwdd owns in the kernel. Every chain starts with `FWD-` (CONTRACT.md): that
 * prefix is how cleanup, adoption and drift detection tell fwdd's chains from everyone else's.
 */

export const CHAIN_PREFIX = 'FWD-'

export type Table = 'nat' | 'filter'

/** The connmark bit that marks flows fwdd forwarded; MASQUERADE and the FORWARD accept match it. */
export const FORWARD_MARK = '0x40000/0x40000'

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
  { table: 'nat', from: 'PREROUTING', to: NAT_PREROUTING, spec: `-m comment --comment fwdd -j ${NAT_PREROUTING}`, first: true },
  { table: 'nat', from: 'POSTROUTING', to: NAT_POSTROUTING, spec: `-m comment --comment fwdd -j ${NAT_POSTROUTING}` },
  { table: 'filter', from: 'FORWARD', to: FILTER_FORWARD, spec: `-m comment --comment fwdd -j ${FILTER_FORWARD}` },
  { table: 'filter', from: 'INPUT', to: FILTER_INPUT, spec: `-m comment --comment fwdd -j ${FILTER_INPUT}` },
]

export function isFwdChain(name: string): boolean {
  return name.startsWith(CHAIN_PREFIX)
}

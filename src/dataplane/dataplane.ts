/**
 * The boundary between the daemon's middle and the kernel: one interface, two backends
 * (iptables, the default operators can read; nftables, verdict maps that cost the same at 10,000
 * listeners as at one). The reconciler only sees this interface; it never names a chain or a table.
 */
import type { Runner } from '../process/runner.js'
import type { RenderInput } from './render.js'
import type { ApplyResult } from './applier.js'

export type { ApplyResult } from './applier.js'
export type { RenderInput } from './render.js'

export interface Dataplane {
  /** Shown as status.node.backend: 'iptables-nft' | 'iptables-legacy' | 'nftables'. */
  readonly name: string
  /**
   * Reads the kernel; true when fwdd's rules are there (then the first apply diffs against them:
   * fail-static adoption). Removes the OTHER backend's rules if present (switching backends keeps
   * established flows: conntrack entries outlive the rules that made them).
   */
  adopt(): Promise<boolean>
  /**
   * Renders and writes the rule set for this input in one transaction. `verify`: read the kernel
   * and repair drift; `entries`: read and repair only the entry points (the built-in chains fwdd
   * jumps from), trusting what was last applied for fwdd's own chains. Idempotent.
   */
  apply(input: RenderInput, opts: { verify: boolean; entries?: boolean }): Promise<ApplyResult>
  /** Per-target bytes/packets keyed by targetKey(listener, address, port). */
  counters(): Promise<Map<string, { bytes: number; packets: number }>>
  /** The rule set as applied, for `fwdctl rules` (iptables-save text or the nft table). */
  rulesText(): Promise<string>
  /** Removes every chain/table and jump fwdd made. dryRun lists what would go and changes nothing. */
  cleanup(opts?: { dryRun?: boolean }): Promise<{ removed: string[] }>
  /**
   * A conntrack event listener (the passive health watch) now runs: the backend re-creates whatever
   * sets the event mask only if one ran when it was written, at the next apply. iptables only: an
   * xt_CT template gets its event mask only if some process listened to conntrack events when the
   * rule was loaded (nf_conntrack_events=2, the default since Linux 5.19); nftables sets the mask
   * on each new flow, so it needs nothing.
   */
  renewEventMask?(): void
  /** Starts watching the ruleset for changes made by others (nft monitor); calls onChange at once on a change; returns stop. */
  watch(onChange: (change: RulesetChange) => void): () => void
}

/** A change to the ruleset that concerns fwdd, seen by the watch. */
export interface RulesetChange {
  /**
   * True: certainly someone else's change: `nft monitor` named the writing process and it is not
   * one fwdd started, or the change is one a running fwdd never makes (its nft table deleted).
   * False: told from fwdd's own writes by timing only (an `nft` that prints no writer), so it may
   * still be the late echo of fwdd's own write.
   */
  attributed: boolean
  /**
   * Every line of the change was within the entry points (iptables: the built-in chains fwdd jumps
   * from), so a verify of those alone repairs it; false: it may have touched fwdd's own chains.
   */
  entriesOnly: boolean
  /**
   * The watch lost events (`nft monitor`: "We lost some netlink events!", its socket overran during
   * a burst such as the echo of a full write at 10,000 listeners): whatever happened meanwhile is
   * unknown, so a full verify is due, though most likely nothing but fwdd's own echo was lost.
   */
  lost?: true
}

/** Key of a target's counters: `${listener}|${address}:${port}`. */
export function targetKey(listener: string, address: string, port: number): string {
  return `${listener}|${address}:${port}`
}

export type BackendChoice = 'iptables' | 'nftables'

/**
 * Builds the configured backend. `iptablesOverride` is FWDD_IPTABLES (nft | legacy). The warning
 * (when set) says why the iptables variant chosen may be wrong; log it.
 */
export async function createDataplane(runner: Runner, opts: { backend: BackendChoice; iptablesOverride?: string }): Promise<Dataplane & { warning?: string }> {
  if (opts.backend === 'nftables') {
    const { NftDataplane } = await import('./nft-dataplane.js')
    const { IptablesDataplane } = await import('./iptables-dataplane.js')
    // Switching from iptables: remove its chains and jumps (flows keep their conntrack NAT).
    return new NftDataplane(runner, async () => {
      const ipt = await IptablesDataplane.create(runner, opts.iptablesOverride).catch(() => null)
      if (!ipt) return []
      const r = await ipt.applier.cleanup()
      return r.chainsDeleted + r.jumpsDeleted > 0 ? [`iptables: ${r.chainsDeleted} chains, ${r.jumpsDeleted} jumps`] : []
    })
  }
  const { IptablesDataplane } = await import('./iptables-dataplane.js')
  return IptablesDataplane.create(runner, opts.iptablesOverride)
}

/**
 * The iptables backend (the default): the Applier's one `--noflush` transaction per sync over the
 * renderer's O(log n) layout, behind the Dataplane interface. Per-target bytes and packets come
 * from conntrack accounting (FWD-FORWARD is one rule for every packet), keyed back to listeners by
 * protocol and listener port.
 */
import type { Runner } from '../process/runner.js'
import { Applier, type ApplyResult } from './applier.js'
import { RAW_PREROUTING, TABLES } from './chains.js'
import { detectBackend } from './backend.js'
import type { Dataplane, RulesetChange } from './dataplane.js'
import { FlowCounters } from './flow-counters.js'
import { RulesetMonitor, iptablesEntryGone, iptablesInEntries } from './monitor.js'
import { NFT_TABLE } from './nft-render.js'
import { RenderMemo, renderRuleSet, type RenderInput } from './render.js'
import { ensureConntrackAccounting } from './sysctl.js'

export class IptablesDataplane implements Dataplane {
  readonly name: string
  readonly warning?: string
  readonly applier: Applier
  private readonly monitor: RulesetMonitor
  private readonly flows: FlowCounters
  /** Chains rendered before, reused when unchanged (a flip renders one chain). */
  private readonly memo = new RenderMemo()

  private constructor(private readonly runner: Runner, applier: Applier, warning?: string) {
    this.applier = applier
    this.name = `iptables-${applier.backend.name}`
    if (warning !== undefined) this.warning = warning
    this.flows = new FlowCounters(runner)
    // iptables-nft writes the `ip raw`, `ip nat` and `ip filter` nf_tables tables; legacy is invisible to nft monitor.
    this.monitor = new RulesetMonitor(runner, (line) => applier.backend.name === 'nft' && / ip (raw|nat|filter) /.test(` ${line} `), iptablesEntryGone, iptablesInEntries)
  }

  static async create(runner: Runner, override?: string): Promise<IptablesDataplane> {
    const backend = await detectBackend(runner, override)
    return new IptablesDataplane(runner, new Applier(runner, backend), backend.warning)
  }

  async adopt(): Promise<boolean> {
    await ensureConntrackAccounting()
    await this.monitor.own(() => removeNftTable(this.runner))
    const kernel = await this.applier.readKernel()
    if (!Applier.hasFwdState(kernel)) return false
    this.applier.adopt(kernel)
    return true
  }

  async apply(input: RenderInput, opts: { verify: boolean; entries?: boolean }): Promise<ApplyResult> {
    this.flows.setListeners(input)
    return this.monitor.own(() => this.applier.apply(renderRuleSet(input, this.memo), opts))
  }

  /** FWD-RAW's xt_CT templates are made again, now that a conntrack event listener runs. */
  renewEventMask(): void {
    this.applier.renew('raw', RAW_PREROUTING)
  }

  counters(): Promise<Map<string, { bytes: number; packets: number }>> {
    return this.flows.read()
  }

  rulesText(): Promise<string> {
    return this.applier.savedText()
  }

  async cleanup(opts: { dryRun?: boolean } = {}): Promise<{ removed: string[] }> {
    const kernel = await this.applier.readKernel()
    const removed: string[] = []
    for (const table of TABLES) {
      for (const [from, list] of kernel.tables[table].jumps) for (const j of list) removed.push(`${table}/${from}: ${j.spec}`)
      for (const c of kernel.tables[table].fwdChains.keys()) removed.push(`${table}/${c}`)
    }
    if (await hasNftTable(this.runner)) removed.push(`nft table ip ${NFT_TABLE}`)
    if (!opts.dryRun) {
      await this.monitor.own(async () => {
        await this.applier.cleanup()
        await removeNftTable(this.runner)
      })
    }
    return { removed }
  }

  watch(onChange: (change: RulesetChange) => void): () => void {
    return this.monitor.watch(onChange)
  }
}

async function hasNftTable(runner: Runner): Promise<boolean> {
  try {
    return (await runner.run('nft', ['list', 'table', 'ip', NFT_TABLE])).exitCode === 0
  } catch {
    return false // no nft installed: there cannot be an nft table either
  }
}

/** Removes the nftables backend's table (switching backends); established flows keep their conntrack NAT. */
export async function removeNftTable(runner: Runner): Promise<void> {
  if (await hasNftTable(runner)) await runner.run('nft', ['delete', 'table', 'ip', NFT_TABLE])
}

/**
 * The nftables backend: fwdd's own table `ip fwdd`, written in one `nft -f` transaction per sync
 * that names nothing outside it. Only the blocks that differ are written: a chain is flushed and
 * refilled, a map or set gets element deletes and adds, so a target flip rewrites one listener
 * chain (O(1)) whatever the listener count. Per-target bytes come from conntrack accounting
 * (flow-counters.ts). Verify reads `nft -s list table` and compares block by block with the
 * rendering.
 */
import type { Runner } from '../process/runner.js'
import { FwdError } from '../errors.js'
import type { ApplyResult } from './applier.js'
import type { Dataplane, RulesetChange } from './dataplane.js'
import { NFT_BASE_CHAINS, RulesetMonitor, nftEntryGone, nftInEntries, watchTableDeletion } from './monitor.js'
import { parseNftTable } from './nft-parse.js'
import { FlowCounters } from './flow-counters.js'
import { NFT_TABLE, NftMemo, renderNft, sameBlock, type NftBlock, type NftModel } from './nft-render.js'
import { ensureConntrackAccounting } from './sysctl.js'
import type { RenderInput } from './render.js'

const T = `ip ${NFT_TABLE}`
const BASE: ReadonlySet<string> = new Set(NFT_BASE_CHAINS)

export class NftDataplane implements Dataplane {
  readonly name = 'nftables'
  private last: NftModel | null = null
  /** Blocks rendered before, reused when unchanged (a flip renders one chain). */
  private readonly memo = new NftMemo()
  private readonly flows: FlowCounters
  private readonly monitor: RulesetMonitor

  constructor(private readonly runner: Runner, private readonly otherCleanup?: () => Promise<string[]>) {
    this.monitor = new RulesetMonitor(runner, (line) => line.includes(` ${T} `) || line.endsWith(` ${T}`), nftEntryGone, nftInEntries)
    this.flows = new FlowCounters(runner)
  }

  async readKernel(): Promise<NftModel | null> {
    const r = await this.runner.run('nft', ['-s', 'list', 'table', 'ip', NFT_TABLE], { timeoutMs: 30000 })
    if (r.exitCode !== 0) {
      if (/No such file or directory/.test(r.stderr)) return null
      throw new FwdError('FWD_ERR_IPTABLES_SAVE', `reading the nft table ${T}: nft exited ${r.exitCode}: ${r.stderr.trim()}`)
    }
    return parseNftTable(r.stdout)
  }

  async adopt(): Promise<boolean> {
    await ensureConntrackAccounting()
    if (this.otherCleanup) await this.monitor.own(this.otherCleanup)
    const kernel = await this.readKernel()
    if (kernel === null) return false
    this.last = kernel
    return true
  }

  async apply(input: RenderInput, opts: { verify: boolean; entries?: boolean }): Promise<ApplyResult> {
    this.flows.setListeners(input)
    const want = renderNft(input, this.memo)
    const verify = opts.verify || this.last === null
    // An entries verify: another process changed the base chains (the watch saw it). They are
    // written anew, unread, with whatever else changed since the last write. Why unread: they
    // hold only fwdd's few rules, so writing all three is one small transaction (~50 ms at 10,000
    // listeners), while reading them is not cheap: nft 1.0.6 fetches every rule of the table to
    // list one chain (~130 ms at 10,000), and a batch of `list chain` commands fails in it (only
    // the batch's last chain is fetched). Reported as one drift, `nft/base chains`.
    const blind = !verify && opts.entries === true
    const have: NftModel = verify ? ((await this.readKernel()) ?? new Map<string, NftBlock>()) : (this.last ?? new Map<string, NftBlock>())
    const result: ApplyResult = { chainsWritten: 0, chainsDeleted: 0, jumpsFixed: 0, rulesWritten: 0, elementsWritten: 0, drift: [] }
    const declare: string[] = []
    const elemDel: string[] = []
    const elemAdd: string[] = []
    const fill: string[] = []
    const remove: string[] = []
    // Every block is declared before any is filled: maps name chains, rules name sets and maps.
    if (blind) result.drift.push('nft/base chains')
    for (const [key, b] of want) {
      const forced = blind && b.kind === 'chain' && BASE.has(b.name)
      const cur = forced ? undefined : have.get(key)
      if (cur === b) continue
      const sameDecl = cur !== undefined && cur.decl.join('\n') === b.decl.join('\n')
      // A set or map declared the same: its elements are diffed (from the render's own account of
      // what changed when the kernel holds the block it patched: a flip costs its few elements).
      const diff = sameDecl && b.kind !== 'chain' ? elementDiff(cur, b) : null
      if (diff ? diff.gone.length + diff.fresh.length === 0 : cur !== undefined && sameBlock(cur, b)) continue
      const prev = this.last?.get(key)
      if (verify && this.last && prev && (!cur || !sameBlock(prev, cur))) result.drift.push(`nft/${key}`)
      if (forced) fill.push(`flush chain ${T} ${b.name}`)
      if (!cur || !sameDecl) {
        if (cur && b.kind !== 'chain') {
          // A set or map declared differently (someone changed its type) cannot be altered in place.
          remove.push(`delete ${b.kind} ${T} ${b.name}`)
          declare.push(declaration(b))
          if (b.elements.length > 0) elemAdd.push(`add element ${T} ${b.name} { ${b.elements.join(', ')} }`)
          result.chainsWritten++
          continue
        }
        declare.push(declaration(b))
      }
      if (b.kind === 'chain') {
        if (cur) fill.push(`flush chain ${T} ${b.name}`)
        for (const r of b.rules) fill.push(`add rule ${T} ${b.name} ${r}`)
        result.rulesWritten += b.rules.length
      } else {
        const { gone, fresh } = diff ?? { gone: [], fresh: b.elements }
        if (gone.length > 0) elemDel.push(`delete element ${T} ${b.name} { ${gone.map(elementKey).join(', ')} }`)
        if (fresh.length > 0) elemAdd.push(`add element ${T} ${b.name} { ${fresh.join(', ')} }`)
        result.elementsWritten = (result.elementsWritten ?? 0) + gone.length + fresh.length
      }
      result.chainsWritten++
    }
    for (const [key, b] of have) {
      if (want.has(key)) continue
      if (b.kind === 'chain') fill.push(`flush chain ${T} ${b.name}`)
      remove.push(`delete ${b.kind} ${T} ${b.name}`)
      result.chainsDeleted++
    }
    // Maps go before the chains and counters they name.
    remove.sort((a, b) => rank(a) - rank(b))
    const script = [...declare, ...elemDel, ...elemAdd, ...fill, ...remove]
    if (script.length > 0) {
      try {
        await this.monitor.own(() => this.run([`add table ${T}`, ...script]))
      } catch (err: unknown) {
        if (blind) {
          // Something the base chains name is gone too (the table was deleted, and the watch told
          // its first line alone): the full verify reads what is left and repairs it. `this.last`
          // is kept for it, so that what it repairs is counted as drift, not as a first write.
          const full = await this.apply(input, { verify: true })
          return { ...full, drift: [...result.drift, ...full.drift] }
        }
        this.last = null
        throw err
      }
    }
    this.last = want
    return result
  }

  counters(): Promise<Map<string, { bytes: number; packets: number }>> {
    return this.flows.read()
  }

  async rulesText(): Promise<string> {
    const r = await this.runner.run('nft', ['list', 'table', 'ip', NFT_TABLE], { timeoutMs: 30000 })
    if (r.exitCode !== 0) return /No such file/.test(r.stderr) ? '' : r.stdout
    return r.stdout
  }

  async cleanup(opts: { dryRun?: boolean } = {}): Promise<{ removed: string[] }> {
    const removed: string[] = []
    const kernel = await this.readKernel()
    if (kernel !== null) {
      removed.push(`nft table ${T}`)
      if (!opts.dryRun) await this.monitor.own(() => this.run([`delete table ${T}`]))
    }
    this.last = null
    return { removed }
  }

  watch(onChange: (change: RulesetChange) => void): () => void {
    const stopFull = this.monitor.watch(onChange)
    // Certain without a writer: fwdd never deletes its own table while it runs (watchTableDeletion).
    const stopTables = watchTableDeletion(this.runner, T, () => this.monitor.writingNow, () => onChange({ attributed: true, entriesOnly: false }))
    return () => {
      stopFull()
      stopTables()
    }
  }

  private async run(lines: string[]): Promise<void> {
    const r = await this.runner.run('nft', ['-f', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: 60000 })
    if (r.exitCode !== 0) throw new FwdError('FWD_ERR_IPTABLES_RESTORE', `applying the rule set: nft -f exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(0, 6).join(' ')}`)
  }
}

function declaration(b: NftBlock): string {
  if (b.kind === 'counter') return `add counter ${T} ${b.name}`
  if (b.kind === 'chain') return b.decl.length > 0 ? `add chain ${T} ${b.name} { ${b.decl.join(' ')} }` : `add chain ${T} ${b.name}`
  return `add ${b.kind} ${T} ${b.name} { ${b.decl.map((d) => `${d};`).join(' ')} }`
}

/** The elements `cur` has and `want` does not (gone), and the other way round (fresh). */
function elementDiff(cur: NftBlock, want: NftBlock): { gone: readonly string[]; fresh: readonly string[] } {
  if (want.delta && want.delta.from === cur) return want.delta
  const gone: string[] = []
  const fresh: string[] = []
  const had = new Set(cur.elements)
  const wanted = new Set(want.elements)
  for (const e of had) if (!wanted.has(e)) gone.push(e)
  for (const e of want.elements) if (!had.has(e)) fresh.push(e)
  return { gone, fresh }
}

/** The key part of a map element (`tcp . 8000 : goto l-web` -> `tcp . 8000`), for delete element. */
function elementKey(e: string): string {
  const i = e.indexOf(' : ')
  return i < 0 ? e : e.slice(0, i)
}

function rank(line: string): number {
  return line.startsWith('delete map') ? 0 : line.startsWith('delete set') ? 1 : line.startsWith('delete chain') ? 2 : 3
}

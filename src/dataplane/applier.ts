/**
 * The only iptables adapter. It writes fwdd's chains in one `iptables-restore --noflush`
 * transaction per sync, and only the chains whose content differs from the kernel's (or, between
 * verifications, from what it last applied): unchanged chains keep their counters and cost
 * nothing. Jumps from built-in chains are ensured at the top, never duplicated, and a verify moves
 * a jump that must be first (nat PREROUTING) back above rules other tools inserted before it.
 * Chains fwdd no longer needs are deleted. Rules and chains of other tools are never named, so never touched.
 */
import type { Runner } from '../process/runner.js'
import type { Backend } from './backend.js'
import { JUMPS, TABLES, isFwdChain, type Table } from './chains.js'
import { parseCounters, parseSavedTable, rulesAbove, type CounterRow, type SavedTable } from './parse-save.js'
import type { RuleSet } from './render.js'
import { FwdError } from '../errors.js'

export interface ApplyOptions {
  /** Read the kernel and repair any difference, instead of trusting what was last applied. */
  verify: boolean
  /**
   * Read and repair only the built-in chains fwdd jumps from (`iptables -S CHAIN`: milliseconds,
   * where the full read takes a second at 10,000 listeners), trusting what was last applied for
   * fwdd's own chains. For a change the ruleset watch saw stay within those chains.
   */
  entries?: boolean
}

export interface ApplyResult {
  /** Chains written (declared and refilled) in this transaction. */
  chainsWritten: number
  chainsDeleted: number
  jumpsFixed: number
  /** Rule lines sent to iptables-restore (or nft). */
  rulesWritten: number
  /** Set and map elements added or deleted (nftables; a flip there is a few elements). */
  elementsWritten?: number
  /** Chains (or jumps) found changed in the kernel behind fwdd's back (only when verifying). */
  drift: string[]
}

export interface KernelState {
  tables: Record<Table, SavedTable>
}

/** Applies rule sets. Idempotent: applying what is already there runs no iptables-restore. */
export class Applier {
  private lastApplied: RuleSet | null = null
  /** `table/chain` to write at the next apply even when the kernel holds the same rules. */
  private readonly renewals = new Set<string>()

  constructor(private readonly runner: Runner, readonly backend: Backend, private readonly lockWaitSeconds = 5) {}

  /** Reads fwdd's part of the kernel's rule set (every table fwdd writes). */
  async readKernel(): Promise<KernelState> {
    const tables = {} as Record<Table, SavedTable>
    for (const t of TABLES) tables[t] = parseSavedTable(await this.save(t, false), t)
    return { tables }
  }

  /**
   * The built-in chains fwdd jumps from, read one by one (`iptables -t TABLE -S CHAIN`), with
   * fwdd's own chains taken from `applied` (what was last written): the kernel state an entries
   * verify compares against. iptables-nft lists one chain without fetching the whole table.
   */
  async readEntries(applied: RuleSet): Promise<KernelState> {
    const iptables = this.backend.save.replace(/-save$/, '')
    const tables = {} as Record<Table, SavedTable>
    for (const table of TABLES) {
      let text = `*${table}\n`
      const rules: string[] = []
      for (const from of new Set(JUMPS.filter((j) => j.table === table).map((j) => j.from))) {
        const r = await this.runner.run(iptables, ['-w', String(this.lockWaitSeconds), '-t', table, '-S', from], { timeoutMs: 30000 })
        if (r.exitCode !== 0) throw new FwdError('FWD_ERR_IPTABLES_SAVE', `reading chain ${from} of the ${table} table: ${iptables} exited ${r.exitCode}: ${r.stderr.trim()}`)
        text += `:${from} ACCEPT [0:0]\n`
        rules.push(...r.stdout.split('\n').filter((l) => l.startsWith('-A ')))
      }
      const saved = parseSavedTable(`${text}${rules.join('\n')}\nCOMMIT\n`, table)
      tables[table] = { ...saved, fwdChains: new Map(applied[table]) }
    }
    return { tables }
  }

  /** Whether any fwdd chain exists in the kernel (a previous daemon left rules to adopt). */
  static hasFwdState(state: KernelState): boolean {
    return TABLES.some((t) => state.tables[t].fwdChains.size > 0)
  }

  /**
   * Takes the kernel's current fwdd chains as "last applied", so that the next partial sync writes
   * only what differs from them: how a restarted daemon adopts its predecessor's rules.
   */
  adopt(state: KernelState): void {
    this.lastApplied = ruleSetOf((t) => state.tables[t].fwdChains)
  }

  /**
   * Has the next apply write `chain` of `table` even if unchanged: flushing and refilling it loads
   * its rules anew, so kernel state made when a rule is loaded (an xt_CT template) is made again.
   */
  renew(table: Table, chain: string): void {
    this.renewals.add(`${table}/${chain}`)
  }

  /** Writes the difference between `desired` and the kernel. On failure nothing is recorded as applied. */
  async apply(desired: RuleSet, options: ApplyOptions): Promise<ApplyResult> {
    const verify = options.verify || this.lastApplied === null
    const kernel = verify ? await this.readKernel() : options.entries ? await this.readEntries(this.lastApplied!) : null
    const result: ApplyResult = { chainsWritten: 0, chainsDeleted: 0, jumpsFixed: 0, rulesWritten: 0, drift: [] }
    let text = ''
    for (const table of TABLES) {
      const want = desired[table]
      const have = kernel ? kernel.tables[table].fwdChains : this.lastApplied![table]
      const last = this.lastApplied?.[table]
      const declare: string[] = []
      const rules: string[] = []
      const tail: string[] = []
      for (const [chain, lines] of want) {
        const cur = have.get(chain)
        if (cur !== undefined && sameLines(cur, lines) && !this.renewals.has(`${table}/${chain}`)) continue
        if (kernel && last && !sameLines(last.get(chain) ?? [], cur ?? []) && last.has(chain)) result.drift.push(`${table}/${chain}`)
        declare.push(`:${chain} - [0:0]`)
        rules.push(...lines)
        result.chainsWritten++
      }
      for (const chain of have.keys()) {
        if (want.has(chain) || !isFwdChain(chain)) continue
        declare.push(`:${chain} - [0:0]`)
        tail.push(`-X ${chain}`)
        result.chainsDeleted++
      }
      if (kernel) {
        for (const jump of JUMPS.filter((j) => j.table === table)) {
          const list = (kernel.tables[table].jumps.get(jump.from) ?? []).filter((j) => j.spec === jump.spec)
          const above = jump.first ? rulesAbove(kernel.tables[table], jump) : []
          // This jump's ops in order (deletes first, so `-D` never takes the copy just inserted).
          const ops: string[] = []
          if (list.length === 0) {
            // Drift only if fwdd had made it: a jump to a chain it never wrote (adopting the rules of
            // an older fwdd without FWD-RAW) is new, not repaired.
            if (this.lastApplied?.[table].has(jump.to)) result.drift.push(`${table}/${jump.from}->${jump.to}`)
            ops.push(`-I ${jump.from} 1 ${jump.spec}`)
          } else if (above.length > 0) {
            // Another tool inserted a rule above the jump (`-I`): move the jump back to the top.
            result.drift.push(`${table}/${jump.from}->${jump.to} below "${above[0]}"`)
            for (let i = 0; i < list.length; i++) ops.push(`-D ${jump.from} ${jump.spec}`)
            ops.push(`-I ${jump.from} 1 ${jump.spec}`)
          } else {
            for (let i = 1; i < list.length; i++) ops.push(`-D ${jump.from} ${jump.spec}`)
          }
          tail.unshift(...ops)
          result.jumpsFixed += above.length > 0 ? 1 : ops.length
        }
      }
      if (declare.length + rules.length + tail.length === 0) continue
      // Jumps to chains that did not exist yet must come after the chains are declared.
      text += [`*${table}`, ...declare, ...rules, ...tail.filter((l) => !l.startsWith('-X')), ...tail.filter((l) => l.startsWith('-X')), 'COMMIT', ''].join('\n')
      result.rulesWritten += rules.length
    }
    if (text !== '') {
      try {
        await this.restore(text)
      } catch (err: unknown) {
        // What the kernel holds is now uncertain: the next apply reads it instead of trusting memory.
        this.lastApplied = null
        throw err
      }
    }
    this.lastApplied = ruleSetOf((t) => desired[t])
    this.renewals.clear()
    return result
  }

  /** Rule counters of fwdd's chains in a table (for per-target bytes and packets). */
  async counters(table: Table): Promise<CounterRow[]> {
    return parseCounters(await this.save(table, true), table)
  }

  /** The applied rule set as iptables-save text (fwdd's chains and jumps only), for `fwdctl rules`. */
  async savedText(): Promise<string> {
    const out: string[] = []
    for (const table of TABLES) {
      const text = await this.save(table, true)
      out.push(`*${table}`)
      for (const line of text.split('\n')) {
        if (/^:FWD-/.test(line) || / -j FWD-/.test(line) || /^\[\d+:\d+\] -A FWD-/.test(line) || /^-A FWD-/.test(line)) out.push(line)
      }
      out.push('COMMIT')
    }
    return `${out.join('\n')}\n`
  }

  /** Removes every fwdd chain and jump (for `fwdctl cleanup`). Idempotent: nothing there, nothing run. */
  async cleanup(): Promise<{ chainsDeleted: number; jumpsDeleted: number }> {
    const kernel = await this.readKernel()
    let text = ''
    let chainsDeleted = 0
    let jumpsDeleted = 0
    for (const table of TABLES) {
      const saved = kernel.tables[table]
      const lines: string[] = []
      for (const [from, list] of saved.jumps) {
        for (const j of list) {
          lines.push(`-D ${from} ${j.spec}`)
          jumpsDeleted++
        }
      }
      const chains = [...saved.fwdChains.keys()]
      chains.forEach((c) => lines.push(`:${c} - [0:0]`))
      lines.sort((a, b) => (a.startsWith(':') ? 0 : 1) - (b.startsWith(':') ? 0 : 1))
      chains.forEach((c) => lines.push(`-X ${c}`))
      chainsDeleted += chains.length
      if (lines.length > 0) text += [`*${table}`, ...lines, 'COMMIT', ''].join('\n')
    }
    if (text !== '') await this.restore(text)
    this.lastApplied = null
    return { chainsDeleted, jumpsDeleted }
  }

  private async save(table: Table, counters: boolean): Promise<string> {
    const args = ['-t', table, ...(counters ? ['-c'] : [])]
    const r = await this.runner.run(this.backend.save, args, { timeoutMs: 30000 })
    if (r.exitCode !== 0) throw new FwdError('FWD_ERR_IPTABLES_SAVE', `reading the ${table} table: ${this.backend.save} exited ${r.exitCode}: ${r.stderr.trim()}`)
    return r.stdout
  }

  private async restore(text: string): Promise<void> {
    const r = await this.runner.run(this.backend.restore, ['--noflush', `--wait=${this.lockWaitSeconds}`], { input: text, timeoutMs: 60000 })
    if (r.exitCode !== 0) {
      throw new FwdError('FWD_ERR_IPTABLES_RESTORE', `applying the rule set: ${this.backend.restore} exited ${r.exitCode}: ${r.stderr.trim()}`)
    }
  }
}

/** A rule set holding a copy of `chains(table)` for every table fwdd writes. */
function ruleSetOf(chains: (table: Table) => ReadonlyMap<string, string[]>): RuleSet {
  const out = {} as RuleSet
  for (const t of TABLES) out[t] = new Map(chains(t))
  return out
}

/** Identity first: a memoized render hands back the same array for every chain it did not change. */
function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a === b || a.length === b.length && a.every((l, i) => l === b[i])
}

/**
 * Reads `iptables-save` text: which chains exist, the rules of fwdd's chains, where the jumps into
 * them sit, and rule counters. Pure, so drift detection and adoption are tested on text.
 */
import { isFwdChain, type Jump } from './chains.js'

export interface SavedTable {
  /** Every chain declared in the table (built-in and user). */
  chains: Set<string>
  /** fwdd's chains and their rules, as `-A CHAIN ...` lines without counters. */
  fwdChains: Map<string, string[]>
  /** Rules of built-in chains that jump to an fwdd chain: chain -> list of (1-based position, spec). */
  jumps: Map<string, Array<{ position: number; spec: string }>>
  /** Count of rules outside fwdd's chains (used to tell which backend holds rules). */
  foreignRules: number
  /** Rules of the chains that are not fwdd's, in kernel order, as specs without `-A CHAIN `. */
  otherRules: Map<string, string[]>
}

export interface CounterRow {
  chain: string
  rule: string
  packets: number
  bytes: number
}

/** Parses one table of `iptables-save [-c] -t TABLE` output. Counters are stripped. */
export function parseSavedTable(text: string, table: string): SavedTable {
  const out: SavedTable = { chains: new Set(), fwdChains: new Map(), jumps: new Map(), foreignRules: 0, otherRules: new Map() }
  let inTable = false
  const positions = new Map<string, number>()
  for (const rawLine of text.split('\n')) {
    const line = stripCounters(rawLine.trimEnd())
    if (line.startsWith('*')) {
      inTable = line.slice(1) === table
      continue
    }
    if (!inTable) continue
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0] ?? ''
      out.chains.add(name)
      if (isFwdChain(name)) out.fwdChains.set(name, [])
    } else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1] ?? ''
      const pos = (positions.get(chain) ?? 0) + 1
      positions.set(chain, pos)
      if (isFwdChain(chain)) {
        out.fwdChains.get(chain)?.push(line)
        continue
      }
      out.foreignRules++
      const spec = line.slice(`-A ${chain} `.length)
      const rules = out.otherRules.get(chain) ?? []
      rules.push(spec)
      out.otherRules.set(chain, rules)
      const m = / -j (FWD-[^ ]+)$/.exec(line)
      if (m) {
        const list = out.jumps.get(chain) ?? []
        list.push({ position: pos, spec })
        out.jumps.set(chain, list)
      }
    }
  }
  return out
}

/** Rules of fwdd's chains with their `[packets:bytes]` counters, from `iptables-save -c`. */
export function parseCounters(text: string, table: string): CounterRow[] {
  const rows: CounterRow[] = []
  let inTable = false
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) inTable = line.slice(1).trim() === table
    if (!inTable) continue
    const m = /^\[(\d+):(\d+)\] (-A (FWD-[^ ]+) .*)$/.exec(line.trimEnd())
    if (m) rows.push({ chain: m[4]!, rule: m[3]!, packets: Number(m[1]), bytes: Number(m[2]) })
  }
  return rows
}

function stripCounters(line: string): string {
  return line.replace(/^\[\d+:\d+\] /, '').replace(/ \[\d+:\d+\]$/, '')
}

/** Whether a jump is at the top of its chain exactly once, as fwdd keeps it. */
export function jumpState(saved: SavedTable, jump: Jump): { present: boolean; count: number } {
  const list = (saved.jumps.get(jump.from) ?? []).filter((j) => j.spec === jump.spec)
  return { present: list.length > 0, count: list.length }
}

/**
 * Rules of other tools above the first copy of `jump` in its chain (jumps into fwdd's chains do
 * not count), in kernel order. Empty when the jump is first, or absent (jumpState says which).
 */
export function rulesAbove(saved: SavedTable, jump: Jump): string[] {
  const rules = saved.otherRules.get(jump.from) ?? []
  const at = rules.indexOf(jump.spec)
  if (at < 0) return []
  return rules.slice(0, at).filter((r) => !/ -j FWD-[^ ]+$/.test(r))
}

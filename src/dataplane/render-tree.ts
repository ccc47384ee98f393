/**
 * The port-range dispatch tree of the iptables renderer (render.ts) and its memo: items sorted by
 * port go down chains of at most FANOUT entries each, a leaf holding the items' own rules. Pure.
 */
import type { RenderListener, RenderTarget } from './render.js'

/**
 * Remembers, between renders, the rules of each dispatch chain keyed by what they are made of
 * (the listeners' ports, names and rotations under it). A sync that flips one target renders one
 * leaf chain anew and hands back the very same arrays for every other chain, so the applier tells
 * them unchanged by identity: the work of a flip is O(listeners) cheap key checks, not O(rules)
 * string building and compares. Output is identical with or without a memo.
 */
export class RenderMemo {
  readonly chains = new Map<string, { sig: Sig; rules: string[] }>()
}

/**
 * What a memoized chain is made of, compared field by field (no key string is built per listener
 * per sync: at 10,000 listeners those strings were a third of a flip's JS): per entry its kind
 * (0 a listener or a run of ports, 1 a jump to a sub-chain, 2 an event-mask port), its ports, the
 * listener's name and, for a listener, its rotation.
 */
export type SigEntry = readonly [kind: number, lo: number, hi: number, name: string | null, rotation: readonly RenderTarget[] | null]
export type Sig = readonly SigEntry[]

export function sameSig(a: Sig, b: Sig): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x[0] !== y[0] || x[1] !== y[1] || x[2] !== y[2] || x[3] !== y[3]) return false
    if (x[4] !== y[4] && (x[4] === null || y[4] === null || !sameRotation(x[4], y[4]))) return false
  }
  return true
}

/** Same targets in the same order, compared field by field (both renderers' memos ask this per listener per sync). */
export function sameRotation(a: readonly RenderTarget[], b: readonly RenderTarget[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i]!.address !== b[i]!.address || a[i]!.port !== b[i]!.port || a[i]!.weight !== b[i]!.weight) return false
  return true
}

/** A signature the memo may keep: rotations copied, so a caller reusing its objects cannot change it. */
export function keep(sig: Sig): Sig {
  return sig.map((e) => (e[4] === null ? e : [e[0], e[1], e[2], e[3], e[4].map((t) => ({ ...t }))] as const))
}

/** Listeners per dispatch chain: the tree has log8(n) levels and a leaf holds at most 8 listeners. */
export const FANOUT = 8

/**
 * One dispatch tree (nat's listeners, filter's refusals) of one protocol, over items sorted by
 * port, and how to read an item. Read through functions, not per-item objects: a flip renders the
 * whole input, and 10,000 listeners' worth of small objects was most of its garbage.
 */
export interface Tree<T> {
  table: Map<string, string[]>
  top: string
  into: string[]
  prefix: string
  items: readonly T[]
  lo(t: T): number
  hi(t: T): number
  /** The item's memo entry (kind 0), built only when a chain is written. */
  sig(t: T): SigEntry
  /** Whether a remembered entry is this item's (compared without building the item's). */
  matches(t: T, e: SigEntry): boolean
  rules(chain: string, t: T): string[]
  /** The listener the leaf's mark rule covers, if the item is one with inline DNAT rules. */
  marks(t: T): RenderListener | null
  /** The one mark rule of a chain for the listeners it covers. */
  markRule(chain: string, listeners: RenderListener[]): string
  /** The rule of `from` that sends ports a..b down to the sub-chain `to`. */
  jump(from: string, a: number, b: number, to: string): string
}

/**
 * Writes the entries of `from` for items [lo, hi) of a tree: their own rules when at most FANOUT
 * are left (after one mark rule for the leaf's listeners), else a `--dport LO:HI` jump per group of
 * FANOUT^k items. Each sub-chain is memoized by what its direct entries are (an item or a range),
 * compared entry by entry, and every sub-chain is visited, so a change deep in the tree is found
 * while the chains above it keep their arrays.
 */
export function renderTree<T>(tree: Tree<T>, memo: RenderMemo, used: Set<string>): void {
  const { items } = tree
  const walk = (from: string, lo: number, hi: number): void => {
    const size = hi - lo <= FANOUT ? 1 : FANOUT ** Math.ceil(Math.log(hi - lo) / Math.log(FANOUT) - 1e-9) / FANOUT
    const make = (): string[] => {
      const rules: string[] = []
      const own: RenderListener[] = []
      for (let i = lo; i < hi; i += size) {
        const l = Math.min(i + size, hi) - i === 1 ? tree.marks(items[i]!) : null
        if (l) own.push(l)
      }
      if (own.length > 0) rules.push(tree.markRule(from, own))
      for (let i = lo; i < hi; i += size) {
        const end = Math.min(i + size, hi)
        if (end - i === 1) {
          rules.push(...tree.rules(from, items[i]!))
          continue
        }
        const a = tree.lo(items[i]!)
        const b = tree.hi(items[end - 1]!)
        rules.push(tree.jump(from, a, b, `${tree.prefix}-${a}-${b}`))
      }
      return rules
    }
    if (from === tree.top) tree.into.push(...make())
    else {
      used.add(from)
      const hit = memo.chains.get(from)
      let same = hit !== undefined
      let k = 0
      for (let i = lo; same && i < hi; i += size, k++) {
        const end = Math.min(i + size, hi)
        const e = hit!.sig[k]
        same = e !== undefined && (end - i === 1 ? tree.matches(items[i]!, e) : e[0] === 1 && e[1] === tree.lo(items[i]!) && e[2] === tree.hi(items[end - 1]!))
      }
      if (same && k === hit!.sig.length) tree.table.set(from, hit!.rules)
      else {
        const sig: SigEntry[] = []
        for (let i = lo; i < hi; i += size) {
          const end = Math.min(i + size, hi)
          sig.push(end - i === 1 ? tree.sig(items[i]!) : [1, tree.lo(items[i]!), tree.hi(items[end - 1]!), null, null])
        }
        const rules = make()
        memo.chains.set(from, { sig: keep(sig), rules })
        tree.table.set(from, rules)
      }
    }
    for (let i = lo; i < hi; i += size) {
      const end = Math.min(i + size, hi)
      if (end - i > 1) walk(`${tree.prefix}-${tree.lo(items[i]!)}-${tree.hi(items[end - 1]!)}`, i, end)
    }
  }
  walk(tree.top, 0, items.length)
}

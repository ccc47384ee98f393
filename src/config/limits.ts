/**
 * Documented size limits of a config, and the checks that enforce them on the YAML syntax tree
 * BEFORE it is turned into JavaScript values. Doing it on the tree matters: aliases (`*std`) are
 * expanded only by `toJS()`, so a "billion laughs" file is small as text and huge as values, and an
 * alias that points at an anchor that comes later (or at its own container) makes `toJS()` throw or
 * build a cycle. Here each of those becomes a positioned problem instead of a stack trace.
 *
 * The limits are what the benchmarks show fwdd serving (10,000 listeners of two targets each on
 * either backend: bench/results) and far below what stalls a parse.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml'

/** The limits a config must stay within; README "Config limits" documents the same numbers. */
export const CONFIG_LIMITS = {
  /** Bytes of config text (file or userData). Checked before the text is read or parsed. */
  maxBytes: 4 * 1024 * 1024,
  /** Listeners in one config. */
  maxListeners: 10000,
  /** Targets in one listener. */
  maxTargetsPerListener: 1000,
  /** Targets over all listeners. */
  maxTargets: 20000,
  /** YAML nodes after expanding every alias: bounds what `*anchor` reuse may build. */
  maxExpandedNodes: 1_000_000,
} as const

/** A problem found on the tree: `offset` is a character offset into the text. */
export interface TreeProblem {
  offset: number
  path: string
  message: string
}

/** The problem for text longer than the limit (at 1:1, before any parsing). */
export function sizeProblem(bytes: number): string | undefined {
  if (bytes <= CONFIG_LIMITS.maxBytes) return undefined
  return `the config is ${bytes} bytes, more than the limit of ${CONFIG_LIMITS.maxBytes} (4 MiB); split it or remove unused listeners`
}

/**
 * Checks aliases and sizes on a parsed document that has no syntax errors. Returns the first
 * problem found (later ones may be consequences of it), or undefined when `toJS()` is safe.
 */
export function treeProblem(doc: Document): TreeProblem | undefined {
  return aliasProblem(doc) ?? countProblem(doc)
}

function aliasProblem(doc: Document): TreeProblem | undefined {
  // Anchors as yaml's Alias.resolve sees them: the last node with that name before the alias, in
  // document order (a node before its children).
  const anchors = new Map<string, Node>()
  const sizes = new Map<Node, number>()
  const open = new Set<Node>()
  let total = 0
  class Stop { constructor(readonly problem: TreeProblem) {} }
  const offsetOf = (n: Node): number => n.range?.[0] ?? 0
  const walk = (node: unknown): number => {
    if (node === null || node === undefined) return 0
    if (isAlias(node)) {
      const target = anchors.get(node.source)
      if (!target) throw new Stop({ offset: offsetOf(node), path: '(yaml)', message: `alias "*${node.source}" comes before any anchor "&${node.source}"; define the anchor first (above this line)` })
      if (open.has(target)) throw new Stop({ offset: offsetOf(node), path: '(yaml)', message: `alias "*${node.source}" is inside the node it refers to, which would repeat forever; point it at another node` })
      const size = sizes.get(target) ?? 1
      total += size
      if (total > CONFIG_LIMITS.maxExpandedNodes) {
        throw new Stop({ offset: offsetOf(node), path: '(yaml)', message: `aliases expand the config beyond ${CONFIG_LIMITS.maxExpandedNodes} values (nested anchors reused again and again); write the repeated part out or reuse it fewer times` })
      }
      return size
    }
    if (isPair(node)) return walk(node.key) + walk(node.value)
    const n = node as Node
    if (n.anchor) anchors.set(n.anchor, n)
    open.add(n)
    total += 1
    let size = 1
    if (isMap(n) || isSeq(n)) for (const item of n.items) size += walk(item)
    open.delete(n)
    sizes.set(n, size)
    return size
  }
  try {
    walk(doc.contents)
  } catch (err: unknown) {
    if (err instanceof Stop) return err.problem
    throw err
  }
  return undefined
}

function countProblem(doc: Document): TreeProblem | undefined {
  // Counted on the tree as written: an alias to a listener counts as one listener here and is
  // caught by the duplicate-name rule later.
  const root = doc.contents
  if (!isMap(root)) return undefined
  const pair = root.items.find((p) => isScalar(p.key) && p.key.value === 'listeners')
  const listeners = pair?.value
  if (!isSeq(listeners)) return undefined
  if (listeners.items.length > CONFIG_LIMITS.maxListeners) {
    const extra = listeners.items[CONFIG_LIMITS.maxListeners] as Node
    return { offset: extra.range?.[0] ?? 0, path: `listeners.${CONFIG_LIMITS.maxListeners}`, message: `${listeners.items.length} listeners are more than the limit of ${CONFIG_LIMITS.maxListeners}; spread them over more than one scale set` }
  }
  let total = 0
  for (const [i, l] of listeners.items.entries()) {
    if (!isMap(l)) continue
    const targets = l.items.find((p) => isScalar(p.key) && p.key.value === 'targets')?.value
    if (!isSeq(targets)) continue
    const count = targets.items.length
    if (count > CONFIG_LIMITS.maxTargetsPerListener) {
      const extra = targets.items[CONFIG_LIMITS.maxTargetsPerListener] as Node
      return { offset: extra.range?.[0] ?? 0, path: `listeners.${i}.targets.${CONFIG_LIMITS.maxTargetsPerListener}`, message: `${count} targets are more than the limit of ${CONFIG_LIMITS.maxTargetsPerListener} per listener; use an ipGroup or fewer targets` }
    }
    total += count
    if (total > CONFIG_LIMITS.maxTargets) {
      return { offset: (targets as Node).range?.[0] ?? 0, path: `listeners.${i}.targets`, message: `the listeners hold ${total} targets so far, more than the limit of ${CONFIG_LIMITS.maxTargets} in one config; remove targets or spread the listeners over more than one scale set` }
    }
  }
  return undefined
}

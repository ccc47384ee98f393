/**
 * The fast path of a config load: the text read into plain values by js-yaml, with no syntax tree
 * and no positions. A 1 MB config (10,000 listeners) takes the positioned parse (`yaml`'s Document,
 * load.ts) 1.3-3 s of CPU on the bench machine and js-yaml 0.15-0.4 s, and the load is most of a
 * large daemon's start (issue 12). Positions are needed only to report a problem, so load.ts uses
 * these values only for a config that turns out valid, and reads anything else again on the
 * positioned path: every problem keeps its `PATH:LINE:COL` and its wording.
 *
 * The fast path gives up (returns undefined) on anything whose meaning might differ from what the
 * positioned path would make of it, so a config it accepts holds the same values either way:
 * - aliases (`*a`): the positioned path bounds their expansion (limits.ts) before building values;
 * - tags (`!`) and directives (`%YAML 1.1` switches `yaml` to other scalar rules): js-yaml resolves
 *   some of them differently (measured: `!!float 1` is "1" in `yaml`, 1 in js-yaml);
 * - any syntax error, duplicate key, multiple or empty documents (js-yaml throws);
 * - more listeners or targets than CONFIG_LIMITS, so the limit is reported where it is crossed.
 * Plain scalars resolve by YAML 1.2's core schema in both (test/config/fast-parse.test.ts compares
 * the two parsers on a table of scalars and on every valid config of the tests).
 */
import { load } from 'js-yaml'
import { CONFIG_LIMITS } from './limits.js'

/**
 * The values of `text`, or undefined when the fast path cannot vouch for them (see above); never
 * throws. The caller still validates the values: this only parses.
 */
export function fastParse(text: string): unknown {
  if (text.includes('!') || /^%/m.test(text)) return undefined
  let value: unknown
  try {
    value = load(text, { maxAliases: 0 })
  } catch {
    return undefined
  }
  return withinLimits(value) ? value : undefined
}

/** CONFIG_LIMITS' counts on plain values (limits.ts counts the same on the tree, for positions). */
function withinLimits(value: unknown): boolean {
  const listeners = (value as { listeners?: unknown } | null)?.listeners
  if (!Array.isArray(listeners)) return true
  if (listeners.length > CONFIG_LIMITS.maxListeners) return false
  let total = 0
  for (const l of listeners) {
    const targets = (l as { targets?: unknown } | null)?.targets
    if (!Array.isArray(targets)) continue
    if (targets.length > CONFIG_LIMITS.maxTargetsPerListener) return false
    total += targets.length
    if (total > CONFIG_LIMITS.maxTargets) return false
  }
  return true
}

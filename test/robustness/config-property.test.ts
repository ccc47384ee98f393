// Robustness (issue 13): generated configs, over the schema and beyond it, either pass or are
// refused with PATH:LINE:COL; parseConfig never throws and never reports an `(internal)` failure.
// And its fast path (plain values, src/config/fast-parse.ts) never answers otherwise than the
// positioned path alone would.
// FWDD_PROPERTY_RUNS raises the case count for long runs (default 1000).
import { isDeepStrictEqual } from 'node:util'
import t from 'tap'
import fc from 'fast-check'
import { parseConfig, parsePositioned } from '../../src/config/load.js'
import { fastParse } from '../../src/config/fast-parse.js'
import { configText as text } from '../helpers/config-arbitraries.js'

const runs = Number(process.env.FWDD_PROPERTY_RUNS ?? 1000)

t.test('property: every generated config passes or is refused with a position, never a crash', async (t) => {
  const figures = { tried: 0, accepted: 0, rejected: 0, crashes: 0 }
  fc.assert(fc.property(text, (yaml) => {
    figures.tried++
    let r
    try { r = parseConfig(yaml, 'c.yaml') } catch { figures.crashes++; return false }
    if (r.ok) { figures.accepted++; return true }
    figures.rejected++
    return r.problems.length > 0 && r.problems.every((p) => p.line >= 1 && p.col >= 1 && p.path !== '(internal)')
  }), { numRuns: runs })
  t.equal(figures.crashes, 0)
  t.ok(figures.accepted > 0 && figures.rejected > 0, 'both outcomes occur, so the property is not vacuous')
  t.comment(`property figures: ${JSON.stringify(figures)}`)
})

t.test('property: the fast path gives what the positioned path gives, for every generated config', async (t) => {
  const figures = { tried: 0, fast: 0 }
  fc.assert(fc.property(text, (yaml) => {
    figures.tried++
    if (fastParse(yaml) !== undefined) figures.fast++
    let positioned
    try { positioned = parsePositioned(yaml, 'c.yaml') } catch { return true } // parseConfig's catch: the test above
    return isDeepStrictEqual(parseConfig(yaml, 'c.yaml'), positioned)
  }), { numRuns: runs })
  t.ok(figures.fast > 0, 'the fast path took some, so the property is not vacuous')
  t.comment(`property figures: ${JSON.stringify(figures)}`)
})

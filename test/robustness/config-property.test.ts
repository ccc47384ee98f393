// Robustness (issue 13): generated configs, over the schema and beyond it, either pass or are
// refused with PATH:LINE:COL; parseConfig never throws and never reports an `(internal)` failure.
// FWDD_PROPERTY_RUNS raises the case count for long runs (default 1000).
import t from 'tap'
import fc from 'fast-check'
import { parseConfig } from '../../src/config/load.js'
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

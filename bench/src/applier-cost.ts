/**
 * Measurement 3b, sync cost inside the process: the real renderer and the real Applier (the code
 * the daemon runs on every sync) against a fresh, empty network namespace, at 10 to 5000 listeners
 * with 2 targets each. For each step it reports wall time, rules and chains written, and where the
 * time went: rendering, `iptables-save` (reading the kernel), `iptables-restore` (writing it) and
 * the rest (parsing and comparing, in JS). Commands run through `ip netns exec`, which adds a few
 * milliseconds per command to every step alike.
 */
import { Applier, type ApplyResult } from '../../src/dataplane/applier.js'
import { detectBackend } from '../../src/dataplane/backend.js'
import { renderRuleSet, type RenderInput, type RenderListener } from '../../src/dataplane/render.js'
import type { Runner } from '../../src/process/runner.js'
import { median, round } from './stats.js'
import { createBareNamespace, nsRunner } from './topology.js'

export interface StepCost {
  ms: number
  chainsWritten: number
  rulesWritten: number
  saveMs: number
  restoreMs: number
  otherMs: number
}

export interface ApplierCostRow {
  listeners: number
  renderMs: number
  kernelRules: number
  full: StepCost
  verifiedNoop: StepCost
  noop: StepCost
  flip: StepCost
}

/** The render input of `n` listeners with 2 targets each; `down` listeners have lost their first target. */
export function scaleInput(n: number, down: ReadonlySet<number> = new Set()): RenderInput {
  const listeners: RenderListener[] = []
  for (let i = 0; i < n; i++) {
    const known = [{ address: '198.18.1.2', port: 80, weight: 1 }, { address: '198.18.2.2', port: 80, weight: 1 }]
    listeners.push({ name: `l${i}`, protocol: 'tcp', port: 10000 + i, known, rotation: down.has(i) ? known.slice(1) : known })
  }
  return { sources: ['198.18.0.0/24'], listeners }
}

interface Timing { save: number; restore: number }

function timingRunner(inner: Runner, t: Timing): Runner {
  return {
    async run(file, args, opts) {
      const started = performance.now()
      try {
        return await inner.run(file, args, opts)
      } finally {
        const ms = performance.now() - started
        if (file.endsWith('-save')) t.save += ms
        else if (file.endsWith('-restore')) t.restore += ms
      }
    },
  }
}

export async function measureApplierCost(opts: { quick: boolean; sizes?: number[]; log(m: string): void }): Promise<ApplierCostRow[]> {
  const sizes = opts.sizes ?? (opts.quick ? [10, 100, 1000] : [10, 100, 1000, 5000])
  const rows: ApplierCostRow[] = []
  for (const n of sizes) {
    const bare = await createBareNamespace()
    try {
      const timing: Timing = { save: 0, restore: 0 }
      const runner = timingRunner(nsRunner(bare.ns), timing)
      const backend = await detectBackend(runner)
      const applier = new Applier(runner, backend, 30)
      const renders: number[] = []
      let rules = renderRuleSet(scaleInput(n))
      for (let i = 0; i < 3; i++) {
        const t = performance.now()
        rules = renderRuleSet(scaleInput(n))
        renders.push(performance.now() - t)
      }
      const step = async (ruleSet: typeof rules, verify: boolean): Promise<StepCost> => {
        timing.save = 0
        timing.restore = 0
        const t = performance.now()
        const r: ApplyResult = await applier.apply(ruleSet, { verify })
        const ms = performance.now() - t
        return { ms: round(ms), chainsWritten: r.chainsWritten, rulesWritten: r.rulesWritten, saveMs: round(timing.save), restoreMs: round(timing.restore), otherMs: round(ms - timing.save - timing.restore) }
      }
      const full = await step(rules, true)
      const verifiedNoop = await step(rules, true)
      const noop = await step(rules, false)
      const flip = await step(renderRuleSet(scaleInput(n, new Set([0]))), false)
      const kernelRules = [...rules.nat.values(), ...rules.filter.values()].reduce((a, l) => a + l.length, 0)
      rows.push({ listeners: n, renderMs: round(median(renders)), kernelRules, full, verifiedNoop, noop, flip })
      opts.log(`${n} listeners: full ${full.ms} ms (${full.rulesWritten} rules), verified no-op ${verifiedNoop.ms} ms, no-op ${noop.ms} ms, flip ${flip.ms} ms (${flip.rulesWritten} rules)`)
    } finally {
      await bare.destroy()
    }
  }
  return rows
}

/**
 * Which iptables the system uses. Writing nft rules on a node whose other tools use legacy (or the
 * reverse) splits the rule set in two and breaks forwarding in ways no listing shows, so fwdd
 * follows the system: an explicit override, else the variant that already holds rules (as
 * kube-proxy's iptables-wrapper decides), else what plain `iptables --version` reports.
 */
import type { Runner } from '../process/runner.js'

export type BackendName = 'nft' | 'legacy'

export interface Backend {
  name: BackendName
  /** Why the choice may be wrong (e.g. a variant could not be read for lack of privilege). */
  warning?: string
  save: string
  restore: string
}

function variant(name: BackendName): Backend {
  return { name, save: `iptables-${name}-save`, restore: `iptables-${name}-restore` }
}

async function ruleCount(runner: Runner, save: string, denied: string[]): Promise<number | null> {
  try {
    const r = await runner.run(save, [])
    if (r.exitCode !== 0) {
      if (/permission denied/i.test(r.stderr)) denied.push(save)
      return null
    }
    return r.stdout.split('\n').filter((l) => l.startsWith('-A ')).length
  } catch {
    return null
  }
}

/**
 * Detects the backend. `override` comes from `FWDD_IPTABLES` (`nft` or `legacy`). Never throws for
 * a missing variant; throws only when no iptables at all can be run.
 */
export async function detectBackend(runner: Runner, override?: string): Promise<Backend> {
  if (override === 'nft' || override === 'legacy') return variant(override)
  const denied: string[] = []
  const [nft, legacy] = await Promise.all([ruleCount(runner, 'iptables-nft-save', denied), ruleCount(runner, 'iptables-legacy-save', denied)])
  if (nft !== null && legacy !== null) return legacy > nft ? variant('legacy') : variant('nft')
  if (nft !== null) {
    // iptables-legacy needs CAP_NET_RAW; under the hardened unit it cannot be read, so a node whose
    // other tools use legacy cannot be recognised: say so rather than guess silently.
    return denied.length > 0
      ? { ...variant('nft'), warning: `${denied.join(', ')} was not permitted, so legacy rules could not be looked for; if this node uses iptables-legacy, set FWDD_IPTABLES=legacy` }
      : variant('nft')
  }
  if (legacy !== null) return variant('legacy')
  const r = await runner.run('iptables', ['--version'])
  if (r.exitCode !== 0) throw new Error(`no iptables found: ${r.stderr.trim()}`)
  const name: BackendName = r.stdout.includes('legacy') ? 'legacy' : 'nft'
  return { name, save: 'iptables-save', restore: 'iptables-restore' }
}

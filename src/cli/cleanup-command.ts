/**
 * `fwdctl cleanup [--dry-run]`: removes everything fwdd made on either backend, whichever the config
 * names, so a node switched between backends (or given up) is left clean: every iptables chain and
 * jump rule (in every table, raw, nat and filter, in one iptables-restore transaction, the applier's) and the nftables
 * backend's own table (`nft delete table ip fwdd`, the nftables dataplane's cleanup). Works with
 * the daemon stopped, and warns when it still runs (it would write its rules again at the next
 * sync). `--dry-run` reads the kernel and prints what would go, as `-D`/`-X` lines per iptables
 * table and `nft delete table` for the nft table, and changes nothing.
 */
import type { Applier, KernelState } from '../dataplane/applier.js'
import type { Dataplane } from '../dataplane/dataplane.js'
import { EXIT } from '../defaults.js'

export interface CleanupDeps {
  applier: Pick<Applier, 'readKernel' | 'cleanup'>
  /** The nftables backend (its cleanup removes only fwdd's table); null when `nft` is not installed. */
  nftables: Pick<Dataplane, 'cleanup'> | null
  /** True when the daemon answers on its socket. */
  daemonRuns(): Promise<boolean>
  stdout(text: string): void
  stderr(text: string): void
}

/** What cleanup would remove from iptables, one `iptables -t TABLE` style line each, jumps first. */
export function cleanupPlan(kernel: KernelState): string[] {
  const lines: string[] = []
  for (const [table, saved] of Object.entries(kernel.tables)) {
    for (const [from, list] of saved.jumps) for (const j of list) lines.push(`-t ${table} -D ${from} ${j.spec}`)
    for (const chain of saved.fwdChains.keys()) lines.push(`-t ${table} -X ${chain}`)
  }
  return lines
}

/** `nft table ip fwdd` (as the dataplane names what it removed) -> `nft delete table ip fwdd`. */
function nftPlan(removed: readonly string[]): string[] {
  return removed.map((r) => `nft delete ${r.replace(/^nft /, '')}`)
}

export async function runCleanup(dryRun: boolean, deps: CleanupDeps): Promise<number> {
  if (dryRun) {
    const plan = [...cleanupPlan(await deps.applier.readKernel()), ...nftPlan((await deps.nftables?.cleanup({ dryRun: true }))?.removed ?? [])]
    deps.stdout(plan.length === 0 ? 'dry run: nothing to remove (no fwdd chains, jumps or nft table)\n' : `dry run: would remove (nothing changed):\n${plan.map((l) => `  ${l}\n`).join('')}`)
    return EXIT.ok
  }
  const r = await deps.applier.cleanup()
  const nft = (await deps.nftables?.cleanup())?.removed ?? []
  deps.stdout(`removed ${r.chainsDeleted} chains and ${r.jumpsDeleted} jump rules${nft.length > 0 ? ` and the ${nft.join(', ')}` : ''}\n`)
  if (await deps.daemonRuns()) {
    deps.stderr('fwdctl: warning: fwdd is still running and will write its rules again at its next sync; stop it first (systemctl stop fwdd)\n')
  }
  return EXIT.ok
}

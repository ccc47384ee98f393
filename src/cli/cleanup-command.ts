/**
 * `fwdctl cleanup [--dry-run]`: removes every chain and jump rule fwdd created, in both tables, in
 * one iptables-restore transaction (the applier's). Works with the daemon stopped, and warns when
 * it still runs (it would write its rules again at the next sync). `--dry-run` reads the kernel
 * and prints what would go, as `-D`/`-X` lines per table, and changes nothing.
 */
import type { Applier, KernelState } from '../dataplane/applier.js'
import { EXIT } from '../defaults.js'

export interface CleanupDeps {
  applier: Pick<Applier, 'readKernel' | 'cleanup'>
  /** True when the daemon answers on its socket. */
  daemonRuns(): Promise<boolean>
  stdout(text: string): void
  stderr(text: string): void
}

/** What cleanup would remove, one `iptables -t TABLE` style line each, jumps first. */
export function cleanupPlan(kernel: KernelState): string[] {
  const lines: string[] = []
  for (const [table, saved] of Object.entries(kernel.tables)) {
    for (const [from, list] of saved.jumps) for (const j of list) lines.push(`-t ${table} -D ${from} ${j.spec}`)
    for (const chain of saved.fwdChains.keys()) lines.push(`-t ${table} -X ${chain}`)
  }
  return lines
}

export async function runCleanup(dryRun: boolean, deps: CleanupDeps): Promise<number> {
  if (dryRun) {
    const plan = cleanupPlan(await deps.applier.readKernel())
    deps.stdout(plan.length === 0 ? 'dry run: nothing to remove (no fwdd chains or jumps)\n' : `dry run: would remove (nothing changed):\n${plan.map((l) => `  ${l}\n`).join('')}`)
    return EXIT.ok
  }
  const r = await deps.applier.cleanup()
  deps.stdout(`removed ${r.chainsDeleted} chains and ${r.jumpsDeleted} jump rules\n`)
  if (await deps.daemonRuns()) {
    deps.stderr('fwdctl: warning: fwdd is still running and will write its rules again at its next sync; stop it first (systemctl stop fwdd)\n')
  }
  return EXIT.ok
}

// `fwdctl cleanup` with fakes of both backends: what it removes, what --dry-run lists.
import t from 'tap'
import { runCleanup, type CleanupDeps } from '../../src/cli/cleanup-command.js'
import type { KernelState } from '../../src/dataplane/applier.js'

function deps(opts: { nftTable: boolean; nft?: boolean }): CleanupDeps & { out: string[]; calls: string[] } {
  const out: string[] = []
  const calls: string[] = []
  const kernel = {
    tables: {
      nat: { jumps: new Map([['PREROUTING', [{ spec: '-m comment --comment fwdd -j FWD-PREROUTING' }]]]), fwdChains: new Map([['FWD-PREROUTING', []]]) },
      filter: { jumps: new Map(), fwdChains: new Map() },
    },
  } as unknown as KernelState
  return {
    out, calls,
    applier: {
      readKernel: async () => kernel,
      cleanup: async () => { calls.push('iptables cleanup'); return { chainsDeleted: 1, jumpsDeleted: 1 } },
    },
    nftables: opts.nft === false ? null : {
      cleanup: async (o?: { dryRun?: boolean }) => {
        calls.push(`nft cleanup${o?.dryRun ? ' dry' : ''}`)
        return { removed: opts.nftTable ? ['nft table ip fwdd'] : [] }
      },
    },
    daemonRuns: async () => false,
    stdout: (s) => out.push(s),
    stderr: (s) => out.push(s),
  }
}

t.test('cleanup removes the iptables chains and the nft table', async (t) => {
  const d = deps({ nftTable: true })
  t.equal(await runCleanup(false, d), 0)
  t.same(d.calls, ['iptables cleanup', 'nft cleanup'])
  t.same(d.out, ['removed 1 chains and 1 jump rules and the nft table ip fwdd\n'])
})

t.test('--dry-run lists both backends and asks the nft backend for a dry run only', async (t) => {
  const d = deps({ nftTable: true })
  t.equal(await runCleanup(true, d), 0)
  t.same(d.calls, ['nft cleanup dry'], 'nothing removed')
  t.same(d.out, ['dry run: would remove (nothing changed):\n  -t nat -D PREROUTING -m comment --comment fwdd -j FWD-PREROUTING\n  -t nat -X FWD-PREROUTING\n  nft delete table ip fwdd\n'])
})

t.test('no nft table, or no nft installed: the iptables part alone', async (t) => {
  for (const o of [{ nftTable: false }, { nftTable: false, nft: false }]) {
    const d = deps(o)
    await runCleanup(false, d)
    t.same(d.out, ['removed 1 chains and 1 jump rules\n'])
  }
})

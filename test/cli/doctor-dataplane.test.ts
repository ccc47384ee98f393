// Unit tests of the dataplane doctor checks with strict fakes: nothing runs, no kernel is read.
import t, { type Test } from 'tap'
import { checkNftables, checkSourcePorts } from '../../src/cli/doctor-dataplane.js'
import { formatVerdicts } from '../../src/cli/verdict.js'
import { SpawnError, type RunResult, type Runner } from '../../src/process/runner.js'

const TABLE = `table ip fwdd {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local meta l4proto . th dport vmap @services
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ct mark & 0x00040000 == 0x00040000 masquerade random,fully-random
	}
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related return
		meta l4proto . th dport vmap @refuse
	}
}
`

/** Answers `nft -s list table ip fwdd` only; anything else fails the test. */
function nft(t: Test, answer: RunResult | 'missing'): Runner {
  return {
    async run(file, args) {
      if (file !== 'nft' || args.join(' ') !== '-s list table ip fwdd') {
        t.fail(`unexpected run: ${file} ${args.join(' ')}`)
        throw new Error('unexpected')
      }
      if (answer === 'missing') throw new SpawnError('nft', { cause: new Error('ENOENT') })
      return answer
    },
  }
}
const ok = (stdout: string): RunResult => ({ exitCode: 0, stdout, stderr: '' })

t.test('nftables: the table and its three hooked chains pass', async (t) => {
  t.equal(formatVerdicts(await checkNftables(nft(t, ok(TABLE)), false)), [
    'PASS  nftables-table: table ip fwdd present',
    'PASS  hook prerouting: type nat hook prerouting priority dstnat, 1 rule',
    'PASS  hook postrouting: type nat hook postrouting priority srcnat, 1 rule',
    'PASS  hook input: type filter hook input priority filter, 2 rules',
  ].join('\n'))
})

t.test('nftables: a flushed chain, a deleted chain, a wrong hook and an iptables leftover are named', async (t) => {
  const broken = TABLE
    .replace('\t\tfib daddr type local meta l4proto . th dport vmap @services\n', '')
    .replace(/\tchain postrouting \{[^}]*\}\n/, '')
    .replace('type filter hook input priority filter', 'type filter hook output priority filter')
  const v = await checkNftables(nft(t, ok(broken)), true)
  t.match(v[0], { check: 'nftables-table', ok: true, level: 'warn', detail: /also exist in iptables/, fix: /restart fwdd/ })
  t.match(v[1], { check: 'hook prerouting', ok: false, detail: /empty \(flushed\)/, fix: /fwdctl reload/ })
  t.match(v[2], { check: 'hook postrouting', ok: false, detail: /missing/ })
  t.match(v[3], { check: 'hook input', ok: false, detail: /not hooked as fwdd writes it/ })
  t.equal(v.length, 4)
})

t.test('nftables: no table, or no nft at all, fails with the fix', async (t) => {
  let v = await checkNftables(nft(t, { exitCode: 1, stdout: '', stderr: 'Error: No such file or directory\nlist table ip fwdd' }), false)
  t.match(v[0], { check: 'nftables-table', ok: false, detail: /does not exist: nothing is forwarded/, fix: /start fwdd/ })
  t.equal(v.length, 4, 'still one line per hook')
  t.ok(v.slice(1).every((x) => !x.ok && /not checked/.test(x.detail)))
  v = await checkNftables(nft(t, 'missing'), false)
  t.match(v[0], { ok: false, detail: /nft cannot run/, fix: /apt-get install nftables/ })
})

t.test('source-ports: passes below 80 %, warns above, fails above 95 %', async (t) => {
  const at = (n: number) => checkSourcePorts(async () => new Map([['198.18.1.2:80/tcp', n], ['198.18.2.2:80/tcp', 3]]))
  t.match(await checkSourcePorts(async () => new Map()), { ok: true, level: 'ok', detail: 'no forwarded flows (ceiling 64512 per target address:port)' })
  t.match(await at(51609), { ok: true, level: 'ok', detail: 'busiest target 198.18.1.2:80/tcp: 51609 of 64512 source ports (79%)' })
  t.match(await at(51610), { ok: true, level: 'warn', detail: /51610 of 64512 source ports \(80%\)/, fix: /add instances/ })
  t.match(await at(61300), { ok: false, level: 'fail', detail: /61300 of 64512/ })
  t.match(await checkSourcePorts(async () => { throw new Error('conntrack exited 1') }), { ok: true, level: 'warn', detail: /cannot count forwarded flows \(conntrack exited 1\)/ })
})

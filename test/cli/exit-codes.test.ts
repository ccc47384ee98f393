/**
 * The exit-code table (docs/exit-codes.md) and `EXIT` (src/defaults.ts) say the same thing, and the
 * CLI returns those codes: a usage error 64, no daemon 2, `--version` 0 (the codes that need a
 * daemon, 0/1/3 of status and reload, are driven in test/cli/main.test.ts against a fake socket
 * and in test/integration/cli.test.ts against the real daemon).
 */
import { readFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { EXIT } from '../../src/defaults.js'
import { runCli } from '../../src/cli/main.js'
import { ROOT } from '../helpers/daemon.js'

t.test('docs/exit-codes.md lists exactly the codes of EXIT, with their names', async (t) => {
  const doc = readFileSync(path.join(ROOT, 'docs/exit-codes.md'), 'utf8')
  const rows = [...doc.matchAll(/^\| (\d+) \| (\w+) \|/gm)].map((m) => [m[2]!, Number(m[1])] as const)
  t.same(Object.fromEntries(rows), EXIT)
})

t.test('the CLI returns the documented codes', async (t) => {
  const socket = path.join(mkdtempSync(path.join(tmpdir(), 'fwdctl-exit-')), 'none.sock')
  const run = (argv: string[]) => runCli(argv, { stdout: () => {}, stderr: () => {}, isTty: false, env: { FWDD_SOCKET: socket } })
  t.equal(await run(['--version']), EXIT.ok)
  t.equal(await run(['status']), EXIT.unreachable)
  t.equal(await run(['status', '--bogus']), EXIT.usage)
  t.equal(await run([]), EXIT.usage)
  // cloud-init has its own parser; its usage errors are 64 all the same.
  t.equal(await run(['cloud-init']), EXIT.usage)
  t.equal(await run(['cloud-init', '--config', '/nonexistent.yaml', '--deb-url', 'https://x.invalid/fwdd.deb', '--bogus']), EXIT.usage)
  t.equal(await run(['cloud-init', '--config', '/nonexistent.yaml', '--deb-url', 'https://x.invalid/fwdd.deb', 'stray']), EXIT.usage)
})

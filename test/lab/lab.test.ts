/**
 * Defect 9, the lab: run `lab.sh` under a random FWDD_LAB_PREFIX (so it never meets anyone's lab),
 * check that the client's requests spread over both servers, that `fwdctl` works as the README
 * shows (the wrapper in the lab's bin/), that down-server / up-server take a server out of and back
 * into rotation, that `up` refuses a second lab of the same prefix, that `down` refuses namespaces
 * it did not build, and that `down` leaves nothing behind. Addresses: 198.18.0.0/15 inside the
 * lab's own namespaces (see lab/lab.sh).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { execa } from 'execa'
import t from 'tap'
import { ROOT, sleep } from '../helpers/daemon.js'

const prefix = `lt${randomBytes(2).toString('hex')}`
const state = `/run/fwdd-lab-${prefix}`
const env = { ...process.env, FWDD_LAB_PREFIX: prefix }
const lab = (...args: string[]) => execa('bash', ['lab/lab.sh', ...args], { cwd: ROOT, env, reject: false, timeout: 120000 })
const namespaces = async (p: string): Promise<string[]> => (await execa('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${p}-`))

async function statusOf(): Promise<{ exitCode: number; stdout: string }> {
  const r = await execa(`${state}/bin/fwdctl`, ['status', '--json'], { reject: false })
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout }
}

async function waitFor(what: string, ok: (s: { exitCode: number; stdout: string }) => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (ok(await statusOf())) return
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

const targetState = (stdout: string, address: string): string | undefined =>
  (JSON.parse(stdout) as { listeners: Array<{ name: string; targets: Array<{ address: string; state: string }> }> })
    .listeners.find((l) => l.name === 'onprem-http')?.targets.find((x) => x.address === address)?.state

t.test('defect 9: the lab runs under a prefix, spreads, restarts a server, refuses what it did not build', async (t) => {
  t.teardown(async () => {
    await lab('down')
    for (const ns of await namespaces(prefix)) await execa('ip', ['netns', 'del', ns], { reject: false })
    for (const ns of await namespaces(`${prefix}x`)) await execa('ip', ['netns', 'del', ns], { reject: false })
  })
  const up = await lab()
  t.equal(up.exitCode, 0, `lab up: ${up.stderr}`)
  const a = Number(/(\d+) onprem-a/.exec(up.stdout)?.[1] ?? 0)
  const b = Number(/(\d+) onprem-b/.exec(up.stdout)?.[1] ?? 0)
  t.equal(a + b, 20, `20 answers: ${a} + ${b}`)
  t.ok(a >= 3 && b >= 3, `spread over both servers (${a} / ${b})`)
  t.match(up.stdout, new RegExp(`export PATH=${state}/bin`), 'it says how to put fwdctl on PATH')
  t.same((await namespaces(prefix)).sort(), ['client', 'node', 'onprem-a', 'onprem-b', 'outsider'].map((n) => `${prefix}-${n}`).sort())

  const first = await statusOf()
  t.equal(first.exitCode, 0, 'fwdctl (the lab wrapper) status exits 0')
  t.match((await lab('ctl', 'status')).stdout, /onprem-http\/0 +198\.18\.1\.2:80/, 'lab -- ctl status shows the labelled targets')

  t.equal((await lab('down-server', 'onprem-a')).exitCode, 0)
  await waitFor('onprem-a unhealthy', (s) => targetState(s.stdout, '198.18.1.2') === 'unhealthy')
  t.pass('down-server took onprem-a out')
  t.equal((await lab('up-server', 'onprem-a')).exitCode, 0)
  await waitFor('onprem-a healthy', (s) => s.exitCode === 0 && targetState(s.stdout, '198.18.1.2') === 'healthy')
  t.pass('up-server brought it back')
  t.equal((await lab('up-server', 'nope')).exitCode, 64, 'an unknown server is a usage error')

  const again = await lab('up')
  t.not(again.exitCode, 0, 'up refuses while a lab of this prefix is up')
  t.match(again.stderr, /already up/)
  t.equal((await statusOf()).exitCode, 0, 'and the running lab is untouched')

  // Someone else's namespaces under a prefix this script did not build with.
  const other = `${prefix}x`
  await execa('ip', ['netns', 'add', `${other}-node`])
  const refused = await execa('bash', ['lab/lab.sh', 'down'], { cwd: ROOT, env: { ...env, FWDD_LAB_PREFIX: other }, reject: false })
  t.not(refused.exitCode, 0, 'down refuses namespaces it did not build')
  t.match(refused.stderr, /refusing: .* did not build them/)
  t.same(await namespaces(other), [`${other}-node`], 'and leaves them in place')
  await execa('ip', ['netns', 'del', `${other}-node`])

  const down = await lab('down')
  t.equal(down.exitCode, 0, `down: ${down.stderr}`)
  t.same(await namespaces(prefix), [], 'no namespace left')
  t.notOk(existsSync(state), 'no state directory left')
})

// The real runner's streamed children die with the daemon, even when it is SIGKILLed.
import t from 'tap'
import { execa } from 'execa'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const RUNNER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/process/runner.js')

async function running(marker: string): Promise<boolean> {
  const r = await execa('pgrep', ['-f', `sleep ${marker}`], { reject: false })
  return r.exitCode === 0
}

t.test('a streamed child does not outlive a SIGKILLed parent', async (t) => {
  // A unique duration names this test's sleep for pgrep.
  const marker = `${300 + (process.pid % 1000)}.${Date.now() % 100000}`
  t.teardown(() => execa('pkill', ['-f', `sleep ${marker}`], { reject: false }).then(() => undefined))
  const script = `import(${JSON.stringify(RUNNER)}).then((m) => { m.createProcessRunner().stream('sleep', [${JSON.stringify(marker)}], () => {}, () => {}); setTimeout(() => console.log('streaming'), 300); setInterval(() => {}, 1000) })`
  const parent = execa(process.execPath, ['-e', script], { reject: false })
  await new Promise<void>((resolve, reject) => {
    parent.stdout?.on('data', (c: Buffer) => { if (c.toString().includes('streaming')) resolve() })
    void parent.then(() => reject(new Error('the parent exited early')))
  })
  t.ok(await running(marker), 'the child runs while its parent does')
  parent.kill('SIGKILL')
  await parent
  let alive = true
  for (let i = 0; i < 40 && alive; i++) {
    await new Promise((r) => setTimeout(r, 50))
    alive = await running(marker)
  }
  t.notOk(alive, 'the child is gone within 2 s of its parent\'s SIGKILL')
})

t.test('the runner knows the pids of the processes it ran (the ruleset watch tells fwdd\'s writes by them)', async (t) => {
  const { createProcessRunner } = await import('../../src/process/runner.js')
  const runner = createProcessRunner()
  const r = await runner.run('sh', ['-c', 'echo $$'])
  const pid = Number(r.stdout.trim())
  t.ok(pid > 0, `ran as pid ${pid}`)
  t.equal(runner.ownsPid?.(pid), true, 'a pid it started')
  t.equal(runner.ownsPid?.(process.pid), false, 'not its own process')
  t.equal(createProcessRunner().ownsPid?.(pid), false, 'nor another runner\'s child')
})

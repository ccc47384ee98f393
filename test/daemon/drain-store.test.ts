import t from 'tap'
import { chmod, mkdir, readFile, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { DrainStore } from '../../src/daemon/drain-store.js'

t.test('missing file and missing directory mean not draining', async (t) => {
  const dir = t.testdir()
  t.equal(await new DrainStore(dir).load(), false)
  t.equal(await new DrainStore(path.join(dir, 'nope', 'deeper')).load(), false)
})

t.test('save then load round-trips through a new instance (a restart)', async (t) => {
  const dir = path.join(t.testdir(), 'state') // created by save
  const store = new DrainStore(dir)
  await store.save(true)
  t.equal(await new DrainStore(dir).load(), true)
  t.equal(await readFile(path.join(dir, 'draining'), 'utf8'), 'draining\n')
  t.equal((await stat(path.join(dir, 'draining'))).mode & 0o777, 0o644)
  await store.save(false)
  t.equal(await new DrainStore(dir).load(), false)
  t.equal(await readFile(path.join(dir, 'draining'), 'utf8'), 'serving\n')
  t.same(await readdir(dir), ['draining'], 'no temporary files left behind')
})

t.test('mode is 0644 even under a restrictive umask', async (t) => {
  const dir = t.testdir()
  const old = process.umask(0o077)
  t.teardown(() => { process.umask(old) })
  await new DrainStore(dir).save(true)
  t.equal((await stat(path.join(dir, 'draining'))).mode & 0o777, 0o644)
})

t.test('concurrent saves land in call order', async (t) => {
  const dir = t.testdir()
  const store = new DrainStore(dir)
  await Promise.all([store.save(true), store.save(false), store.save(true), store.save(false)])
  t.equal(await store.load(), false)
  await Promise.all([store.save(false), store.save(true)])
  t.equal(await store.load(), true)
})

t.test('unexpected content keeps the node drained and warns', async (t) => {
  const dir = t.testdir({ draining: 'garbage' })
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb() } })
  t.equal(await new DrainStore(dir, pino(stream)).load(), true)
  t.equal(lines.length, 1)
  t.equal(lines[0]?.msg, 'unexpected drain state file content; staying drained')
  t.equal(await new DrainStore(t.testdir({ draining: '' })).load(), true, 'an empty file too')
})

t.test('a failed save throws with the path and leaves the old state and no temp file', async (t) => {
  if (process.getuid?.() === 0) {
    // root ignores directory permissions; make the target a directory instead so rename fails.
    const dir = t.testdir({ draining: { inner: 'x' } })
    await t.rejects(new DrainStore(dir).save(true), { message: /^saving drain state to .*draining: / })
    t.same((await readdir(dir)).sort(), ['draining'])
    return
  }
  const dir = t.testdir()
  const store = new DrainStore(dir)
  await store.save(true)
  await chmod(dir, 0o555)
  t.teardown(() => chmod(dir, 0o755))
  await t.rejects(store.save(false), { message: /^saving drain state to .*draining: / })
  t.equal(await store.load(), true)
  t.same(await readdir(dir), ['draining'])
  await chmod(dir, 0o755)
  await store.save(false)
  t.equal(await store.load(), false, 'a failure does not wedge later saves')
})

t.test('a read error other than ENOENT is thrown', async (t) => {
  const dir = t.testdir()
  await mkdir(path.join(dir, 'draining'))
  await t.rejects(new DrainStore(dir).load(), { message: /^reading drain state from .*draining: / })
})

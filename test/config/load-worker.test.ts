// loadConfigOffThread (issue 13 item 6): the same result as parseConfig, and the event loop keeps
// running while a large config parses. Uses dist/ (built by `npm test` before tap), as the worker
// runs the compiled module.
import t from 'tap'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/daemon.js'

type Mod = typeof import('../../src/config/load-worker.js')
const { loadConfigOffThread } = (await import(pathToFileURL(path.join(ROOT, 'dist/config/load-worker.js')).href)) as Mod

t.test('off-thread load: same result as on-thread, and the loop keeps ticking', async (t) => {
  const bad = await loadConfigOffThread({ text: 'listeners: *x\n', file: 'c.yaml' })
  t.notOk(bad.ok)
  if (!bad.ok) t.equal(bad.problems[0]?.line, 1)
  const big = `listeners:\n${Array.from({ length: 2000 }, (_, i) => `  - { name: l${i}, port: ${1000 + i}, targets: [{ host: 198.18.1.10, port: 80 }] }\n`).join('')}`
  let ticks = 0
  const iv = setInterval(() => ticks++, 5)
  const r = await loadConfigOffThread({ text: big, file: 'big.yaml' })
  clearInterval(iv)
  t.ok(r.ok)
  if (r.ok) t.equal(r.config.listeners.length, 2000)
  t.ok(ticks > 5, `timers ran while parsing (${ticks} ticks)`)
})

t.test('worker script: this module in dist/, config-worker.mjs beside the bundle in the release', async (t) => {
  const { configWorkerUrl, CONFIG_WORKER_BUNDLE } = (await import(pathToFileURL(path.join(ROOT, 'dist/config/load-worker.js')).href)) as Mod
  t.equal(configWorkerUrl('file:///opt/fwdd/dist/config/load-worker.js').href, 'file:///opt/fwdd/dist/config/load-worker.js')
  t.equal(configWorkerUrl('file:///work/src/config/load-worker.ts').href, 'file:///work/src/config/load-worker.ts')
  t.equal(configWorkerUrl('file:///usr/lib/fwdd/bin/fwdd.mjs').href, `file:///usr/lib/fwdd/bin/${CONFIG_WORKER_BUNDLE}`)
  t.equal(CONFIG_WORKER_BUNDLE, 'config-worker.mjs', 'the name tools/release/build.mjs writes')
})

t.test('small configs parse on the loop (no worker, no isolate kept in RSS); large ones on a worker', async (t) => {
  const { loadConfigBounded, OFF_THREAD_MIN_BYTES } = (await import(pathToFileURL(path.join(ROOT, 'dist/config/load-worker.js')).href)) as Mod
  const { monitorEventLoopDelay } = await import('node:perf_hooks')
  const small = await loadConfigBounded({ text: 'listeners:\n  - { name: web, port: 8000, targets: [{ host: 198.18.1.10, port: 80 }] }\n', file: 'small.yaml' })
  t.ok(small.ok)
  const big = `listeners:\n${Array.from({ length: 3000 }, (_, i) => `  - { name: l${i}, port: ${1000 + i}, targets: [{ host: 198.18.1.10, port: 80 }] }\n`).join('')}`
  t.ok(Buffer.byteLength(big) > OFF_THREAD_MIN_BYTES)
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  const r = await loadConfigBounded({ text: big, file: 'big.yaml' })
  h.disable()
  t.ok(r.ok)
  t.ok(h.max / 1e6 < 500, `the loop never stalled for the large one (max delay ${Math.round(h.max / 1e6)} ms)`)
})

t.test('loopIdle (the first load, nothing listening yet): a large config parses on the loop, no worker', async (t) => {
  const { loadConfigBounded, loadConfigOffThread: offThread, OFF_THREAD_MIN_BYTES } = (await import(pathToFileURL(path.join(ROOT, 'dist/config/load-worker.js')).href)) as Mod
  const big = `listeners:\n${Array.from({ length: 3000 }, (_, i) => `  - { name: l${i}, port: ${1000 + i}, targets: [{ host: 198.18.1.10, port: 80 }] }\n`).join('')}`
  t.ok(Buffer.byteLength(big) > OFF_THREAD_MIN_BYTES)
  let ticks = 0
  const iv = setInterval(() => ticks++, 1)
  const r = await loadConfigBounded({ text: big, file: 'big.yaml' }, { loopIdle: true })
  clearInterval(iv)
  t.equal(ticks, 0, 'no timer ran: the parse held the loop, as nothing else needs it')
  t.same(r, await offThread({ text: big, file: 'big.yaml' }), 'the same result as the worker gives')
})

/**
 * The IMDS client and the userData config source against the fake IMDS.
 * Test address plan: loopback only (see test/fakes/azure/harness.ts).
 */
import t from 'tap'
import { FakeImds } from '../fakes/azure/fake-imds.js'
import { INSTANCE, installLoopbackGuard } from '../fakes/azure/harness.js'
import { manualTimers } from '../fakes/azure/manual-timers.js'
import { ImdsClient, ImdsError } from '../../src/azure/imds.js'
import { ImdsConfigSource } from '../../src/azure/imds-config.js'

installLoopbackGuard()
const imds = new FakeImds({ ...INSTANCE })
await imds.listen()
t.teardown(() => imds.close())
const client = new ImdsClient({ endpoint: imds.endpoint, timeoutMs: 300 })

t.test('getInstance reads the compute document with the Metadata header', async (t) => {
  const instance = await client.getInstance()
  t.same(instance, INSTANCE)
  const request = imds.requests.at(-1)
  t.equal(request?.path, '/metadata/instance/compute')
  t.equal(request?.metadataHeader, 'true')
  t.equal(request?.query['api-version'], '2021-02-01')
})

t.test('getUserData decodes base64 as UTF-8; empty userData is empty text', async (t) => {
  imds.setUserDataText('listeners: []\n# café\n')
  t.equal(await client.getUserData(), 'listeners: []\n# café\n')
  t.equal(imds.requests.at(-1)?.query.format, 'text')
  imds.userData = ''
  t.equal(await client.getUserData(), '')
  imds.userData = 'not base64!'
  await t.rejects(client.getUserData(), /not base64/)
})

t.test('errors say what failed: status, timeout, bad JSON, missing field', async (t) => {
  imds.failNext(/compute$/, { status: 429, body: 'Too many requests' })
  const error = await client.getInstance().then(() => undefined, (e: unknown) => e)
  t.ok(error instanceof ImdsError && error.status === 429 && /HTTP 429/.test(error.message), 'ImdsError with the status')
  imds.failNext(/compute$/, 'timeout')
  await t.rejects(client.getInstance(), /no answer within 300 ms/)
  imds.failNext(/compute$/, { status: 200, body: '<html>' })
  await t.rejects(client.getInstance(), /not JSON/)
  const saved = imds.instance
  imds.instance = { ...saved, subscriptionId: '' }
  await t.rejects(client.getInstance(), /field "subscriptionId"/)
  imds.instance = saved
})

t.test('the fake refuses requests without the Metadata header, like the real one', async (t) => {
  const res = await fetch(`${imds.endpoint}/metadata/instance/compute?api-version=2021-02-01`)
  t.equal(res.status, 400)
})

t.test('ImdsConfigSource calls onText only when userData changed, keeps going on errors', async (t) => {
  const timers = manualTimers()
  const texts: string[] = []
  const source = new ImdsConfigSource({ imds: client, refreshSeconds: 30, timers, onText: (text) => void texts.push(text) })
  imds.setUserDataText('version: 1\n')
  source.start()
  await source.refreshNow()
  t.same(texts, ['version: 1\n'])
  await source.refreshNow()
  t.same(texts, ['version: 1\n'], 'same text, no call')
  imds.failNext(/userData$/, { status: 500, body: 'boom' })
  await source.refreshNow()
  t.match(source.lastError?.message, /HTTP 500/)
  t.same(texts, ['version: 1\n'], 'an IMDS error never reaches onText')
  imds.setUserDataText('version: 2\n')
  await source.refreshNow()
  t.equal(source.lastError, undefined)
  t.same(texts, ['version: 1\n', 'version: 2\n'])
  t.same([...timers.pending.values()].map((p) => p.ms), [30_000], 'one poll scheduled')
  source.setRefreshSeconds(5)
  t.same([...timers.pending.values()].map((p) => p.ms), [5_000])
  source.stop()
  t.equal(timers.pending.size, 0)
})

t.test('a throwing onText does not stop polling and is not re-reported for the same text', async (t) => {
  let calls = 0
  const source = new ImdsConfigSource({ imds: client, timers: manualTimers(), onText: () => { calls++; throw new Error('invalid config') } })
  imds.setUserDataText('bad: [\n')
  await source.refreshNow()
  await source.refreshNow()
  t.equal(calls, 1)
  t.equal(source.currentText, 'bad: [\n')
})

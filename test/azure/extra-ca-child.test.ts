/**
 * How the daemon trusts the fake ARM: NODE_EXTRA_CA_CERTS, read by Node only at process start, so
 * the reader runs in a child process (as the real daemon will). Uses the system-assigned identity.
 * Test address plan: loopback only (see test/fakes/azure/harness.ts).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startAzureFakes, rid } from '../fakes/azure/harness.js'
import { ipGroupBody } from '../fakes/azure/arm-bodies.js'

const fakes = await startAzureFakes()
t.teardown(() => fakes.close())
const ipGroupId = rid('Microsoft.Network/ipGroups', 'onprem')
fakes.arm.put(ipGroupBody(ipGroupId, ['198.18.0.7']))
const script = fileURLToPath(new URL('../fakes/azure/child-read-ip-group.ts', import.meta.url))

function runChild(extraEnv: Record<string, string>): Promise<{ ok: boolean; result?: unknown; message?: string; code?: string }> {
  // TS_NODE_TRANSPILE_ONLY as tap sets it for its own children: without it ts-node type-checks (~10 s).
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TS_NODE_TRANSPILE_ONLY: '1', FWDD_ARM_ENDPOINT: fakes.arm.endpoint, FWDD_IMDS_ENDPOINT: fakes.imds.endpoint, ...extraEnv }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, script, ipGroupId], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? ''
      try {
        resolve(JSON.parse(line))
      } catch {
        reject(new Error(`child failed: ${error?.message ?? ''}\n${stderr}`))
      }
    })
  })
}

t.test('with NODE_EXTRA_CA_CERTS the child reads through the real SDK', async (t) => {
  const out = await runChild({ NODE_EXTRA_CA_CERTS: fakes.tls.caFile })
  t.same(out, { ok: true, result: { addresses: ['198.18.0.7'], ignored: [] } })
  const token = fakes.imds.requests.find((r) => r.path === '/metadata/identity/oauth2/token' && r.query.client_id === undefined)
  t.ok(token, 'system-assigned token request (no client_id) went to the fake IMDS')
})

t.test('without it the certificate is refused (the trust really comes from the env var)', async (t) => {
  const out = await runChild({})
  t.equal(out.ok, false)
  t.match(out.message ?? out.code, /certificate|self.signed|issuer/i)
})

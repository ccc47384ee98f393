/**
 * "A DNAT that another tool inserts above fwdd's jump silently steals the listener's traffic while
 * /lb says ok and doctor says the jump is present" (issue: hostile input and bad days). Now a
 * verify (the ruleset watch at once, the periodic resync at the latest) finds fwdd's nat PREROUTING
 * jump not first, counts drift and moves it back to the top, so the listener reaches fwdd's target;
 * the other tool's rule stays, below. With the daemon stopped, doctor fails the jump and names the
 * rule above it. The same namespace shows doctor's FORWARD policy warning: forwarding on with policy
 * ACCEPT warns, policy DROP passes.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology } from '../helpers/netns.js'
import { httpGet, sleep, startDaemon, startServers } from '../helpers/daemon.js'

const URL = 'http://198.18.0.1:8000/'
const RESYNC_MS = 2000
/** The other tool's rule: the listener port to s1, which is not fwdd's target. */
const STEAL = ['-p', 'tcp', '--dport', '8000', '-j', 'DNAT', '--to-destination', '198.18.2.2:80']

t.test('a foreign DNAT inserted above fwdd\'s jump is moved below it at the next verify', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'fd' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, [
    'health: { port: 8080 }',
    'sources: [198.18.0.0/24]',
    `sync: { resyncSeconds: ${RESYNC_MS / 1000} }`,
    'listeners:',
    '  - name: web',
    '    port: 8000',
    '    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }',
    '    targets: [{ host: 198.18.1.2, port: 80 }]',
    '',
  ].join('\n'))
  const ipt = (args: string[]) => topo.exec(topo.node.ns, 'iptables', args)
  const prerouting = async () => (await ipt(['-t', 'nat', '-S', 'PREROUTING'])).stdout.split('\n').filter((l) => l.startsWith('-A '))
  t.equal((await httpGet(topo, URL)).body, 's0', 'the listener reaches fwdd\'s target')
  const repairsBefore = (await d.status()).node.driftRepairs ?? 0

  await ipt(['-t', 'nat', '-I', 'PREROUTING', '1', ...STEAL])
  const inserted = Date.now()
  let body = ''
  while (Date.now() - inserted < 3 * RESYNC_MS) {
    body = (await httpGet(topo, URL, { timeoutS: 0.5 })).body
    if (body === 's0' && /-j FWD-PREROUTING/.test((await prerouting())[0] ?? '')) break
    await sleep(100)
  }
  t.comment(`fwdd's jump back on top after ${Date.now() - inserted} ms`)
  t.equal(body, 's0', 'a new connection to the listener reaches fwdd\'s target again, not the foreign DNAT\'s')
  const rules = await prerouting()
  t.match(rules[0] ?? '', /-j FWD-PREROUTING$/, 'fwdd\'s jump is first')
  t.match(rules[1] ?? '', /--dport 8000 .*-j DNAT --to-destination 198\.18\.2\.2:80/, 'the other tool\'s rule is kept, right below it')
  t.equal(rules.filter((l) => /-j FWD-PREROUTING/.test(l)).length, 1, 'exactly one jump')
  const s = await d.status()
  t.ok((s.node.driftRepairs ?? 0) > repairsBefore, `counted as a drift repair (${repairsBefore} -> ${s.node.driftRepairs})`)
  t.match(d.log(), /PREROUTING->FWD-PREROUTING below/, 'the repair is logged with the rule that was above')

  // Daemon stopped (rules stay): nothing moves the jump back, and doctor says what is above it.
  await d.kill()
  await ipt(['-t', 'nat', '-D', 'PREROUTING', ...STEAL])
  await ipt(['-t', 'nat', '-I', 'PREROUTING', '1', ...STEAL])
  const doctor = async () => new Map((await d.ctl(['doctor', '--config', d.configPath])).stdout.split('\n').map((l) => [/^\w+ {2}([^:]+):/.exec(l)?.[1] ?? l, l]))
  let lines = await doctor()
  t.match(lines.get('jump nat PREROUTING -> FWD-PREROUTING') ?? '', /^FAIL {2}jump nat PREROUTING -> FWD-PREROUTING: present but not first: "-p tcp -m tcp --dport 8000 -j DNAT --to-destination 198\.18\.2\.2:80" is above it/, 'doctor names the rule above the jump')

  // "A source outside `sources` reached targets directly through the node": forwarding is on and
  // the namespace's FORWARD policy is the kernel default, ACCEPT.
  t.match(lines.get('forward-policy') ?? '', /^WARN {2}forward-policy: net\.ipv4\.ip_forward = 1 and the filter FORWARD policy is ACCEPT: .*\(fix: set the policy to DROP .*on Azure, leaving IP forwarding off on the NIC/, 'doctor warns about FORWARD policy ACCEPT and says the fix')
  await ipt(['-P', 'FORWARD', 'DROP'])
  lines = await doctor()
  t.match(lines.get('forward-policy') ?? '', /^PASS {2}forward-policy: filter FORWARD policy DROP/, 'policy DROP passes')
})

/**
 * Every forwarding behaviour, stated once and proven on each backend (`dataplane: { backend:
 * iptables | nftables }`) with the real daemon and kernel: forwarding-iptables.test.ts and
 * forwarding-nftables.test.ts each run it (two files, so tap runs the backends side by side). One
 * topology per backend, one subtest per behaviour, in an order where each leaves the node serving
 * for the next (the last ones stop the daemon and clean up).
 * Finer detail of single behaviours on iptables lives in drift, conntrack, drain, metrics and cli.
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts);
 * 198.18.77.1 only appears in other tools' rules, no packet goes to it.
 */
import t, { type Test } from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { ECHO_SERVER, FWDCTL, NODE_RUNTIME, httpGet, sleep, startDaemon, startServers, until, waitTcp, type RunningDaemon } from '../helpers/daemon.js'
import { fwddKernelText, iptablesText, nftTableText, withBackend, type BackendName } from '../helpers/backends.js'

const URL = 'http://198.18.0.1:8000/'
const RESYNC_MS = 2000

/** Listener `web` (tcp 8000 -> :80) and `dns` (udp 5300 -> :5353) over every server. */
export const config = (topo: Topology, backend: BackendName): string => withBackend(`health: { port: 8080 }
sources: [198.18.0.0/24]
sync: { resyncSeconds: ${RESYNC_MS / 1000} }
listeners:
  - name: web
    port: 8000
    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }
    targets:
${topo.servers.map((s) => `      - { host: ${s.address}, port: 80 }`).join('\n')}
  - name: dns
    protocol: udp
    port: 5300
    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2, port: 80 }
    targets:
${topo.servers.map((s) => `      - { host: ${s.address}, port: 5353 }`).join('\n')}
`, backend)

/**
 * Another tool's rules on the same node. iptables: a nat chain and jump, a filter chain, FORWARD
 * policy DROP (with that tool's own accept of the routed client <-> s0 web flow). nftables: a
 * table of its own. fwdd must leave every one of them alone.
 */
async function addForeign(topo: Topology, backend: BackendName): Promise<void> {
  if (backend === 'nftables') {
    await topo.exec(topo.node.ns, 'nft', ['-f', '-'], { input: 'table ip other {\n chain c {\n type filter hook forward priority 10; policy accept;\n ip saddr 198.18.77.1 drop\n }\n}\n' })
    return
  }
  const ipt = (args: string[]) => topo.exec(topo.node.ns, 'iptables-nft', ['-w', ...args])
  await ipt(['-t', 'nat', '-N', 'OTHER-NAT'])
  await ipt(['-t', 'nat', '-A', 'OTHER-NAT', '-d', '198.18.77.1/32', '-j', 'RETURN'])
  await ipt(['-t', 'nat', '-A', 'PREROUTING', '-j', 'OTHER-NAT'])
  await ipt(['-t', 'filter', '-N', 'OTHER-FILTER'])
  await ipt(['-t', 'filter', '-A', 'OTHER-FILTER', '-s', '198.18.77.1/32', '-j', 'DROP'])
  await ipt(['-t', 'filter', '-A', 'OTHER-FILTER', '-s', '198.18.0.2/32', '-d', '198.18.1.2/32', '-j', 'ACCEPT'])
  await ipt(['-t', 'filter', '-A', 'OTHER-FILTER', '-s', '198.18.1.2/32', '-d', '198.18.0.2/32', '-j', 'ACCEPT'])
  await ipt(['-t', 'filter', '-A', 'FORWARD', '-j', 'OTHER-FILTER'])
  await ipt(['-t', 'filter', '-P', 'FORWARD', 'DROP'])
}

async function assertForeign(t: Test, topo: Topology, backend: BackendName, where: string): Promise<void> {
  if (backend === 'nftables') {
    const r = await topo.exec(topo.node.ns, 'nft', ['list', 'table', 'ip', 'other'], { reject: false })
    t.match(r.stdout, /ip saddr 198\.18\.77\.1 drop/, `${where}: the other tool's table and rule`)
    return
  }
  const text = await iptablesText(topo)
  t.match(text, /:OTHER-NAT - /, `${where}: other tool's nat chain`)
  t.match(text, /-A OTHER-NAT -d 198\.18\.77\.1\/32 -j RETURN/, `${where}: its rule`)
  t.match(text, /-A PREROUTING -j OTHER-NAT/, `${where}: its jump`)
  t.match(text, /-A OTHER-FILTER -s 198\.18\.77\.1\/32 -j DROP/, `${where}: its filter rule`)
  t.match(text, /:FORWARD DROP/, `${where}: FORWARD policy DROP kept`)
}

/** Forwarded flows of the client (conntrack lines) whose reply comes from `address`. */
async function flowsTo(topo: Topology, proto: 'tcp' | 'udp', address: string): Promise<string[]> {
  const r = await topo.exec(topo.node.ns, 'conntrack', ['-L', '-p', proto, '--orig-src', topo.client.address, '--orig-dst', '198.18.0.1', '--reply-src', address])
  return r.stdout.split('\n').filter((l) => l.startsWith(proto))
}

async function probe(topo: Topology, p: string): Promise<number> {
  const r = await topo.exec(topo.node.ns, 'curl', ['-sS', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:8080${p}`], { reject: false })
  return Number(r.stdout) || 0
}

/** Holds `curl /slow` (a line a second) from the client; `lines()` counts what arrived. */
function holdFlow(topo: Topology): { lines(): number; ended(): boolean } {
  const c = topo.spawn(topo.client.ns, 'curl', ['-sSN', `${URL}slow`])
  let lines = 0
  let ended = false
  c.stdout?.on('data', (b: Buffer) => { lines += b.toString().split('\n').filter(Boolean).length })
  void c.finally(() => { ended = true })
  return { lines: () => lines, ended: () => ended }
}

/**
 * Two ways per backend of breaking fwdd's hold on the kernel, as another tool would (the PREROUTING
 * flush takes the other tool's jump too: it puts its own back, fwdd must not mind).
 */
const BREAKS: Record<BackendName, string[][][]> = {
  iptables: [
    [['iptables', '-t', 'nat', '-F', 'PREROUTING'], ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-j', 'OTHER-NAT']],
    [['iptables', '-t', 'nat', '-F', 'FWD-SERVICES']],
  ],
  nftables: [[['nft', 'flush', 'chain', 'ip', 'fwdd', 'prerouting']], [['nft', 'delete', 'table', 'ip', 'fwdd']]],
}

/** Runs the whole suite on one backend: one topology, one daemon, a subtest per behaviour. */
export function forwardingSuite(backend: BackendName): void {
  t.test(`forwarding on the ${backend} backend`, async (t) => {
    const topo = await createTopology({ servers: 2, prefix: backend === 'nftables' ? 'fbn' : 'fbi' })
    t.teardown(() => topo.destroy())
    await startServers(topo, { udpPort: 5353 })
    await addForeign(topo, backend)
    // Something of the node's own listens on the listener port: what fwdd does not forward must not reach it.
    topo.spawn(topo.node.ns, process.execPath, [ECHO_SERVER, 'node-local', '8000'])
    await waitTcp(topo, topo.node.ns, '127.0.0.1', 8000)
    let d: RunningDaemon = await startDaemon(topo, config(topo, backend))
    t.teardown(() => d.kill('SIGKILL'))
    const [s0, s1] = topo.servers as [typeof topo.servers[0], typeof topo.servers[0]]

    t.test('tcp connections are spread over both targets; udp datagrams go both ways', async (t) => {
      t.equal((await d.status()).node.backend, backend === 'nftables' ? 'nftables' : 'iptables-nft')
      const r = await topo.exec(topo.client.ns, 'curl', ['-sS', '-m', '5', ...Array.from({ length: 100 }, () => URL)])
      const counts = { s0: 0, s1: 0 }
      for (const line of r.stdout.split('\n')) if (line === 's0' || line === 's1') counts[line]++
      t.equal(counts.s0 + counts.s1, 100, 'every connection was answered by a target')
      // Binomial(100, 0.5): 25..75 is 5 sigma.
      t.ok(counts.s0 >= 25 && counts.s1 >= 25, `both targets share them: ${JSON.stringify(counts)}`)
      // Each datagram comes from a new socket, so a new flow and a fresh pick: 20 of them all on one
      // target has a chance of 2^-19 (6 had 1 in 32, and failed in CI).
      const seen = new Set<string>()
      for (let i = 0; i < 20; i++) {
        const u = await topo.exec(topo.client.ns, process.execPath, ['-e', `
          const s = require('node:dgram').createSocket('udp4');
          const timer = setTimeout(() => { console.log('timeout'); process.exit(1) }, 2000);
          s.on('message', (m) => { console.log(String(m)); clearTimeout(timer); s.close() });
          s.send('ping${i}', 5300, '198.18.0.1');`], { reject: false })
        t.match(u.stdout.trim(), new RegExp(`^s[01]:ping${i}$`), 'the reply came back through the node')
        seen.add(u.stdout.trim().split(':')[0]!)
      }
      t.same([...seen].sort(), ['s0', 's1'], 'both udp targets got datagrams')
    })

    t.test('allow-list and refusal: a source outside `sources` is refused at once and reaches nothing', async (t) => {
      for (let i = 0; i < 3; i++) {
        const started = Date.now()
        const r = await httpGet(topo, 'http://198.18.100.1:8000/', { ns: topo.outsider.ns })
        t.equal(r.code, 7, `refused (curl exit 7), not answered and not left hanging: ${r.body}`)
        t.notMatch(r.body, /node-local|s[01]/, 'neither a target nor the node\'s own listener on that port answered')
        t.ok(Date.now() - started < 1000, `at once (${Date.now() - started} ms)`)
      }
      t.ok((await httpGet(topo, URL)).ok, 'an allowed source is still forwarded')
      t.match((await httpGet(topo, URL)).body, /^s[01]$/, 'to a target, not to the node\'s own listener')
    })

    t.test('masquerade only what fwdd forwarded (connmark), never a routed flow', async (t) => {
      t.ok((await httpGet(topo, URL)).ok)
      const direct = await httpGet(topo, `http://${s0.address}/`)
      t.equal(direct.body, 's0', 'the routed client -> s0 flow, not fwdd\'s, works')
      const replyDst = (line: string): string | undefined => [...line.matchAll(/dst=(\S+)/g)][1]?.[1]
      const routed = (await topo.exec(topo.node.ns, 'conntrack', ['-L', '-p', 'tcp', '--orig-src', topo.client.address, '--orig-dst', s0.address])).stdout.split('\n').filter((l) => l.startsWith('tcp'))
      t.ok(routed.length > 0, 'conntrack holds the routed flow')
      for (const l of routed) t.equal(replyDst(l), topo.client.address, 'routed: the target sees the client\'s own address (not masqueraded)')
      const forwarded = [...await flowsTo(topo, 'tcp', s0.address), ...await flowsTo(topo, 'tcp', s1.address)]
      t.ok(forwarded.length > 0, 'conntrack holds forwarded flows')
      for (const l of forwarded) t.match(replyDst(l), /^198\.18\.[12]\.1$/, 'forwarded: masqueraded to the node\'s address towards the target')
      for (const l of forwarded) t.match(l, /mark=262144\b/, 'and carrying fwdd\'s mark (0x40000)')
    })

    t.test('per-target bytes and packets, in status and /metrics', async (t) => {
      const before = await d.status()
      const answered = new Set<string>()
      for (let i = 0; i < 20; i++) answered.add((await httpGet(topo, URL)).body)
      const grew = async (): Promise<boolean> => {
        const s = await d.status()
        return topo.servers.every((srv, i) => {
          if (!answered.has(`s${i}`)) return true
          const was = before.listeners[0]!.targets.find((x) => x.address === srv.address)
          const now = s.listeners[0]!.targets.find((x) => x.address === srv.address)
          return (now?.bytes ?? 0) > (was?.bytes ?? 0) && (now?.packets ?? 0) > (was?.packets ?? 0)
        })
      }
      await until('bytes and packets of every answering target grew', grew, 5000)
      t.pass(`bytes and packets grew for every target that answered (${[...answered].sort().join(', ')})`)
      const metrics = (await topo.exec(topo.node.ns, 'curl', ['-sS', '-m', '3', 'http://127.0.0.1:8080/metrics'])).stdout
      const sum = (name: string): number => [...metrics.matchAll(new RegExp(`^${name}\\{listener="web",target="[^"]+"\\} (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0)
      t.ok(sum('fwdd_target_bytes_total') >= 20 * 100, `fwdd_target_bytes_total: ${sum('fwdd_target_bytes_total')}`)
      t.ok(sum('fwdd_target_packets_total') >= 20 * 3, `fwdd_target_packets_total: ${sum('fwdd_target_packets_total')}`)
      t.notMatch(metrics, /198\.18\./, 'no address in /metrics')
    })

    t.test("fwdctl rules shows fwdd's part only; re-applying changes nothing; nothing on the other backend", async (t) => {
      const rules = (await d.ctl(['rules'])).stdout
      if (backend === 'nftables') {
        t.match(rules, /table ip fwdd/, 'the nft table')
        t.match(rules, /masquerade random,fully-random/)
        t.match(rules, /tcp dport @passive_1000 ct event set new,destroy,reply\n\s*tcp dport @passive_1000 update @sample_1000 \{ tcp dport limit rate over 1000\/second burst 100 packets \} ct event set label\n/, 'passive listeners get the conntrack event mask, and beyond their sample one that reports nothing')
        t.match(rules, /set passive_1000 \{[^}]*elements = \{[^}]*\b8000\b/, 'web (passive health on) is in the passive set')
        t.notMatch(rules, /table ip other/, 'not the other tool\'s table')
        t.notMatch(await iptablesText(topo), /FWD-|comment fwdd/, 'nothing written to iptables')
      } else {
        t.match(rules, /-A FWD-SERVICES .*--dport 8000 .*"web -> 198\.18\.1\.2:80" .*-j DNAT --to-destination 198\.18\.1\.2:80/)
        t.match(rules, /MASQUERADE --random-fully/)
        t.match(rules, /-A FWD-RAW -p tcp -m tcp --dport 8000 .*-j CT --ctevents new,destroy,reply/, 'web (passive health on) gets the conntrack event mask in raw')
        t.match(rules, /-A PREROUTING -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m comment --comment fwdd -j FWD-RAW/, 'only SYNs enter FWD-RAW')
        t.notMatch(rules, /OTHER-/, 'not the other tool\'s rules')
        t.equal(await nftTableText(topo), null, 'no nft table')
      }
      const before = await fwddKernelText(topo, backend)
      t.equal((await d.ctl(['reload'])).exitCode, 0)
      await sleep(RESYNC_MS + 600) // a verify pass, which must find nothing to change
      t.equal(await fwddKernelText(topo, backend), before, 'the kernel is unchanged')
      await assertForeign(t, topo, backend, 'after start and re-apply')
    })

    t.test('drift: what another tool broke is repaired, and counted', async (t) => {
      const repairs = (await d.status()).node.driftRepairs ?? 0
      for (const cmds of BREAKS[backend]) {
        const broke = Date.now()
        for (const c of cmds) await topo.exec(topo.node.ns, c[0]!, c.slice(1))
        const cmd = cmds[0]!
        let ms = -1
        while (Date.now() - broke < 3 * RESYNC_MS) {
          if ((await httpGet(topo, URL, { timeoutS: 0.3 })).ok) { ms = Date.now() - broke; break }
        }
        t.comment(`${cmd.join(' ')}: forwarding back after ${ms} ms`)
        // The watch repairs in milliseconds; the periodic verify is the backstop. Generous bound:
        // drift.test.ts holds the per-case timing on iptables.
        t.ok(ms >= 0 && ms < 2 * RESYNC_MS + 1000, `${cmd.join(' ')}: repaired by the watch or the next verify (${ms} ms)`)
      }
      await until('in sync', async () => (await d.status()).node.inSync, 5000)
      const s = await d.status()
      t.ok((s.node.driftRepairs ?? 0) >= repairs + BREAKS[backend].length, `driftRepairs ${repairs} -> ${s.node.driftRepairs}`)
      await assertForeign(t, topo, backend, 'after the repairs')
    })

    t.test('conntrack cut: the flows of a target marked unhealthy are deleted', async (t) => {
      for (let i = 0; i < 12 && (await flowsTo(topo, 'tcp', s0.address)).filter((l) => / ESTABLISHED /.test(l)).length === 0; i++) {
        holdFlow(topo)
        await sleep(200)
      }
      t.ok((await flowsTo(topo, 'tcp', s0.address)).some((l) => / ESTABLISHED /.test(l)), 'a live flow to s0')
      const drop = ['INPUT', '-p', 'tcp', '--dport', '80', '--syn', '-j', 'DROP']
      await topo.exec(s0.ns, 'iptables', ['-A', ...drop])
      await until('s0 out of rotation', async () => (await d.status()).listeners.every((l) => l.targets.some((x) => x.address === s0.address && x.state === 'unhealthy' && x.inRotation === false)), 5000)
      const ms = await until('no live tcp flow to s0', async () => !(await flowsTo(topo, 'tcp', s0.address)).some((l) => / ESTABLISHED /.test(l)), 1500)
      t.pass(`no live flow to s0 within ${ms} ms of status showing it unhealthy`)
      await topo.exec(s0.ns, 'iptables', ['-D', ...drop])
      await until('s0 healthy again', async () => (await d.status()).listeners.every((l) => l.targets.every((x) => x.state === 'healthy')), 5000)
    })

    t.test('all targets down (whenAllDown: reject): new connections refused at once, never the node\'s own listener', async (t) => {
      const drop = ['INPUT', '-p', 'tcp', '--dport', '80', '--syn', '-j', 'DROP']
      for (const s of topo.servers) await topo.exec(s.ns, 'iptables', ['-A', ...drop])
      await until('no target in rotation', async () => (await d.status()).listeners.every((l) => !l.serving && l.targets.every((x) => x.inRotation === false)), 5000)
      for (let i = 0; i < 3; i++) {
        const started = Date.now()
        const r = await httpGet(topo, URL)
        t.equal(r.code, 7, `refused (curl exit 7), not a timeout and not the node's own listener: ${r.body}`)
        t.ok(Date.now() - started < 1000, `at once (${Date.now() - started} ms)`)
      }
      t.equal(await probe(topo, '/lb/web'), 503, '/lb/web 503')
      for (const s of topo.servers) await topo.exec(s.ns, 'iptables', ['-D', ...drop])
      await until('targets healthy again', async () => (await d.status()).listeners.every((l) => l.serving && l.targets.every((x) => x.state === 'healthy')), 5000)
    })

    t.test('drain: /lb turns 503, forwarding goes on; undrain: 200', async (t) => {
      t.equal(await probe(topo, '/lb/web'), 200)
      t.equal((await d.ctl(['drain'])).exitCode, 0)
      t.equal(await probe(topo, '/lb/web'), 503, '/lb/web 503 while drained')
      t.equal(await probe(topo, '/lb'), 503, '/lb 503')
      t.ok((await httpGet(topo, URL)).ok, 'new connections still forwarded while drained')
      t.equal((await d.ctl(['undrain'])).exitCode, 0)
      t.equal(await probe(topo, '/lb/web'), 200, '/lb/web 200 after undrain')
    })

    t.test('fail-static: a restart keeps established flows and adopts the rules', async (t) => {
      const flow = holdFlow(topo)
      await until('the held flow flows', async () => flow.lines() >= 2, 5000)
      const before = await fwddKernelText(topo, backend)
      await d.kill('SIGTERM')
      t.ok((await httpGet(topo, URL)).ok, 'new connections forwarded with the daemon stopped')
      t.equal(await fwddKernelText(topo, backend), before, 'the stopped daemon left its rules')
      d = await startDaemon(topo, config(topo, backend), { dir: d.dir })
      t.match(d.log(), /adopting them/, 'the new daemon adopted the rules')
      const at = flow.lines()
      await until('the held flow goes on after the restart', async () => flow.lines() >= at + 2, 5000)
      t.notOk(flow.ended(), 'the established flow survived the restart')
      t.equal(await fwddKernelText(topo, backend), before, 'adoption rewrote nothing')
    })

    t.test('doctor: passes on a healthy node; with the daemon stopped, names what another tool broke', async (t) => {
      const good = await d.ctl(['doctor', '--config', d.configPath])
      t.equal(good.exitCode, 0, `doctor passes:\n${good.stdout}`)
      t.match(good.stdout, backend === 'nftables' ? /^PASS {2}nftables-table: table ip fwdd present$/m : /^PASS {2}jump nat PREROUTING -> FWD-PREROUTING: present$/m)
      t.match(good.stdout, /^PASS {2}source-ports: /m)
      t.match(good.stdout, /^PASS {2}passive-health: watching fwdd's forwarded flows/m, 'the daemon\'s passive watch, asked over the control socket')
      await d.kill('SIGTERM')
      for (const c of BREAKS[backend][0]!) await topo.exec(topo.node.ns, c[0]!, c.slice(1))
      const bad = await d.ctl(['doctor', '--config', d.configPath])
      t.equal(bad.exitCode, 1, 'doctor fails')
      t.match(bad.stdout, backend === 'nftables' ? /^FAIL {2}hook prerouting: chain prerouting is empty/m : /^FAIL {2}jump nat PREROUTING -> FWD-PREROUTING: missing/m, 'naming the broken hook')
    })

    t.test('fwdctl cleanup: --dry-run lists and changes nothing; cleanup removes every trace and nothing else', async (t) => {
      const ctl = (args: string[]) => topo.exec(topo.node.ns, NODE_RUNTIME, [FWDCTL, '--socket', d.socket, ...args], { reject: false })
      const before = [await iptablesText(topo), await nftTableText(topo)]
      const dry = await ctl(['cleanup', '--dry-run'])
      t.equal(dry.exitCode, 0)
      t.match(dry.stdout, backend === 'nftables' ? /^ {2}nft delete table ip fwdd$/m : /^ {2}-t nat -X FWD-/m, 'the dry run lists it')
      t.same([await iptablesText(topo), await nftTableText(topo)], before, 'and changed nothing')
      const r = await ctl(['cleanup'])
      t.equal(r.exitCode, 0)
      t.match(r.stdout, backend === 'nftables' ? /and the nft table ip fwdd/ : /removed 6 chains and 4 jump rules/)
      t.notMatch(await iptablesText(topo), /FWD-|comment fwdd/, 'no fwdd chain or jump in iptables')
      t.equal(await nftTableText(topo), null, 'no fwdd nft table')
      await assertForeign(t, topo, backend, 'after cleanup')
      t.match((await ctl(['cleanup', '--dry-run'])).stdout, /nothing to remove/)
      t.equal((await httpGet(topo, URL)).body, 'node-local', 'nothing forwarded after cleanup: the node\'s own listener answers')
    })
  })
}


import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import {
  isCheckable, listenerStatuses, renderInputOf, resolveSources, resolveTargets, rotationOf, targetKey,
  type HealthView, type WorldView,
} from '../../src/reconcile/desired.js'
import type { TargetState } from '../../src/status.js'

function config(yaml: string): Config {
  const r = parseConfig(yaml, 'config.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  return r.config
}

const world = (dns: Record<string, { addresses: string[]; error: string | null }> = {}, pls: Record<string, string[]> = {}): WorldView => ({
  dns: (name) => dns[name],
  ipGroup: () => undefined,
  privateLinkService: (id) => (pls[id] ? { addresses: pls[id]!, error: null } : undefined),
})

const healthOf = (states: Record<string, TargetState>) => (key: string): HealthView | undefined =>
  states[key] ? { state: states[key]!, since: 0, lastError: states[key] === 'unhealthy' ? 'connection refused' : null } : undefined

const two = (extra = '') => config(`
listeners:
  - name: web
    port: 8000${extra}
    targets:
      - { host: 198.18.1.2, port: 80 }
      - { host: 198.18.2.2, port: 80 }
`)

const A = targetKey('web', '198.18.1.2', 80)
const B = targetKey('web', '198.18.2.2', 80)

t.test('rotation: healthy targets; when none, per whenAllDown', async (t) => {
  const table: Array<{ name: string; extra: string; states: Record<string, TargetState>; rotation: string[] }> = [
    { name: 'both healthy', extra: '', states: { [A]: 'healthy', [B]: 'healthy' }, rotation: [A, B] },
    { name: 'one unhealthy', extra: '', states: { [A]: 'unhealthy', [B]: 'healthy' }, rotation: [B] },
    { name: 'unknown is not in rotation', extra: '', states: { [B]: 'healthy' }, rotation: [B] },
    { name: 'all down, default reject', extra: '', states: { [A]: 'unhealthy', [B]: 'unhealthy' }, rotation: [] },
    { name: 'all down, reject', extra: '\n    whenAllDown: reject', states: { [A]: 'unhealthy', [B]: 'unhealthy' }, rotation: [] },
    { name: 'all down, all: fail open', extra: '\n    whenAllDown: all', states: { [A]: 'unhealthy', [B]: 'unhealthy' }, rotation: [A, B] },
    { name: 'all unknown, all', extra: '\n    whenAllDown: all', states: {}, rotation: [A, B] },
    { name: 'one healthy, all: only the healthy one', extra: '\n    whenAllDown: all', states: { [A]: 'healthy', [B]: 'unhealthy' }, rotation: [A] },
  ]
  for (const row of table) {
    const c = two(row.extra)
    const targets = resolveTargets(c, world())
    t.same(rotationOf(c.listeners[0]!, targets.get('web')!, healthOf(row.states)).map((x) => x.key), row.rotation, row.name)
  }
})

t.test('udp: without check.port every target stays in rotation; with it, health decides', async (t) => {
  const noCheck = config(`
listeners:
  - name: dns
    protocol: udp
    port: 53
    targets: [{ host: 198.18.1.2, port: 53 }, { host: 198.18.2.2, port: 53 }]
`)
  const l = noCheck.listeners[0]!
  t.equal(isCheckable(l), false)
  const targets = resolveTargets(noCheck, world())
  const rot = rotationOf(l, targets.get('dns')!, () => undefined)
  t.equal(rot.length, 2, 'unchecked udp targets stay in rotation')
  const rotation = new Map([['dns', rot]])
  const [st] = listenerStatuses(noCheck, targets, rotation, { inSync: true, draining: false, health: () => undefined })
  t.match(st, { serving: true, targets: [{ state: 'unknown', inRotation: true }, { state: 'unknown', inRotation: true }] })

  const withCheck = config(`
listeners:
  - name: dns
    protocol: udp
    port: 53
    check: { port: 80 }
    targets: [{ host: 198.18.1.2, port: 53 }, { host: 198.18.2.2, port: 53 }]
`)
  t.equal(isCheckable(withCheck.listeners[0]!), true)
  const t2 = resolveTargets(withCheck, world())
  const k = targetKey('dns', '198.18.1.2', 53)
  t.same(rotationOf(withCheck.listeners[0]!, t2.get('dns')!, healthOf({ [k]: 'healthy' })).map((x) => x.key), [k])
})

t.test('DNS targets: one entry per address, forbidden answers dropped, resolver error carried', async (t) => {
  const c = config(`
listeners:
  - name: web
    port: 8000
    targets:
      - { host: svc.test, port: 80 }
      - { host: 198.18.1.2, port: 80 }
`)
  const targets = resolveTargets(c, world({
    'svc.test': { addresses: ['198.18.1.2', '198.18.3.2', '127.0.0.1', '169.254.169.254', '168.63.129.16', '224.0.0.1', '0.0.0.0'], error: 'resolving svc.test failed (ETIMEOUT); keeping the last good addresses' },
  })).get('web')!
  t.same(targets.map((x) => x.address), ['198.18.1.2', '198.18.3.2'], 'loopback, link-local, WireServer, multicast, 0/8 dropped; duplicates merged')
  t.match(targets[0], { host: 'svc.test', sourceError: /keeping the last good/ })
  const rotation = new Map([['web', targets]])
  const [st] = listenerStatuses(c, new Map([['web', targets]]), rotation, { inSync: true, draining: false, health: () => undefined })
  t.match(st!.targets[1], { host: 'svc.test', address: '198.18.3.2', state: 'unknown', lastError: /keeping the last good/ }, 'status says the addresses are stale')
  t.same(resolveTargets(c, world()).get('web')!.map((x) => x.address), ['198.18.1.2'], 'an unresolved name yields no target')
})

t.test('sources: written CIDRs, Private Link NAT IPs, and the closed sentinel', async (t) => {
  const pls = '/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/p'
  const c = config(`
sources:
  - 10.0.1.0/26
  - privateLinkService: ${pls}
listeners:
  - { name: web, port: 8000, targets: [{ host: 198.18.1.2, port: 80 }] }
`)
  t.same(resolveSources(c, world({}, { [pls]: ['10.0.2.4', '10.0.2.5'] })), ['10.0.1.0/26', '10.0.2.4/32', '10.0.2.5/32'])
  const onlyPls = config(`
sources:
  - privateLinkService: ${pls}
listeners:
  - { name: web, port: 8000, targets: [{ host: 198.18.1.2, port: 80 }] }
`)
  const targets = resolveTargets(onlyPls, world())
  const input = renderInputOf(onlyPls, targets, targets, resolveSources(onlyPls, world()))
  t.same(input.sources, ['0.0.0.0/32'], 'sources named but none resolved: closed, never "anyone"')
  const open = config(`
listeners:
  - { name: web, port: 8000, targets: [{ host: 198.18.1.2, port: 80 }] }
`)
  t.same(renderInputOf(open, resolveTargets(open, world()), new Map(), []).sources, [], 'no sources written: anyone')
})

t.test('render input: rotation vs known; status serving', async (t) => {
  const c = two()
  const targets = resolveTargets(c, world())
  const health = healthOf({ [A]: 'unhealthy', [B]: 'healthy' })
  const rotation = new Map([['web', rotationOf(c.listeners[0]!, targets.get('web')!, health)]])
  const input = renderInputOf(c, targets, rotation, [])
  t.same(input.listeners[0], {
    name: 'web', protocol: 'tcp', port: 8000,
    rotation: [{ address: '198.18.2.2', port: 80, weight: 1 }],
    known: [{ address: '198.18.1.2', port: 80, weight: 1 }, { address: '198.18.2.2', port: 80, weight: 1 }],
    passive: true,
    sampleFlowsPerSecond: 1000,
  })
  // Passive health off (the loader's udp default, or `enabled: false`): no event mask for its flows.
  const off = { ...c, listeners: c.listeners.map((l) => ({ ...l, passive: { ...l.passive!, enabled: false } })) }
  t.equal(renderInputOf(off, targets, rotation, []).listeners[0]!.passive, false)
  const st = (inSync: boolean, draining: boolean, h = health) => listenerStatuses(c, targets, rotation, { inSync, draining, health: h })[0]!
  t.match(st(true, false), { serving: true, targets: [{ state: 'unhealthy', lastError: 'connection refused', inRotation: false }, { state: 'healthy', inRotation: true }] })
  t.equal(st(false, false).serving, false, 'not in sync: not serving')
  t.equal(st(true, true).serving, false, 'draining: not serving')
  t.equal(st(true, false, healthOf({ [A]: 'unhealthy', [B]: 'unhealthy' })).serving, false, 'no healthy target: not serving')
})

t.test('defect 2: target labels come from config order and name:, never from arrival order', async (t) => {
  const c = config(`
listeners:
  - name: web
    port: 8000
    targets:
      - { host: 198.18.1.2, port: 80 }
      - { host: svc.test, port: 80 }
      - { host: 198.18.2.2, port: 80, name: backup }
      - { host: 198.18.1.2, port: 80 }
`)
  // The resolver's answer order varies between nodes and runs; labels must not.
  for (const answer of [['198.18.3.20', '198.18.3.3'], ['198.18.3.3', '198.18.3.20']]) {
    const targets = resolveTargets(c, world({ 'svc.test': { addresses: answer, error: null } })).get('web')!
    t.same(targets.map((x) => [x.label, `${x.address}:${x.port}`]), [
      ['web/0', '198.18.1.2:80'],
      ['web/1-0', '198.18.3.3:80'],
      ['web/1-1', '198.18.3.20:80'],
      ['web/backup', '198.18.2.2:80'],
    ], `answer ${answer.join(',')}: numeric order within the DNS entry; a repeated address keeps its first label`)
    const statuses = listenerStatuses(c, new Map([['web', targets]]), new Map(), { inSync: true, draining: false, health: () => undefined })
    t.same(statuses[0]!.targets.map((x) => x.label), ['web/0', 'web/1-0', 'web/1-1', 'web/backup'], 'the status carries the labels')
  }
})

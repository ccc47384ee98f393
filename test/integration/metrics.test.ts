/**
 * `/metrics` from the real daemon: the body parses as Prometheus text format 0.0.4 (a strict parser
 * below: every line is a HELP, a TYPE or a sample of a declared family, every label set well formed),
 * carries no target address, and `fwdd_target_bytes_total` of a target grows with the traffic sent
 * through it (and `fwdctl status --json` agrees).
 * Address plan: 198.18.0.0/15 inside namespaces this test creates (see test/helpers/netns.ts).
 */
import t from 'tap'
import { createTopology, type Topology } from '../helpers/netns.js'
import { httpGet, sleep, startDaemon, startServers, webConfig } from '../helpers/daemon.js'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

interface Exposition {
  types: Map<string, string>
  samples: Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value "${text}" in: ${line}`)
  return Number(text)
}

/** Parses `k="v",k2="v2"` (escapes \\, \", \n) from `s` starting after `{`; returns labels and the index after `}`. */
function parseLabels(s: string, start: number, line: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {}
  let i = start
  for (;;) {
    if (s[i] === '}') return [labels, i + 1]
    const eq = s.indexOf('=', i)
    if (eq < 0) throw new Error(`label without "=" in: ${line}`)
    const name = s.slice(i, eq)
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name "${name}" in: ${line}`)
    if (name in labels) throw new Error(`duplicate label "${name}" in: ${line}`)
    if (s[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`)
    let v = ''
    let j = eq + 2
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        const e = s[++j]
        if (e === 'n') v += '\n'
        else if (e === '\\' || e === '"') v += e
        else throw new Error(`bad escape in: ${line}`)
      } else v += s[j]
    }
    if (j >= s.length) throw new Error(`unterminated label value in: ${line}`)
    labels[name] = v
    i = j + 1
    if (s[i] === ',') i++
    else if (s[i] !== '}') throw new Error(`expected "," or "}" after label "${name}" in: ${line}`)
  }
}

/** The family a sample belongs to: its own name, or the name less a histogram/summary suffix. */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const base = name.slice(0, -suffix.length)
    const type = types.get(base)
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base
  }
  return undefined
}

/** A strict parser of the Prometheus text format (0.0.4); throws on the first malformed line. */
function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline')
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const samples: Sample[] = []
  const seen = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (!m) {
        if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`malformed ${line}`)
        continue // a plain comment
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string]
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`unknown type in: ${line}`)
        if (types.has(name)) throw new Error(`second TYPE for ${name}`)
        if (samples.some((s) => familyOf(s.name, new Map([[name, rest]])) === name)) throw new Error(`TYPE of ${name} after its samples`)
        types.set(name, rest)
      } else {
        if (helps.has(name)) throw new Error(`second HELP for ${name}`)
        helps.add(name)
      }
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?/.exec(line)
    if (!m) throw new Error(`not a sample: ${line}`)
    const name = m[1]!
    let labels: Record<string, string> = {}
    let i = name.length
    if (m[2]) [labels, i] = parseLabels(line, i + 1, line)
    const rest = line.slice(i)
    const vm = /^ (\S+)( -?\d+)?$/.exec(rest)
    if (!vm) throw new Error(`bad value part "${rest}" in: ${line}`)
    const value = parseValue(vm[1]!, line)
    const family = familyOf(name, types)
    if (family === undefined) throw new Error(`sample of undeclared family: ${line}`)
    const type = types.get(family)!
    if (type === 'counter' && !(value >= 0)) throw new Error(`negative or NaN counter: ${line}`)
    if (name.endsWith('_bucket') && type === 'histogram' && !('le' in labels)) throw new Error(`bucket without le: ${line}`)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(key)) throw new Error(`duplicate sample: ${line}`)
    seen.add(key)
    samples.push({ name, labels, value })
  }
  return { types, samples }
}

async function scrape(topo: Topology): Promise<{ contentType: string; text: string }> {
  const r = await topo.exec(topo.node.ns, 'curl', ['-sS', '-m', '3', '-o', '-', '-w', '\n%{content_type}', 'http://127.0.0.1:8080/metrics'])
  const cut = r.stdout.lastIndexOf('\n')
  return { contentType: r.stdout.slice(cut + 1), text: r.stdout.slice(0, cut) }
}

/** `fwdd_target_bytes_total` per target label. */
function targetBytes(e: Exposition): Map<string, number> {
  const out = new Map<string, number>()
  for (const s of e.samples) if (s.name === 'fwdd_target_bytes_total' && s.labels.listener === 'web') out.set(s.labels.target!, s.value)
  return out
}

t.test('the parser refuses malformed text', async (t) => {
  t.throws(() => parseExposition('fwdd_x 1\n'), /undeclared/, 'sample without TYPE')
  t.throws(() => parseExposition('# TYPE a counter\na{b="c} 1\n'), /unterminated/, 'unterminated label')
  t.throws(() => parseExposition('# TYPE a counter\na 1 2 3\n'), /bad value part/, 'extra fields')
  t.throws(() => parseExposition('# TYPE a counter\na -1\n'), /negative/, 'negative counter')
  t.throws(() => parseExposition('# TYPE a gauge\na 1\na 2\n'), /duplicate/, 'duplicate series')
  t.same(parseExposition('# HELP a x\n# TYPE a histogram\na_bucket{le="+Inf"} 1\na_sum 0.5\na_count 1\n').samples.length, 3, 'a histogram parses')
})

t.test('/metrics parses as Prometheus text and the per-target byte counter grows with traffic', async (t) => {
  const topo = await createTopology({ servers: 2, prefix: 'me' })
  t.teardown(() => topo.destroy())
  await startServers(topo)
  const d = await startDaemon(topo, webConfig(topo))

  const first = await scrape(topo)
  t.match(first.contentType, /^text\/plain; version=0\.0\.4/, `content type: ${first.contentType}`)
  let before: Exposition
  try {
    before = parseExposition(first.text)
  } catch (err: unknown) {
    t.fail(`/metrics does not parse: ${String(err)}\n${first.text}`)
    return
  }
  t.pass(`/metrics parses: ${before.samples.length} samples in ${before.types.size} families`)
  t.notMatch(first.text, /198\.18\./, 'no target address in /metrics (the health port faces the network)')
  for (const [name, type] of [
    ['fwdd_target_bytes_total', 'counter'], ['fwdd_target_packets_total', 'counter'], ['fwdd_target_state', 'gauge'],
    ['fwdd_rules_in_sync', 'gauge'], ['fwdd_draining', 'gauge'], ['fwdd_check_duration_seconds', 'histogram'],
  ] as const) t.equal(before.types.get(name), type, `${name} is a ${type}`)
  const value = (e: Exposition, name: string): number | undefined => e.samples.find((s) => s.name === name)?.value
  t.equal(value(before, 'fwdd_rules_in_sync'), 1, 'fwdd_rules_in_sync 1')
  t.equal(value(before, 'fwdd_draining'), 0, 'fwdd_draining 0')
  const healthy = before.samples.filter((s) => s.name === 'fwdd_target_state' && s.labels.state === 'healthy' && s.value === 1)
  t.equal(healthy.length, 2, 'both targets healthy in fwdd_target_state')

  const statusBefore = await d.status()
  const bytesBefore = targetBytes(before)

  // Traffic: N requests through the listener, counted per answering server.
  const N = 20
  const answered = new Map<string, number>()
  for (let i = 0; i < N; i++) {
    const r = await httpGet(topo, 'http://198.18.0.1:8000/')
    t.ok(r.ok, `request ${i} answered`)
    answered.set(r.body, (answered.get(r.body) ?? 0) + 1)
  }
  t.comment(`answers: ${JSON.stringify(Object.fromEntries(answered))}`)

  // The daemon reads the kernel counters at most once a second: poll until they moved.
  let after: Exposition = before
  const until = Date.now() + 5000
  for (;;) {
    await sleep(300)
    after = parseExposition((await scrape(topo)).text)
    const grown = [...targetBytes(after)].filter(([label, v]) => v > (bytesBefore.get(label) ?? 0)).length
    if (grown >= answered.size || Date.now() > until) break
  }
  const bytesAfter = targetBytes(after)
  t.equal(bytesAfter.size, 2, `one fwdd_target_bytes_total series per target: ${[...bytesAfter.keys()].join(', ')}`)
  const grown = [...bytesAfter].filter(([label, v]) => v > (bytesBefore.get(label) ?? 0))
  t.equal(grown.length, answered.size, `the counter grew for every target that answered (${answered.size}): ${JSON.stringify(Object.fromEntries(bytesAfter))} vs ${JSON.stringify(Object.fromEntries(bytesBefore))}`)
  // Each request is at least a SYN, the request and the response: far more than 100 bytes.
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0)
  const delta = total(bytesAfter) - total(bytesBefore)
  t.ok(delta >= N * 100, `bytes grew by ${delta} for ${N} requests`)
  const listenerBytes = after.samples.find((s) => s.name === 'fwdd_listener_bytes_total' && s.labels.listener === 'web')?.value ?? 0
  t.equal(listenerBytes, total(bytesAfter), 'fwdd_listener_bytes_total is the sum of its targets')

  // The control socket shows the same bytes per address; each answering server's entry grew.
  const statusAfter = await d.status()
  for (const [i, s] of topo.servers.entries()) {
    const b0 = statusBefore.listeners[0]!.targets.find((x) => x.address === s.address)?.bytes ?? 0
    const b1 = statusAfter.listeners[0]!.targets.find((x) => x.address === s.address)?.bytes ?? 0
    if (answered.has(`s${i}`)) t.ok(b1 > b0, `fwdctl status: bytes of ${s.address} grew (${b0} -> ${b1})`)
    else t.equal(b1, b0, `fwdctl status: bytes of ${s.address}, which answered nothing, did not move`)
  }

  // Counters never go down between scrapes.
  const again = parseExposition((await scrape(topo)).text)
  for (const [label, v] of targetBytes(again)) t.ok(v >= (bytesAfter.get(label) ?? 0), `${label} did not decrease`)
})

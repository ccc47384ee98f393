// Config validation: one case per rule, each asserting the line:col and the field path.
import t from 'tap'
import { parseConfig, formatProblems } from '../../src/config/load.js'

const base = (listener: string, top = ''): string => `${top}listeners:\n  - name: web\n    port: 8000\n${listener}`
const targets = '    targets:\n      - host: 198.18.1.10\n        port: 80\n'

function problems(yaml: string): string[] {
  const r = parseConfig(yaml, 'c.yaml')
  return r.ok ? [] : formatProblems(r.problems).split('\n')
}

t.test('a valid config gets defaults', async (t) => {
  const r = parseConfig(base(targets, 'sources: [10.0.1.0/26]\n'), 'c.yaml')
  t.ok(r.ok)
  if (!r.ok) return
  t.same(r.config.health, { port: 8080, address: '0.0.0.0', probeSources: [] })
  t.same(r.config.listeners[0]?.check, { intervalMs: 1000, timeoutMs: 1000, fall: 2, rise: 2 })
  t.equal(r.config.listeners[0]?.protocol, 'tcp')
  t.equal(r.config.listeners[0]?.whenAllDown, 'reject')
  t.same(r.config.sources, [{ kind: 'cidr', cidr: '10.0.1.0/26' }])
  t.same(r.config.listeners[0]?.targets, [{ kind: 'host', host: '198.18.1.10', port: 80, weight: 1 }])
})

const cases: Array<[string, string, string]> = [
  ['unknown top-level key', `healt: {}\n${base(targets)}`, 'c.yaml:1:1: healt: unknown key "healt"; did you mean "health"?'],
  ['unknown listener key', base(`${targets}    tragets: []\n`), 'c.yaml:7:5: listeners.0.tragets: unknown key "tragets"; did you mean "targets"?'],
  ['unknown target key', base('    targets:\n      - host: 198.18.1.10\n        prot: 80\n        port: 80\n'), 'c.yaml:6:9: listeners.0.targets.0.prot: unknown key "prot"; did you mean "port"?'],
  ['duplicate listener name', `${base(targets)}  - name: web\n    port: 8001\n${targets}`, 'c.yaml:7:11: listeners.1.name: "web" is already the name of listeners.0; listener names must be unique'],
  ['duplicate port per protocol', `${base(targets)}  - name: web2\n    port: 8000\n${targets}`, 'c.yaml:8:11: listeners.1.port: tcp/8000 is already used by listeners.0; each port may have one listener per protocol'],
  ['port out of range', 'listeners:\n  - name: web\n    port: 70000\n' + targets, 'c.yaml:3:11: listeners.0.port: 70000 is out of range; write a number from 1 to 65535'],
  ['target port not an integer', base('    targets:\n      - host: 198.18.1.10\n        port: http\n'), 'c.yaml:6:15: listeners.0.targets.0.port: must be a whole number, got "http"'],
  ['bad CIDR', `sources: [10.0.1.0/33]\n${base(targets)}`, 'c.yaml:1:11: sources.0: "10.0.1.0/33" is not a valid IPv4 CIDR: prefix length "33" must be 0 to 32; write e.g. 10.0.1.0/26'],
  ['CIDR with host bits', `sources: [10.0.1.5/24]\n${base(targets)}`, 'c.yaml:1:11: sources.0: "10.0.1.5/24" is not a valid IPv4 CIDR: host bits are set; the network is 10.0.1.0/24; write e.g. 10.0.1.0/26'],
  ['weight zero', base(`${targets}        weight: 0\n`), 'c.yaml:7:17: listeners.0.targets.0.weight: 0 is out of range; write a number greater than 0 (at most 1000)'],
  ['loopback target', base('    targets:\n      - host: 127.0.0.1\n        port: 80\n'), "c.yaml:5:15: listeners.0.targets.0.host: 127.0.0.1 is loopback; forwarding there would expose the node itself; use the on-premises server's address"],
  ['link-local target (IMDS)', base('    targets:\n      - host: 169.254.169.254\n        port: 80\n'), "c.yaml:5:15: listeners.0.targets.0.host: 169.254.169.254 is link-local (the instance metadata service lives there); forwarding there would expose the node itself; use the on-premises server's address"],
  ['WireServer target', base('    targets:\n      - host: 168.63.129.16\n        port: 80\n'), "c.yaml:5:15: listeners.0.targets.0.host: 168.63.129.16 is Azure's WireServer and health probe source; forwarding there would expose the node itself; use the on-premises server's address"],
  ['0.0.0.0/8 target', base('    targets:\n      - host: 0.1.2.3\n        port: 80\n'), 'c.yaml:5:15: listeners.0.targets.0.host: 0.1.2.3 is in 0.0.0.0/8 ("this network"); forwarding there would expose the node itself; use the on-premises server\'s address'],
  ['multicast target', base('    targets:\n      - host: 239.1.1.1\n        port: 80\n'), "c.yaml:5:15: listeners.0.targets.0.host: 239.1.1.1 is multicast; forwarding there would expose the node itself; use the on-premises server's address"],
  ['broadcast target', base('    targets:\n      - host: 255.255.255.255\n        port: 80\n'), "c.yaml:5:15: listeners.0.targets.0.host: 255.255.255.255 is the broadcast address; forwarding there would expose the node itself; use the on-premises server's address"],
  ['bad listener name', 'listeners:\n  - name: Web_1\n    port: 8000\n' + targets, 'c.yaml:2:11: listeners.0.name: "Web_1" is not a valid listener name; use 1 to 16 of a-z, 0-9 and "-"'],
  ['bad protocol', base(`    protocol: sctp\n${targets}`), 'c.yaml:4:15: listeners.0.protocol: "sctp" is not allowed; write one of "tcp", "udp"'],
  ['missing targets', base(''), 'c.yaml:2:5: listeners.0: "targets" is required here; add it'],
  ['target without host or ipGroup', base('    targets:\n      - port: 80\n'), 'c.yaml:5:9: listeners.0.targets.0: needs "host" (an IPv4 address or DNS name) or "ipGroup" (an Azure IP Group resource id)'],
  ['listener port equals health port', 'listeners:\n  - name: web\n    port: 8080\n' + targets, 'c.yaml:3:11: listeners.0.port: port 8080 is the health port; pick another port for the listener or change health.port'],
  ['invalid host text', base('    targets:\n      - host: "not valid!"\n        port: 80\n'), 'c.yaml:5:15: listeners.0.targets.0.host: "not valid!" is neither an IPv4 address nor a DNS name; write e.g. 192.168.42.65 or app.corp.example'],
  ['YAML syntax error', 'listeners: [\n', 'c.yaml:2:1: (yaml): Flow sequence in block collection must be sufficiently indented and end with a ]; fix the YAML syntax'],
]

for (const [name, yaml, expected] of cases) {
  t.test(name, async (t) => {
    const got = problems(yaml)
    t.ok(got.includes(expected), `expected\n  ${expected}\ngot\n  ${got.join('\n  ')}`)
  })
}

t.test('every problem is listed in one run', async (t) => {
  const got = problems(`sources: [10.0.1.5/24]\nlisteners:\n  - name: web\n    port: 70000\n    targets:\n      - host: 127.0.0.1\n        port: 80\n`)
  t.equal(got.length, 3, got.join('\n'))
})

t.test('DNS names and weights are accepted', async (t) => {
  const r = parseConfig(base('    targets:\n      - host: app.corp.example\n        port: 80\n        weight: 2.5\n'), 'c.yaml')
  t.ok(r.ok)
})

t.test('a target name: must be a label word and unique within its listener', async (t) => {
  const yaml = (a: string, b: string) => `listeners:\n  - name: web\n    port: 8000\n    targets:\n      - { host: 198.18.1.2, port: 80, name: ${a} }\n      - { host: 198.18.2.2, port: 80, name: ${b} }\n`
  const ok = parseConfig(yaml('primary', 'backup'), 'c.yaml')
  t.ok(ok.ok)
  if (ok.ok) t.same(ok.config.listeners[0]!.targets.map((x) => x.name), ['primary', 'backup'])
  const dup = parseConfig(yaml('a', 'a'), 'c.yaml')
  t.notOk(dup.ok)
  if (!dup.ok) t.match(dup.problems, [{ path: 'listeners.0.targets.1.name', line: 6, message: /already the name of targets\.0/ }])
  const bad = parseConfig(yaml('"198.18.1.2"', 'b'), 'c.yaml')
  t.notOk(bad.ok, 'a name that looks like an address is refused (labels never carry addresses)')
  if (!bad.ok) t.match(bad.problems, [{ path: 'listeners.0.targets.0.name' }])
})

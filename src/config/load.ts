/**
 * Reads a config (file or text), validates it against the schema and the semantic rules, and turns
 * it into the typed `Config` with defaults filled in. Every problem carries the line and column of
 * the offending key or value, so `fwdd --check` can print `PATH:LINE:COL: field.path: message`.
 */
import { readFile, stat } from 'node:fs/promises'
import { Ajv, type ErrorObject } from 'ajv'
import { LineCounter, isMap, isNode, isScalar, parseDocument, type Document, type Node } from 'yaml'
import { knownKeys, configSchema } from './schema.js'
import { semanticProblems, type RawProblem } from './semantic.js'
import { parseCidr, formatCidr } from './addresses.js'
import { sizeProblem, treeProblem } from './limits.js'
import { configWarnings } from './warnings.js'
import { fastParse } from './fast-parse.js'
import type { Config, ConfigProblem, ListenerSpec, PassiveSpec, SourceSpec, TargetSpec } from './types.js'

/**
 * A checked config. `warnings` (likely mistakes, warnings.ts) come only with a valid config and
 * never stop it from loading; `fwdd --check` prints them with `warning:` after the position.
 */
export type ConfigResult = { ok: true; config: Config; warnings: ConfigProblem[] } | { ok: false; problems: ConfigProblem[] }

// verbose: errors carry their parent schema, so a bound's message can name both ends of the range.
const ajv = new Ajv({ allErrors: true, strict: true, verbose: true })
const validate = ajv.compile(configSchema)

/**
 * Reads and validates a config file. A missing, unreadable or too large file is one problem at 1:1;
 * the size is checked before the file is read, so a huge file costs no memory.
 */
export async function loadConfigFile(file: string): Promise<ConfigResult> {
  let text: string
  try {
    const tooBig = sizeProblem((await stat(file)).size)
    if (tooBig) return { ok: false, problems: [{ file, line: 1, col: 1, path: '(file)', message: tooBig }] }
    text = await readFile(file, 'utf8')
  } catch (err: unknown) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : 'error'
    return { ok: false, problems: [{ file, line: 1, col: 1, path: '(file)', message: `cannot read the config (${code}); check the path given to --config` }] }
  }
  return parseConfig(text, file)
}

/**
 * Validates config text; `file` only labels the problems. Never throws: a failure inside the
 * checks themselves becomes one problem at 1:1 (path `(internal)`) rather than a stack trace.
 */
export function parseConfig(text: string, file: string): ConfigResult {
  const tooBig = sizeProblem(Buffer.byteLength(text, 'utf8'))
  if (tooBig) return { ok: false, problems: [{ file, line: 1, col: 1, path: '(file)', message: tooBig }] }
  try {
    return parseChecked(text, file)
  } catch (err: unknown) {
    const why = err instanceof Error ? err.message : String(err)
    return { ok: false, problems: [{ file, line: 1, col: 1, path: '(internal)', message: `fwdd could not check this config (${why}); simplify the part you changed last and report this` }] }
  }
}

function parseChecked(text: string, file: string): ConfigResult {
  // Most loads are of valid configs: plain values (fast-parse.ts) are enough for those. Anything
  // else is read again below with positions, so its problems read exactly as they always did.
  const fast = fastParse(text)
  if (fast !== undefined && isCleanConfig(fast)) return { ok: true, config: normalise(fast), warnings: [] }
  return parsePositioned(text, file)
}

/**
 * The positioned path alone: `yaml`'s Document, whose nodes know where they were written. Exported
 * so tests can hold the fast path to it; callers use parseConfig. May throw (parseConfig catches).
 */
export function parsePositioned(text: string, file: string): ConfigResult {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const at = (offset: number): { line: number; col: number } => {
    const p = lines.linePos(offset)
    return { line: p.line, col: p.col }
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({ file, ...at(e.pos[0]), path: '(yaml)', message: `${e.message.split('\n')[0]}; fix the YAML syntax` })),
    }
  }
  const tree = treeProblem(doc)
  if (tree) return { ok: false, problems: [{ file, ...at(tree.offset), path: tree.path, message: tree.message }] }
  // treeProblem() bounded what aliases expand to and ruled out unresolved or circular ones, so
  // yaml's own alias counter (which also refuses 101 plain `*std` reuses) is switched off.
  const raw: unknown = doc.toJS({ maxAliasCount: -1 }) ?? {}
  const problems: RawProblem[] = []
  if (!validate(raw)) problems.push(...schemaProblems(validate.errors ?? [], raw))
  // Semantic rules run even when the schema failed, so one --check run lists every problem; a path
  // the schema already complained about is not reported twice.
  const seen = new Set(problems.map((p) => p.path.join('.')))
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    problems.push(...semanticProblems(raw as Record<string, unknown>).filter((p) => !seen.has(p.path.join('.'))))
  }
  if (problems.length > 0) {
    const located = problems.map((p) => ({ file, ...locate(doc, p, at), path: p.path.join('.') || '(root)', message: p.message }))
    located.sort((a, b) => a.line - b.line || a.col - b.col)
    return { ok: false, problems: located }
  }
  const warnings = configWarnings(raw as Record<string, unknown>).map((p) => ({ file, ...locate(doc, p, at), path: p.path.join('.'), message: p.message }))
  return { ok: true, config: normalise(raw as RawConfig), warnings }
}

/** True for values that pass the schema and the semantic rules with no warning to report. */
function isCleanConfig(raw: unknown): raw is RawConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !validate(raw)) return false
  const r = raw as unknown as Record<string, unknown>
  return semanticProblems(r).length === 0 && configWarnings(r).length === 0
}

/** Formats warnings one per line: `PATH:LINE:COL: warning: field: message`. */
export function formatWarnings(warnings: readonly ConfigProblem[]): string {
  return warnings.map((p) => `${p.file}:${p.line}:${p.col}: warning: ${p.path}: ${p.message}`).join('\n')
}

/** Formats problems one per line, as `fwdd --check` prints them. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.path}: ${p.message}`).join('\n')
}

function locate(doc: Document, p: RawProblem, at: (o: number) => { line: number; col: number }): { line: number; col: number } {
  // Walk down as far as the path exists; point at the key when asked, else at the value.
  let node: unknown = doc.contents
  let keyNode: Node | null = null
  for (const seg of p.path) {
    if (!isNode(node) || !('items' in node)) break
    const coll = node as unknown as { items: unknown[] }
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg))
      if (!pair) break
      keyNode = pair.key as Node
      node = pair.value
    } else {
      const item = typeof seg === 'number' ? coll.items[seg] : undefined
      if (item === undefined) break
      keyNode = null
      node = item
    }
  }
  const target = p.atKey && keyNode ? keyNode : isNode(node) ? node : keyNode
  const range = target && isNode(target) ? target.range : undefined
  return at(range ? range[0] : 0)
}

function pathOf(e: ErrorObject): Array<string | number> {
  return e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s))
}

function kindOf(path: Array<string | number>): string {
  const names = path.filter((s): s is string => typeof s === 'string')
  const last = names[names.length - 1] ?? ''
  if (last === 'listeners') return 'listener'
  if (last === 'targets') return 'target'
  if (last === 'sources') return 'source'
  return last
}

function suggest(word: string, options: readonly string[]): string {
  let best = ''
  let bestDist = Infinity
  for (const o of options) {
    const d = editDistance(word.toLowerCase(), o.toLowerCase())
    if (d < bestDist) [best, bestDist] = [o, d]
  }
  return bestDist <= Math.max(2, Math.floor(word.length / 3)) ? `; did you mean "${best}"?` : `; allowed keys: ${options.join(', ')}`
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]!
}

function schemaProblems(errors: ErrorObject[], raw: unknown): RawProblem[] {
  const out = new Map<string, RawProblem>()
  for (const e of errors) {
    const path = pathOf(e)
    let problem: RawProblem
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String((e.params as { additionalProperty: string }).additionalProperty)
        problem = { path: [...path, key], atKey: true, message: `unknown key "${key}"${suggest(key, knownKeys[kindOf(path)] ?? [])}` }
        break
      }
      case 'required': {
        const key = String((e.params as { missingProperty: string }).missingProperty)
        problem = { path, atKey: true, message: `"${key}" is required here; add it` }
        break
      }
      case 'type':
        problem = { path, message: `must be ${article(String((e.params as { type: string }).type))}, got ${describe(valueAt(raw, path))}` }
        break
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
        problem = { path, message: `${describe(valueAt(raw, path))} is out of range; write a number ${rangeOf(e)}` }
        break
      case 'enum':
        problem = { path, message: `${describe(valueAt(raw, path))} is not allowed; write one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}` }
        break
      case 'pattern':
        problem = path[path.length - 1] === 'name'
          ? { path, message: `${describe(valueAt(raw, path))} is not a valid listener name; use 1 to 16 of a-z, 0-9 and "-"` }
          : { path, message: `${describe(valueAt(raw, path))} has the wrong form; expected ${e.schemaPath.includes('identityClientId') ? 'a client id (GUID)' : `a match of ${String((e.params as { pattern: string }).pattern)}`}` }
        break
      case 'minItems':
        problem = { path, message: 'must not be empty; add at least one entry' }
        break
      case 'anyOf':
        problem = { path, message: 'must be a CIDR string (e.g. 10.0.1.0/26) or { privateLinkService: <resource id> }' }
        break
      default:
        problem = { path, message: `${e.message ?? 'is invalid'}` }
    }
    const k = problem.path.join('.')
    // anyOf branches report their own errors too; keep the clearest (first non-branch) per path.
    if (!out.has(k) || e.keyword === 'anyOf' || e.keyword === 'additionalProperties') out.set(k, problem)
  }
  // Drop branch noise under a path that has an anyOf summary.
  const anyOfPaths = [...out.values()].filter((p) => p.message.startsWith('must be a CIDR string')).map((p) => p.path.join('.'))
  return [...out.entries()].filter(([k]) => !anyOfPaths.some((a) => k !== a && k.startsWith(`${a}.`))).map(([, p]) => p)
}

/** The whole allowed range in words ("from 5 to 86400"), whichever end the value missed. */
function rangeOf(e: ErrorObject): string {
  const s = (e.parentSchema ?? {}) as { minimum?: number; maximum?: number; exclusiveMinimum?: number }
  if (s.exclusiveMinimum !== undefined) return `greater than ${s.exclusiveMinimum}${s.maximum !== undefined ? ` (at most ${s.maximum})` : ''}`
  if (s.minimum !== undefined && s.maximum !== undefined) return `from ${s.minimum} to ${s.maximum}`
  if (s.minimum !== undefined) return `of at least ${s.minimum}`
  if (s.maximum !== undefined) return `of at most ${s.maximum}`
  return 'in the allowed range'
}

function article(type: string): string {
  return type === 'integer' ? 'a whole number' : type === 'object' ? 'a mapping (key: value)' : type === 'array' ? 'a list' : `a ${type}`
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (typeof v === 'object') return Array.isArray(v) ? 'a list' : 'a mapping'
  return JSON.stringify(v)
}

function valueAt(raw: unknown, path: Array<string | number>): unknown {
  let v: unknown = raw
  for (const seg of path) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<string | number, unknown>)[seg]
  }
  return v
}

interface RawTarget { host?: string; ipGroup?: string; port: number; weight?: number; name?: string }
interface RawListener {
  name: string
  protocol?: 'tcp' | 'udp'
  port: number
  targets: RawTarget[]
  check?: Partial<ListenerSpec['check']>
  whenAllDown?: 'reject' | 'all'
  passive?: Partial<PassiveSpec>
}
interface RawConfig {
  passive?: Partial<PassiveSpec>
  health?: { port?: number; address?: string; probeSources?: string[] }
  metrics?: { port?: number; address?: string }
  sources?: Array<string | { privateLinkService: string }>
  listeners: RawListener[]
  sync?: { resyncSeconds?: number; minIntervalMs?: number }
  dataplane?: { backend?: 'iptables' | 'nftables' }
  azure?: { identityClientId?: string; refreshSeconds?: number; scheduledEvents?: boolean }
}

/** The defaults of a `passive:` block (docs/configuration.md explains each). */
export const PASSIVE_DEFAULTS: Omit<PassiveSpec, 'enabled'> = { unansweredMs: 200, minUnansweredMs: 50, fall: 2, resetFall: 1, baseEjectionMs: 5000, maxEjectionMs: 60000, maxEjectionPercent: 50, maxFlowsPerSecond: 1000 }

/**
 * A listener's passive settings: its own block over the top-level one over the defaults, key by key.
 * `enabled` defaults to on for tcp and off for udp (a udp flow has no handshake to judge).
 */
function passiveOf(protocol: 'tcp' | 'udp', top: Partial<PassiveSpec> | undefined, own: Partial<PassiveSpec> | undefined): PassiveSpec {
  const enabled = own?.enabled ?? (protocol === 'udp' ? false : top?.enabled ?? true)
  return { ...PASSIVE_DEFAULTS, ...top, ...own, enabled }
}

function normalise(raw: RawConfig): Config {
  const sources: SourceSpec[] = (raw.sources ?? []).map((s) => {
    if (typeof s !== 'string') return { kind: 'privateLinkService', resourceId: s.privateLinkService }
    const parsed = parseCidr(s)
    return { kind: 'cidr', cidr: 'cidr' in parsed ? formatCidr(parsed.cidr) : s }
  })
  const listeners: ListenerSpec[] = raw.listeners.map((l) => ({
    name: l.name,
    protocol: l.protocol ?? 'tcp',
    port: l.port,
    whenAllDown: l.whenAllDown ?? 'reject',
    passive: passiveOf(l.protocol ?? 'tcp', raw.passive, l.passive),
    check: {
      intervalMs: l.check?.intervalMs ?? 1000,
      timeoutMs: l.check?.timeoutMs ?? 1000,
      fall: l.check?.fall ?? 2,
      rise: l.check?.rise ?? 2,
      ...(l.check?.port !== undefined ? { port: l.check.port } : {}),
    },
    targets: l.targets.map((t): TargetSpec =>
      t.host !== undefined
        ? { kind: 'host', host: t.host, port: t.port, weight: t.weight ?? 1, ...(t.name !== undefined ? { name: t.name } : {}) }
        : { kind: 'ipGroup', resourceId: String(t.ipGroup), port: t.port, weight: t.weight ?? 1, ...(t.name !== undefined ? { name: t.name } : {}) },
    ),
  }))
  const config: Config = {
    health: { port: raw.health?.port ?? 8080, address: raw.health?.address ?? '0.0.0.0', probeSources: raw.health?.probeSources ?? [] },
    sync: { resyncSeconds: raw.sync?.resyncSeconds ?? 10, minIntervalMs: raw.sync?.minIntervalMs ?? 50 },
    dataplane: { backend: raw.dataplane?.backend ?? 'iptables' },
    sources,
    listeners,
  }
  if (raw.metrics) config.metrics = { port: raw.metrics.port ?? 9180, address: raw.metrics.address ?? '127.0.0.1' }
  if (raw.azure) {
    config.azure = {
      refreshSeconds: raw.azure.refreshSeconds ?? 60,
      ...(raw.azure.identityClientId ? { identityClientId: raw.azure.identityClientId } : {}),
      ...(raw.azure.scheduledEvents !== undefined ? { scheduledEvents: raw.azure.scheduledEvents } : {}),
    }
  }
  return config
}

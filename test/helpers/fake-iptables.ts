/**
 * A strict fake of iptables-save / iptables-restore for unit tests of the applier. It refuses what
 * the kernel refuses: rules in or jumps to chains that do not exist, deleting a missing rule, and
 * deleting a chain that is not empty or still referenced. A failed transaction changes nothing,
 * as iptables-restore's COMMIT does. Any other program is an error.
 */
import type { Runner, RunResult } from '../../src/process/runner.js'

const BUILTIN: Record<string, string[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
}
const TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'CONNMARK', 'MARK', 'LOG', 'CT'])

type Tables = { raw: Map<string, string[]>; nat: Map<string, string[]>; filter: Map<string, string[]>; [name: string]: Map<string, string[]> }

export class FakeIptables implements Runner {
  tables: Tables = { raw: new Map(BUILTIN.raw!.map((c) => [c, []])), nat: new Map(BUILTIN.nat!.map((c) => [c, []])), filter: new Map(BUILTIN.filter!.map((c) => [c, []])) }
  calls: Array<{ file: string; args: readonly string[]; input?: string }> = []
  failNextRestore: string | null = null

  constructor(private readonly prefix = 'iptables-nft') {}

  async run(file: string, args: readonly string[], options: { input?: string } = {}): Promise<RunResult> {
    this.calls.push({ file, args, ...(options.input !== undefined ? { input: options.input } : {}) })
    if (file === `${this.prefix}-save`) return this.save(args)
    if (file === `${this.prefix}-restore`) {
      if (!args.includes('--noflush')) throw new Error('fake: restore without --noflush would flush other tools\' rules')
      if (this.failNextRestore) {
        const msg = this.failNextRestore
        this.failNextRestore = null
        return { exitCode: 4, stdout: '', stderr: msg }
      }
      return this.restore(options.input ?? '')
    }
    if (file === this.prefix && args.includes('-S')) return this.list(args)
    throw new Error(`fake: unexpected program ${file} ${args.join(' ')}`)
  }

  restoreCalls(): number {
    return this.calls.filter((c) => c.file.endsWith('-restore')).length
  }

  /** `iptables -t TABLE -S CHAIN`: the chain's policy line and its rules; a missing chain fails as iptables does. */
  private list(args: readonly string[]): RunResult {
    const table = this.tables[args[args.indexOf('-t') + 1] ?? 'filter']
    const chain = args[args.indexOf('-S') + 1] ?? ''
    const rules = table?.get(chain)
    if (!rules) return { exitCode: 1, stdout: '', stderr: `iptables: No chain/target/match by that name.\n` }
    const head = Object.values(BUILTIN).some((b) => b.includes(chain)) ? `-P ${chain} ACCEPT` : `-N ${chain}`
    return { exitCode: 0, stdout: [head, ...rules.map((r) => `-A ${chain} ${r}`)].join('\n') + '\n', stderr: '' }
  }

  private save(args: readonly string[]): RunResult {
    const t = args[args.indexOf('-t') + 1]
    const tables = t ? [t] : Object.keys(this.tables)
    let out = ''
    for (const name of tables) {
      const table = this.tables[name]!
      out += `*${name}\n`
      for (const chain of table.keys()) out += `:${chain} ${BUILTIN[name]!.includes(chain) ? 'ACCEPT' : '-'} [0:0]\n`
      for (const [chain, rules] of table) for (const r of rules) out += `${args.includes('-c') ? '[0:0] ' : ''}-A ${chain} ${r}\n`
      out += 'COMMIT\n'
    }
    return { exitCode: 0, stdout: out, stderr: '' }
  }

  private restore(input: string): RunResult {
    const work: Tables = structuredClone(this.tables)
    let table: Map<string, string[]> | null = null
    let tableName = ''
    let lineNo = 0
    const fail = (msg: string): RunResult => ({ exitCode: 1, stdout: '', stderr: `iptables-restore: line ${lineNo} failed: ${msg}\n` })
    for (const line of input.split('\n')) {
      lineNo++
      if (line === '' || line.startsWith('#')) continue
      if (line.startsWith('*')) {
        tableName = line.slice(1)
        table = work[tableName] ?? null
        if (!table) return fail(`unknown table ${tableName}`)
        continue
      }
      if (!table) return fail('rule outside a table')
      // As xt_CT: the CT target is valid in the raw table only.
      if (/ -j CT( |$)/.test(line) && tableName !== 'raw') return fail(`CT target is only valid in the raw table`)
      if (line === 'COMMIT') { table = null; continue }
      if (line.startsWith(':')) {
        const name = line.slice(1).split(' ')[0]!
        table.set(name, [])
        continue
      }
      const [op, chain = '', ...rest] = line.split(' ')
      const spec = rest.join(' ')
      const rules = table.get(chain)
      if (!rules) return fail(`chain '${chain}' does not exist`)
      const jump = / -j ([^ ]+)/.exec(` ${spec}`)?.[1]
      if ((op === '-A' || op === '-I') && jump && !TARGETS.has(jump) && !table.has(jump)) return fail(`couldn't load target '${jump}'`)
      if (op === '-A') rules.push(spec)
      else if (op === '-I') {
        const [pos, ...r] = rest
        rules.splice(Number(pos) - 1, 0, r.join(' '))
      } else if (op === '-D') {
        const i = rules.indexOf(spec)
        if (i < 0) return fail(`bad rule (does a matching rule exist in that chain?)`)
        rules.splice(i, 1)
      } else if (op === '-X') {
        if (BUILTIN[tableName]!.includes(chain)) return fail(`cannot delete built-in chain ${chain}`)
        if (rules.length > 0) return fail(`directory not empty: ${chain}`)
        for (const [, rs] of table) if (rs.some((r) => r.endsWith(` -j ${chain}`))) return fail(`too many links: ${chain} is referenced`)
        table.delete(chain)
      } else return fail(`unknown command ${op}`)
    }
    this.tables = work
    return { exitCode: 0, stdout: '', stderr: '' }
  }
}

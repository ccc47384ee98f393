/**
 * The local checks of `fwdctl doctor`: what an operator would look at by hand on a node that does not
 * forward. Every input (processes, /proc, the socket, the health port, the config) is injected, so
 * each verdict is tested against strict fakes. Only reads: doctor never changes the node.
 */
import { JUMPS } from '../dataplane/chains.js'
import { jumpState, parseSavedTable, rulesAbove } from '../dataplane/parse-save.js'
import { checkForwardPolicy, checkNatPreroutingOrder, parseNftChains, type NftBaseChain } from './doctor-nft.js'
import type { Runner } from '../process/runner.js'
import type { Verdict } from './verdict.js'
import { checkNftables, checkSourcePorts } from './doctor-dataplane.js'

export interface LocalDoctorDeps {
  runner: Runner
  /** Reads a file (here only under /proc); may reject with ENOENT. */
  readFile(path: string): Promise<string>
  /** Validates the config the daemon would load; `problems` as `fwdd --check` prints them. */
  checkConfig(): Promise<{ ok: boolean; problems: string[] }>
  socketPath: string
  /** True when the daemon answers on the control socket. */
  connect(socketPath: string): Promise<boolean>
  healthAddress: string
  healthPort: number
  /** True when something answers HTTP on the health address and port. */
  probeHealthPort(): Promise<boolean>
  /** The backend the config names (default iptables): nftables checks fwdd's table instead of the jumps. */
  backend?: 'iptables' | 'nftables'
  /** Live forwarded flows per target `address:port/protocol` (conntrack); absent: no source-ports line. */
  flowsPerTarget?(): Promise<Map<string, number>>
}

/** Conntrack table usage (count / max) above which the check warns, and fails. */
export const CONNTRACK_WARN = 0.75
export const CONNTRACK_FAIL = 0.9

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward'
const CT_COUNT = '/proc/sys/net/netfilter/nf_conntrack_count'
const CT_MAX = '/proc/sys/net/netfilter/nf_conntrack_max'

const pass = (check: string, detail: string): Verdict => ({ check, ok: true, level: 'ok', detail })
const warn = (check: string, detail: string, fix: string): Verdict => ({ check, ok: true, level: 'warn', detail, fix })
const fail = (check: string, detail: string, fix: string): Verdict => ({ check, ok: false, level: 'fail', detail, fix })

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** `iptables-<variant>-save` output, or null when that variant cannot run. */
interface SaveOutput {
  program: string
  text: string | null
}

async function save(runner: Runner, program: string): Promise<SaveOutput> {
  try {
    const r = await runner.run(program, [])
    return { program, text: r.exitCode === 0 ? r.stdout : null }
  } catch {
    return { program, text: null }
  }
}

const ruleLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('-A '))
const hasFwd = (text: string): boolean => /^(:FWD-|-A FWD-|-A \S+ .*-j FWD-)/m.test(text)

/** Whether either iptables variant holds fwdd chains or jumps (a leftover on the nftables backend). */
async function iptablesHasFwd(runner: Runner): Promise<boolean> {
  const saved = await Promise.all([save(runner, 'iptables-nft-save'), save(runner, 'iptables-legacy-save')])
  return saved.some((s) => s.text !== null && hasFwd(s.text))
}

async function checkIpForwarding(deps: LocalDoctorDeps): Promise<{ verdict: Verdict; on: boolean }> {
  const fix = 'run `sysctl -w net.ipv4.ip_forward=1` and keep it in /etc/sysctl.d/ (copy systemd/fwdd-sysctl.conf from the fwdd package there)'
  try {
    const value = (await deps.readFile(IP_FORWARD)).trim()
    if (value === '1') return { verdict: pass('ip-forwarding', 'net.ipv4.ip_forward = 1'), on: true }
    return { verdict: fail('ip-forwarding', `net.ipv4.ip_forward = ${value}: forwarded packets are dropped`, fix), on: false }
  } catch (error: unknown) {
    return { verdict: fail('ip-forwarding', `reading ${IP_FORWARD}: ${message(error)}`, fix), on: false }
  }
}

/** The base chains from `nft list chains`, or null when nft is missing or cannot list. */
async function nftChains(runner: Runner): Promise<NftBaseChain[] | null> {
  try {
    const r = await runner.run('nft', ['list', 'chains'])
    return r.exitCode === 0 ? parseNftChains(r.stdout) : null
  } catch {
    return null
  }
}

/** The backend verdict, and the iptables-save text of the backend in use (for the jump checks). */
async function checkBackend(deps: LocalDoctorDeps): Promise<{ verdict: Verdict; inUse: SaveOutput | null }> {
  const [nft, legacy] = await Promise.all([save(deps.runner, 'iptables-nft-save'), save(deps.runner, 'iptables-legacy-save')])
  if (nft.text === null && legacy.text === null) {
    const plain = await save(deps.runner, 'iptables-save')
    if (plain.text === null) {
      return { verdict: fail('iptables-backend', 'no iptables-save, iptables-nft-save or iptables-legacy-save can run', 'install iptables (`apt-get install iptables`)'), inUse: null }
    }
    return { verdict: pass('iptables-backend', 'iptables-save (single variant installed)'), inUse: plain }
  }
  if (nft.text !== null && legacy.text !== null) {
    if (hasFwd(nft.text) && hasFwd(legacy.text)) {
      return {
        verdict: fail('iptables-backend', 'fwdd rules exist in both nft and legacy iptables: one copy is stale and the kernel runs both',
          'stop fwdd, remove the copy in the variant fwdd does not use (`FWDD_IPTABLES=legacy fwdctl cleanup` or `FWDD_IPTABLES=nft fwdctl cleanup`), then start fwdd'),
        inUse: null,
      }
    }
    const inUse = hasFwd(legacy.text) ? legacy : nft
    const other = inUse === nft ? legacy : nft
    if (ruleLines(other.text ?? '').length > 0) {
      return {
        verdict: warn('iptables-backend', `fwdd uses ${inUse.program.replace('-save', '')} but ${other.program.replace('-save', '')} also holds ${ruleLines(other.text ?? '').length} rules`,
          `find the tool writing with ${other.program.replace('-save', '')} and move it to the same variant; rules split across both are hard to reason about`),
        inUse,
      }
    }
    return { verdict: pass('iptables-backend', `${inUse.program.replace('-save', '')} only`), inUse }
  }
  const only = nft.text !== null ? nft : legacy
  return { verdict: pass('iptables-backend', `${only.program.replace('-save', '')} only`), inUse: only }
}

function checkJumps(inUse: SaveOutput | null): Verdict[] {
  return JUMPS.map((jump) => {
    const check = `jump ${jump.table} ${jump.from} -> ${jump.to}`
    if (!inUse?.text) return fail(check, 'not checked: no usable iptables backend (see iptables-backend)', 'fix iptables-backend first')
    const saved = parseSavedTable(inUse.text, jump.table)
    const fix = 'run `fwdctl reload` (the next sync re-adds it); if it disappears again, another tool (firewalld, ufw, docker) is flushing the built-in chains'
    if (!saved.chains.has(jump.to)) return fail(check, `chain ${jump.to} does not exist in ${inUse.program.replace('-save', '')}`, fix)
    const state = jumpState(saved, jump)
    if (!state.present) {
      const other = (saved.jumps.get(jump.from) ?? []).some((j) => j.spec.endsWith(`-j ${jump.to}`))
      return other ? warn(check, 'present but not as fwdd writes it', fix) : fail(check, 'missing: nothing enters fwdd\'s chain', fix)
    }
    const above = jump.first ? rulesAbove(saved, jump) : []
    if (above.length > 0) {
      return fail(check, `present but not first: "${above[0]}"${above.length > 1 ? ` (and ${above.length - 1} more)` : ''} is above it and takes the flows it matches before fwdd sees them`,
        `fwdd moves its jump back to the top at its next verify (within sync.resyncSeconds); if the rule keeps landing above it, find the tool that inserts it (\`-I ${jump.from}\`) and have it append instead, or keep it off the listener ports`)
    }
    if (state.count > 1) return warn(check, `present ${state.count} times`, 'run `fwdctl reload`; fwdd keeps exactly one')
    return pass(check, 'present')
  })
}

async function checkConntrack(deps: LocalDoctorDeps): Promise<Verdict> {
  const check = 'conntrack-table'
  let count: number
  let max: number
  try {
    ;[count, max] = (await Promise.all([deps.readFile(CT_COUNT), deps.readFile(CT_MAX)])).map((s) => Number(s.trim())) as [number, number]
  } catch (error: unknown) {
    return warn(check, `cannot read the conntrack counters (${message(error)}); nf_conntrack is not loaded until a NAT rule exists`, 'start fwdd so its rules load nf_conntrack, or `modprobe nf_conntrack`')
  }
  if (!Number.isFinite(count) || !Number.isFinite(max) || max <= 0) return warn(check, `unreadable values: count ${count}, max ${max}`, 'check /proc/sys/net/netfilter/')
  const pct = Math.round((count / max) * 100)
  const detail = `${count} of ${max} entries (${pct}%)`
  const fix = `raise the limit (\`sysctl -w net.netfilter.nf_conntrack_max=${max * 2}\`, kept in /etc/sysctl.d/) and look for floods with \`conntrack -S\`; a full table drops new flows`
  if (count / max > CONNTRACK_FAIL) return fail(check, detail, fix)
  if (count / max > CONNTRACK_WARN) return warn(check, detail, fix)
  return pass(check, detail)
}

async function checkHealthPort(deps: LocalDoctorDeps): Promise<Verdict> {
  const where = `${deps.healthAddress}:${deps.healthPort}`
  const fix = `start fwdd (\`systemctl start fwdd\`); if it runs, \`journalctl -u fwdd\` shows why it cannot listen on ${where} (port in use?)`
  try {
    if (await deps.probeHealthPort()) return pass('health-port', `answering on ${where}`)
    return fail('health-port', `nothing answers on ${where}: the LB probe and the health extension will mark this node down`, fix)
  } catch (error: unknown) {
    return fail('health-port', `probing ${where}: ${message(error)}`, fix)
  }
}

async function checkSocket(deps: LocalDoctorDeps): Promise<Verdict> {
  const fix = 'start fwdd (`systemctl start fwdd`); run doctor as root (the socket is mode 0600); pass --socket or FWDD_SOCKET if fwdd uses another path'
  try {
    if (await deps.connect(deps.socketPath)) return pass('control-socket', `daemon answering on ${deps.socketPath}`)
    return fail('control-socket', `no daemon answering on ${deps.socketPath}`, fix)
  } catch (error: unknown) {
    return fail('control-socket', `connecting to ${deps.socketPath}: ${message(error)}`, fix)
  }
}

async function checkConfigFile(deps: LocalDoctorDeps): Promise<Verdict> {
  const fix = 'run `fwdd --check --config PATH` for each problem with its line, correct the file, then `fwdctl reload`'
  try {
    const r = await deps.checkConfig()
    if (r.ok) return pass('config', 'valid')
    const first = r.problems.slice(0, 3).join('; ')
    const more = r.problems.length > 3 ? ` (and ${r.problems.length - 3} more)` : ''
    return fail('config', `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}: ${first}${more}`, fix)
  } catch (error: unknown) {
    return fail('config', `reading the config: ${message(error)}`, fix)
  }
}

/**
 * Runs every local check and returns one verdict per line, always in this order: config,
 * ip-forwarding, forward-policy, iptables-backend and the four jumps (on nftables: nftables-table
 * and the three hooks), nat-prerouting-order (only when fwdd's nftables table exists),
 * conntrack-table, source-ports (when flowsPerTarget is given), health-port, control-socket.
 * Never rejects: a check whose probe throws is a failing verdict saying what was being done.
 */
export async function runLocalDoctor(deps: LocalDoctorDeps): Promise<Verdict[]> {
  const [config, forwarding, backend, nft, conntrack, health, socket] = await Promise.all([
    checkConfigFile(deps),
    checkIpForwarding(deps),
    checkBackend(deps),
    nftChains(deps.runner),
    checkConntrack(deps),
    checkHealthPort(deps),
    checkSocket(deps),
  ])
  const order = checkNatPreroutingOrder(nft)
  const dataplane = deps.backend === 'nftables'
    ? await checkNftables(deps.runner, await iptablesHasFwd(deps.runner))
    : [backend.verdict, ...checkJumps(backend.inUse)]
  const ports = deps.flowsPerTarget ? [await checkSourcePorts(deps.flowsPerTarget)] : []
  return [
    config, forwarding.verdict, checkForwardPolicy(forwarding.on, backend.inUse?.text ?? null, nft),
    ...dataplane, ...(order ? [order] : []), conntrack, ...ports, health, socket,
  ]
}

/**
 * The conntrack adapter: cuts the flows of a target that left rotation as dead (so clients fail
 * fast instead of hanging on a dead path), and counts live flows per target for status and
 * metrics. Only flows carrying fwdd's connmark are touched.
 */
import type { Runner } from '../process/runner.js'
import { FORWARD_MARK } from './chains.js'
import { FwdError } from '../errors.js'

export class Conntrack {
  constructor(private readonly runner: Runner) {}

  /**
   * Deletes fwdd's flows whose reply comes from address:port; with `listenerPort`, only those that
   * arrived on that listener port; with `unansweredOnly`, only tcp flows still in SYN_SENT (the
   * unanswered flows of a target ejected by traffic). "Nothing to delete" is success.
   */
  async deleteFlowsTo(protocol: 'tcp' | 'udp', address: string, port: number, listenerPort?: number, opts: { unansweredOnly?: boolean } = {}): Promise<number> {
    const only = [...(listenerPort === undefined ? [] : ['--orig-port-dst', String(listenerPort)]), ...(opts.unansweredOnly && protocol === 'tcp' ? ['--state', 'SYN_SENT'] : [])]
    const r = await this.runner.run('conntrack', ['-D', '-p', protocol, ...only, '--reply-src', address, '--reply-port-src', String(port), '--mark', FORWARD_MARK], { timeoutMs: 10000 })
    const m = /(\d+) flow entries have been deleted/.exec(r.stderr)
    if (r.exitCode === 0 || (m && m[1] === '0')) return m ? Number(m[1]) : 0
    throw new FwdError('FWD_ERR_CONNTRACK', `deleting flows to ${address}:${port}/${protocol}: conntrack exited ${r.exitCode}: ${r.stderr.trim()}`)
  }

  /**
   * Live fwdd flows per `address:port/protocol` of the reply source (the target). tcp counts only
   * ESTABLISHED flows; udp counts every entry.
   */
  async countByTarget(): Promise<Map<string, number>> {
    const r = await this.runner.run('conntrack', ['-L', '--mark', FORWARD_MARK], { timeoutMs: 10000 })
    if (r.exitCode !== 0) throw new FwdError('FWD_ERR_CONNTRACK', `listing flows: conntrack exited ${r.exitCode}: ${r.stderr.trim()}`)
    return countFlows(r.stdout)
  }

  /** fwdd's flows with their byte and packet counts (nf_conntrack_acct must be on: see enableAccounting). */
  async accounting(): Promise<FlowAccount[]> {
    const r = await this.runner.run('conntrack', ['-L', '--mark', FORWARD_MARK, '-o', 'id'], { timeoutMs: 10000 })
    if (r.exitCode !== 0) throw new FwdError('FWD_ERR_CONNTRACK', `listing flows: conntrack exited ${r.exitCode}: ${r.stderr.trim()}`)
    return parseFlowAccounting(r.stdout)
  }
}

/** Parses `conntrack -L` text into counts per reply source `address:port/protocol`. */
export function countFlows(text: string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const line of text.split('\n')) {
    const proto = /^(tcp|udp)\s/.exec(line)?.[1]
    if (!proto) continue
    if (proto === 'tcp' && !/ ESTABLISHED /.test(line)) continue
    const srcs = [...line.matchAll(/src=(\S+)/g)].map((m) => m[1])
    const sports = [...line.matchAll(/sport=(\d+)/g)].map((m) => m[1])
    if (srcs.length < 2 || sports.length < 2) continue
    const key = `${srcs[1]}:${sports[1]}/${proto}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

export { NAT_PORTS_PER_ADDRESS, SOURCE_PORT_FAIL, SOURCE_PORT_WARN, sourcePortCeiling, sourcePortUsage } from './source-ports.js'

export interface FlowAccount {
  id: string
  /** `tcp/8000|198.18.1.2:80`: protocol / listener port | target address:port. */
  key: string
  bytes: number
  packets: number
}

/** Parses `conntrack -L -o id` with nf_conntrack_acct on: per flow both directions summed. */
export function parseFlowAccounting(text: string): FlowAccount[] {
  const out: FlowAccount[] = []
  for (const line of text.split('\n')) {
    const proto = /^(tcp|udp)\s/.exec(line)?.[1]
    const id = / id=(\d+)/.exec(line)?.[1]
    if (!proto || !id) continue
    const srcs = [...line.matchAll(/src=(\S+)/g)].map((m) => m[1])
    const sports = [...line.matchAll(/sport=(\d+)/g)].map((m) => m[1])
    const dports = [...line.matchAll(/dport=(\d+)/g)].map((m) => m[1])
    const bytes = [...line.matchAll(/bytes=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0)
    const packets = [...line.matchAll(/packets=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0)
    if (srcs.length < 2 || sports.length < 2 || dports.length < 1) continue
    out.push({ id, key: `${proto}/${dports[0]}|${srcs[1]}:${sports[1]}`, bytes, packets })
  }
  return out
}

/**
 * Per-target totals from conntrack accounting: what live flows carried plus what flows that have
 * since ended carried when last seen. Monotone; a flow's last bytes between the previous reading
 * and its end are not counted (the trade for no per-packet rule walk; readings are at every
 * status or scrape, so that is at most one read interval of one ended flow).
 */
export class FlowTally {
  private live = new Map<string, FlowAccount>()
  private retired = new Map<string, { bytes: number; packets: number }>()

  update(flows: readonly FlowAccount[]): Map<string, { bytes: number; packets: number }> {
    const next = new Map(flows.map((f) => [`${f.id}|${f.key}`, f]))
    for (const [k, f] of this.live) {
      if (next.has(k)) continue
      const r = this.retired.get(f.key) ?? { bytes: 0, packets: 0 }
      this.retired.set(f.key, { bytes: r.bytes + f.bytes, packets: r.packets + f.packets })
    }
    this.live = next
    const totals = new Map<string, { bytes: number; packets: number }>()
    for (const [k, r] of this.retired) totals.set(k, { ...r })
    for (const f of next.values()) {
      const t = totals.get(f.key) ?? { bytes: 0, packets: 0 }
      totals.set(f.key, { bytes: t.bytes + f.bytes, packets: t.packets + f.packets })
    }
    return totals
  }
}

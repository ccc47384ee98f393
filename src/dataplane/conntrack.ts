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
   * arrived on that listener port. "Nothing to delete" is success.
   */
  async deleteFlowsTo(protocol: 'tcp' | 'udp', address: string, port: number, listenerPort?: number): Promise<number> {
    const only = listenerPort === undefined ? [] : ['--orig-port-dst', String(listenerPort)]
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

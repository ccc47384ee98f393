/**
 * Per-target bytes and packets for both backends, from conntrack accounting
 * (`net.netfilter.nf_conntrack_acct`): the flows fwdd marked, summed per target over live flows
 * plus what ended flows carried when last read. No rule is walked and no counter object is kept
 * per target, so the cost is per flow read, not per packet or per target. The nftables backend
 * counts this way too: 20,000 named counters and their map cost two thirds of a 10,000-listener
 * table's load and 1.3 s per read (bench/results), and both backends then report the same bytes.
 */
import type { Runner } from '../process/runner.js'
import { Conntrack, FlowTally } from './conntrack.js'
import { targetKey } from './dataplane.js'
import type { RenderInput } from './render.js'

export class FlowCounters {
  private readonly tally = new FlowTally()
  private readonly conntrack: Conntrack
  /** `tcp/8000` -> listener name, from the last input applied. */
  private listenerOf = new Map<string, string>()

  constructor(runner: Runner) {
    this.conntrack = new Conntrack(runner)
  }

  /** Remembers which listener owns which protocol/port (call with every input applied). */
  setListeners(input: RenderInput): void {
    this.listenerOf = new Map(input.listeners.map((l) => [`${l.protocol}/${l.port}`, l.name]))
  }

  /** Bytes and packets keyed by targetKey(listener, address, port); targets without flows are absent (read as 0). */
  async read(): Promise<Map<string, { bytes: number; packets: number }>> {
    const totals = this.tally.update(await this.conntrack.accounting())
    const out = new Map<string, { bytes: number; packets: number }>()
    for (const [key, c] of totals) {
      const m = /^(\w+\/\d+)\|([0-9.]+):(\d+)$/.exec(key)
      const listener = m ? this.listenerOf.get(m[1]!) : undefined
      if (m && listener) out.set(targetKey(listener, m[2]!, Number(m[3])), c)
    }
    return out
  }
}

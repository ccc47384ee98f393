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
  /** The listeners of the last input applied; `tcp/8000` -> listener name is built from them when read. */
  private listeners: RenderInput['listeners'] = []
  private listenerOf: Map<string, string> | null = null

  constructor(runner: Runner) {
    this.conntrack = new Conntrack(runner)
  }

  /**
   * Remembers which listener owns which protocol/port (call with every input applied). Kept as
   * given and indexed at the next read: every sync applies an input (a flip too), a read comes
   * with a scrape, and a map of 10,000 listeners built per sync was about a tenth of the JS time
   * of a flip (1.2 ms of ~12, profiled).
   */
  setListeners(input: RenderInput): void {
    if (input.listeners === this.listeners) return
    this.listeners = input.listeners
    this.listenerOf = null
  }

  /** Bytes and packets keyed by targetKey(listener, address, port); targets without flows are absent (read as 0). */
  async read(): Promise<Map<string, { bytes: number; packets: number }>> {
    const totals = this.tally.update(await this.conntrack.accounting())
    const listenerOf = (this.listenerOf ??= new Map(this.listeners.map((l) => [`${l.protocol}/${l.port}`, l.name])))
    const out = new Map<string, { bytes: number; packets: number }>()
    for (const [key, c] of totals) {
      const m = /^(\w+\/\d+)\|([0-9.]+):(\d+)$/.exec(key)
      const listener = m ? listenerOf.get(m[1]!) : undefined
      if (m && listener) out.set(targetKey(listener, m[2]!, Number(m[3])), c)
    }
    return out
  }
}

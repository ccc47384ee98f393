/**
 * Watches the kernel's ruleset with `nft monitor ruleset` and calls back at once when a change
 * touches what fwdd depends on, so a flush is repaired in well under a second instead of at the
 * next periodic verify (which stays as the backstop). `nft monitor` also sees iptables-nft's
 * changes (they are nf_tables too); iptables-legacy changes are invisible to it.
 *
 * fwdd's own writes show up as events too. They are ignored while fwdd itself writes (and for a
 * short grace after), and a stray one only costs a verify that finds nothing to repair and so
 * writes nothing: the loop cannot feed itself.
 */
import type { Runner } from '../process/runner.js'

/** Events within this long after fwdd's own write are taken as its own. */
const OWN_WRITE_GRACE_MS = 150
const RESTART_MS = 1000

export class RulesetMonitor {
  private ownUntil = 0
  private writing = 0

  /** @param relevant whether a monitor line concerns fwdd (its table, or the iptables tables it hooks into) */
  constructor(private readonly runner: Runner, private readonly relevant: (line: string) => boolean) {}

  /** Wraps one of fwdd's own writes so its events are not reported as someone else's change. */
  async own<T>(write: () => Promise<T>): Promise<T> {
    this.writing++
    try {
      return await write()
    } finally {
      this.writing--
      this.ownUntil = performance.now() + OWN_WRITE_GRACE_MS
    }
  }

  watch(onChange: () => void): () => void {
    const stream = this.runner.stream?.bind(this.runner)
    if (!stream) return () => {}
    let stopped = false
    let current: { stop(): void } | null = null
    let timer: NodeJS.Timeout | null = null
    const start = (): void => {
      current = stream('nft', ['monitor', 'ruleset'], (line) => {
        if (this.writing > 0 || performance.now() < this.ownUntil) return
        if (this.relevant(line)) onChange()
      }, () => {
        current = null
        if (!stopped) timer = setTimeout(start, RESTART_MS)
      })
    }
    start()
    return () => {
      stopped = true
      if (timer) clearTimeout(timer)
      current?.stop()
    }
  }
}

/**
 * Watches the kernel's ruleset with `nft monitor ruleset` and calls back at once when a change
 * touches what fwdd depends on, so a flush is repaired in well under a second instead of at the
 * next periodic verify (which stays as the backstop). `nft monitor` also sees iptables-nft's
 * changes (they are nf_tables too); iptables-legacy changes are invisible to it.
 *
 * fwdd's own writes show up as events too. They are ignored while fwdd itself writes (and for a
 * short grace after), and a stray one only costs a verify that finds nothing to repair and so
 * writes nothing: the loop cannot feed itself.
 *
 * Except an event that removes one of fwdd's entry points (`entryGone`: a jump out of a built-in
 * chain, fwdd's table or a base chain), which fwdd's own syncs never do: it is reported even
 * inside that window. Measured (bench/src/drift-repair.ts): `iptables -t nat -F PREROUTING` racing
 * fwdd's repair is replayed by iptables-nft after fwdd's insert (its generation check), deleting
 * the fresh jump 16 ms after fwdd's write; dropped as fwdd's own, the jump stayed missing and `/lb`
 * answered 200 until the next periodic verify, 7 s later. Reported, the reconciler (which takes an
 * event this close to its own sync as a possible echo) runs a verify that repairs it at once.
 */
import type { Runner } from '../process/runner.js'

/**
 * Events within this long after fwdd's own write, or after the last event of its echo, are taken as
 * its own (but see `entryGone`). The echo of a large write outlasts any fixed grace: measured
 * (`nft monitor` printing fwdd's full write of 5000 listeners), 23,000-30,000 lines that kept
 * coming for 1-1.5 s after the write returned; at 10,000 listeners longer than the reconciler's
 * echo window, so the tail was taken for drift (a false not-in-sync, a verify per line burst) and a
 * real flush queued behind it. So the grace runs until the stream has been quiet this long.
 */
const OWN_WRITE_GRACE_MS = 150
/** The grace never outlasts this after the write: a tool writing without pause cannot hide drift forever (the periodic verify stays the backstop). */
const OWN_ECHO_MAX_MS = 10000
const RESTART_MS = 1000

export class RulesetMonitor {
  private ownUntil = 0
  /** No event is taken as fwdd's own echo after this (monotonic ms). */
  private echoLimit = 0
  private writing = 0

  /**
   * @param relevant whether a monitor line concerns fwdd (its table, or the iptables tables it hooks into)
   * @param entryGone whether a line removes one of fwdd's entry points (reported even during fwdd's own writes)
   */
  constructor(private readonly runner: Runner, private readonly relevant: (line: string) => boolean, private readonly entryGone: (line: string) => boolean = () => false) {}

  /** Wraps one of fwdd's own writes so its events are not reported as someone else's change. */
  async own<T>(write: () => Promise<T>): Promise<T> {
    this.writing++
    try {
      return await write()
    } finally {
      this.writing--
      const now = performance.now()
      this.ownUntil = now + OWN_WRITE_GRACE_MS
      this.echoLimit = now + OWN_ECHO_MAX_MS
    }
  }

  /** During fwdd's write, or while its echo still streams in (each event extends the grace, up to the limit). */
  private isOwnEcho(line: string): boolean {
    if (this.entryGone(line)) return false
    if (this.writing > 0) return true
    const now = performance.now()
    if (now >= this.ownUntil) return false
    this.ownUntil = Math.min(now + OWN_WRITE_GRACE_MS, this.echoLimit)
    return true
  }

  watch(onChange: () => void): () => void {
    const stream = this.runner.stream?.bind(this.runner)
    if (!stream) return () => {}
    let stopped = false
    let current: { stop(): void } | null = null
    let timer: NodeJS.Timeout | null = null
    const start = (): void => {
      current = stream('nft', ['monitor', 'ruleset'], (line) => {
        if (this.isOwnEcho(line)) return
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

/** iptables-nft: a rule deleted from, or a flush of, a built-in chain fwdd jumps from (fwdd's syncs only insert there). */
export function iptablesEntryGone(line: string): boolean {
  return /^(delete rule|flush chain|delete chain) ip (raw|nat|filter) (PREROUTING|POSTROUTING|INPUT|FORWARD)\b/.test(line) || /^(flush|delete) table ip (raw|nat|filter)$/.test(line)
}

/** nftables backend: fwdd's table deleted, or one of its hooked base chains deleted, flushed or losing a rule. */
export function nftEntryGone(line: string): boolean {
  return /^delete table ip fwdd$/.test(line) || /^(flush chain|delete chain|delete rule) ip fwdd (prerouting|postrouting|forward|input)\b/.test(line)
}

/**
 * Watches the kernel's ruleset with `nft monitor` and calls back at once when another tool changes
 * what fwdd depends on, so a flush is repaired in well under a second instead of at the next
 * periodic verify (which stays as the backstop). `nft monitor` also sees iptables-nft's changes
 * (they are nf_tables too); iptables-legacy changes are invisible to it.
 *
 * Who wrote it, not when: `nft monitor` (without an object filter) ends every transaction's events
 * with `# new generation N by process PID (comm)`. The runner knows the pids of the processes fwdd
 * started, so a transaction is fwdd's own exactly when its writer is one of them. That tells a
 * flush racing fwdd's own write apart from the write's echo, however late either is read: the
 * curve's drift trials found `/lb` answering 200 through a fifth of the flushes that fell within
 * the timing window this replaced (bench/src/drift-repair.ts).
 *
 * Early, when the writer cannot be fwdd: a line that removes one of fwdd's entry points, read while
 * fwdd writes nothing and after `nft monitor` has shown the end of fwdd's last write, is reported
 * at once instead of at its transaction's end (deleting a table of 10,000 listeners streams for
 * 50 ms before the writer is named).
 *
 * Timing, the fallback for an `nft` that prints no writer (nothing seen yet): events during
 * fwdd's own write and while its echo keeps streaming are taken as its own, except one that
 * removes an entry point (`entryGone`: a jump out of a built-in chain, fwdd's table or a base
 * chain), which fwdd's syncs never do. Such a change is reported with `attributed: false`.
 */
import type { Runner } from '../process/runner.js'
import type { RulesetChange } from './dataplane.js'

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
/** The line `nft monitor` ends each transaction with; group 1 is the writer's pid. */
const GENERATION = /^# new generation \d+ by process (\d+)\b/
/** What `nft monitor` prints when its netlink socket overran and events were dropped. */
const LOST = /lost some netlink events/i

/** Folds `nft monitor` lines into changes; pure but for the runner's `ownsPid` (tests feed lines). */
export class GenerationTracker {
  /** A writer was named at least once: from then on every transaction is judged by its writer. */
  attributed = false
  /** A relevant line was seen since the last generation line. */
  private pending = false
  /** One of those lines reached beyond the entry points. */
  private pendingBeyond = false
  /** What was already reported of the transaction still streaming (an early report, see `early`). */
  private reported: 'entries' | 'full' | null = null

  /**
   * @param early whether a line may be reported before its transaction ends: one that removes an
   *   entry point while fwdd writes nothing (RulesetMonitor). Why: the writer is named only after
   *   the transaction's last event, and deleting a table of 10,000 listeners streamed for 50 ms
   *   before it (by hand), while `/lb` still answered 200; fwdd's own syncs never remove an entry
   *   point, so such a line outside fwdd's writes is someone else's.
   */
  constructor(private readonly relevant: (line: string) => boolean, private readonly ownsPid: (pid: number) => boolean, private readonly inEntries: (line: string) => boolean = () => false, private readonly early: (line: string) => boolean = () => false) {}

  /**
   * 'foreign' / 'foreign-entries': a transaction that touched fwdd ended and another process wrote
   * it (-entries: every relevant line was within the entry points); 'own': a transaction fwdd
   * wrote ended (whatever it touched); 'none': nothing to
   * report; 'unattributed': no writer is printed (yet), the caller judges by timing.
   */
  onLine(line: string): 'foreign' | 'foreign-entries' | 'own' | 'none' | 'unattributed' {
    const gen = GENERATION.exec(line)
    if (gen) {
      this.attributed = true
      const touched = this.pending
      const beyond = this.pendingBeyond
      const reported = this.reported
      this.pending = this.pendingBeyond = false
      this.reported = null
      if (this.ownsPid(Number(gen[1]))) return 'own'
      if (!touched) return 'none'
      // Reported early already, as far as it reached: not again.
      if (reported === 'full' || (reported === 'entries' && !beyond)) return 'none'
      return beyond ? 'foreign' : 'foreign-entries'
    }
    if (line.startsWith('trace id ')) return 'none'
    if (!this.attributed) return 'unattributed'
    if (this.relevant(line)) {
      this.pending = true
      if (!this.pendingBeyond && !this.inEntries(line)) this.pendingBeyond = true
      if (this.reported !== 'full' && this.early(line)) {
        const scope = this.pendingBeyond ? 'full' : 'entries'
        if (this.reported !== scope) {
          this.reported = scope
          return scope === 'full' ? 'foreign' : 'foreign-entries'
        }
      }
    }
    return 'none'
  }

  /** A restarted monitor starts mid-stream: what was pending belongs to no transaction we will see end. */
  reset(): void {
    this.pending = this.pendingBeyond = false
    this.reported = null
  }
}

export class RulesetMonitor {
  private ownUntil = 0
  /** No event is taken as fwdd's own echo after this (monotonic ms). */
  private echoLimit = 0
  private writing = 0
  /**
   * fwdd wrote since the last transaction `nft monitor` named as fwdd's: its echo may still be on
   * the way (a full write at 10,000 listeners streams for a second after it returned, its base
   * chains' flushes last), so no line is reported early (GenerationTracker's `early`) until then.
   */
  private ownUnseen = false

  /**
   * @param relevant whether a monitor line concerns fwdd (its table, or the iptables tables it hooks into)
   * @param entryGone whether a line removes one of fwdd's entry points (reported even during fwdd's own writes)
   * @param inEntries whether a line stays within the entry points (the built-in chains fwdd jumps
   *   from), so that a verify of those alone repairs it
   */
  constructor(private readonly runner: Runner, private readonly relevant: (line: string) => boolean, private readonly entryGone: (line: string) => boolean = () => false, private readonly inEntries: (line: string) => boolean = () => false) {}

  /** Whether one of fwdd's own writes is in flight (own() has not returned). */
  get writingNow(): boolean {
    return this.writing > 0
  }

  /** Wraps one of fwdd's own writes so its events are not reported as someone else's change. */
  async own<T>(write: () => Promise<T>): Promise<T> {
    this.writing++
    this.ownUnseen = true
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

  watch(onChange: (change: RulesetChange) => void): () => void {
    const ownsPid = this.runner.ownsPid?.bind(this.runner) ?? (() => false)
    const gens = new GenerationTracker(this.relevant, ownsPid, this.inEntries, (line) => this.entryGone(line) && this.writing === 0 && !this.ownUnseen)
    return keepStreaming(this.runner, ['monitor'], () => gens.reset(), (line) => {
      if (LOST.test(line)) {
        gens.reset()
        onChange({ attributed: false, entriesOnly: false, lost: true })
        return
      }
      const verdict = gens.onLine(line)
      if (verdict === 'own') this.ownUnseen = false
      if (verdict === 'foreign' || verdict === 'foreign-entries') onChange({ attributed: true, entriesOnly: verdict === 'foreign-entries' })
      if (verdict !== 'unattributed') return
      if (this.isOwnEcho(line)) return
      if (this.relevant(line)) onChange({ attributed: false, entriesOnly: this.inEntries(line) })
    })
  }
}

/**
 * Runs `nft ...args` and feeds its lines to `onLine`, starting it again RESTART_MS after it ends
 * (`onStart` runs before each start); returns stop. A runner that cannot stream watches nothing.
 */
function keepStreaming(runner: Runner, args: readonly string[], onStart: () => void, onLine: (line: string) => void): () => void {
  const stream = runner.stream?.bind(runner)
  if (!stream) return () => {}
  let stopped = false
  let current: { stop(): void } | null = null
  let timer: NodeJS.Timeout | null = null
  const start = (): void => {
    onStart()
    current = stream('nft', args, onLine, () => {
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

/** iptables-nft: a rule deleted from, or a flush of, a built-in chain fwdd jumps from (fwdd's syncs only insert there). */
export function iptablesEntryGone(line: string): boolean {
  return /^(delete rule|flush chain|delete chain) ip (raw|nat|filter) (PREROUTING|POSTROUTING|INPUT|FORWARD)\b/.test(line) || /^(flush|delete) table ip (raw|nat|filter)$/.test(line)
}

/**
 * iptables-nft: a change that stays within the built-in chains fwdd jumps from (a rule added,
 * inserted, deleted or replaced there, or one of them flushed or made anew). Reading those chains
 * alone (`iptables -S CHAIN`) tells whether fwdd's jumps are intact. A flush or delete of a whole
 * table, or anything in another chain, is not.
 */
export function iptablesInEntries(line: string): boolean {
  return /^(add|insert|delete|replace) rule ip (raw|nat|filter) (PREROUTING|POSTROUTING|INPUT|FORWARD) /.test(line) || /^(add|flush|delete) chain ip (raw|nat|filter) (PREROUTING|POSTROUTING|INPUT|FORWARD)\b/.test(line)
}

/**
 * Watches only tables (`nft monitor tables`) for the deletion of `table`, and reports it at once.
 * Why a second watch: deleting a table of 10,000 listeners makes the kernel announce every rule,
 * set and chain first and the table last, and the full watch names the writer only after printing
 * all of it, 0.35-1.9 s at 5000-10,000 listeners, while `/lb` answered 200 (the 2026-12-06 curve).
 * Filtered to tables, nft skips the rest without printing it. No writer is named here, but none is
 * needed: a running fwdd never deletes its own table (cleanup runs with the daemon stopped), so a
 * deletion outside fwdd's own writes is someone else's. Restarted when it ends; returns stop.
 */
export function watchTableDeletion(runner: Runner, table: string, ownWriteInFlight: () => boolean, onGone: () => void): () => void {
  return keepStreaming(runner, ['monitor', 'tables'], () => {}, (line) => {
    if (line === `delete table ${table}` && !ownWriteInFlight()) onGone()
  })
}

/** The base chains of fwdd's nft table (its entry points: the only chains hooked into the kernel). */
export const NFT_BASE_CHAINS = ['prerouting', 'postrouting', 'input'] as const

/**
 * nftables backend: a change that stays within the base chains of fwdd's table (a rule added,
 * inserted, deleted or replaced there, or one flushed). Writing those chains anew repairs it; a
 * deleted table or chain, or a change to a listener chain, set or map, is not.
 */
export function nftInEntries(line: string): boolean {
  return /^(add|insert|delete|replace) rule ip fwdd (prerouting|postrouting|input) /.test(line) || /^flush chain ip fwdd (prerouting|postrouting|input)$/.test(line)
}

/** nftables backend: fwdd's table deleted, or one of its hooked base chains deleted, flushed or losing a rule. */
export function nftEntryGone(line: string): boolean {
  return /^delete table ip fwdd$/.test(line) || /^(flush chain|delete chain|delete rule) ip fwdd (prerouting|postrouting|input)\b/.test(line)
}

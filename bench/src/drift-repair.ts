/**
 * Flush -> repaired through the running daemon, and whether `/lb` lied meanwhile: another tool
 * breaks fwdd's hold on the kernel and the time runs until fwdd's repair is in the kernel. Two
 * kinds of break, measured and reported apart: `flush`, the case, removes fwdd's entry
 * (iptables: `iptables -t nat -F PREROUTING`, the jump into FWD-PREROUTING; nftables: `nft flush
 * chain ip fwdd prerouting`, the dispatch rule); `table`, nftables only, deletes fwdd's whole table
 * (what `nft flush ruleset` does, as Debian's nftables.service does on every start), which only a
 * write of the whole table repairs.
 * Every trial starts more than OWN_WRITE_ECHO_MS (src/reconcile/reconciler.ts, 2 s) after fwdd's
 * last sync (status `lastSyncAt`; the periodic verify counts, it sets that too) and well before the
 * next periodic one, outside the window where an event is taken as the echo of fwdd's own write. A
 * poller asks `/lb` all along; a 200 asked after the break command returned and answered before
 * the repair showed is a lie (the LB would send flows the node refuses).
 */
import { spawnChild, type Child } from './processes.js'
import { benchScript, sleep } from './servers.js'
import { median } from './stats.js'
import { inNs } from './topology.js'

/** src/reconcile/reconciler.ts OWN_WRITE_ECHO_MS, plus a margin. */
const QUIET_MS = 2000 + 500
/** The default resyncSeconds (10 s), less a margin: past this since the last sync, the next periodic verify is near. */
const NEXT_SYNC_NEAR_MS = 10000 - 1500

export type BreakKind = 'flush' | 'table'

interface Break { cmd: string[]; repaired: RegExp }

const BREAKS: Record<'iptables' | 'nftables', Partial<Record<BreakKind, Break>>> = {
  iptables: { flush: { cmd: ['iptables', '-w', '-t', 'nat', '-F', 'PREROUTING'], repaired: /^(add|insert) rule ip nat PREROUTING .*jump FWD-PREROUTING/ } },
  nftables: {
    flush: { cmd: ['nft', 'flush', 'chain', 'ip', 'fwdd', 'prerouting'], repaired: /^add rule ip fwdd prerouting / },
    table: { cmd: ['nft', 'delete', 'table', 'ip', 'fwdd'], repaired: /^add rule ip fwdd prerouting / },
  },
}

/**
 * When the daemon's repair was in the kernel: the wall time of its first `repaired rules changed
 * behind fwdd` log line at or after `sinceWallMs` (fwdd logs it as soon as the repairing write has
 * returned, i.e. committed), or null when there is none in `output`.
 */
export function repairLoggedAt(output: string, sinceWallMs: number): number | null {
  for (const line of output.split('\n')) {
    if (!line.includes('repaired rules changed behind fwdd')) continue
    const at = Date.parse((/"time":"([^"]+)"/.exec(line) ?? [])[1] ?? '')
    if (Number.isFinite(at) && at >= sinceWallMs) return at
  }
  return null
}

export interface DriftRepairResult {
  trials: number
  medianMs: number
  worstMs: number
  /** `/lb` 200s asked and answered while the break stood, over all trials; and every answer in those windows. */
  lies: number
  probesInWindows: number
  /**
   * Per trial: flush -> repaired ms, the 200s inside its window, ms from the break to the first
   * non-200 (null: none seen), ms since fwdd's last sync at the break, and ms until the repair was
   * seen by the watch (`nft monitor` prints a large repair's lines for a while after the commit).
   */
  perTrial: Array<{ ms: number; lies: number; probes: number; firstNot200Ms: number | null; sinceSyncMs: number; seenMs: number }>
}

const wall = (): number => performance.timeOrigin + performance.now()

/** Waits until fwdd's last sync is QUIET_MS old and the next periodic one is not near; returns that sync's wall ms. */
async function quietMoment(lastSyncAt: () => Promise<number | null>): Promise<number> {
  const until = wall() + 60000
  for (;;) {
    const last = (await lastSyncAt()) ?? 0
    const age = wall() - last
    if (age >= QUIET_MS && age < NEXT_SYNC_NEAR_MS) return last
    if (wall() > until) throw new Error('no quiet moment (2.5 s after a sync, before the next) within 60 s')
    await sleep(age < QUIET_MS ? QUIET_MS - age : 200)
  }
}

/**
 * The watch that tells when the repair shows: `nft monitor ruleset` in the node. Start it before the
 * daemon writes a large rule set: started afterwards at 10,000 listeners, it printed nothing for
 * 30 s (its first fetch of the whole ruleset), and the curve took that for a repair that never came.
 */
export function startRepairWatch(nodeNs: string): Child {
  return spawnChild(nodeNs, 'nft', ['monitor', 'ruleset'])
}

/**
 * Waits until the watch has printed nothing for a second (at most a minute): after fwdd's full write
 * of 10,000 listeners `nft monitor` prints some 50,000 lines for seconds, and the daemon's own watch
 * reads the same backlog, so a break made meanwhile measures the backlog, not the repair (the
 * quick curve's first 10,000-listener trial: seen after 3.9 s, the next ones in milliseconds).
 */
async function monitorQuiet(monitor: Child): Promise<void> {
  const until = wall() + 60000
  let seen = monitor.output().length
  let quietSince = wall()
  while (wall() - quietSince < 1000 && wall() < until) {
    await sleep(100)
    const now = monitor.output().length
    if (now !== seen) {
      seen = now
      quietSince = wall()
    }
  }
}

/**
 * Runs, for each kind in `plan`, that many breaks (kinds in turn: all of the first, then the next)
 * against the daemon already in sync in `nodeNs` (health port `healthPort`); `lastSyncAt` is the
 * daemon's status `node.lastSyncAt` in wall ms. `monitor` is a watch from startRepairWatch() begun
 * before the daemon's first write (one is started here if absent); it is stopped here either way.
 * A kind the backend does not have is skipped.
 */
export async function measureDriftRepair(nodeNs: string, backend: 'iptables' | 'nftables', plan: Partial<Record<BreakKind, number>>, lastSyncAt: () => Promise<number | null>, healthPort = 8080, watch?: Child, daemonOutput?: () => string): Promise<Partial<Record<BreakKind, DriftRepairResult>>> {
  const monitor = watch ?? startRepairWatch(nodeNs)
  const poller = spawnChild(nodeNs, process.execPath, [benchScript('lb-poller'), `http://127.0.0.1:${healthPort}/lb`])
  try {
    await poller.waitLine(/^ready$/, 10000)
    const kinds = (Object.keys(plan) as BreakKind[]).filter((k) => BREAKS[backend][k] !== undefined && (plan[k] ?? 0) > 0)
    const sequence = kinds.flatMap((k) => Array.from({ length: plan[k]! }, () => k))
    const windows: Array<[number, number]> = []
    const samplesMs: number[] = []
    const sinceSync: number[] = []
    const seen: number[] = []
    for (const kind of sequence) {
      await monitorQuiet(monitor)
      const last = await quietMoment(lastSyncAt)
      const b = BREAKS[backend][kind]!
      const repaired = monitor.waitLine(b.repaired, 30000)
      const t0 = wall()
      sinceSync.push(t0 - last)
      await inNs(nodeNs, b.cmd[0]!, b.cmd.slice(1))
      const broken = wall()
      await repaired
      const seenAt = wall()
      // The repair is in the kernel when fwdd's write returned (its log line); the watch prints a
      // large repair's lines for a while after that (hundreds of ms at 1000 listeners on nftables),
      // and a 200 answered then is the truth, not a lie. Without the log line: when it was seen.
      const logged = daemonOutput ? repairLoggedAt(daemonOutput(), Math.floor(t0)) : null
      const back = logged !== null && logged < seenAt ? Math.max(logged, broken) : seenAt
      samplesMs.push(back - t0)
      seen.push(seenAt - t0)
      windows.push([broken, back])
    }
    const dumped = poller.waitLine(/^\[/, 10000)
    poller.write('dump\n')
    const answers = JSON.parse(await dumped) as Array<[number, number, number]>
    const perTrial = windows.map(([a, z], i) => {
      const inside = answers.filter(([start, end]) => start >= a && end <= z)
      const firstNot200 = answers.find(([start, , status]) => start >= a && status !== 200)
      return { ms: Math.round(samplesMs[i]!), lies: inside.filter(([, , st]) => st === 200).length, probes: inside.length, firstNot200Ms: firstNot200 ? Math.round(firstNot200[1] - a) : null, sinceSyncMs: Math.round(sinceSync[i]!), seenMs: Math.round(seen[i]!) }
    })
    const out: Partial<Record<BreakKind, DriftRepairResult>> = {}
    for (const kind of kinds) {
      const mine = perTrial.filter((_, i) => sequence[i] === kind)
      const ms = mine.map((x) => x.ms)
      out[kind] = {
        trials: mine.length, perTrial: mine,
        medianMs: median(ms), worstMs: Math.max(...ms),
        lies: mine.reduce((x, p) => x + p.lies, 0), probesInWindows: mine.reduce((x, p) => x + p.probes, 0),
      }
    }
    return out
  } finally {
    await poller.stop('SIGKILL')
    await monitor.stop('SIGKILL')
  }
}
